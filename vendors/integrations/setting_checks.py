"""Checks of destination settings that several vendors' settings schemas use
(``VendorClient.setting_checks``): each takes a value and says what is wrong with it, "" when
nothing is."""
from __future__ import annotations

import json
from typing import Any, Callable

# Lead attributes a destination may map into a vendor's extra-data field.
LEAD_FIELDS = frozenset({
    "address", "city", "region", "postal_code", "country", "timezone", "external_id", "source", "link",
    "consent_url", "consent_at", "phone_alt", "first_name", "last_name", "email", "scheduled_at", "created_at",
})


def mapping_error(mapping: Any, key_words: str, allowed: Any = LEAD_FIELDS) -> str:
    """What is wrong with a {vendor key: lead field} setting."""
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        return f"Must be an object of {{\"{key_words}\": \"lead field name\"}}."
    bad = sorted(v for v in mapping.values() if v not in allowed)
    if bad:
        return f"Unknown lead field(s): {', '.join(map(repr, bad))}. Choose from: {', '.join(sorted(allowed))}."
    return f"Each {key_words} must be a name." if any(not k for k in mapping) else ""


def lead_field_list(allowed: frozenset[str]) -> Callable[[Any], str]:
    def check(fields: Any) -> str:
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            return "Must be a list of lead field names, e.g. [\"first_name\", \"email\"]."
        unknown = sorted(set(fields) - allowed)
        return f"Unknown lead field(s): {', '.join(unknown)}. Choose from: {', '.join(sorted(allowed))}." if unknown else ""
    return check


def lead_field_mapping(key_words: str, allowed: Any = LEAD_FIELDS) -> Callable[[Any], str]:
    return lambda value: mapping_error(value, key_words, allowed)


def boolean(value: Any) -> str:
    return "" if isinstance(value, bool) else "Must be true or false."


def text(value: Any) -> str:
    return "" if isinstance(value, str) else "Must be text."


def json_object(value: Any) -> str:
    return "" if isinstance(value, dict) else "Must be an object, e.g. {\"promo\": \"20% off\"}."


def integer(value: Any) -> str:
    return "" if isinstance(value, int) and not isinstance(value, bool) else f"Must be an integer, not {value!r}."


def whole_number(low: int = 1, high: int | None = None) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            return f"Must be a whole number of at least {low}" + (f" and at most {high}." if high is not None else ".")
        return ""
    return check


def one_of(*choices: Any) -> Callable[[Any], str]:
    shown = " or ".join(json.dumps(c) for c in choices)

    def check(value: Any) -> str:
        return "" if value in choices and not isinstance(value, bool) else f"Must be {shown}, not {value!r}."
    return check
