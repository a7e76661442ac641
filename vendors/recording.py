"""Recording what a vendor call gave: per-item results completed, the attempt and exchange rows,
the deliveries' new states (retries with backoff, withdrawals planned for what must be taken
back), all in the claim's transaction.
"""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from campaigns import webhooks
from campaigns.intake import WITHDRAWN
from campaigns.models import Lead
from leadhub import dbtools
from leadhub.backoff import retry_delay

from . import counts, registry
from .integrations.base import ACCEPTED, REJECTED, UNSUPPORTED
from .models import Delivery, DeliveryAttempt, VendorExchange
from .planning import plan_withdrawal

Op, St = Delivery.Operation, Delivery.Status


@dataclass
class Call:
    """Where in the client's exchanges an item went out and got its answer."""

    sent_in: int
    decided_by: int
    duration_ms: int        # every exchange of the item's call


def _within(index: int | None, start: int, end: int, default: int) -> int:
    """An exchange position the client named, if it is one of this call's; else ``default``."""
    return index if index is not None and start <= index < end else default


def _record(deliveries, results, released, calls, exchanges, account, operation, outcome, unsent=()) -> None:
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
