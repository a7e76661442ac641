"""What differs between the databases, in one place.

Each function holds its PostgreSQL variant and, beside it, what SQLite (the
embedded default) does instead; callers never branch on the database themselves.
"""
from __future__ import annotations

from django.db import connection


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


def takes_concurrent_writers() -> bool:
    """PostgreSQL: several connections write at once. SQLite: one writer at a time, so
    work split over connections only queues on the write lock."""
    return _postgresql()


def commit_without_waiting_for_disk() -> None:
    """Inside a transaction: its commit returns before it reaches the disk.

    PostgreSQL: ``synchronous_commit`` off for this transaction only; a crash may lose
    the last such commits, each as a whole, so it suits work that records its own
    progress in the same transaction and is redone from there. SQLite: nothing (its
    commit waits as it is configured to).
    """
    if _postgresql():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
