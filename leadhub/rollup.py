"""Counters for the dashboard, kept by the code that changes the counted rows.

A count table holds *deltas*: each writer appends rows (key columns + ``count``) in the
transaction that made the change, so the counts commit or roll back with it and two writers
never wait on one hot counter row (an import's lanes and the delivery threads write at once).
``compact`` folds the deltas into one row per key every minute (a django-q2 schedule), so a
reader sums a few rows per key and never counts the raw tables.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable

from django.db import connection, transaction


def add(model, key_fields: tuple[str, ...], events: Iterable[tuple] | Counter) -> int:
    """Append one delta row per distinct key in ``events`` (keys as tuples in ``key_fields``
    order, foreign keys as ids; a Counter maps a key to its amount, an iterable counts each key once)."""
    counts = events if isinstance(events, Counter) else Counter(events)
    attnames = [model._meta.get_field(name).attname for name in key_fields]   # ids for foreign keys
    rows = [model(count=n, **dict(zip(attnames, key))) for key, n in counts.items() if n]
    if rows:
        model.objects.bulk_create(rows)
    return len(rows)


def compact(model, key_fields: tuple[str, ...], since=None) -> int:
    """Fold the delta rows (of days from ``since``, when given: deltas are only ever written for
    the current day) into one row per key; returns how many rows fewer there are.

    ``DELETE … RETURNING`` sums exactly the rows it removed, so a delta committed while this
    runs is either folded in or left for the next run, never lost or counted twice.
    """
    table = model._meta.db_table
    columns = [model._meta.get_field(name).column for name in key_fields]
    with transaction.atomic():
        with connection.cursor() as cursor:
            where, params = ("WHERE day >= %s", [since]) if since else ("", [])
            cursor.execute(f"DELETE FROM {table} {where} RETURNING {', '.join(columns)}, count", params)
            deleted = cursor.fetchall()
        totals: Counter = Counter()
        for *key, n in deleted:
            totals[tuple(key)] += n
        attnames = [model._meta.get_field(name).attname for name in key_fields]
        model.objects.bulk_create([model(count=n, **dict(zip(attnames, key))) for key, n in totals.items() if n],
                                  batch_size=2000)
    return len(deleted) - len([n for n in totals.values() if n])
