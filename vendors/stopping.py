"""A clean stop for ``qcluster``: SIGTERM asks running deliveries to finish what they hold and return.

django-q2 stops a cluster by letting each worker finish its current task and then
every task already fetched from the broker before the poison pill. A delivery task
drains the whole backlog (up to its time budget), so a cluster stopped during a
backlog ran on for minutes. Our ``qcluster`` (vendors/management/commands) creates
this event in the main process before django-q2 forks its sentinel and workers, so
they all share it, and sets it when the main process gets SIGTERM or SIGINT; a
delivery run then claims nothing new, records the batches in hand and returns, and
the tasks fetched behind it return at once. Outside such a cluster (web, tests,
``manage.py deliver``) it is never set.
"""
from __future__ import annotations

import multiprocessing
import time

_requested = None


def arm():
    """Create the shared event; call in the cluster's main process before it forks."""
    global _requested
    _requested = multiprocessing.get_context("fork").Event()
    return _requested


def request() -> None:
    if _requested is not None:
        _requested.set()


def requested() -> bool:
    return _requested is not None and _requested.is_set()


def sleep(seconds: float) -> None:
    """time.sleep that ends early when a stop is requested."""
    if _requested is None:
        time.sleep(seconds)
    else:
        _requested.wait(seconds)
