"""Column mapping: which column of the file fills which lead field.

A mapping is ``{header: target}``; a target is a lead field, ``metadata`` (kept as
an extra value under the column's name), ``metadata_json`` (a JSON object from our
own export, spread into the metadata) or ``ignore``.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from .formulas import unneutralise

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


def header_key(name: str) -> str:
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
        target = remembered.get(name) or ALIASES.get(header_key(name), METADATA)
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


def column_plan(header: list[str], mapping: dict[str, str]) -> list[tuple[int, str, str]]:
    """(column index, target, header) of every column that is not ignored, for :func:`build_row`."""
    mapping = validate_mapping(header, mapping)
    return [(i, mapping[name], name) for i, name in enumerate(header) if mapping[name] != IGNORE]


def build_row(cells: list[str], plan: list[tuple[int, str, str]]) -> dict[str, Any]:
    """One record's cells -> the raw row intake takes (lead fields and ``metadata``)."""
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
