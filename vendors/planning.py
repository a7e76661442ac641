"""Planning deliveries: a push per destination for each new lead, withdrawals (end of contact,
DNC, erase) at every vendor holding a lead, re-delivery on request, and the wake-up that sends
a worker to them once the transaction commits.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Sequence

from django.db import connection, transaction
from django.utils import timezone

from campaigns import wakeups
from campaigns.intake import WITHDRAWN
from campaigns.models import Campaign, Lead
from campaigns.requirements import CODE as REQUIREMENTS_CODE
from campaigns.requirements import PHONE
from leadhub import dbtools

from . import counts, registry
from .integrations.base import VendorError
from .models import Delivery, Destination
from .requirements import rules_of
from .windows import lead_time_zone, next_open, window_for
from .forgetting import personal_details

Op, St = Delivery.Operation, Delivery.Status


SCHEDULE_AHEAD = dt.timedelta(days=6)  # push at most this long before the vendor should call (some take 7 days at most)


WITHDRAWAL_OPS = {
    "end_contact": [Op.END_CONTACT],
    "dnc": [Op.END_CONTACT, Op.DNC],
    # an erased person is not called again either: vendors without an erase call still stop
    "erase": [Op.END_CONTACT, Op.ERASE],
}


WITHDRAWAL_CHUNK = 5000           # lead ids per planning statement


def _destinations_by_campaign(campaign_ids) -> dict[int, list[Destination]]:
    grouped: dict[int, list[Destination]] = defaultdict(list)
    for dest in Destination.objects.filter(campaign_id__in=set(campaign_ids), is_enabled=True,
                                           account__is_enabled=True).select_related("account"):
        grouped[dest.campaign_id].append(dest)
    return grouped


def _due_at(window, scheduled_at, schedules_calls: bool, now: dt.datetime) -> dt.datetime:
    start = max(now, scheduled_at) if scheduled_at else now
    opens = next_open(window, start)
    return max(now, opens - SCHEDULE_AHEAD) if schedules_calls else opens


def plan_push(leads: list[Lead]) -> int:
    """Plan a push per enabled destination for newly accepted leads (inside their transaction).

    A lead that misses what a destination needs (``requirements``: the campaign's
    ``skip`` policy let it in) gets that delivery stored as skipped, with the reason.
    """
    if not leads:
        return 0
    destinations = _destinations_by_campaign(lead.campaign_id for lead in leads)
    if not destinations:
        return 0
    now = timezone.now()
    windows: dict = {}
    dues: dict = {}
    rows: list[tuple[int, int, dt.datetime]] = []
    skipped: list[Delivery] = []
    needs = {dest.pk: [rule for rule in rules_of(dest) if rule.requirement != PHONE]
             for dests in destinations.values() for dest in dests}
    for lead in leads:
        dests = destinations.get(lead.campaign_id)
        if not dests:
            continue
        zone = lead_time_zone(lead)
        window = windows.get((lead.campaign_id, zone))
        if window is None:
            window = windows[(lead.campaign_id, zone)] = window_for(lead, zone)
        for dest in dests:
            gaps = [rule.text for rule in needs[dest.pk] if not rule.requirement.met(lead)]
            if gaps:
                skipped.append(Delivery(lead_id=lead.pk, destination_id=dest.pk, operation=Op.PUSH,
                                        status=St.SKIPPED, code=REQUIREMENTS_CODE, due_at=now, finished_at=now,
                                        message=f"Not sent: {' '.join(gaps)}"))
                continue
            schedules = registry.client_class(dest.account.kind).schedules_calls
            key = (window, lead.scheduled_at, schedules)
            due = dues.get(key)
            if due is None:
                due = dues[key] = _due_at(window, lead.scheduled_at, schedules, now)
            rows.append((lead.pk, dest.pk, due))
    _insert_pushes(rows, now)
    if skipped:
        Delivery.objects.bulk_create(skipped, batch_size=2000, ignore_conflicts=True)
    counts.planned([(dest_id, Op.PUSH) for _, dest_id, _ in rows] + [(d.destination_id, Op.PUSH) for d in skipped],
                   now)
    counts.finished(skipped, now)
    if rows:
        transaction.on_commit(wake)
    return len(rows)


def _insert_pushes(rows: list[tuple[int, int, dt.datetime]], now: dt.datetime) -> None:
    """Write push rows for new leads: COPY on PostgreSQL from 500 rows (an import plans thousands
    a second); a row planned already (which cannot happen for new leads) is skipped."""
    columns = ("lead_id", "destination_id", "operation", "status", "attempts", "due_at", "remote_ref", "code",
               "message", "created_at", "updated_at")
    dbtools.copy_or_create(
        Delivery, len(rows), columns,
        lambda: ((lead_id, dest_id, Op.PUSH, St.PENDING, 0, due, "", "", "", now, now) for lead_id, dest_id, due in rows),
        lambda: [Delivery(lead_id=lead_id, destination_id=dest_id, operation=Op.PUSH, due_at=due)
                 for lead_id, dest_id, due in rows],
        copy_from=500, batch_size=2000, ignore_conflicts=True)


def plan_withdrawal(leads: Sequence[Lead | int], operation: str) -> int:
    """Stop contact: skip pushes not yet sent, and plan end_contact/dnc/erase at every
    vendor that already holds the lead. A vendor without that call gets its row as
    ``unsupported`` at once (no worker round trip), so the answer to the withdrawal
    already says which vendors cannot be told. ``leads`` are Lead objects, or lead ids
    (not for an erase: it needs their details); returns the rows planned.

    End of contact and DNC are planned set-wise on PostgreSQL: one statement per chunk
    of 5,000 ids (no Python per lead, no statement near the parameter limit).

    An erase runs before the lead's personal data is wiped (``intake.erase_leads``):
    each row to send keeps the details in ``subject`` (encrypted) until the vendor has
    answered. A push still in flight may yet land, so an erase also plans for it, due
    when its lease ends (by then it has landed, or it is retried and skipped)."""
    ids = [getattr(lead, "pk", lead) for lead in leads]
    if not ids:
        return 0
    now = timezone.now()
    code = {"end_contact": "withdrawn", "dnc": "dnc", "erase": "erased"}[operation]
    if operation != "erase" and dbtools.withdraws_setwise():
        return _plan_withdrawal_setwise(ids, operation, code, now)
    # locked first (a claimer skips them), so the dashboard counts exactly the rows skipped here
    unsent = list(dbtools.claimable(Delivery.objects.filter(lead_id__in=ids, operation=Op.PUSH, status=St.PENDING))
                  .values_list("id", "destination_id"))
    Delivery.objects.filter(pk__in=[pk for pk, _ in unsent]).update(
        status=St.SKIPPED, code=code, message=f"Not sent: the lead was {code} first.", finished_at=now,
        updated_at=now)
    counts.finished([Delivery(destination_id=dest_id, operation=Op.PUSH, status=St.SKIPPED, code=code)
                     for _, dest_id in unsent], now)
    held_statuses = [St.ACCEPTED, St.IN_FLIGHT] if operation == "erase" else [St.ACCEPTED]
    held = list(Delivery.objects.filter(lead_id__in=ids, operation=Op.PUSH, status__in=held_statuses)
                .values_list("lead_id", "destination_id", "remote_ref", "status", "lease_until"))
    subjects = {lead.pk: personal_details(lead) for lead in leads} if operation == "erase" else {}
    clients = {dest.pk: registry.client_class(dest.account.kind) for dest in
               Destination.objects.filter(pk__in={row[1] for row in held}).select_related("account")}
    planned_already = set(Delivery.objects.filter(lead_id__in=ids, operation__in=WITHDRAWAL_OPS[operation])
                          .values_list("lead_id", "destination_id", "operation"))
    rows = []
    for lead_id, dest_id, remote_ref, status, lease_until in held:
        for op in WITHDRAWAL_OPS[operation]:
            if (lead_id, dest_id, op) in planned_already:
                continue
            row = Delivery(lead_id=lead_id, destination_id=dest_id, operation=op, remote_ref=remote_ref,
                           due_at=lease_until if status == St.IN_FLIGHT and lease_until else now)
            if clients[dest_id].supports(op):
                row.subject = subjects.get(lead_id, {})
            else:
                row.status, row.code, row.finished_at = St.UNSUPPORTED, "unsupported", now
                row.message = clients[dest_id].unsupported_message(op)
            rows.append(row)
    _insert_withdrawals(rows, now)
    counts.planned([(row.destination_id, row.operation) for row in rows], now)
    counts.finished([row for row in rows if row.status == St.UNSUPPORTED], now)
    if subjects:  # a withdrawal planned earlier and not sent yet must find the person too
        waiting = list(Delivery.objects.filter(lead_id__in=ids, status=St.PENDING, subject="")
                       .exclude(operation=Op.PUSH).only("pk", "lead_id"))
        for row in waiting:
            row.subject = subjects[row.lead_id]
        Delivery.objects.bulk_update(waiting, ["subject"])
    if any(row.status == St.PENDING for row in rows):
        transaction.on_commit(wake)
    return len(rows)


def _insert_withdrawals(rows: list[Delivery], now: dt.datetime) -> None:
    """Write withdrawal rows: COPY on PostgreSQL from 500 rows, with each person's details encrypted
    once per lead (bulk_create prepares every cell, which is most of a large erase's time); a row
    planned meanwhile (a concurrent withdrawal) is skipped."""
    columns = ("lead_id", "destination_id", "operation", "status", "attempts", "due_at", "remote_ref", "code",
               "message", "finished_at", "subject", "created_at", "updated_at")
    subject_field, sealed = Delivery._meta.get_field("subject"), {}

    def seal(row):
        if row.lead_id not in sealed:
            sealed[row.lead_id] = subject_field.get_db_prep_save(row.subject, connection)
        return sealed[row.lead_id]

    dbtools.copy_or_create(
        Delivery, len(rows), columns,
        lambda: ((row.lead_id, row.destination_id, row.operation, row.status, 0, row.due_at, row.remote_ref,
                  row.code, row.message, row.finished_at, seal(row) if row.subject else "", now, now) for row in rows),
        lambda: rows, copy_from=500, ignore_conflicts=True)


def _plan_withdrawal_setwise(ids: list[int], operation: str, code: str, now: dt.datetime) -> int:
    """:func:`plan_withdrawal` of end_contact / dnc set-wise (``dbtools.withdraw_pushes_setwise``:
    PostgreSQL), a chunk of ids per statement."""
    # what each destination does with each operation: send it, or record it unsupported at once
    plan: list = []
    for dest in Destination.objects.select_related("account"):
        client = registry.client_class(dest.account.kind)
        for op in WITHDRAWAL_OPS[operation]:
            plan += ([dest.pk, str(op), St.PENDING, "", "", None] if client.supports(op) else
                     [dest.pk, str(op), St.UNSUPPORTED, "unsupported", client.unsupported_message(op), now])
    planned = pending = 0
    for start in range(0, len(ids), WITHDRAWAL_CHUNK):
        groups = dbtools.withdraw_pushes_setwise(ids[start:start + WITHDRAWAL_CHUNK], plan, code, now, push=Op.PUSH,
                                                 pending=St.PENDING, skipped=St.SKIPPED, accepted=St.ACCEPTED)
        for is_planned, dest_id, op, status, row_code, n in groups:
            finished = [] if status == St.PENDING else \
                [Delivery(destination_id=dest_id, operation=op, status=status, code=row_code)] * n
            counts.finished(finished, now)
            if is_planned:
                counts.planned([(dest_id, op)] * n, now)
                planned += n
                pending += n if status == St.PENDING else 0
    if pending:
        transaction.on_commit(wake)
    return planned


REDELIVERABLE = (St.FAILED, St.REJECTED, St.SKIPPED)


def redeliver(lead_ids: Sequence[int]) -> tuple[int, int]:
    """Push open leads again where their push did not arrive (failed, rejected, skipped): the
    deliveries go back to pending, due now, with fresh attempts. Returns (leads, deliveries)
    queued again. The send re-checks DNC and the calling window as for any push."""
    now = timezone.now()
    rows = (Delivery.objects.filter(lead_id__in=list(lead_ids), operation=Op.PUSH, status__in=REDELIVERABLE)
            .exclude(lead__status__in=WITHDRAWN))
    leads = rows.values("lead_id").distinct().count()
    queued = rows.update(status=St.PENDING, due_at=now, attempts=0, lease_until=None, code="", message="",
                         http_status=None, finished_at=None, updated_at=now)
    if queued:
        transaction.on_commit(wake)
    return leads, queued


WAKE_UP = "deliver due"


def wake() -> None:
    """Ask a worker to deliver what is due now, unless a wake-up is queued already (called on every
    intake commit: ``campaigns.wakeups`` makes a burst of them one task)."""
    wakeups.wake(WAKE_UP, "vendors.tasks.deliver_due", group="deliveries")


def woken() -> None:
    """A worker starts: what commits from now on needs (and queues) a new wake-up."""
    wakeups.woken(WAKE_UP)


def sync_campaign_status(campaign_id: int) -> list[tuple[Destination, str]]:
    """Mirror a campaign's status at vendors with campaign control (their ``campaign_statuses``)."""
    campaign = Campaign.objects.get(pk=campaign_id)
    outcomes = []
    for dest in Destination.objects.filter(campaign=campaign, is_enabled=True).select_related("account"):
        client = registry.client_for(dest)
        if not client.campaign_statuses:
            continue
        wanted = client.campaign_statuses[campaign.status]
        try:
            client.set_campaign_status(wanted)
            message = f"Set to {wanted} at {timezone.now():%Y-%m-%d %H:%M:%S} UTC."
            dest.remote_status = wanted
        except VendorError as exc:
            message = f"Could not set {wanted}: {exc.message}"
        dest.remote_status_message = message
        Destination.objects.filter(pk=dest.pk).update(remote_status=dest.remote_status,
                                                      remote_status_message=message)
        outcomes.append((dest, message))
    if campaign.status == Campaign.Status.ACTIVE:
        wake()
    return outcomes
