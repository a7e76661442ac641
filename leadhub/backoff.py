"""Retry delays shared by the outboxes (vendor deliveries, partner webhook events).

Here, not in ``vendors``, so that ``campaigns`` (which never imports ``vendors``) retries its
webhook events by the same rule as deliveries are retried.
"""
from __future__ import annotations

import random

from django.conf import settings


def backoff_base() -> float:
    return float(settings.DELIVERY_BACKOFF_BASE_SECONDS)


def retry_delay(attempts: int, retry_after: float | None, jitter: float | None = None) -> float:
    """Exponential backoff with jitter (``jitter`` in [0, 1), drawn when not given), at least
    what the other side asked for (``Retry-After``): DELIVERY_BACKOFF_BASE_SECONDS after the
    first attempt, doubling per attempt up to an hour, each delay between half and all of that."""
    base = min(3600.0, backoff_base() * (2 ** max(0, attempts - 1)))
    delay = base / 2 + (base / 2) * (random.random() if jitter is None else jitter)
    return max(delay, retry_after or 0)
