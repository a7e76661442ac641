"""Reading the delivery queue: the oldest due row of each destination and operation.

Which group a worker claims next, the health check's lag and the dashboard's vendor health
strip all ask the same question, and answer it the same way: one probe per destination and
operation on ``delivery_claim_idx`` (destination, status, operation, due_at), which reads one
index entry each however long the queue is.

There is deliberately no index on ``due_at`` alone: through one, "the oldest due row of this
destination" became a walk over every older pending row of every other destination, so a paused
campaign's backlog of 200,000 pushes made each claim take 0.2-0.6 s.
"""
from __future__ import annotations

import datetime as dt

from django.db.models import OuterRef, QuerySet, Subquery

from campaigns.models import Campaign

from .models import Delivery, Destination

Op, St = Delivery.Operation, Delivery.Status


def with_oldest_due(destinations: QuerySet, now: dt.datetime) -> QuerySet:
    """``destinations`` annotated with ``due_<operation>``: the due time of its oldest pending
    row of that operation due by ``now`` (None when there is none)."""
    return destinations.annotate(**{
        f"due_{op}": Subquery(Delivery.objects.filter(destination=OuterRef("pk"), status=St.PENDING, operation=op,
                                                      due_at__lte=now).order_by("due_at").values("due_at")[:1])
        for op in Op.values})


def oldest_due(destination) -> dt.datetime | None:
    """The oldest of an annotated destination's ``due_<operation>`` values."""
    return min((due for due in (getattr(destination, f"due_{op}") for op in Op.values) if due), default=None)


def next_group(now: dt.datetime, destination_id: int | None = None) -> tuple[dt.datetime, int, str] | None:
    """The group a worker claims next, as ``(due_at, destination_id, operation)``: the oldest due
    group of an enabled destination whose account's circuit is closed. Paused, draft and archived
    campaigns hold their pushes; withdrawals always go."""
    senders = (Destination.objects.filter(is_enabled=True, account__is_enabled=True)
               .exclude(account__circuit_open_until__gt=now))
    if destination_id:
        senders = senders.filter(pk=destination_id)
    best = None
    for row in with_oldest_due(senders, now).values("pk", "campaign__status", *(f"due_{op}" for op in Op.values)):
        for op in Op.values:
            due = row[f"due_{op}"]
            if due is None or (op == Op.PUSH and row["campaign__status"] != Campaign.Status.ACTIVE):
                continue
            if best is None or due < best[0]:
                best = (due, row["pk"], op)
    return best
