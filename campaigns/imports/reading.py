"""Rows from the file: records streamed in batches (the file is never read whole)."""
from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from .mapping import unique_headers
from .sniffing import ImportFileError


def _cp1252_fallback(exc: UnicodeDecodeError):
    """Decode bytes that are not UTF-8 as Windows-1252 (files mixing both exist)."""
    bad = exc.object[exc.start:exc.end]
    return bad.decode("cp1252", errors="replace"), exc.end


codecs.register_error("leadhub_cp1252", _cp1252_fallback)


def open_text(binary, encoding: str):
    errors = "leadhub_cp1252" if encoding in ("utf-8", "utf-8-sig") else "replace"
    return io.TextIOWrapper(binary, encoding=encoding, errors=errors, newline="")


def ragged_message(cells: int, width: int) -> str:
    extra = (f" In the error file its {cells - width} extra cell(s) follow error_message."
             if cells > width else "")
    return f"This row has {cells} cells; the header has {width} (check quoting and delimiters).{extra}"


@dataclass
class Batch:
    """Consecutive data records: (cells, why the row is ragged or None), and how many
    data records the file had up to the batch's end (where a resumed import goes on)."""
    rows: list[tuple[list[str], str | None]]
    processed: int

    def records(self) -> list[list[str]]:
        """The cells of the rows that are not ragged (the ones intake gets)."""
        return [cells for cells, ragged in self.rows if ragged is None]


class Reader:
    """The header, then the data records of one CSV file; blank records are skipped.

    ``processed`` counts the data records read so far. The caller owns ``binary``:
    the reader detaches from it, never closes it.
    """

    def __init__(self, binary, encoding: str, delimiter: str):
        self.processed = 0
        self._records = self._read(binary, encoding, delimiter)
        self.header = unique_headers(next(self._records))

    def _read(self, binary, encoding: str, delimiter: str) -> Iterator[list[str]]:
        binary.seek(0)
        text = open_text(binary, encoding)
        reader = csv.reader(text, delimiter=delimiter)
        try:
            for record in reader:
                if any(c.strip() for c in record):
                    record[0] = record[0].removeprefix("\ufeff")
                    yield record
                    break
            else:
                raise ImportFileError("No header row found. The first row must name the columns, e.g. phone,first_name.")
            yield from reader
        except csv.Error as exc:
            raise ImportFileError(f"The CSV cannot be read after data row {self.processed}: {exc}.") from exc
        finally:
            try:
                text.detach()
            except ValueError:  # the caller closed the file first
                pass

    def close(self) -> None:
        self._records.close()

    def records(self) -> Iterator[list[str]]:
        """The data records still to read, counted in ``processed``."""
        for cells in self._records:
            if any(c.strip() for c in cells):
                self.processed += 1
                yield cells

    def batches(self, size: int) -> Iterator[Batch]:
        """The records still to read in batches of ``size``; the last batch is shorter
        (maybe empty: it marks the file as finished)."""
        width = len(self.header)
        rows: list[tuple[list[str], str | None]] = []
        for cells in self.records():
            rows.append((cells, None if len(cells) == width else ragged_message(len(cells), width)))
            if len(rows) >= size:
                yield Batch(rows, self.processed)
                rows = []
        yield Batch(rows, self.processed)


def read_header(binary, encoding: str, delimiter: str) -> list[str]:
    reader = Reader(binary, encoding, delimiter)
    reader.close()
    binary.seek(0)
    return reader.header
