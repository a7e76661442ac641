"""The CPU-heavy half of intake for a batch of records: mapping, validation, phone parsing.

Plain functions on plain values, so that they run the same inline or in a worker process.
"""
from __future__ import annotations

from .. import intake
from ..phones import PhoneError, parse_phone
from .mapping import build_row


def phone_key(value: str, region: str) -> int | None:
    """The number as an int (for duplicates within the file), or None if it is no number."""
    try:
        return int(parse_phone(value, region).e164[1:])
    except PhoneError:
        return None


def clean_records(args) -> list[tuple[int | None, bool, tuple]]:
    """Map and clean records via :func:`campaigns.intake.clean_values`.

    One tuple per record: (:func:`phone_key` of its phone; True and the lead's values
    in ``intake.VALUE_KEYS`` order, or False and (code, message)). Plain tuples: they
    cross the process boundary.
    """
    region, source, plan, records = args
    out = []
    for cells in records:
        raw = build_row(cells, plan)
        key = phone_key(raw.get("phone") or "", region)
        try:
            values = intake.clean_values(raw, region, source)
        except intake.RowInvalid as exc:
            out.append((key, False, intake.summary(exc.errors)))
            continue
        out.append((key, True, tuple(values[k] for k in intake.VALUE_KEYS)))
    return out
