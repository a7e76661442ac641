"""CSV import and export of leads.

Import, in the order the admin and ``import_leads`` use it:

1. :func:`sniff` reads the first 64 KiB only: refuses binary files (PNG, XLSX,
   PDF, …) and empty ones, detects the encoding (BOM, strict UTF-8, else
   charset-normalizer among the legacy code pages, Windows-1252 by default) and
   the delimiter (``csv.Sniffer`` limited to comma, semicolon, tab and pipe),
   reads the header and guesses a mapping (:func:`guess_mapping`).
2. :class:`CsvImporter` streams the file (never read whole) in batches of
   ``BATCH_SIZE`` rows; every batch goes through intake in its two halves:
   :func:`campaigns.intake.clean_values` (mapping, validation, phone parsing;
   in a pool of worker processes, one batch ahead) and
   :func:`campaigns.intake.admit` (one query for existing numbers, one for DNC,
   one ``COPY``, delivery planning) in its own transaction, together with the
   progress callback, so the saved progress always matches what is in the
   database. On PostgreSQL three connections take the batches in turn, each
   committing after the one before (:class:`_Lanes`). Rejected rows are
   appended to the error CSV as they come (each row as uploaded +
   ``error_code`` + ``error_message``).
3. :func:`run_job` drives one :class:`~campaigns.models.ImportJob` (the django-q2
   task calls it). A job that stops part way (crash, deploy, lost worker) is
   *resumed*, not restarted: ``processed_rows`` is committed with each batch,
   so the next run skips exactly the rows already handled and truncates the
   error file back to ``error_bytes``. A job whose heartbeat is older than
   ``IMPORT_STALE_SECONDS`` is picked up again by :func:`resume_stalled_jobs`
   (called by the progress endpoint and schedulable as a task); after
   ``MAX_RESUMES`` attempts it is marked failed with the counts so far.

Duplicates inside one file: a row whose number already appeared in an earlier
row of the same file (one that passed validation) is ``duplicate_in_file``; the
importer keeps the numbers it has seen as integers (≈ 60 bytes each), the only
state that grows with the file.

Export: :func:`stream_csv` streams any rows as CSV with formula neutralisation
(cells starting with ``= + - @ TAB CR`` get a leading apostrophe, unless they are a
plain number such as an E.164 phone; see "formula neutralisation" below for the
rules); the importer removes exactly that apostrophe again (:func:`unneutralise`),
so an export imports back to the same leads.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import gc
import io
import json
import logging
import multiprocessing
import os
import re
import time
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from django.conf import settings
from django.db import connection, transaction
from django.http import StreamingHttpResponse
from django.utils import timezone as djtz

from . import intake
from .models import Campaign, ImportJob, Lead, LeadList
from .phones import PhoneError, parse_phone

log = logging.getLogger(__name__)

BATCH_SIZE = 5000
GC_EVERY_BATCHES = 50
SAMPLE_BYTES = 64 * 1024
PREVIEW_ROWS = 20
DELIMITERS = [",", ";", "\t", "|"]
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
MAX_RESUMES = 3

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
INVALID_CODES = {"invalid_phone", "missing_field", "invalid_field", "ragged_row"}

# --- mapping ------------------------------------------------------------------

IGNORE = "ignore"
METADATA = "metadata"
METADATA_JSON = "metadata_json"

LEAD_FIELDS = [
    ("phone", "Phone"), ("phone_alt", "Second phone"), ("first_name", "First name"), ("last_name", "Last name"),
    ("email", "Email"), ("address", "Address"), ("city", "City"), ("region", "State / region"),
    ("postal_code", "Postal code"), ("country", "Country"), ("timezone", "Time zone"),
    ("external_id", "External id"), ("source", "Source"), ("link", "Link"), ("consent_at", "Consent at"),
    ("consent_url", "Consent URL"), ("scheduled_at", "Scheduled at"),
]
TARGET_CHOICES = LEAD_FIELDS + [
    (METADATA, "Metadata (keep as extra value)"),
    (METADATA_JSON, "Metadata JSON object (from an export)"),
    (IGNORE, "Ignore this column"),
]
TARGETS = {value for value, _ in TARGET_CHOICES}

# Header (lower-case, letters and digits only) -> target.
ALIASES: dict[str, str] = {}
for _target, _names in {
    "phone": "phone phonenumber phoneno phone1 mobile mobilephone mobilenumber mobileno cell cellphone "
             "cellnumber telephone telephonenumber tel number primaryphone contactnumber msisdn",
    "phone_alt": "phonealt phone2 altphone alternatephone alternativephone secondaryphone otherphone "
                 "homephone workphone landline mobile2",
    "first_name": "firstname first fname givenname forename",
    "last_name": "lastname last lname surname familyname",
    "email": "email emailaddress mail",
    "address": "address address1 addressline1 street streetaddress",
    "city": "city town locality",
    "region": "state province region stateprovince st",
    "postal_code": "zip zipcode postcode postalcode postal",
    "country": "country countrycode",
    "timezone": "timezone tz",
    "external_id": "externalid id crmid customerid reference ref sourceid",
    "source": "source leadsource",
    "link": "link url landingpage",
    "consent_at": "consentat consentdate consenttimestamp optinat optindate",
    "consent_url": "consenturl optinurl",
    "scheduled_at": "scheduledat scheduled callbackat",
    METADATA_JSON: "metadata",
    # columns our own export adds that are not lead data
    IGNORE: "leadid campaign leadlist list status createdat updatedat partner errorcode errormessage",
}.items():
    for _name in _names.split():
        ALIASES[_name] = _target


def _header_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def unique_headers(header: list[str]) -> list[str]:
    """Strip header cells, name blank ones ``column_N`` and tell repeated names apart."""
    seen: Counter = Counter()
    out = []
    for i, name in enumerate(header, 1):
        name = name.strip() or f"column_{i}"
        seen[name] += 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def guess_mapping(header: list[str], remembered: dict[str, str] | None = None) -> dict[str, str]:
    """Header -> target for every column: remembered choice, else alias, else metadata.

    A second phone-like column becomes ``phone_alt``; any other field claimed
    twice keeps the first column and sends the next ones to metadata.
    """
    remembered = {k: v for k, v in (remembered or {}).items() if v in TARGETS}
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for name in header:
        target = remembered.get(name) or ALIASES.get(_header_key(name), METADATA)
        if target == "phone" and "phone" in taken:
            target = "phone_alt"
        if target not in (METADATA, IGNORE) and target in taken:
            target = METADATA
        taken.add(target)
        mapping[name] = target
    return mapping


class MappingError(ValueError):
    pass


def validate_mapping(header: list[str], mapping: dict[str, str]) -> dict[str, str]:
    """Complete and check a mapping for ``header``; raises MappingError with a clear message."""
    mapping = {name: mapping.get(name, METADATA) for name in header}
    bad = {name: t for name, t in mapping.items() if t not in TARGETS}
    if bad:
        raise MappingError(f"Unknown target(s): {', '.join(f'{k} → {v}' for k, v in bad.items())}. "
                           f"Use a lead field, {METADATA}, {METADATA_JSON} or {IGNORE}.")
    used = Counter(t for t in mapping.values() if t not in (METADATA, IGNORE))
    twice = [t for t, n in used.items() if n > 1]
    if twice:
        raise MappingError(f"Each lead field can take one column only; mapped twice: {', '.join(sorted(twice))}.")
    if "phone" not in used:
        raise MappingError(
            "No phone column: map one column to 'phone'. The headers are: " + ", ".join(header) + "."
        )
    return mapping


# --- formula neutralisation ---------------------------------------------------------
#
# OWASP "CSV Injection": a cell that starts with = + - @ TAB or CR may be run as a
# formula by a spreadsheet, so it is written with a leading apostrophe (the
# spreadsheet's "this is text" mark). Two cases need none, because no spreadsheet
# runs them: a cell that is a plain signed number (an E.164 phone such as
# +14155552671, or -2: digits only, so no function, reference or operator can
# follow the sign) and a cell that already starts with an apostrophe.
#
# Two writers use these rules:
# - protect(): text written as it is (the error file's cells, which are cells as
#   uploaded, and its messages): an apostrophe only where the cell would be a
#   formula; an existing leading apostrophe is never doubled.
# - neutralise(): a stored value written into a file the importer reads back (the
#   export). The importer reads one leading apostrophe before a formula character as
#   the escape (unneutralise), so a stored value that itself starts with apostrophes
#   before a formula character keeps its own apostrophes by getting one more; every
#   other value is written as protect() writes it.

FORMULA_TRIGGERS = "=+-@\t\r"
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")
_ESCAPED_FORMULA = re.compile(r"('+)([=+\-@\t\r].*)", re.DOTALL)


def _is_formula(value: str) -> bool:
    return bool(value) and value[0] in FORMULA_TRIGGERS and not _PLAIN_NUMBER.fullmatch(value)


def protect(value: str) -> str:
    """``value`` with a leading ``'`` if a spreadsheet would run it as a formula."""
    return "'" + value if _is_formula(value) else value


def _escapes_formula(value: str) -> bool:
    """Whether ``value`` is apostrophes before a cell that would be a formula."""
    match = _ESCAPED_FORMULA.fullmatch(value) if value[:1] == "'" else None
    return match is not None and _is_formula(match[2])


def neutralise(value: str) -> str:
    """A stored value as written to an export: :func:`protect`, and one more
    apostrophe for a value that starts with apostrophes before a formula, so that
    :func:`unneutralise` (which removes exactly one) gives the value back."""
    if _is_formula(value) or _escapes_formula(value):
        return "'" + value
    return value


def unneutralise(value: str) -> str:
    """A cell as uploaded -> its value: one leading apostrophe before a formula is the escape."""
    if value and value[0] == "'" and _escapes_formula(value):
        return value[1:]
    return value


# --- sniffing -----------------------------------------------------------------------


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


def _cp1252_fallback(exc: UnicodeDecodeError):
    """Decode bytes that are not UTF-8 as Windows-1252 (files mixing both exist)."""
    bad = exc.object[exc.start:exc.end]
    return bad.decode("cp1252", errors="replace"), exc.end


codecs.register_error("leadhub_cp1252", _cp1252_fallback)


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


def _open_text(binary, encoding: str):
    errors = "leadhub_cp1252" if encoding in ("utf-8", "utf-8-sig") else "replace"
    return io.TextIOWrapper(binary, encoding=encoding, errors=errors, newline="")


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
    if len(header) == 1 and ALIASES.get(_header_key(stripped)) != "phone":
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


# --- streaming import -------------------------------------------------------------


@dataclass
class BatchProgress:
    processed: int            # data records consumed so far (resume position)
    counts: Counter
    error_bytes: int          # size of the error CSV after this batch


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
        self.rows = 0
        if not exists or resume_at == 0:
            self.text.write("\ufeff")  # Excel needs the BOM to read UTF-8
            self.writer.writerow([protect(h) for h in header] + ["error_code", "error_message"])

    def write(self, cells: list[str], code: str, message: str) -> None:
        cells = [protect(c) for c in cells]
        row = cells[:self.width] + [""] * (self.width - len(cells)) + [code, protect(message)] + cells[self.width:]
        self.writer.writerow(row)
        self.rows += 1

    def tell(self) -> int:
        self.text.flush()
        return self.file.tell()

    def close(self) -> None:
        self.text.close()


def _ragged_message(cells: int, width: int) -> str:
    extra = (f" In the error file its {cells - width} extra cell(s) follow error_message."
             if cells > width else "")
    return f"This row has {cells} cells; the header has {width} (check quoting and delimiters).{extra}"


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
        self._batches = 0
        self.processed = 0
        self.header: list[str] = []
        self._region = campaign.phone_region

    # -- reading
    def records(self, binary) -> Iterator[list[str]]:
        binary.seek(0)
        text = _open_text(binary, self.encoding)
        reader = csv.reader(text, delimiter=self.delimiter)
        try:  # the caller owns ``binary``: detach, never close it
            for record in reader:
                if any(c.strip() for c in record):
                    if record[0].startswith("\ufeff"):
                        record[0] = record[0][1:]
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

    def read_header(self, binary) -> list[str]:
        records = self.records(binary)
        try:
            return unique_headers(next(records))
        finally:
            records.close()
            binary.seek(0)

    def _plan(self):
        mapping = validate_mapping(self.header, self.mapping)
        plan = [(i, mapping[name], name) for i, name in enumerate(self.header) if mapping[name] != IGNORE]
        phone_col = next(i for i, t, _ in plan if t == "phone")
        return plan, phone_col

    @staticmethod
    def build_row(cells: list[str], plan) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        meta: dict[str, str] = {}
        for i, target, name in plan:
            value = cells[i]
            if value and value[0] == "'":
                value = unneutralise(value)
            if target == METADATA:
                if value != "":
                    meta[name] = value
            elif target == METADATA_JSON:
                if value.strip():
                    try:
                        data = json.loads(value)
                    except ValueError:
                        data = None
                    if isinstance(data, dict):
                        meta.update({str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()})
                    else:
                        meta[name] = value
            else:
                raw[target] = value
        if meta:
            raw["metadata"] = meta
        return raw

    # -- running
    def run(self, binary, *, skip: int = 0, on_batch: Callable[[BatchProgress], None] | None = None,
            deadline: float | None = None) -> bool:
        """Import from data row ``skip``; True when the file is finished, False at ``deadline``.

        Large files are pipelined. While this thread reads batch N+1 and a pool of
        worker processes maps and cleans its rows (:func:`campaigns.intake.clean_values`:
        validation and phone parsing, the CPU-heavy half of intake), batch N is
        settled here as far as no database is needed (:meth:`_prepare`) and earlier
        batches go through the database half (:meth:`_flush`:
        :func:`campaigns.intake.admit`, error rows, progress, one transaction each)
        in :class:`_Lanes`: threads with a connection each (three), so that one batch's
        commit (its foreign-key checks were a fifth of an import) runs while the next
        batches are written. Inside a caller's transaction, and on SQLite, batches are
        flushed here, one after the other.
        """
        records = self.records(binary)
        self.header = unique_headers(next(records))
        plan, phone_col = self._plan()
        width = len(self.header)
        if skip:
            self._replay(records, skip, plan, phone_col, width)
        batch: list[tuple[list[str], str | None]] = []  # (cells, why the row is ragged or None)
        waiting = None  # the previous full batch, its rows being cleaned and the rows read so far
        pool = None
        lanes = _Lanes(self._flush, on_batch)
        collecting = gc.isenabled()
        gc.disable()  # see _flush
        try:
            for cells in records:
                if not any(c.strip() for c in cells):
                    continue
                self.processed += 1
                if len(cells) != width:
                    batch.append((cells, _ragged_message(len(cells), width)))
                else:
                    batch.append((cells, None))
                if len(batch) >= self.batch_size:
                    if pool is None:
                        pool = _clean_pool()
                    cleaning = self._clean(pool, batch, plan)
                    if waiting is not None:
                        lanes.flush(self._prepare(*waiting))
                    waiting, batch = (batch, cleaning, self.processed), []
                    if deadline is not None and time.monotonic() > deadline:
                        lanes.flush(self._prepare(*waiting))
                        lanes.finish()
                        return False
            if waiting is not None:
                lanes.flush(self._prepare(*waiting))
            # the last, partial batch (maybe empty: its progress marks the file finished)
            lanes.flush(self._prepare(batch, self._clean(None, batch, plan), self.processed))
            lanes.finish()
            return True
        finally:
            lanes.close()
            if pool:
                pool.terminate()
            if collecting:
                gc.enable()

    def _clean(self, pool, batch, plan):
        """Start cleaning a batch's rows (mapping, validation, phone parsing: the CPU-heavy
        half of intake) in the pool, or do it here without one; ``.get()`` gives the
        chunks' results in order."""
        records = [cells for cells, ragged in batch if ragged is None]
        if not pool:
            return _Done([_clean_records((self._region, self.source, plan, records))])
        size = max(1, len(records) // PARSE_WORKERS + 1)
        return pool.map_async(_clean_records, [(self._region, self.source, plan, records[i:i + size])
                                               for i in range(0, len(records), size)])

    def _replay(self, records, skip, plan, phone_col, width):
        """Skip rows handled by an earlier run, rebuilding the numbers already seen."""
        for cells in records:
            if not any(c.strip() for c in cells):
                continue
            self.processed += 1
            if len(cells) == width:
                key = _phone_key(unneutralise(cells[phone_col]), self._region)
                if key is not None:
                    self.seen.add(key)
            if self.processed >= skip:
                return

    def _prepare(self, batch, cleaning, processed: int) -> _Prepared:
        """A cleaned batch's verdicts that need no database, and a lead for every other
        valid row (in file order, in the reading thread).

        A valid row's number counts as seen whatever the database says next
        (accepted, a duplicate of an existing lead, DNC): a later row with it is a
        duplicate within the file. Only an archived campaign, which takes nothing,
        leaves its rows unseen.
        """
        verdicts: list[tuple[str, str] | None] = [None] * len(batch)
        results, positions = [], []
        rows = (row for chunk in cleaning.get() for row in chunk)
        new_lead, campaign, lead_list, seen = intake.new_lead, self.campaign, self.lead_list, self.seen
        remember = campaign.status != Campaign.Status.ARCHIVED
        for pos, (cells, ragged) in enumerate(batch):
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
        return _Prepared(batch, verdicts, results, positions, processed)

    def _reject(self, cells, code, message):
        self.counts[code] += 1
        if self.errors is not None:
            self.errors.write(cells, code, message)

    def _flush(self, prepared: _Prepared, on_batch, before: Future | None = None) -> None:
        """One prepared batch through the database half of intake, its rejected rows to the
        error file (in file order) and the progress, in one transaction. ``before``: the
        batch before's flush in another lane, which must have committed before this
        batch writes its errors and progress (and fails this one if it failed)."""
        verdicts = prepared.verdicts
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # Each batch commits its leads together with the job's progress, so a
                # crash that loses the last commits loses them as a whole and the resumed
                # job redoes exactly those rows: the batch need not wait for its WAL to
                # reach the disk (the wait was a third of the database time).
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            if prepared.results:
                intake.admit(prepared.results, campaign=self.campaign, channel=Lead.Channel.CSV,
                             dry_run=self.dry_run)
            if before is not None:
                before.result()
            # A batch allocates ~100,000 objects (leads, results) and frees them again; the
            # cyclic GC, run every 700 allocations, cost 10 % of an import without finding
            # anything. run() turns it off and we collect every GC_EVERY_BATCHES batches.
            self._batches += 1
            if self._batches % GC_EVERY_BATCHES == 0:
                gc.collect()
            for pos, result in zip(prepared.positions, prepared.results):
                if result.accepted:
                    self.counts["accepted"] += 1
                    if result.warnings:
                        self.counts[NOT_SENT_EVERYWHERE] += 1
                else:
                    verdicts[pos] = (result.code, result.message)
            for (cells, _), verdict in zip(prepared.batch, verdicts):
                if verdict is not None:
                    self._reject(cells, *verdict)
            if on_batch is not None:
                on_batch(BatchProgress(prepared.processed, Counter(self.counts),
                                       self.errors.tell() if self.errors is not None else 0))


@dataclass
class _Prepared:
    """A batch ready for the database: its records, the verdicts settled so far (None:
    pending), intake results for the rest and their positions, rows read up to its end."""
    batch: list[tuple[list[str], str | None]]
    verdicts: list[tuple[str, str] | None]
    results: list[intake.RowResult]
    positions: list[int]
    processed: int


class _Lanes:
    """Batches flushed in turn by threads (``IMPORT_DB_LANES``), each with its own database connection.

    A batch's transaction ends with its commit, and the commit checks every
    foreign key the batch wrote (lead → campaign, delivery → lead, delivery →
    destination: 11 µs a row, a fifth of an import). In lanes the next batch is
    written meanwhile. Order is kept where it matters: a batch writes its error
    rows, counts and progress only after the batch before has committed, and
    rolls back if that one failed; in-file duplicates were settled before
    (:meth:`CsvImporter._prepare`), so concurrent batches never insert the same
    number. No lanes inside a caller's transaction (a lane's connection could not
    see it), on SQLite (one writer at a time) or with ``IMPORT_DB_LANES`` 1: then
    :meth:`flush` takes each batch through the database here, one after the other.
    """

    @staticmethod
    def usable() -> bool:
        return DB_LANES > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block

    def __init__(self, flush: Callable[..., None], on_batch):
        self._do, self._on_batch = flush, on_batch
        self._lanes = [ThreadPoolExecutor(1, thread_name_prefix=f"import-lane-{i}")
                       for i in range(DB_LANES if self.usable() else 0)]
        self._in_flight: deque[Future] = deque()
        self._sent = 0

    def flush(self, prepared: _Prepared) -> None:
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


class _Done:
    """The result of work done in this process, shaped like the pool's AsyncResult."""

    def __init__(self, value):
        self.value = value

    def get(self):
        return self.value


def _phone_key(value: str, region: str) -> int | None:
    try:
        return int(parse_phone(value, region).e164[1:])
    except PhoneError:
        return None


def _clean_records(args) -> list[tuple[int | None, bool, tuple]]:
    """Map and clean records (in a worker process or inline), via intake.clean_values.

    One tuple per record: (the number as an int for duplicate detection, or None;
    True and the lead's values in ``intake.VALUE_KEYS`` order, or False and
    (code, message)). Plain tuples: they cross the process boundary.
    """
    region, source, plan, records = args
    out = []
    for cells in records:
        raw = CsvImporter.build_row(cells, plan)
        key = _phone_key(raw.get("phone") or "", region)
        try:
            values = intake.clean_values(raw, region, source)
        except intake.RowInvalid as exc:
            out.append((key, False, intake.summary(exc.errors)))
            continue
        out.append((key, True, tuple(values[k] for k in intake.VALUE_KEYS)))
    return out


PARSE_WORKERS = max(0, int(getattr(settings, "IMPORT_PARSE_WORKERS", 2)))
DB_LANES = max(1, int(getattr(settings, "IMPORT_DB_LANES", 3)))


def _clean_pool():
    """A pool of processes cleaning rows; None when unavailable (then cleaning is inline)."""
    if PARSE_WORKERS < 1:
        return None
    try:
        # the workers only clean rows (no cycles; see _flush) and end with the import
        return multiprocessing.get_context("fork").Pool(PARSE_WORKERS, initializer=gc.disable)
    except (AssertionError, OSError, ValueError):  # e.g. inside a daemonic process
        log.warning("import: no cleaning pool; cleaning inline", exc_info=True)
        return None


def preview(binary, *, campaign: Campaign, mapping: dict[str, str], encoding: str, delimiter: str,
            lead_list: LeadList | None = None, rows: int = PREVIEW_ROWS) -> tuple[list[str], list[dict]]:
    """Dry-run the first ``rows`` rows: (header, [{cells, accepted, code, message}])."""
    importer = CsvImporter(campaign=campaign, mapping=mapping, encoding=encoding, delimiter=delimiter,
                           lead_list=lead_list, dry_run=True)
    records = importer.records(binary)
    header = unique_headers(next(records))
    importer.header = header
    plan, _ = importer._plan()
    out, submit_rows, positions = [], [], []
    for cells in records:
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            out.append({"cells": cells, "accepted": False, "code": "ragged_row",
                        "message": _ragged_message(len(cells), len(header))})
        else:
            positions.append(len(out))
            out.append({"cells": cells})
            submit_rows.append(importer.build_row(cells, plan))
        if len(out) >= rows:
            break
    with transaction.atomic():
        results = intake.submit(submit_rows, campaign=campaign, lead_list=lead_list, dry_run=True) if submit_rows else []
    for pos, result in zip(positions, results):
        code = "duplicate_in_file" if result.code == "duplicate_in_batch" else result.code
        message = result.message or "; ".join(w["message"] for w in result.warnings)
        out[pos].update(accepted=result.accepted, code=code, message=message)
    return header, out


# --- jobs -----------------------------------------------------------------------


def error_file_name(job: ImportJob) -> str:
    return f"imports/errors/job-{job.pk}-errors.csv"


def _stale_after() -> dt.timedelta:
    return dt.timedelta(seconds=getattr(settings, "IMPORT_STALE_SECONDS", 300))


def claim(job_id: int) -> ImportJob | None:
    """Take a queued job, or a running one whose runner stopped (heartbeat too old)."""
    now = djtz.now()
    stale = now - _stale_after()
    claimed = (
        ImportJob.objects.filter(pk=job_id)
        .filter(models_q_claimable(stale))
        .update(status=ImportJob.Status.RUNNING, heartbeat_at=now)
    )
    if not claimed:
        return None
    job = ImportJob.objects.select_related("campaign", "lead_list").get(pk=job_id)
    if job.started_at is None:
        job.started_at = now
        job.save(update_fields=["started_at"])
    return job


def models_q_claimable(stale):
    from django.db.models import Q

    return Q(status=ImportJob.Status.QUEUED) | Q(status=ImportJob.Status.RUNNING, heartbeat_at__lt=stale) | Q(
        status=ImportJob.Status.RUNNING, heartbeat_at__isnull=True)


def run_job(job_id: int, *, deadline: float | None = None, batch_size: int = BATCH_SIZE) -> str:
    """Run (or resume) one import job; returns its status afterwards.

    Returns "running" when ``deadline`` came first; the caller re-enqueues it.
    Never raises for a bad file or a bad row: the job ends failed with a message
    saying how far it got.
    """
    prior = ImportJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
    job = claim(job_id)
    if job is None:
        return ImportJob.objects.filter(pk=job_id).values_list("status", flat=True).first() or "missing"
    if prior == ImportJob.Status.RUNNING:  # its last runner died part way: resume, but not forever
        job.counts = dict(job.counts or {}, resumes=(job.counts or {}).get("resumes", 0) + 1)
        ImportJob.objects.filter(pk=job.pk).update(counts=job.counts)
        if job.counts["resumes"] > MAX_RESUMES:
            return _fail(job, f"The import was interrupted {MAX_RESUMES} times (worker stopped mid-file).")
    if not job.error_file:
        job.error_file.name = error_file_name(job)
        job.save(update_fields=["error_file"])
    sink = None
    try:
        with job.file.open("rb") as binary:
            if job.total_rows is None:
                job.total_rows = max(count_lines(binary) - 1, 0)
                job.save(update_fields=["total_rows"])
            importer = CsvImporter(
                campaign=job.campaign, lead_list=job.lead_list, mapping=job.mapping,
                encoding=job.encoding or "utf-8", delimiter=job.delimiter or ",",
                source=(job.lead_list.source if job.lead_list else "") or f"csv:{job.original_name}"[:200],
                batch_size=batch_size,
            )
            importer.counts.update({k: v for k, v in (job.counts or {}).items() if k != "resumes"})
            sink = importer.errors = ErrorSink(job.error_file.path, importer.read_header(binary),
                                               job.delimiter or ",", resume_at=job.error_bytes)

            def save_progress(progress: BatchProgress) -> None:
                counts = dict(progress.counts)
                if "resumes" in (job.counts or {}):
                    counts["resumes"] = job.counts["resumes"]
                ImportJob.objects.filter(pk=job.pk).update(
                    processed_rows=progress.processed, counts=counts, error_bytes=progress.error_bytes,
                    heartbeat_at=djtz.now(),
                )

            finished = importer.run(binary, skip=job.processed_rows, on_batch=save_progress, deadline=deadline)
    except ImportFileError as exc:
        return _fail(job, exc.message)
    except Exception as exc:  # noqa: BLE001 - reported on the job, never a half state
        return _fail(job, f"{type(exc).__name__}: {exc}")
    finally:
        if sink is not None:
            sink.close()
    if not finished:  # time slice used up: hand over to the next run
        ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
        return "continue"
    job.refresh_from_db()
    counts = {k: v for k, v in job.counts.items() if k != "resumes"}
    rejected = rejected_rows(counts)
    job.status = ImportJob.Status.DONE
    job.total_rows = job.processed_rows
    job.finished_at = djtz.now()
    job.message = f"Imported {counts.get('accepted', 0):,} of {job.processed_rows:,} rows; {rejected:,} rejected."
    if not rejected:
        job.error_file.delete(save=False) if job.error_file else None
        job.error_file = ""
    job.save()
    if job.lead_list_id:
        LeadList.objects.filter(pk=job.lead_list_id).update(import_mapping=job.mapping)
    _audit_import(job)
    return job.status


def _audit_import(job: ImportJob) -> None:
    """The audit log's entry for a finished import, in the name of whoever uploaded it."""
    from . import audit

    message = f"Import of {job.original_name} into {job.campaign.slug} finished: {job.message}"
    if job.created_by_id:
        with audit.acting_as(f"staff:{job.created_by.get_username()}", job.created_by):
            audit.record([job], message)
    else:
        audit.record([job], message)


def rejected_rows(counts: dict[str, int]) -> int:
    return sum(v for k, v in counts.items() if k not in ("accepted", NOT_SENT_EVERYWHERE, "resumes"))


def _fail(job: ImportJob, reason: str) -> str:
    job.refresh_from_db()
    counts = job.counts or {}
    accepted = counts.get("accepted", 0)
    job.status = ImportJob.Status.FAILED
    job.finished_at = djtz.now()
    job.message = (
        f"{reason} The import stopped after {job.processed_rows:,} rows; {accepted:,} lead(s) were imported "
        "and stay imported. Fix the problem and import the same file again: rows already imported come back "
        "as duplicates, nothing is added twice."
    )
    job.save(update_fields=["status", "finished_at", "message"])
    return job.status


def resume_stalled_jobs() -> list[int]:
    """Re-enqueue running jobs whose heartbeat stopped (a worker died); returns their ids."""
    from django_q.tasks import async_task

    stale = djtz.now() - _stale_after()
    ids = list(ImportJob.objects.filter(status=ImportJob.Status.RUNNING, heartbeat_at__lt=stale)
               .values_list("pk", flat=True))
    for job_id in ids:
        async_task("campaigns.tasks.run_import", job_id, task_name=f"import-{job_id}-resume")
    return ids


def abandoned_uploads():
    """Uploads left at the mapping step for ``IMPORT_ABANDONED_HOURS``: nothing was imported."""
    cutoff = djtz.now() - dt.timedelta(hours=settings.IMPORT_ABANDONED_HOURS)
    return ImportJob.objects.filter(status=ImportJob.Status.UPLOADED, created_at__lt=cutoff)


def delete_abandoned_uploads() -> int:
    """Delete abandoned uploads (see :func:`abandoned_uploads`) and their files; returns how many.

    A job is deleted only while it is still at the mapping step (someone may confirm it
    meanwhile), and its file after the row is gone.
    """
    deleted = 0
    for job in abandoned_uploads().only("pk", "file"):
        if ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.UPLOADED).delete()[0]:
            if job.file:
                job.file.delete(save=False)
            deleted += 1
    if deleted:
        log.info("import: deleted %d upload(s) abandoned at the mapping step", deleted)
    return deleted


def job_progress(job: ImportJob) -> dict:
    total = job.total_rows or 0
    if job.status == ImportJob.Status.DONE:
        percent = 100
    elif total:
        percent = min(99, int(job.processed_rows * 100 / total))
    else:
        percent = 0
    return {
        "id": job.pk, "status": job.status, "processed_rows": job.processed_rows, "total_rows": job.total_rows,
        "percent": percent, "counts": {k: v for k, v in (job.counts or {}).items() if k != "resumes"},
        "message": job.message, "finished": job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED),
    }


# --- export -----------------------------------------------------------------------


class _Echo:
    def write(self, value):
        return value


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""
    return neutralise(str(value))


def csv_lines(header: list[str], rows: Iterable[Iterable[Any]], *, bom: bool = True) -> Iterator[str]:
    writer = csv.writer(_Echo())
    if bom:
        yield "\ufeff"
    yield writer.writerow([neutralise(str(h)) for h in header])
    for row in rows:
        yield writer.writerow([_cell(v) for v in row])


def stream_csv(header: list[str], rows: Iterable[Iterable[Any]], filename: str) -> StreamingHttpResponse:
    """A streamed CSV download; every cell is formula-neutralised (see :func:`neutralise`).

    ``rows`` may be any iterable (use ``queryset.iterator()`` or ``values_list``
    with ``iterator(chunk_size=…)`` so memory stays flat on large tables).
    """
    response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


LEAD_EXPORT_COLUMNS = [
    "lead_id", "campaign", "lead_list", "status", "phone", "phone_alt", "first_name", "last_name", "email",
    "address", "city", "region", "postal_code", "country", "timezone", "external_id", "source", "link",
    "consent_at", "consent_url", "scheduled_at", "metadata", "created_at",
]


def lead_export_rows(queryset) -> Iterator[list[Any]]:
    qs = queryset.select_related("campaign", "lead_list").order_by("pk")
    for lead in qs.iterator(chunk_size=2000):
        yield [
            lead.pk, lead.campaign.slug, lead.lead_list.name if lead.lead_list_id else "", lead.status,
            str(lead.phone) if lead.phone else "", str(lead.phone_alt) if lead.phone_alt else "",
            lead.first_name, lead.last_name, lead.email, lead.address, lead.city, lead.region, lead.postal_code,
            lead.country, lead.timezone, lead.external_id, lead.source, lead.link, lead.consent_at,
            lead.consent_url, lead.scheduled_at, lead.metadata or {}, lead.created_at,
        ]


def stream_leads_csv(queryset, filename: str = "leads.csv") -> StreamingHttpResponse:
    return stream_csv(LEAD_EXPORT_COLUMNS, lead_export_rows(queryset), filename)
