"""PostgreSQL planner settings for one block of queries (elsewhere a no-op).

A few hot queries must take one kind of plan whatever the statistics say. The
statistics of a table a bulk load has just filled are stale or missing
(autoanalyze lags behind an import, and here autovacuum is off): the import's
lookups then read whole tables, and a claim sorted a destination's every
pending delivery to take sixteen. Those queries leave the planner one good
index, and :func:`planner` takes the bad alternative away (``seqscan=False``,
``sort=False``) for their block only.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from django.db import connection, transaction


@contextmanager
def planner(**enable: bool) -> Iterator[None]:
    """Inside the block, ``enable_<name>`` as given (e.g. ``planner(seqscan=False)``);
    restored after. Transaction-local: after an error the rollback restores them."""
    if connection.vendor != "postgresql":
        yield
        return
    names = [f"enable_{name}" for name in enable]
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(["current_setting(%s), set_config(%s, %s, true)"] * len(names)),
                       [p for name, on in zip(names, enable.values()) for p in (name, name, "on" if on else "off")])
        before = cursor.fetchone()[0::2]
        yield
        cursor.execute("SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(names)),
                       [p for name, value in zip(names, before) for p in (name, value)])
