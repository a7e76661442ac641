"""Formula neutralisation of CSV cells (the error file and the export).

OWASP "CSV Injection": a cell that starts with = + - @ TAB or CR may be run as a
formula by a spreadsheet, so it is written with a leading apostrophe (the
spreadsheet's "this is text" mark). Two cases need none, because no spreadsheet
runs them: a cell that is a plain signed number (an E.164 phone such as
+14155552671, or -2: digits only, so no function, reference or operator can
follow the sign) and a cell that already starts with an apostrophe.

Two writers use these rules:
- protect(): text written as it is (the error file's cells, which are cells as
  uploaded, and its messages): an apostrophe only where the cell would be a
  formula; an existing leading apostrophe is never doubled.
- neutralise(): a stored value written into a file the importer reads back (the
  export). The importer reads one leading apostrophe before a formula character as
  the escape (unneutralise), so a stored value that itself starts with apostrophes
  before a formula character keeps its own apostrophes by getting one more; every
  other value is written as protect() writes it.
"""
from __future__ import annotations

import re

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
