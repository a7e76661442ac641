"""What the pipeline tells the dashboard: delivery events per day and destination.

Every place that changes a delivery's status calls one function here in the same transaction,
which appends delta rows to ``DeliveryCount`` (``leadhub.rollup``): the dashboard then reads a
few hundred rows, whatever the size of the delivery table.
"""
from __future__ import annotations

import bisect
import datetime as dt
from collections import Counter
from typing import Iterable

from django.utils import timezone

from leadhub import rollup

from .models import Delivery, DeliveryCount

St = Delivery.Status
OPEN = "open"
PLANNED = "planned"
# Upper bounds (seconds) of the intake-to-accepted buckets; the last bucket is "longer".
LATENCY_BOUNDS = [1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 2 * 3600, 6 * 3600, 12 * 3600, 86400,
                  2 * 86400, 7 * 86400]


def latency_bucket(seconds: float) -> int:
    return bisect.bisect_left(LATENCY_BOUNDS, max(0.0, seconds))


def _day(when: dt.datetime | None) -> dt.date:
    return (when or timezone.now()).astimezone(dt.timezone.utc).date()


def planned(rows: Iterable[tuple[int, str]], when: dt.datetime | None = None) -> None:
    """Rows planned (or re-opened by staff) as ``(destination_id, operation)`` pairs."""
    day = _day(when)
    events: Counter = Counter()
    for dest_id, operation in rows:
        events[(day, dest_id, operation, PLANNED, "", None)] += 1
        events[(day, dest_id, operation, OPEN, "", None)] += 1
    rollup.add(DeliveryCount, DeliveryCount.KEY, events)


def finished(deliveries: Iterable[Delivery], when: dt.datetime | None = None) -> None:
    """Open deliveries that reached a final status (set on the objects). Accepted pushes whose
    lead is loaded carry the time from intake to acceptance."""
    when = when or timezone.now()
    day = _day(when)
    events: Counter = Counter()
    for d in deliveries:
        bucket = None
        if d.status == St.ACCEPTED and d.operation == Delivery.Operation.PUSH and Delivery.lead.is_cached(d):
            bucket = latency_bucket(((d.finished_at or when) - d.lead.created_at).total_seconds())
        code = "" if d.status == St.ACCEPTED else d.code
        events[(day, d.destination_id, d.operation, d.status, code, bucket)] += 1
        events[(day, d.destination_id, d.operation, OPEN, "", None)] -= 1
    rollup.add(DeliveryCount, DeliveryCount.KEY, events)


def recent_days() -> tuple[dt.date, dt.date]:
    """Yesterday and today (UTC): the only days that get deltas (a run just after midnight
    still folds yesterday's last ones)."""
    today = _day(None)
    return today - dt.timedelta(days=1), today


def compact() -> int:
    """Fold the recent days' delivery deltas into one row per key."""
    return rollup.compact(DeliveryCount, DeliveryCount.KEY, since=recent_days()[0])
