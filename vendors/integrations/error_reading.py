"""What a vendor says went wrong, as words and as rows: a REST error body as one line
(:func:`error_words`), and a bulk job's error list mapped back to the rows it names (:func:`error_rows`)."""
from __future__ import annotations

from typing import Any, Iterator


def error_rows(error_list: Any, keys: dict[str, list[int]], base: int, size: int) -> Iterator[tuple[int | None, Any]]:
    """(row position, entry) for each entry of a bulk job's error list (an object keyed by row, or
    a list whose entries carry ``index``/``row``/``position``/``line``). An entry is matched by its
    ``customerKey`` when that names one row (``keys``: key -> positions), else by its key as a
    ``base``-based row number below ``size``, else by its key as a customer key; None when unmatched."""
    if isinstance(error_list, dict):
        entries = list(error_list.items())
    elif isinstance(error_list, list):
        entries = []
        for n, entry in enumerate(error_list):
            found = next((entry[k] for k in ("index", "row", "position", "line") if isinstance(entry, dict)
                          and k in entry), None)
            entries.append((found if found is not None else ("#", n), entry))
    else:
        entries = []
    for key, entry in entries:
        yield _position(key, entry, keys, base, size), entry


def _position(key: Any, entry: Any, keys: dict[str, list[int]], base: int, size: int) -> int | None:
    if isinstance(entry, dict) and entry.get("customerKey") is not None:
        positions = keys.get(str(entry["customerKey"]))
        if positions and len(positions) == 1:
            return positions[0]
    if isinstance(key, tuple):
        return None
    try:
        position = int(key) - base
    except (TypeError, ValueError):
        positions = keys.get(str(key))          # an error list keyed by customer key
        return positions[0] if positions and len(positions) == 1 else None
    return position if 0 <= position < size else None


def error_words(body: Any, fallback: str = "") -> str:
    """The words of a REST error body: its ``message`` (or ``error``, ``detail``, ``title``) and its
    ``errors`` (``{field: [message]}``) flattened; text bodies as they are."""
    if isinstance(body, str):
        return body.strip()[:500] or fallback
    if not isinstance(body, dict):
        return fallback
    first = next((body[k].strip() for k in ("message", "error", "detail", "title")
                  if isinstance(body.get(k), str) and body[k].strip()), "")
    return " — ".join(filter(None, (first, flatten_errors(body.get("errors"))))) or fallback


def flatten_errors(errors: Any) -> str:
    """Nested error details (``{field: [message]}``, lists, text) as one line."""
    if not errors:
        return ""
    if isinstance(errors, str):
        return errors
    if isinstance(errors, list):
        return "; ".join(filter(None, (flatten_errors(e) for e in errors)))
    if isinstance(errors, dict):
        return "; ".join(f"{field}: {text}" if (text := flatten_errors(msgs)) else str(field)
                         for field, msgs in errors.items())
    return str(errors)
