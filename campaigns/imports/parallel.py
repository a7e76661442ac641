"""The importer's steps overlapped, for large files (``IMPORT_PARALLEL``).

While the reading thread reads batch N+1 and a pool of worker processes
(``IMPORT_PARSE_WORKERS``) cleans its rows, batch N is prepared in the reading
thread (:meth:`~.importer.CsvImporter.prepare`) and earlier batches go through
the database (:meth:`~.importer.CsvImporter.flush`) in :class:`Lanes`: threads
with a database connection each (``IMPORT_DB_LANES``), so that one batch's commit
runs while the next batches are written. The outcome, the error file and the
progress are those of the plain path in :meth:`~.importer.CsvImporter.run`.
"""
from __future__ import annotations

import logging
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection

from leadhub import dbtools

from .cleaning import clean_records
from .reading import Batch

if TYPE_CHECKING:
    from .importer import CsvImporter, Prepared

log = logging.getLogger(__name__)


def run(importer: CsvImporter, batches: Iterator[Batch], on_batch, deadline: float | None) -> bool:
    """:meth:`~.importer.CsvImporter.run`'s loop, overlapped; the same result."""
    pool = None
    lanes = Lanes(importer.flush, on_batch)
    waiting = None  # the batch read before, and how to get its cleaned rows
    stopped = False
    try:
        for batch in batches:
            full = len(batch.rows) >= importer.batch_size
            if full and pool is None:
                pool = _clean_pool()  # not for a file of one short batch
            cleaned = _clean(importer, pool if full else None, batch)
            if waiting is not None:
                lanes.flush(importer.prepare(waiting[0], waiting[1]()))
            waiting = (batch, cleaned)
            if importer.past(deadline, batch):
                stopped = True
                break
        lanes.flush(importer.prepare(waiting[0], waiting[1]()))
        lanes.finish()
        return not stopped
    finally:
        lanes.close()
        if pool:
            pool.terminate()


def _clean(importer: CsvImporter, pool, batch: Batch) -> Callable[[], list[tuple]]:
    """Start cleaning a batch's rows in the pool (or do it here without one); the
    function returned waits for the cleaned rows and gives them in order."""
    records = batch.records()
    if not pool:
        cleaned = clean_records(importer.clean_args(records))
        return lambda: cleaned
    size = max(1, len(records) // settings.IMPORT_PARSE_WORKERS + 1)
    chunks = pool.map_async(clean_records, [importer.clean_args(records[i:i + size])
                                            for i in range(0, len(records), size)])
    return lambda: [row for chunk in chunks.get() for row in chunk]


def _clean_pool():
    """A pool of processes cleaning rows; None when unavailable (then cleaning is inline)."""
    workers = max(0, settings.IMPORT_PARSE_WORKERS)
    if workers < 1:
        return None
    try:
        return multiprocessing.get_context("fork").Pool(workers)
    except (AssertionError, OSError, ValueError):  # e.g. inside a daemonic process
        log.warning("import: no cleaning pool; cleaning inline", exc_info=True)
        return None


class Lanes:
    """Batches flushed in turn by threads (``IMPORT_DB_LANES``), each with its own database connection.

    A batch's transaction ends with its commit, and the commit checks every
    foreign key the batch wrote (lead → campaign, delivery → lead, delivery →
    destination). In lanes the next batch is written meanwhile. Order is kept
    where it matters: a batch writes its error rows, counts and progress only
    after the batch before has committed, and rolls back if that one failed;
    in-file duplicates were settled before (:meth:`~.importer.CsvImporter.prepare`),
    so concurrent batches never insert the same number. No lanes where the
    database takes one writer at a time, inside a caller's transaction (a lane's
    connection could not see it) or with ``IMPORT_DB_LANES`` 1: then :meth:`flush`
    takes each batch through the database here, one after the other.
    """

    @staticmethod
    def usable() -> bool:
        return (settings.IMPORT_DB_LANES > 1 and dbtools.takes_concurrent_writers()
                and not connection.in_atomic_block)

    def __init__(self, flush: Callable[..., None], on_batch):
        self._do, self._on_batch = flush, on_batch
        self._lanes = [ThreadPoolExecutor(1, thread_name_prefix=f"import-lane-{i}")
                       for i in range(settings.IMPORT_DB_LANES if self.usable() else 0)]
        self._in_flight: deque[Future] = deque()
        self._sent = 0

    def flush(self, prepared: Prepared) -> None:
        if not self._lanes:
            self._do(prepared, self._on_batch)
            return
        if len(self._in_flight) == len(self._lanes):  # every lane busy: wait for the oldest batch
            self._in_flight.popleft().result()
        before = self._in_flight[-1] if self._in_flight else None
        lane = self._lanes[self._sent % len(self._lanes)]
        self._sent += 1
        self._in_flight.append(lane.submit(self._do, prepared, self._on_batch, before))

    def finish(self) -> None:
        """Wait for every batch handed over; raises the first one's error."""
        while self._in_flight:
            self._in_flight.popleft().result()

    def close(self) -> None:
        """Let the lanes end their batches (each commits or rolls back), then close their connections."""
        for lane in self._lanes:
            lane.submit(_close_connection)
            lane.shutdown(wait=True)


def _close_connection() -> None:
    connection.close()  # looked up in the calling thread: a lane closes its own connection
