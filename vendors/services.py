"""The delivery pipeline: plan deliveries, claim due ones, push a batch, record per-item results.

The database is the queue of record. Planning writes ``Delivery`` rows in the
transaction that accepted or withdrew the leads (an outbox); workers claim due
rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises writers with
IMMEDIATE transactions), mark them ``in_flight`` with a lease, call the vendor
outside any transaction, and write one result and one attempt per item. A
worker that dies leaves rows whose lease expires; they are claimed again, and
idempotency keys / duplicate answers keep the vendor from creating them twice.
"""
from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Sequence
from urllib.parse import quote, quote_plus

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.conf import Conf

from campaigns import wakeups, webhooks
from campaigns.intake import PERSONAL_FIELDS, WITHDRAWN, dnc_phones
from campaigns.models import Campaign, Lead
from campaigns.requirements import CODE as REQUIREMENTS_CODE
from campaigns.requirements import PHONE
from leadhub import dbtools
from leadhub.backoff import retry_delay

from . import counts, queue, registry, stopping
from .integrations.base import ACCEPTED, REJECTED, RETRY, UNSUPPORTED, Item, ItemResult, VendorError
from .models import Delivery, DeliveryAttempt, Destination, VendorAccount, VendorExchange
from .requirements import rules_of
from .windows import lead_time_zone, next_open, window_for

log = logging.getLogger(__name__)

Op, St = Delivery.Operation, Delivery.Status
# single-item vendors: items one worker thread takes per claim (a claim and its record cost about
# 19 statements whatever the size: 48 instead of 16 is 27 % less CPU per item). The claim's requests
# go out one after another and its results are recorded together: its lease is renewed meanwhile.
SINGLE_ITEM_CLAIM = 48
CIRCUIT_THRESHOLD = 10            # consecutive transient whole-call failures that open the circuit (20 % flakiness never reaches it)
CIRCUIT_COOLDOWN = dt.timedelta(seconds=30)
SCHEDULE_AHEAD = dt.timedelta(days=6)  # push at most this long before the vendor should call (some take 7 days at most)
# whole-call failures that say the vendor is down, not that our request is wrong: they count for the circuit
OUTAGE_CODES = {"timeout", "connection_error", "vendor_unavailable", "rate_limited", "transient"}
WITHDRAWAL_OPS = {
    "end_contact": [Op.END_CONTACT],
    "dnc": [Op.END_CONTACT, Op.DNC],
    # an erased person is not called again either: vendors without an erase call still stop
    "erase": [Op.END_CONTACT, Op.ERASE],
}
WITHDRAWAL_CHUNK = 5000           # lead ids per planning statement


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)


# --------------------------------------------------------------------------- planning

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



def personal_details(lead: Lead) -> dict:
    """What an erase must still tell the vendors about a lead: its personal fields."""
    return {name: getattr(lead, name) for name in PERSONAL_FIELDS}


def as_the_vendor_knew_it(delivery: Delivery) -> Lead:
    """The delivery's lead, with the details an erase kept for the vendor put back (in memory only)."""
    lead = delivery.lead
    if delivery.subject:
        lead.__dict__.update(delivery.subject)
    return lead


def _erasable(subject: dict) -> list[str]:
    """The texts to take out for one person: each personal value as typed and URL-encoded,
    longest first (so "Ann Lee" goes before "Ann")."""
    values = set()
    for name in PERSONAL_FIELDS:
        value = subject.get(name)
        if isinstance(value, str) and len(value.strip()) >= 3:  # "Al" would blank ordinary words
            values |= {value, quote(value, safe=""), quote_plus(value)}
    return sorted(values, key=len, reverse=True)


def _scrub(text: str, values: list[str]) -> str:
    for value in values:
        if value in text:
            text = text.replace(value, "[erased]")
    return text


def forget_personal_details(subjects: dict[int, dict]) -> int:
    """Take people's details (``subjects``: lead id -> its :func:`personal_details`) out of what
    their deliveries stored: the vendors' messages, request lines and answer excerpts, in the
    deliveries, their attempts and the exchanges those link to. The rows themselves stay (the
    history of what was sent where, and what came back). Returns the rows changed.

    Linear in the leads: a row is scrubbed of its own lead's details only, and a (shared) batch
    exchange of the details of the leads it carried (each row once searched for every erased
    person's details made 70,000 erasures quadratic)."""
    values = {lead_id: _erasable(subject) for lead_id, subject in subjects.items()}
    values = {lead_id: found for lead_id, found in values.items() if found}
    if not values:
        return 0
    lead_ids = list(values)
    attempts = DeliveryAttempt.objects.filter(delivery__lead_id__in=lead_ids)
    # a batch's exchanges are shared: only these people's details leave them, the others' stay
    leads_of_exchange: dict[int, set[int]] = defaultdict(set)
    for lead_id, *exchanges in attempts.values_list("delivery__lead_id", "sent_in_id", "decided_by_id"):
        for pk in exchanges:
            if pk:
                leads_of_exchange[pk].add(lead_id)
    changed = 0
    for rows_of, fields, lead_of in (
            (Delivery.objects.filter(lead_id__in=lead_ids), ["message"], "lead_id"),
            (attempts, ["request", "message", "excerpt"], "delivery__lead_id"),
            (VendorExchange.objects.filter(pk__in=list(leads_of_exchange)), ["request", "excerpt", "error"], "pk")):
        model = rows_of.model
        rows = []
        for pk, owner, *texts in rows_of.values_list("pk", lead_of, *fields).iterator(chunk_size=5000):
            if model is VendorExchange:
                found = sorted({v for lead_id in leads_of_exchange[pk] for v in values[lead_id]}, key=len, reverse=True)
            else:
                found = values[owner]
            scrubbed = [_scrub(text, found) for text in texts]
            if scrubbed != texts:
                rows.append({"id": pk, **dict(zip(fields, scrubbed))})
        dbtools.update_texts(model, fields, rows)
        changed += len(rows)
    return changed


FINAL_ANSWERS = (St.ACCEPTED, St.REJECTED, St.UNSUPPORTED, St.SKIPPED)


def _forget_erase_subjects(deliveries) -> None:
    """After an erase's rows were sent: the person's details leave their attempts, and
    leave the rows once the vendor answered for good. A row that gave up (``failed``)
    keeps them, encrypted, so that staff can still retry it."""
    carrying = [d for d in deliveries if d.subject]
    if not carrying:
        return
    forget_personal_details({d.lead_id: d.subject for d in carrying})
    Delivery.objects.filter(pk__in=[d.pk for d in carrying if d.status in FINAL_ANSWERS]).update(subject={})


WAKE_UP = "deliver due"


def wake() -> None:
    """Ask a worker to deliver what is due now, unless a wake-up is queued already (called on every
    intake commit: ``campaigns.wakeups`` makes a burst of them one task)."""
    wakeups.wake(WAKE_UP, "vendors.tasks.deliver_due", group="deliveries")


def woken() -> None:
    """A worker starts: what commits from now on needs (and queues) a new wake-up."""
    wakeups.woken(WAKE_UP)


# --------------------------------------------------------------------------- claiming

@dataclass
class Claim:
    destination: Destination
    operation: str
    deliveries: list[Delivery]


def reclaim_expired_leases(now: dt.datetime | None = None) -> int:
    """Rows whose worker died mid-batch go back to pending."""
    now = now or timezone.now()
    return Delivery.objects.filter(status=St.IN_FLIGHT, lease_until__lt=now).update(
        status=St.PENDING, lease_until=None, due_at=now, updated_at=now)


def _due(now: dt.datetime):
    return (Delivery.objects.filter(status=St.PENDING, due_at__lte=now,
                                    destination__is_enabled=True, destination__account__is_enabled=True)
            .exclude(destination__account__circuit_open_until__gt=now)
            # paused / draft / archived campaigns hold their pushes; withdrawals always go
            .filter(~Q(operation=Op.PUSH) | Q(destination__campaign__status=Campaign.Status.ACTIVE)))


def claim(now: dt.datetime | None = None, destination_id: int | None = None) -> Claim | None:
    """Claim the oldest due group (one destination, one operation), up to the vendor's batch size
    for that operation, plus the rest of any request a claimed row was first sent in."""
    now = now or timezone.now()
    with transaction.atomic():
        group = queue.next_group(now, destination_id)
        if group is None:
            return None
        _, dest_id, operation = group
        # One claimer at a time per destination, until this transaction ends: two threads picking
        # the same group at once would each lock part of it (SKIP LOCKED) and send one vendor batch
        # as two calls (seen: 499 + 1). The lock lasts milliseconds: the claim marks its rows in
        # flight and commits, and the next claimer takes the next full batch. NO KEY: intake's
        # inserts of deliveries (a key share on this row) do not wait for it. SQLite ignores it:
        # its IMMEDIATE transactions already serialise claimers.
        destination = (Destination.objects.select_related("account", "campaign")
                       .select_for_update(of=("self",), no_key=True).get(pk=dest_id))
        size = registry.client_class(destination.account.kind).batch_size(operation)
        size = size if size > 1 else SINGLE_ITEM_CLAIM
        # the group's own rows only (what makes a group due was checked above): no join, so the
        # rows are read in due order from delivery_claim_idx and the scan stops at ``size``
        rows = list(dbtools.claimable(Delivery.objects.filter(destination_id=dest_id, operation=operation,
                                                     status=St.PENDING, due_at__lte=now).order_by("due_at"))
                    .values_list("id", "call_ref")[:size])
        ids = [pk for pk, _ in rows] + _rest_of_units(dest_id, operation, {ref for _, ref in rows if ref},
                                                      {pk for pk, _ in rows})
        if not ids:
            return None
        Delivery.objects.filter(pk__in=ids).update(status=St.IN_FLIGHT, lease_until=now + lease(), updated_at=now)
    # the rows are ours now: read them with their leads after the group lock is released, so that
    # claimers of one destination queue only for the milliseconds of choosing rows
    deliveries = list(Delivery.objects.filter(pk__in=ids).select_related("lead").order_by("due_at", "id"))
    for d in deliveries:
        d.destination = destination
        if d.lead.campaign_id == destination.campaign_id:  # always, as planned: one campaign object, not one per row
            d.lead.campaign = destination.campaign
    return Claim(destination, operation, deliveries)


def _rest_of_units(destination_id: int, operation: str, refs: set[str], claimed: set[int]) -> list[int]:
    """The pending rows first sent in the same request as a claimed row (same call_ref), whatever
    their due time: a request is retried as one unit."""
    if not refs:
        return []
    return [pk for pk in dbtools.claimable(Delivery.objects.filter(
        destination_id=destination_id, operation=operation, status=St.PENDING, call_ref__in=refs))
        .values_list("id", flat=True) if pk not in claimed]


# --------------------------------------------------------------------------- sending

class AccountRateLimiter:
    """Spaces requests to one account across every worker: a worker reserves slots on the
    account row in one statement and sleeps until each of them.

    It reserves up to ``BLOCK_SECONDS`` of the account's capacity at once, and never more slots
    than it expects to use (``expected``: the requests of its claim), so an account that takes
    thousands of requests a second costs one statement per claim rather than one per request,
    and one that takes a few a second still reserves one slot at a time. Slots reserved but
    not used (a whole-call failure stops a batch) delay the account's next requests by at most
    ``BLOCK_SECONDS``.
    """

    BLOCK_SECONDS = 0.1

    def __init__(self, account: VendorAccount, expected: int = 1):
        self.account_id = account.pk
        self.interval = 1.0 / account.max_requests_per_second
        self.expected = max(1, expected)
        self.left = 0           # reserved slots not used yet
        self.next_at = 0.0      # time.monotonic() of the next reserved slot

    def reserve(self, slots: int = 1) -> float:
        """Reserve ``slots`` consecutive slots; returns the seconds to wait for the first."""
        return dbtools.take_time_slots(VendorAccount, self.account_id, "next_request_at", self.interval * slots)

    def __call__(self) -> None:
        if not self.left:
            self.left = max(1, min(self.expected, int(self.BLOCK_SECONDS / self.interval)))
            self.next_at = time.monotonic() + self.reserve(self.left)
        wait = self.next_at - time.monotonic()
        self.next_at += self.interval
        self.left -= 1
        self.expected = max(1, self.expected - 1)
        if wait > 0:
            time.sleep(wait)


def _item(delivery: Delivery, now: dt.datetime) -> Item:
    lead = delivery.lead
    window = window_for(lead)
    start = max(now, lead.scheduled_at) if lead.scheduled_at else now
    contact_at = next_open(window, start)
    return Item(id=delivery.pk, lead=lead, remote_ref=delivery.remote_ref,
                idempotency_key=delivery.idempotency_key, window=window,
                contact_at=contact_at if contact_at > now else None, **_call(delivery))


def _call(delivery: Delivery) -> dict:
    return {"call_ref": delivery.call_ref, "call_index": delivery.call_index, "call_size": delivery.call_size}


def store_call_refs(items: list[Item]) -> None:
    """Write the request items went out in (one ref and size, a position each), before the
    vendor can act on it (dbtools.update_columns: bulk_update's CASE per row and column costs a
    vendor that takes large batches a large share of its delivery rate)."""
    if not items:
        return
    ref, size = items[0].call_ref, items[0].call_size
    ids, positions = [i.id for i in items], {"call_index": [i.call_index for i in items]}
    if all(i.call_ref == ref and i.call_size == size for i in items):  # one request: its ref and size once
        dbtools.update_columns(Delivery, ids, positions, call_ref=ref, call_size=size)
    else:
        dbtools.update_columns(Delivery, ids, {**positions, "call_ref": [i.call_ref for i in items],
                                               "call_size": [i.call_size for i in items]})


@dataclass
class Outcome:
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, status: str, n: int = 1):
        self.counts[status] += n


class LeaseRenewal:
    """A claim's rows stay in flight while its requests go out one after another: their lease
    is renewed (one UPDATE) whenever a third of it has passed, so a slow vendor never lets the
    lease run out under a worker that is still sending, and another worker never takes them."""

    def __init__(self, ids: list[int]):
        self.ids = ids
        self.renewed = time.monotonic()

    def renew_if_due(self) -> None:
        if time.monotonic() - self.renewed < settings.DELIVERY_LEASE_SECONDS / 3:
            return
        Delivery.objects.filter(pk__in=self.ids, status=St.IN_FLIGHT).update(lease_until=timezone.now() + lease())
        self.renewed = time.monotonic()


def process(claimed: Claim, outcome: Outcome | None = None) -> Outcome:
    """Re-check, send and record one claimed group. Never raises for vendor trouble."""
    outcome = outcome or Outcome()
    destination, operation = claimed.destination, claimed.operation
    account = destination.account
    client_cls = registry.client_class(account.kind)
    now = timezone.now()
    deliveries = {d.pk: d for d in claimed.deliveries}
    pre: list[ItemResult] = []
    items: list[Item] = []
    released: list[Delivery] = []
    if operation == Op.PUSH:
        blocked = dnc_phones([str(d.lead.phone) for d in deliveries.values()], destination.campaign_id)
        for d in deliveries.values():
            lead = d.lead
            if lead.status in WITHDRAWN:
                pre.append(ItemResult(d.pk, "skipped", code="withdrawn",
                                      message=f"Not sent: the lead is {lead.get_status_display().lower()}."))
            elif str(lead.phone) in blocked:
                pre.append(ItemResult(d.pk, "skipped", code="dnc", message="Not sent: the number is on the DNC list."))
            else:
                item = _item(d, now)
                if item.contact_at and not client_cls.schedules_calls:
                    d.due_at = item.contact_at  # window closed (or scheduled later): wait, no attempt used
                    released.append(d)
                else:
                    items.append(item)
    else:
        items = [Item(id=d.pk, lead=as_the_vendor_knew_it(d), remote_ref=d.remote_ref,
                      idempotency_key=d.idempotency_key, **_call(d)) for d in deliveries.values()]

    results: list[ItemResult] = list(pre)
    unsent: list[Delivery] = []
    calls: dict[int, Call] = {}          # item id -> the exchanges that carried and decided it
    exchanges: list = []
    call_error: VendorError | None = None
    if items:
        chunks = client_cls.chunks(operation, items)
        client = registry.client_for(destination, throttle=AccountRateLimiter(account, expected=len(chunks)))
        client.on_call_ref = store_call_refs
        exchanges = client.exchanges
        method = {Op.PUSH: client.push, Op.END_CONTACT: client.end_contact, Op.DNC: client.dnc,
                  Op.ERASE: client.erase}[operation]
        lease_renewal = LeaseRenewal([d.pk for d in deliveries.values()])
        for n, chunk in enumerate(chunks):
            if n and stopping.requested():  # the cluster is stopping: what is not sent yet goes back, unsent
                unsent = [deliveries[item.id] for rest in chunks[n:] for item in rest]
                break
            lease_renewal.renew_if_due()
            before = len(client.exchanges)
            try:
                got = method(chunk)
            except VendorError as exc:
                call_error = exc
                got = client.fail_all(chunk, exc)
            except Exception as exc:  # a client bug must not lose the batch
                log.exception("%s client crashed on %d item(s)", account.kind, len(chunk))
                call_error = VendorError(f"LeadHub could not talk to {client.label}: {type(exc).__name__}.",
                                         permanent=False, code="client_error")
                got = client.fail_all(chunk, call_error)
            got = client.complete(chunk, got)
            results.extend(got)
            after = len(client.exchanges)
            if after > before:
                duration = sum(e.duration_ms for e in client.exchanges[before:])
                for result in got:
                    calls[result.item_id] = Call(_within(result.sent_in, before, after, before),
                                                 _within(result.decided_by, before, after, after - 1), duration)
        sent = [r for r in results if r.item_id in calls]
        outage = bool(sent) and all(r.status == RETRY and r.code in OUTAGE_CODES for r in sent)
        _update_circuit(account, outage, call_error or (sent[-1] if sent else None))
    _record(deliveries, results, released, calls, exchanges, account, operation, now, outcome, unsent)
    if operation != Op.PUSH:
        _forget_erase_subjects(deliveries.values())
    return outcome


@dataclass
class Call:
    """Where in the client's exchanges an item went out and got its answer."""

    sent_in: int
    decided_by: int
    duration_ms: int        # every exchange of the item's call


def _within(index: int | None, start: int, end: int, default: int) -> int:
    """An exchange position the client named, if it is one of this call's; else ``default``."""
    return index if index is not None and start <= index < end else default


def _update_circuit(account: VendorAccount, outage: bool, last) -> None:
    """Count consecutive outages per account; open the circuit at the threshold, close it on any answer."""
    now = timezone.now()
    if outage:
        message = getattr(last, "message", "") or "vendor unavailable"
        VendorAccount.objects.filter(pk=account.pk).update(
            consecutive_failures=F("consecutive_failures") + 1, last_error=message[:1000])
        failures = VendorAccount.objects.values_list("consecutive_failures", flat=True).get(pk=account.pk)
        if failures >= CIRCUIT_THRESHOLD:
            pause = CIRCUIT_COOLDOWN * (2 ** min(failures - CIRCUIT_THRESHOLD, 6))
            VendorAccount.objects.filter(pk=account.pk).update(circuit_open_until=now + pause)
            log.warning("circuit open for %s after %d failures: pausing %ss", account.name, failures,
                        pause.total_seconds())
    elif account.consecutive_failures or account.circuit_open_until:
        VendorAccount.objects.filter(pk=account.pk).update(consecutive_failures=0, circuit_open_until=None)


def _record(deliveries, results, released, calls, exchanges, account, operation, now, outcome, unsent=()) -> None:
    done = timezone.now()
    jitter = random.random()  # one draw per claim: the items of one request come due together again
    attempts: list[tuple[DeliveryAttempt, Call | None]] = []
    changed: list[Delivery] = []
    accepted_pushes: list[Delivery] = []
    answered_pushes: list[Delivery] = []   # accepted or refused: the partner's webhook events
    for result in results:
        d = deliveries[result.item_id]
        status = result.status
        call = calls.get(result.item_id)
        if status != "skipped":
            d.attempts += 1
        d.code, d.message, d.http_status = result.code[:64], result.message[:2000], result.http_status
        d.lease_until = None
        if status == ACCEPTED:
            d.status, d.finished_at = St.ACCEPTED, done
            d.remote_ref = result.remote_ref or d.remote_ref
            if operation == Op.PUSH:
                accepted_pushes.append(d)
                answered_pushes.append(d)
        elif status in (REJECTED, UNSUPPORTED, "skipped"):
            d.status = {REJECTED: St.REJECTED, UNSUPPORTED: St.UNSUPPORTED, "skipped": St.SKIPPED}[status]
            d.finished_at = done
            if status == REJECTED and operation == Op.PUSH:
                answered_pushes.append(d)
        elif d.attempts >= account.max_attempts:
            d.status, d.finished_at = St.FAILED, done
            d.message = f"Gave up after {d.attempts} attempts. Last answer: {result.message}"[:2000]
        else:
            d.status = St.PENDING
            d.due_at = done + dt.timedelta(seconds=retry_delay(d.attempts, result.retry_after, jitter))
        outcome.add(d.status)
        changed.append(d)
        if status != "skipped" or call:
            attempt = DeliveryAttempt(delivery_id=d.pk, started_at=done, http_status=result.http_status,
                                      outcome=result.status, code=d.code, message=d.message)
            if call:
                decided = exchanges[call.decided_by]
                attempt.request = f"{decided.method} {decided.url}"[:500]
                attempt.excerpt = decided.excerpt or decided.error
                attempt.started_at, attempt.duration_ms = exchanges[call.sent_in].started_at, call.duration_ms
            attempts.append((attempt, call))
    # back to pending without an attempt: held for the calling window (its due time moved), or
    # not sent because the cluster is stopping (due as it was)
    for held, why in ((released, "waiting_for_window"), (unsent, "unsent_at_stop")):
        for d in held:
            d.status, d.lease_until = St.PENDING, None
            outcome.add(why)
            changed.append(d)
    with transaction.atomic():
        _write_results(changed, done)
        counts.finished([d for d in changed if d.status not in Delivery.OPEN], done)
        exchange_ids = _insert_exchanges(exchanges, {c.sent_in for c in calls.values()}
                                         | {c.decided_by for c in calls.values()},
                                         next(iter(deliveries.values())).destination_id)
        for attempt, call in attempts:
            if call:
                attempt.sent_in_id, attempt.decided_by_id = exchange_ids[call.sent_in], exchange_ids[call.decided_by]
        _insert_attempts([attempt for attempt, _ in attempts])
        if answered_pushes:
            label = registry.client_class(account.kind).label
            webhooks.push_answered([webhooks.PushAnswer(d.lead, d.status == St.ACCEPTED, label, d.destination_id,
                                                        d.code, d.message) for d in answered_pushes])
        # a lead withdrawn while its push was in flight: tell the vendor now that it holds it
        if accepted_pushes:
            late = list(Lead.objects.filter(pk__in=[d.lead_id for d in accepted_pushes], status__in=WITHDRAWN)
                        .values_list("id", "status"))
            for status, operation in ((Lead.Status.DNC, "dnc"), (Lead.Status.CANCELLED, "end_contact")):
                plan_withdrawal([pk for pk, lead_status in late if lead_status == status], operation)


def _insert_exchanges(exchanges, used: set[int], destination_id: int) -> dict[int, int]:
    """Store the exchanges that carried or decided an item; {position in the client's list: row id}."""
    if not used:
        return {}
    positions = sorted(used)
    rows = VendorExchange.objects.bulk_create([
        VendorExchange(destination_id=destination_id, started_at=e.started_at, duration_ms=e.duration_ms,
                       request=f"{e.method} {e.url}"[:500], http_status=e.http_status, excerpt=e.excerpt,
                       error=e.error[:300])
        for e in (exchanges[p] for p in positions)])
    return {p: row.pk for p, row in zip(positions, rows)}


ATTEMPT_COLUMNS = ("delivery_id", "started_at", "duration_ms", "request", "http_status", "outcome", "code",
                   "message", "excerpt", "sent_in_id", "decided_by_id")


def _insert_attempts(attempts: list[DeliveryAttempt]) -> None:
    """One row per attempt: COPY on PostgreSQL for more than one, bulk INSERT otherwise."""
    dbtools.copy_or_create(DeliveryAttempt, len(attempts), ATTEMPT_COLUMNS,
                           lambda: ([getattr(a, name) for name in ATTEMPT_COLUMNS] for a in attempts),
                           lambda: attempts, copy_from=2, batch_size=1000)


RESULT_ARRAYS = ("status", "attempts", "due_at", "remote_ref", "code", "message", "http_status", "finished_at")


def _write_results(changed: list[Delivery], done: dt.datetime) -> None:
    """Store many deliveries' outcomes (their leases end) in one statement (dbtools.update_columns)."""
    dbtools.update_columns(Delivery, [d.pk for d in changed],
                           {name: [getattr(d, name) for d in changed] for name in RESULT_ARRAYS},
                           lease_until=None, updated_at=done)


# --------------------------------------------------------------------------- running

def deliver_due(*, threads: int | None = None, time_budget: float | None = None,
                progress=None) -> dict[str, int]:
    """Process everything due now with a bounded pool of threads; returns counts per status.

    The run looks for due work before it starts its threads and again when they are
    done, so a lead accepted while it was sending is sent by this run, and a wake-up
    that finds nothing (the work went to a run already going) costs one query, not
    a pool of connections. When nothing is due it waits (one query per wait, in this
    thread only) for retries due within DELIVERY_LINGER_SECONDS, so a transient fault
    is retried seconds later rather than at the next one-minute sweep. When the
    cluster is stopping (vendors.stopping) it claims nothing more and returns once the
    batches in hand are recorded, leaving no lease behind.
    """
    woken()
    threads = threads or settings.DELIVERY_THREADS
    deadline = time.monotonic() + (time_budget if time_budget is not None else 240)
    linger = float(settings.DELIVERY_LINGER_SECONDS)
    reclaim_expired_leases()
    outcome = Outcome()
    lock = threading.Lock()

    def worker():
        local = Outcome()
        try:
            while time.monotonic() < deadline and not stopping.requested():
                claimed = claim()
                if claimed is None:
                    break
                before = sum(local.counts.values())
                process(claimed, local)
                if progress:
                    progress(sum(local.counts.values()) - before)
        finally:
            with lock:
                for key, value in local.counts.items():
                    outcome.add(key, value)
            if threading.current_thread() is not threading.main_thread():
                connection.close()

    asked_for_help = False
    while time.monotonic() < deadline and not stopping.requested():
        if _anything_due():
            if not asked_for_help:
                asked_for_help = True
                _share_a_backlog(threads)
            handled = sum(outcome.counts.values())
            if threads <= 1:
                worker()
            else:
                close_old_connections()
                with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="deliver") as pool:
                    for future in [pool.submit(worker) for _ in range(threads)]:
                        future.result()
            if sum(outcome.counts.values()) == handled:
                stopping.sleep(0.2)  # what is due is held by another run's claim: look again shortly
            continue
        wait = seconds_until_next_due(linger)
        if wait is None or time.monotonic() + wait >= deadline:
            break
        stopping.sleep(max(0.1, wait))
    return dict(outcome.counts)


def _share_a_backlog(threads: int) -> None:
    """Bring a second worker of the cluster in when more is due than this run's threads claim in
    one round each: a burst of accepted leads coalesces into one wake-up, and a single-item vendor
    is bound by its round trips, not by our CPU, so one run's threads would leave the cluster's
    other workers idle. The wake-up is coalesced like any other (one queued at a time), and the
    run it starts does the same when it finds a backlog, so a backlog spreads over the workers
    one at a time and a small one queues nothing. Tasks that run inline (django-q's sync mode,
    the tests) would only nest a run inside this one, so they do not ask."""
    if Conf.SYNC:
        return
    if _due(timezone.now()).values("pk")[threads * SINGLE_ITEM_CLAIM:][:1].exists():
        wake()


def _anything_due() -> bool:
    return queue.next_group(timezone.now()) is not None


def seconds_until_next_due(seconds: float) -> float | None:
    """Seconds until the next delivery becomes due, if that is within ``seconds``."""
    if seconds <= 0:
        return None
    now = timezone.now()
    group = queue.next_group(now + dt.timedelta(seconds=seconds))
    return None if group is None else max(0.0, (group[0] - now).total_seconds())


def pending_summary() -> dict[str, int]:
    now = timezone.now()
    return {
        "due now": _due(now).count(),
        "waiting": Delivery.objects.filter(status=St.PENDING, due_at__gt=now).count(),
        "in flight": Delivery.objects.filter(status=St.IN_FLIGHT).count(),
    }


# --------------------------------------------------------------------------- campaign status

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
