"""What kind of file is this? Checks and detection on the start of an upload.

:func:`sniff` reads the first 64 KiB only (and scans the file's line breaks): it
refuses binary files (PNG, XLSX, PDF, …), empty ones, files over
``IMPORT_MAX_FILE_BYTES`` and files with a line no CSV has; detects the encoding
(BOM, strict UTF-8, else charset-normalizer among the legacy code pages,
Windows-1252 by default) and the delimiter (``csv.Sniffer`` limited to comma,
semicolon, tab and pipe); and reads the header.
"""
from __future__ import annotations

import codecs
import csv
import io
import os
import re
from dataclasses import dataclass

from django.conf import settings

from ..phones import PhoneError, parse_phone
from .mapping import ALIASES, header_key, unique_headers

SAMPLE_BYTES = 64 * 1024
PREVIEW_ROWS = 20
DELIMITERS = [",", ";", "\t", "|"]
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


class ImportFileError(ValueError):
    """The file cannot be imported at all; ``message`` tells the user why and what to do."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


_MAGIC = [
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "an Excel workbook (.xlsx) or another zip archive"),
    (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls)"),
    (b"\x1f\x8b", "a gzip archive"),
]
_SAVE_AS = "Open it in your spreadsheet and use File → Save As → “CSV UTF-8 (comma delimited)”, then upload that file."


def detect_encoding(sample: bytes, complete: bool) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if not complete and exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"  # the sample cut a character in half
    from charset_normalizer import from_bytes

    best = from_bytes(sample, cp_isolation=["cp1252", "cp1251"]).best()
    if best is None or best.encoding in ("ascii", "latin_1", "iso8859_15"):
        return "cp1252"
    return best.encoding


def _looks_binary(sample: bytes) -> str | None:
    for magic, what in _MAGIC:
        if sample.startswith(magic):
            return what
    if b"\x00" in sample[:4096] and not sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "a binary file"
    return None


def detect_delimiter(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()][:50]
    if not lines:
        return ","
    head = "\n".join(lines)
    try:
        delimiter = csv.Sniffer().sniff(head, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        delimiter = ""
    # Sniffer can be fooled by punctuation inside values; trust it only if the
    # header actually splits on its choice, else take the most frequent candidate.
    counts = {d: lines[0].count(d) for d in DELIMITERS}
    if delimiter not in counts or counts[delimiter] == 0:
        best = max(DELIMITERS, key=lambda d: counts[d])
        delimiter = best if counts[best] else ","
    return delimiter


@dataclass
class Sniffed:
    encoding: str
    delimiter: str
    header: list[str]
    sample_rows: list[list[str]]
    estimated_rows: int | None = None

    @property
    def delimiter_name(self) -> str:
        return DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))


# A line longer than this (bytes between two line breaks) is not a CSV row anyone
# meant: a file with no line break for this long is refused at upload.
MAX_LINE_BYTES = 1_000_000


def format_bytes(size: int) -> str:
    """Sizes as the upload page, the errors and the README state them: MB (10^6 bytes)."""
    if size < 100_000:
        return f"{size:,} bytes"
    return f"{size / 1e6:,.1f} MB" if size % 1_000_000 else f"{size // 1_000_000:,} MB"


def size_limit_text() -> str:
    """The upload limit (``IMPORT_MAX_FILE_BYTES``), stated one way everywhere."""
    return format_bytes(settings.IMPORT_MAX_FILE_BYTES)


def scan_lines(binary) -> tuple[int, int]:
    """(line count, longest run of bytes without a line break), read in chunks.

    Line breaks are LF, CRLF or a lone CR (old Mac files); the count is of LFs, an
    estimate. The chunks are ``MAX_LINE_BYTES`` long, so a longer line always crosses
    a chunk boundary: only the runs at the boundaries need measuring.
    """
    binary.seek(0)
    n = last = run = longest = 0
    while chunk := binary.read(MAX_LINE_BYTES):
        n += chunk.count(b"\n")
        last = chunk[-1]
        first_break = min((i for i in (chunk.find(b"\n"), chunk.find(b"\r")) if i >= 0), default=-1)
        if first_break >= 0:
            longest = max(longest, run + first_break)
            run = len(chunk) - max(chunk.rfind(b"\n"), chunk.rfind(b"\r")) - 1
        else:
            run += len(chunk)
    binary.seek(0)
    return n + (1 if last not in (0, 10) else 0), max(longest, run)


def count_lines(binary) -> int:
    """Newlines in the file (a cheap estimate of the row count)."""
    return scan_lines(binary)[0]


def sniff(binary, *, max_bytes: int | None = None) -> Sniffed:
    """Look at the start of a binary file object; raise ImportFileError for unusable files."""
    max_bytes = settings.IMPORT_MAX_FILE_BYTES if max_bytes is None else max_bytes
    binary.seek(0, os.SEEK_END)
    size = binary.tell()
    binary.seek(0)
    if size > max_bytes:
        raise ImportFileError(
            f"The file is {format_bytes(size)}; the limit is {format_bytes(max_bytes)} "
            "(IMPORT_MAX_FILE_BYTES). Split it into smaller files."
        )
    sample = binary.read(SAMPLE_BYTES)
    binary.seek(0)
    what = _looks_binary(sample)
    if what:
        raise ImportFileError(f"This is {what}, not a CSV file. {_SAVE_AS}")
    if not sample.strip() or sample.strip() in (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        raise ImportFileError("The file is empty. Upload a CSV file with a header row and one lead per row.")
    lines, longest = scan_lines(binary)
    if longest > MAX_LINE_BYTES:
        raise ImportFileError(
            f"This file has a line of {format_bytes(longest)} without a line break; a CSV row is far shorter "
            f"(the limit is {format_bytes(MAX_LINE_BYTES)}). The file is not a CSV, or its line breaks were lost. "
            + _SAVE_AS
        )
    encoding = detect_encoding(sample, complete=len(sample) == size)
    text = sample.decode(encoding, errors="replace")
    if not text.strip("\ufeff\r\n\t \x00"):
        raise ImportFileError("The file is empty. Upload a CSV file with a header row and one lead per row.")
    if len(sample) < size:  # drop the last, probably cut, line
        text = text[: text.rfind("\n") + 1] or text
    delimiter = detect_delimiter(text)
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter)
    records = [r for r in reader if any(c.strip() for c in r)]
    header = records[0] if records else []
    if not any(h.strip() for h in header):
        raise ImportFileError("No header row found. The first row must name the columns, e.g. phone,first_name,last_name.")
    stripped = header[0].strip()
    if len(header) == 1 and ALIASES.get(header_key(stripped)) != "phone":
        if stripped[:1] in "<{[" or stripped.lower().startswith("<!doctype"):
            raise ImportFileError(f"This is not a CSV file (it looks like HTML or JSON). {_SAVE_AS}")
        if _is_phone(stripped):
            raise ImportFileError(
                f"No header row: the first row holds data ({stripped!r}). Add a first row naming the columns, e.g. phone."
            )
        raise ImportFileError(
            "This does not look like a CSV file: the first row has no comma, semicolon, tab or pipe between "
            f"column names ({stripped[:60]!r}). {_SAVE_AS}"
        )
    phones_in_header = [h for h in header if h.strip() and _is_phone(h)]
    if phones_in_header:
        raise ImportFileError(
            f"No header row: the first row holds data (e.g. {phones_in_header[0].strip()!r}). "
            "Add a first row naming the columns, e.g. phone,first_name,last_name."
        )
    if len(records) < 2 and len(sample) == size:
        raise ImportFileError(
            "The file has a header row and no leads: there are no rows to import under "
            f"{', '.join(h.strip() for h in header if h.strip())[:200]}."
        )
    return Sniffed(
        encoding=encoding, delimiter=delimiter, header=unique_headers(header),
        sample_rows=records[1:PREVIEW_ROWS + 1], estimated_rows=max(lines - 1, 0),
    )


def _is_phone(value: str) -> bool:
    if not re.search(r"\d{6}", re.sub(r"[\s\-\.\(\)]", "", value)):
        return False
    try:
        parse_phone(value)
        return True
    except PhoneError:
        return False
