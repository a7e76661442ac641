"""The delivery pipeline: claim due deliveries, push a batch, record per-item results.

The database is the queue of record. Planning writes ``Delivery`` rows in the
transaction that accepted or withdrew the leads (an outbox); workers claim due
rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises writers with
IMMEDIATE transactions), mark them ``in_flight`` with a lease, call the vendor
outside any transaction, and write one result and one attempt per item. A
worker that dies leaves rows whose lease expires; they are claimed again, and
idempotency keys / duplicate answers keep the vendor from creating them twice.

Planning the rows is :mod:`vendors.planning`, recording a call's results
:mod:`vendors.recording`, what an erase must still tell a vendor :mod:`vendors.forgetting`.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.conf import Conf

from campaigns.intake import WITHDRAWN, dnc_phones
from campaigns.models import Campaign
from leadhub import dbtools

from . import queue, registry, stopping
from .integrations.base import RETRY, Item, ItemResult, VendorError
from .models import Delivery, Destination, VendorAccount
from .windows import next_open, window_for

from . import planning  # isort: skip (planning.wake, read at call time)
from .forgetting import _forget_erase_subjects, as_the_vendor_knew_it
from .planning import plan_withdrawal, sync_campaign_status  # noqa: F401  (tests call them here)
from .recording import Call, _record, _within

log = logging.getLogger(__name__)

Op, St = Delivery.Operation, Delivery.Status
# single-item vendors: items one worker thread takes per claim (a claim and its record cost the
# same statements whatever the size, so a larger claim costs less per item). The claim's requests
# go out one after another and its results are recorded together: its lease is renewed meanwhile.
SINGLE_ITEM_CLAIM = 48
CIRCUIT_THRESHOLD = 10            # consecutive transient whole-call failures that open the circuit (20 % flakiness never reaches it)
CIRCUIT_COOLDOWN = dt.timedelta(seconds=30)
# whole-call failures that say the vendor is down, not that our request is wrong: they count for the circuit
OUTAGE_CODES = {"timeout", "connection_error", "vendor_unavailable", "rate_limited", "transient"}


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)


# --------------------------------------------------------------------------- planning


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
    _record(deliveries, results, released, calls, exchanges, account, operation, outcome, unsent)
    if operation != Op.PUSH:
        _forget_erase_subjects(deliveries.values())
    return outcome


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
    planning.woken()
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
        planning.wake()


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

