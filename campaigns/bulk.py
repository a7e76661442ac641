"""Staff actions over many leads as jobs: cancel, add to a campaign's or the global DNC list.

One path for every size. :func:`start` records a :class:`BulkAction` and its selection
(one ``INSERT … SELECT`` of the queryset's ids into ``BulkActionChunk``, a row per
:data:`campaigns.intake.CHUNK` ids: set-wise, a snapshot of what the staff member
selected), then works it in the request when it is at most ``BULK_INLINE_MAX`` leads
(10,000 by default) or hands it to a worker otherwise.

:func:`run` works the selection in ascending lead id, a chunk row (:data:`campaigns.intake.CHUNK`
leads) per transaction: each transaction takes its leads out of the selection, changes
them and moves the job's counters, so a worker that dies loses nothing and repeats
nothing: what is left selected is what is left to do, and the next run (re-enqueued by
:func:`resume_stalled`, or the "Resume" admin action) continues with it. Like imports,
a run stops inside its time slice and re-enqueues itself.
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone as djtz

from leadhub import dbtools

from . import audit, intake
from .models import BulkAction, BulkActionChunk, Campaign, Erasure, Lead

Kind = BulkAction.Kind
ACTOR = "started_by"  # the params key holding the audit label of who started the action


@dataclass(frozen=True)
class Action:
    running: str  # "Cancelling {total} leads" (the headline adds " — 41 %")
    done: str     # "Cancelled {changed} of {total} selected leads; {planned} withdrawal(s) planned"
    apply: Callable[[BulkAction, list[int]], tuple[int, int]]  # lead ids -> (leads changed, deliveries planned)


def audits_each_lead(action: BulkAction) -> bool:
    """An action small enough to run in the request logs each lead it changes (the lead's history
    page shows it); a background job logs itself once, naming who started it (:func:`run`): a
    log entry per lead was a third of a large cancel's time."""
    return action.total <= settings.BULK_INLINE_MAX


def _cancel(action: BulkAction, lead_ids: list[int]) -> tuple[int, int]:
    withdrawn = intake.withdraw(lead_ids, Lead.Status.CANCELLED, "end_contact",
                                intake.CANCEL_AUDIT if audits_each_lead(action) else None)
    return len(withdrawn.lead_ids), withdrawn.planned


def _dnc(action: BulkAction, lead_ids: list[int]) -> tuple[int, int]:
    """The selected leads' numbers onto the DNC list; every open lead with them is withdrawn."""
    reason, source = action.params.get("reason", ""), action.params.get("source", "")
    by_campaign: dict[int | None, list[str]] = {}
    for campaign_id, phone in Lead.objects.filter(pk__in=lead_ids).values_list("campaign_id", "phone"):
        by_campaign.setdefault(None if action.kind == Kind.GLOBAL_DNC else campaign_id, []).append(phone)
    campaigns = Campaign.objects.in_bulk([c for c in by_campaign if c is not None])
    changed = planned = 0
    for campaign_id, phones in by_campaign.items():
        result = intake.add_to_dnc(phones, campaign=campaigns.get(campaign_id), reason=reason, source=source,
                                   audit_leads=audits_each_lead(action))
        changed += result.leads_withdrawn
        planned += result.withdrawals_planned
    return changed, planned


def _erase(action: BulkAction, lead_ids: list[int]) -> tuple[int, int]:
    """Erase a chunk (``intake.erase_leads``); the whole job is one ``Erasure`` record: the first
    chunk creates it, the others add to it (the action's row is locked: lanes wait for it)."""
    params = BulkAction.objects.select_for_update().values_list("params", flat=True).get(pk=action.pk)
    erasure = Erasure.objects.filter(pk=params.get("erasure")).first() if params.get("erasure") else None
    result = intake.erase_leads(lead_ids, via=params.get("via", "admin"), requested_by=params.get(ACTOR, ""),
                                user=action.created_by, api_key=action.api_key, reason=params.get("reason", ""),
                                erasure=erasure, audit_leads=audits_each_lead(action))
    if erasure is None and result.erasure is not None:
        BulkAction.objects.filter(pk=action.pk).update(params={**params, "erasure": result.erasure.pk})
    return len(result.erased), result.planned


ACTIONS: dict[str, Action] = {
    Kind.CANCEL: Action("Cancelling {total} leads", "Cancelled {changed} of {total} selected leads; "
                        "{planned} withdrawal(s) planned at vendors", _cancel),
    Kind.CAMPAIGN_DNC: Action("Adding the numbers of {total} leads to their campaigns' DNC lists",
                              "Numbers of {total} leads added to their campaigns' DNC lists; {changed} open "
                              "lead(s) with them withdrawn; {planned} withdrawal(s) planned at vendors", _dnc),
    Kind.GLOBAL_DNC: Action("Adding the numbers of {total} leads to the global DNC list",
                            "Numbers of {total} leads added to the global DNC list; {changed} open lead(s) "
                            "with them withdrawn; {planned} withdrawal(s) planned at vendors", _dnc),
    Kind.ERASE: Action("Erasing the personal data of {total} leads",
                       "Erased the personal data of {changed} of {total} selected leads (the others were erased "
                       "already); {planned} erase and stop call(s) planned at vendors", _erase),
}




def register(kind: str, action: Action) -> None:
    """Add an action implemented outside campaigns (vendors registers re-delivery: campaigns
    never imports vendors)."""
    ACTIONS[kind] = action


def _fill(template: str, action: BulkAction) -> str:
    return template.format(total=f"{action.total:,}", changed=f"{action.changed:,}",
                           planned=f"{action.deliveries_planned:,}")


def _stale_after() -> dt.timedelta:
    return dt.timedelta(seconds=settings.IMPORT_STALE_SECONDS)


def start(kind: str, leads, *, user=None, api_key=None, params: dict | None = None) -> BulkAction:
    """Record the action and its selection (``leads``: a Lead queryset), then run it here when
    small, or queue it. The returned action says which (``status``). Staff (``user``) and the
    partner API (``api_key``) both start their bulk operations here."""
    # who asked, for the worker that runs it later: the job's audit entry names them
    params = {**(params or {}), ACTOR: audit.current().label}
    with transaction.atomic():
        action = BulkAction.objects.create(kind=kind, params=params, created_by=user, api_key=api_key)
        action.total = _snapshot(action, leads)
        action.save(update_fields=["total"])
    if action.total <= settings.BULK_INLINE_MAX:
        run(action.pk)
    else:
        from .tasks import enqueue_bulk_action

        transaction.on_commit(lambda: enqueue_bulk_action(action.pk))
    action.refresh_from_db()
    return action


def _snapshot(action: BulkAction, leads) -> int:
    """Copy the ids of the selection into BulkActionChunk in one statement, ascending,
    :data:`campaigns.intake.CHUNK` ids a row; returns how many ids."""
    sql, params = leads.order_by().values_list("id").distinct().query.sql_with_params()  # a column named id
    table = connection.ops.quote_name(BulkActionChunk._meta.db_table)
    joined = dbtools.joined_ids("id")  # in no promised order on SQLite: _take sorts what it reads
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} (action_id, first_lead_id, lead_ids, size) "
                       f"SELECT %s, min(id), {joined}, count(*) FROM "
                       f"(SELECT id, (row_number() OVER (ORDER BY id) - 1) / %s AS part FROM ({sql}) s) numbered "
                       "GROUP BY part", [action.pk, intake.CHUNK, *params])
    return BulkActionChunk.objects.filter(action=action).aggregate(n=Sum("size"))["n"] or 0


@contextmanager
def _acting_for(action: BulkAction):
    """Run the action's work as whoever started it (staff member, partner key, command)."""
    label = action.params.get(ACTOR) or (f"staff:{action.created_by.get_username()}" if action.created_by else "")
    with audit.acting_as(label or audit.current().label, action.created_by):
        yield


def _record(action: BulkAction) -> None:
    """A background job's one audit entry, on the action (its History page, the audit log), in
    the name of who started it (an action run in the request logged each lead instead)."""
    if audits_each_lead(action):
        return
    with _acting_for(action):
        audit.record([action], f"Bulk action {action.pk} ({action.get_kind_display().lower()}, "
                               f"{action.total:,} selected leads): {action.message}")


def claim(action_id: int) -> BulkAction | None:
    """Take a queued action, or a running one whose runner stopped (heartbeat too old)."""
    now = djtz.now()
    claimable = Q(status=BulkAction.Status.QUEUED) | Q(status=BulkAction.Status.RUNNING,
                                                        heartbeat_at__lt=now - _stale_after())
    if not BulkAction.objects.filter(claimable, pk=action_id).update(status=BulkAction.Status.RUNNING,
                                                                      heartbeat_at=now):
        return None
    BulkAction.objects.filter(pk=action_id, started_at__isnull=True).update(started_at=now)
    return BulkAction.objects.get(pk=action_id)


def lanes() -> int:
    """Connections working one action at once (PostgreSQL; SQLite has one writer at a time)."""
    return max(1, settings.BULK_LANES) if dbtools.takes_concurrent_writers() else 1


def run(action_id: int, *, deadline: float | None = None, chunk: int | None = None,
        max_chunks: int | None = None) -> str:
    """Run or resume one action; returns its status, or "continue" when ``deadline`` (or
    ``max_chunks``) came first and the caller should run it again.

    ``BULK_LANES`` threads, each with its own connection, take chunks in turn (``SKIP LOCKED``:
    never the same leads): one chunk's commit and index writes overlap the next chunk's."""
    action = claim(action_id)
    if action is None:
        return BulkAction.objects.filter(pk=action_id).values_list("status", flat=True).first() or "missing"
    _cut(action, chunk or intake.CHUNK)
    lane = _Lane(action, deadline, max_chunks)
    if lanes() == 1 or connection.in_atomic_block:  # other connections would not see our transaction
        with _acting_for(action):
            lane.work()
    else:
        close_old_connections()
        with ThreadPoolExecutor(max_workers=lanes(), thread_name_prefix="bulk") as pool:
            for future in [pool.submit(lane.work_in_thread) for _ in range(lanes())]:
                future.result()
    if lane.error is not None:
        action.refresh_from_db()
        action.status, action.finished_at = BulkAction.Status.FAILED, djtz.now()
        action.message = (f"{type(lane.error).__name__}: {lane.error}. Stopped after {action.processed:,} of "
                          f"{action.total:,} leads; those stay done. Resume it from the list of bulk actions.")
        action.save(update_fields=["status", "finished_at", "message"])
        _record(action)
        return BulkAction.Status.FAILED
    if lane.paused:
        BulkAction.objects.filter(pk=action.pk).update(status=BulkAction.Status.QUEUED)
        return "continue"
    action.refresh_from_db()
    action.status, action.finished_at = BulkAction.Status.DONE, djtz.now()
    action.message = _fill(ACTIONS[action.kind].done, action) + "."
    action.save(update_fields=["status", "finished_at", "message"])
    _record(action)
    return action.status


class _Lane:
    """Takes chunks of one action until none is left, the deadline passes or a chunk fails
    (shared by every lane of the run: each stops after its current chunk)."""

    def __init__(self, action: BulkAction, deadline: float | None, max_chunks: int | None):
        self.action, self.deadline, self.max_chunks = action, deadline, max_chunks
        self.apply = ACTIONS[action.kind].apply
        self.chunks = 0
        self.paused = False
        self.error: Exception | None = None
        self.lock = threading.Lock()

    def work(self) -> None:
        try:
            while self.error is None and not self.paused:
                with transaction.atomic():
                    # a crash may lose the last chunks committed, never part of one: their leads
                    # are still selected, and redone when the job resumes
                    dbtools.commit_without_waiting_for_disk()
                    ids = _take(self.action)
                    if not ids:
                        return
                    changed, planned = self.apply(self.action, ids)
                    BulkAction.objects.filter(pk=self.action.pk).update(
                        processed=F("processed") + len(ids), changed=F("changed") + changed,
                        deliveries_planned=F("deliveries_planned") + planned, heartbeat_at=djtz.now())
                with self.lock:
                    self.chunks += 1
                    if (self.deadline is not None and time.monotonic() > self.deadline) or \
                            self.chunks == self.max_chunks:
                        self.paused = True
        except Exception as exc:  # noqa: BLE001 - reported on the action; done chunks stay done
            self.error = exc

    def work_in_thread(self) -> None:
        try:
            with _acting_for(self.action):  # a thread starts without the caller's context
                self.work()
        finally:
            connection.close()


def _cut(action: BulkAction, size: int) -> None:
    """Cut the selection's chunk rows to at most ``size`` ids each, before a run that works
    smaller chunks than were recorded: each lane then takes whole rows (another lane's row is
    locked, skipped, never waited for)."""
    rows = BulkActionChunk.objects.filter(action=action)
    with transaction.atomic():
        for first, joined in rows.filter(size__gt=size).values_list("first_lead_id", "lead_ids"):
            ids = _ids(joined)
            rows.filter(first_lead_id=first).delete()
            BulkActionChunk.objects.bulk_create(
                [BulkActionChunk(action=action, first_lead_id=part[0], lead_ids=",".join(map(str, part)),
                                 size=len(part)) for part in (ids[k:k + size] for k in range(0, len(ids), size))])


def _ids(joined: str) -> list[int]:
    return sorted(map(int, joined.split(",")))


def _take(action: BulkAction) -> list[int]:
    """Remove the next chunk row not taken by another lane (PostgreSQL: ``SKIP LOCKED``) from
    the action's selection and return its lead ids, ascending. Inside the chunk's transaction:
    if the chunk fails, its leads are selected again."""
    rows = BulkActionChunk.objects.filter(action=action)
    part = (rows.select_for_update(skip_locked=True).order_by("first_lead_id")
            .values_list("first_lead_id", "lead_ids").first())
    if part is None:
        return []
    rows.filter(first_lead_id=part[0]).delete()
    return _ids(part[1])


def resume_stalled() -> list[int]:
    """Re-enqueue running actions whose heartbeat stopped (a worker died); returns their ids."""
    from .tasks import enqueue_bulk_action

    stale = djtz.now() - _stale_after()
    ids = list(BulkAction.objects.filter(status=BulkAction.Status.RUNNING, heartbeat_at__lt=stale)
               .values_list("pk", flat=True))
    for action_id in ids:
        enqueue_bulk_action(action_id)
    return ids


def percent(action: BulkAction) -> int:
    if action.status == BulkAction.Status.DONE:
        return 100
    return min(99, action.processed * 100 // action.total) if action.total else 0


def headline(action: BulkAction) -> str:
    """"Cancelling 333,333 leads — 41 %" while it runs; its outcome once done or failed."""
    if action.status in (BulkAction.Status.DONE, BulkAction.Status.FAILED) and action.message:
        return action.message
    return f"{_fill(ACTIONS[action.kind].running, action)} — {percent(action)} %"
