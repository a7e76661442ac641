"""What an import reports: the outcome of each row, and the error file of the rejected ones."""
from __future__ import annotations

import csv
import io
import os

from .formulas import protect

# Outcome keys, in the order they are shown.
# counted among the imported rows (the campaign's vendor_requirements_policy "skip")
NOT_SENT_EVERYWHERE = "accepted_not_sent_everywhere"
OUTCOMES = [
    ("accepted", "Imported"),
    ("duplicate_in_file", "Duplicate within the file"),
    ("duplicate", "Duplicate of an existing lead"),
    ("dnc", "On the do-not-call list"),
    ("invalid_phone", "Invalid phone number"),
    ("missing_field", "Missing required field"),
    ("invalid_field", "Invalid field value"),
    ("ragged_row", "Wrong number of columns"),
    ("campaign_closed", "Campaign closed"),
    ("vendor_requirements", "Misses what a vendor of the campaign needs"),
    (NOT_SENT_EVERYWHERE, "Imported, but not sent to a vendor whose needs it misses"),
]


def rejected_rows(counts: dict[str, int]) -> int:
    return sum(v for k, v in counts.items() if k not in ("accepted", NOT_SENT_EVERYWHERE, "resumes"))


class ErrorSink:
    """Appends rejected rows to the error CSV as they come: each row as uploaded, then
    ``error_code`` and ``error_message`` under their own headers.

    A short (ragged) row is padded with empty cells to the header's width first, so a
    spreadsheet filter on ``error_code`` finds every row; a long row's extra cells come
    after ``error_message``. Cells and messages are written with :func:`protect`
    (cells as uploaded keep their own apostrophes).
    """

    def __init__(self, path: str, header: list[str], delimiter: str, resume_at: int = 0):
        self.path = path
        self.width = len(header)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        exists = os.path.exists(path)
        self.file = open(path, "r+b" if exists else "w+b")
        if exists:
            self.file.truncate(resume_at)
            self.file.seek(resume_at)
        self.text = io.TextIOWrapper(self.file, encoding="utf-8", newline="", write_through=True)
        self.writer = csv.writer(self.text, delimiter=delimiter)
        if not exists or resume_at == 0:
            self.text.write("\ufeff")  # Excel needs the BOM to read UTF-8
            self.writer.writerow([protect(h) for h in header] + ["error_code", "error_message"])

    def write(self, cells: list[str], code: str, message: str) -> None:
        cells = [protect(c) for c in cells]
        row = cells[:self.width] + [""] * (self.width - len(cells)) + [code, protect(message)] + cells[self.width:]
        self.writer.writerow(row)

    def tell(self) -> int:
        self.text.flush()
        return self.file.tell()

    def close(self) -> None:
        self.text.close()

