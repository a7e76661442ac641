"""One CSV through intake, batch after batch: the importer's plain path.

:meth:`CsvImporter.run` reads the file in batches of ``batch_size`` records and,
for each batch in turn:

1. cleans its rows (:mod:`.cleaning`: mapping, validation, phone parsing, the
   CPU-heavy half of intake);
2. settles what needs no database (:meth:`CsvImporter.prepare`: ragged rows,
   numbers repeated within the file) and makes a lead of every other valid row;
3. takes the batch through the database half of intake
   (:meth:`CsvImporter.flush`: :func:`campaigns.intake.admit`, rejected rows to
   the error file, progress) in one transaction, so the saved progress always
   matches what is in the database.

With ``IMPORT_PARALLEL`` on, :mod:`.parallel` runs the same three steps
overlapped: cleaning in worker processes one batch ahead, flushing in several
database connections at once. The outcome, the error file and the progress are
the same either way.

Duplicates inside one file: a row whose number already appeared in an earlier row
of the same file (one that passed validation) is ``duplicate_in_file``; the
importer keeps the numbers it has seen as integers (≈ 60 bytes each), the only
state that grows with the file.
"""
from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from leadhub import dbtools

from .. import intake
from ..models import Campaign, Lead, LeadList
from . import parallel
from .cleaning import clean_records, phone_key
from .formulas import unneutralise
from .mapping import build_row, column_plan
from .reading import Batch, Reader, ragged_message
from .sniffing import PREVIEW_ROWS
from .writing import NOT_SENT_EVERYWHERE, ErrorSink

BATCH_SIZE = 5000


# Inside an import the cyclic collector's first generation waits for this many allocations
# (Python's default: 700).
SPARSE_GC_ALLOCATIONS = 100_000


@contextmanager
def _sparse_cyclic_gc() -> Iterator[None]:
    """Cyclic garbage collection runs less often inside the block; the thresholds before it
    are restored after, whatever happens.

    A batch allocates and frees ~100,000 objects (rows, leads, results) that form no cycles,
    yet at the default threshold their allocations set off collection after collection of
    the objects they survive with. The collector stays on (the process's other threads, a web
    server's requests, still have their cycles collected), only less often; the cleaning
    processes forked inside the block inherit the thresholds and end with the import.
    """
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], SPARSE_GC_ALLOCATIONS), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


@dataclass
class BatchProgress:
    processed: int            # data records consumed so far (resume position)
    counts: Counter
    error_bytes: int          # size of the error CSV after this batch


@dataclass
class Prepared:
    """A batch ready for the database: the verdicts settled so far (None: pending),
    intake results for the other rows and their positions in the batch."""
    batch: Batch
    verdicts: list[tuple[str, str] | None]
    results: list[intake.RowResult]
    positions: list[int]


class CsvImporter:
    """Streams one CSV through intake in batches. See the module docstring."""

    def __init__(self, *, campaign: Campaign, mapping: dict[str, str], encoding: str, delimiter: str,
                 lead_list: LeadList | None = None, source: str = "", dry_run: bool = False,
                 batch_size: int = BATCH_SIZE, errors: ErrorSink | None = None):
        self.campaign = campaign
        self.lead_list = lead_list
        self.mapping = mapping
        self.encoding = encoding
        self.delimiter = delimiter
        self.source = source
        self.dry_run = dry_run
        self.batch_size = batch_size
        self.errors = errors
        self.counts: Counter = Counter()
        self.seen: set[int] = set()          # numbers of validated rows, as ints
        self.region = campaign.phone_region
        self.plan: list[tuple[int, str, str]] = []
        self._reader: Reader | None = None

    @property
    def processed(self) -> int:
        """Data records read so far."""
        return self._reader.processed if self._reader else 0

    def run(self, binary, *, skip: int = 0, on_batch: Callable[[BatchProgress], None] | None = None,
            deadline: float | None = None) -> bool:
        """Import from data row ``skip``; True when the file is finished, False at ``deadline``
        (checked after each full batch, so a run always ends on a committed batch)."""
        with _sparse_cyclic_gc():
            reader = self._reader = Reader(binary, self.encoding, self.delimiter)
            try:
                self.plan = column_plan(reader.header, self.mapping)
                if skip:
                    self._replay(reader, skip)
                if settings.IMPORT_PARALLEL:
                    return parallel.run(self, reader.batches(self.batch_size), on_batch, deadline)
                for batch in reader.batches(self.batch_size):
                    self.flush(self.prepare(batch, self.clean(batch)), on_batch)
                    if self.past(deadline, batch):
                        return False
                return True
            finally:
                reader.close()

    def past(self, deadline: float | None, batch: Batch) -> bool:
        """Whether to stop after ``batch``: a full one, with the time slice used up."""
        return deadline is not None and len(batch.rows) >= self.batch_size and time.monotonic() > deadline

    def clean(self, batch: Batch) -> list[tuple[int | None, bool, tuple]]:
        return clean_records(self.clean_args(batch.records()))

    def clean_args(self, records: list[list[str]]) -> tuple:
        return self.region, self.source, self.plan, records

    def _replay(self, reader: Reader, skip: int) -> None:
        """Skip rows handled by an earlier run, rebuilding the numbers already seen."""
        phone_col = next(i for i, target, _ in self.plan if target == "phone")
        width = len(reader.header)
        for cells in reader.records():
            if len(cells) == width:
                key = phone_key(unneutralise(cells[phone_col]), self.region)
                if key is not None:
                    self.seen.add(key)
            if reader.processed >= skip:
                return

    def prepare(self, batch: Batch, cleaned: Iterable[tuple[int | None, bool, tuple]]) -> Prepared:
        """A cleaned batch's verdicts that need no database, and a lead for every other
        valid row (in file order, in the reading thread).

        A valid row's number counts as seen whatever the database says next
        (accepted, a duplicate of an existing lead, DNC): a later row with it is a
        duplicate within the file. Only an archived campaign, which takes nothing,
        leaves its rows unseen.
        """
        verdicts: list[tuple[str, str] | None] = [None] * len(batch.rows)
        results, positions = [], []
        rows = iter(cleaned)
        new_lead, campaign, lead_list, seen = intake.new_lead, self.campaign, self.lead_list, self.seen
        remember = campaign.status != Campaign.Status.ARCHIVED
        for pos, (cells, ragged) in enumerate(batch.rows):
            if ragged is not None:
                verdicts[pos] = ("ragged_row", ragged)
                continue
            key, ok, payload = next(rows)
            if key is not None and key in seen:
                verdicts[pos] = ("duplicate_in_file", f"The number +{key} appears in an earlier row of this file.")
                continue
            positions.append(pos)
            if ok:
                if key is not None and remember:
                    seen.add(key)
                lead = new_lead(campaign, lead_list, None, dict(zip(intake.VALUE_KEYS, payload)))
                results.append(intake.RowResult(len(results), True, lead=lead))
            else:
                results.append(intake.RowResult(len(results), False, code=payload[0], message=payload[1]))
        return Prepared(batch, verdicts, results, positions)

    def _reject(self, cells, code, message):
        self.counts[code] += 1
        if self.errors is not None:
            self.errors.write(cells, code, message)

    def flush(self, prepared: Prepared, on_batch, before=None) -> None:
        """One prepared batch through the database half of intake, its rejected rows to the
        error file (in file order) and the progress, in one transaction. ``before`` (a
        future; see :mod:`.parallel`): the batch before's flush in another connection,
        which must have committed before this batch writes its errors and progress."""
        verdicts = prepared.verdicts
        with transaction.atomic():
            # Each batch commits its leads together with the job's progress, so a crash
            # that loses the last commits loses them as a whole and the resumed job redoes
            # exactly those rows: the commit need not wait for the disk.
            dbtools.commit_without_waiting_for_disk()
            if prepared.results:
                intake.admit(prepared.results, campaign=self.campaign, channel=Lead.Channel.CSV,
                             dry_run=self.dry_run)
            if before is not None:
                before.result()
            for pos, result in zip(prepared.positions, prepared.results):
                if result.accepted:
                    self.counts["accepted"] += 1
                    if result.warnings:
                        self.counts[NOT_SENT_EVERYWHERE] += 1
                else:
                    verdicts[pos] = (result.code, result.message)
            for (cells, _), verdict in zip(prepared.batch.rows, verdicts):
                if verdict is not None:
                    self._reject(cells, *verdict)
            if on_batch is not None:
                on_batch(BatchProgress(prepared.batch.processed, Counter(self.counts),
                                       self.errors.tell() if self.errors is not None else 0))


def preview(binary, *, campaign: Campaign, mapping: dict[str, str], encoding: str, delimiter: str,
            lead_list: LeadList | None = None, rows: int = PREVIEW_ROWS) -> tuple[list[str], list[dict]]:
    """Dry-run the first ``rows`` rows: (header, [{cells, accepted, code, message}])."""
    reader = Reader(binary, encoding, delimiter)
    header = reader.header
    plan = column_plan(header, mapping)
    out, submit_rows, positions = [], [], []
    try:
        for cells in reader.records():
            if len(cells) != len(header):
                out.append({"cells": cells, "accepted": False, "code": "ragged_row",
                            "message": ragged_message(len(cells), len(header))})
            else:
                positions.append(len(out))
                out.append({"cells": cells})
                submit_rows.append(build_row(cells, plan))
            if len(out) >= rows:
                break
    finally:
        reader.close()
    with transaction.atomic():
        results = intake.submit(submit_rows, campaign=campaign, lead_list=lead_list, dry_run=True) if submit_rows else []
    for pos, result in zip(positions, results):
        code = "duplicate_in_file" if result.code == "duplicate_in_batch" else result.code
        message = result.message or "; ".join(w["message"] for w in result.warnings)
        out[pos].update(accepted=result.accepted, code=code, message=message)
    return header, out
