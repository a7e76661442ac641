"""A lead's values as intake takes them: each field cleaned and checked (the same reason codes
in the API, the CSV error file and the admin), and the unsaved Lead built from them.

:func:`campaigns.intake.submit` calls these for every row; the names are importable from
``campaigns.intake`` too.
"""
from __future__ import annotations

import datetime as dt
import operator
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db.models.base import ModelState
from django.utils import timezone as djtz
from django.utils.dateparse import parse_datetime

from .models import Campaign, Lead, LeadList, Partner, search_key
from .phones import PhoneError, parse_phone
from .phones import extension as phone_extension
from .zones import iana_zone, zone_error

TEXT_FIELDS = {
    "first_name": 100, "last_name": 100, "address": 255, "city": 100, "region": 100,
    "postal_code": 20, "external_id": 100, "source": 200,
}


# metadata is one level deep: an object of string values, bounded so a lead stays a row, not a document
METADATA_MAX_KEYS = 100


METADATA_MAX_KEY_LENGTH = 100


METADATA_MAX_VALUE_LENGTH = 5000


ACCEPTED_FIELDS = (
    {"phone", "phone_alt", "email", "country", "timezone", "link", "metadata", "consent_at",
     "consent_url", "scheduled_at"} | set(TEXT_FIELDS)
)


class _EmailValidator(EmailValidator):
    """Django's rules with its lazily compiled regexes resolved once: every access to a lazy
    regex goes through LazyObject.__getattribute__, on every address of an import."""

    user_regex = re.compile(EmailValidator.user_regex.pattern, EmailValidator.user_regex.flags)
    domain_regex = re.compile(EmailValidator.domain_regex.pattern, EmailValidator.domain_regex.flags)
    literal_regex = re.compile(EmailValidator.literal_regex.pattern, EmailValidator.literal_regex.flags)


_email = _EmailValidator()


_url = URLValidator(schemes=["http", "https"])


class RowInvalid(Exception):
    def __init__(self, errors: dict[str, list[dict[str, str]]], phone: str | None = None):
        super().__init__(errors, phone)
        self.errors = errors
        self.phone = phone  # E.164 when the number itself was valid


def _text(value: Any) -> str:
    if value is None:
        return ""
    return str(value).strip()


def _parse_when(value: Any, name: str, errors: dict) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        try:
            parsed = parse_datetime(str(value).strip())
        except ValueError:
            parsed = None
        if parsed is None:
            errors.setdefault(name, []).append(
                {"code": "invalid_field", "message": f"{value!r} is not a date-time; use ISO 8601, e.g. 2026-05-01T14:30:00Z."}
            )
            return None
    if djtz.is_naive(parsed):
        parsed = djtz.make_aware(parsed, dt.timezone.utc)
    return parsed


def clean_row(raw: dict[str, Any], campaign: Campaign, **related) -> Lead:
    """Build an unsaved Lead from one raw row or raise RowInvalid: :func:`clean_values`,
    then :func:`new_lead` with ``related`` (lead_list, partner; source is the default
    for the row's own)."""
    values = clean_values(raw, campaign.phone_region, related.get("source") or "")
    return new_lead(campaign, related.get("lead_list"), related.get("partner"), values)


# The keys clean_values() returns, always all of them (a worker process sends them as a tuple).
VALUE_KEYS = ("phone", "phone_alt", *TEXT_FIELDS, "email", "link", "consent_url", "country", "timezone", "metadata",
              "consent_at", "scheduled_at")


def clean_values(raw: dict[str, Any], region: str, source: str = "") -> dict[str, Any]:
    """Validate and normalise one raw row into the lead's field values (``VALUE_KEYS``)
    or raise RowInvalid. Needs no database, so it can run in any process."""
    errors: dict[str, list[dict[str, str]]] = {}

    def err(name, code, message):
        errors.setdefault(name, []).append({"code": code, "message": message})

    unknown = set(raw) - ACCEPTED_FIELDS
    if unknown:
        for name in sorted(unknown):
            err(name, "invalid_field", f"Unknown field {name!r}; put extra values in metadata.")

    values: dict[str, Any] = {"phone_alt": ""}
    try:
        phone = parse_phone(raw.get("phone"), region)
        values["phone"] = phone.e164
    except PhoneError as exc:
        phone = None
        err("phone", exc.code, exc.message)
    alt_raw = _text(raw.get("phone_alt"))
    if alt_raw:
        try:
            values["phone_alt"] = parse_phone(alt_raw, region).e164
        except PhoneError as exc:
            err("phone_alt", "invalid_phone", exc.message)

    for name, limit in TEXT_FIELDS.items():
        value = _text(raw.get(name))
        if len(value) > limit:
            err(name, "invalid_field", f"{name} is {len(value)} characters long; the limit is {limit}.")
        values[name] = value
    if not values["source"] and source:
        values["source"] = source

    email = _text(raw.get("email"))
    if email:
        try:
            _email(email)
        except ValidationError:
            err("email", "invalid_field", f"{email!r} is not an email address.")
    values["email"] = email

    for name in ("link", "consent_url"):
        value = _text(raw.get(name))
        if value:
            try:
                _url(value)
            except ValidationError:
                err(name, "invalid_field", f"{value!r} is not an http(s) URL.")
        values[name] = value

    country = _text(raw.get("country")).upper()
    if country and (len(country) != 2 or not country.isalpha()):
        err("country", "invalid_field", f"{country!r} is not a two-letter country code.")
    values["country"] = country or (phone.region if phone and phone.region else "")

    tz_name = _text(raw.get("timezone"))
    if tz_name and iana_zone(tz_name) is None:  # canonical ids only, the ones every vendor takes
        err("timezone", "invalid_field", zone_error(tz_name))
    values["timezone"] = tz_name or (phone.time_zone if phone and phone.time_zone else "")

    metadata = raw.get("metadata") or {}
    if not isinstance(metadata, dict):
        err("metadata", "invalid_field", "metadata must be an object of string values.")
        metadata = {}
    elif metadata:
        for message in _metadata_problems(metadata):
            err("metadata", "invalid_field", message)
    # parsing drops an extension ("ext 12"): keep it where staff and vendors see it
    for name, key in (("phone", "phone_extension"), ("phone_alt", "phone_alt_extension")):
        ext = phone_extension(raw.get(name)) if values.get(name) else ""
        if ext and key not in metadata:
            metadata = {**metadata, key: ext}
    values["metadata"] = metadata

    values["consent_at"] = _parse_when(raw.get("consent_at"), "consent_at", errors)
    values["scheduled_at"] = _parse_when(raw.get("scheduled_at"), "scheduled_at", errors)

    for name in _unstorable(values):
        err(name, "invalid_field", f"{name} contains a NUL character or an unpaired surrogate (U+D800–U+DFFF), "
                                   "which is not text and cannot be stored.")
    if errors:
        raise RowInvalid(errors, values.get("phone"))
    return values


# What no database text column takes: NUL, and surrogates on their own (JSON's "\ud800" escapes).
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")


def _not_text(value: str) -> bool:
    # ASCII text (most of it) can only hold NUL, found at C speed; the regex is for the rest
    return "\x00" in value or (not value.isascii() and _NOT_TEXT.search(value) is not None)


_free_text = operator.itemgetter(*TEXT_FIELDS)


def _unstorable(values: dict[str, Any]) -> list[str]:
    """Names of the free-text values (metadata: its keys and values) holding characters that are
    not text. The other text fields are refused by their own checks (email, URL, country, zone).
    One search over them all joined: a row's fields are rarely hostile, and this runs per row."""
    metadata = values["metadata"]
    joined = "".join(_free_text(values))
    if metadata:
        try:
            joined += "".join(metadata) + "".join(metadata.values())
        except TypeError:  # a value that is not a string: the metadata check refuses the row anyway
            joined += "".join(str(k) for k in metadata) + "".join(v for v in metadata.values() if isinstance(v, str))
    if not _not_text(joined):
        return []
    names = [name for name in TEXT_FIELDS if _not_text(values[name])]
    if any(_not_text(str(k)) or (isinstance(v, str) and _not_text(v)) for k, v in metadata.items()):
        names.append("metadata")
    return names


def _metadata_problems(metadata: dict) -> list[str]:
    """What breaks metadata's bounds (METADATA_*), in words; empty when it is fine."""
    problems = []
    if len(metadata) > METADATA_MAX_KEYS:
        problems.append(f"metadata has {len(metadata):,} keys; the limit is {METADATA_MAX_KEYS}.")
    not_text = [str(k)[:40] for k, v in metadata.items() if not isinstance(v, str)]
    if not_text:
        problems.append("metadata values must be strings (metadata is one level deep: no nested objects or "
                        f"lists); not: {', '.join(not_text[:10])}.")
    long_keys = [k for k in metadata if len(k) > METADATA_MAX_KEY_LENGTH]
    if long_keys:
        problems.append(f"metadata keys are at most {METADATA_MAX_KEY_LENGTH} characters; "
                        f"{long_keys[0][:40]!r}… has {len(long_keys[0]):,}.")
    long_values = [k for k, v in metadata.items() if isinstance(v, str) and len(v) > METADATA_MAX_VALUE_LENGTH]
    if long_values:
        problems.append(f"metadata values are at most {METADATA_MAX_VALUE_LENGTH:,} characters; "
                        f"the value of {long_values[0][:40]!r} has {len(metadata[long_values[0]]):,}.")
    return problems


_LEAD_DEFAULTS: dict[str, Any] | None = None


def new_lead(campaign: Campaign, lead_list: LeadList | None, partner: Partner | None, values: dict) -> Lead:
    """An unsaved Lead without Model.__init__ (its per-field defaults and three foreign-key
    descriptors are the largest cost of a large import once rows are cleaned in worker
    processes: building each lead with ``Lead(...)`` costs a 20,000-row import about 13 % of
    its CPU time).

    Sets exactly what __init__ would: every field's attname (defaults, then our
    values), a fresh ModelState, and the related objects in the descriptor cache
    so ``lead.campaign`` needs no query.
    """
    global _LEAD_DEFAULTS
    if _LEAD_DEFAULTS is None:
        # metadata's default ({}) is shared here, but every row sets its own metadata
        _LEAD_DEFAULTS = {f.attname: f.get_default() for f in Lead._meta.concrete_fields}
    lead = Lead.__new__(Lead)
    state = ModelState()
    lead._state = state
    data = lead.__dict__
    data.update(_LEAD_DEFAULTS)
    data.update(values)
    data["campaign_id"] = campaign.pk
    data["lead_list_id"] = lead_list.pk if lead_list else None
    data["partner_id"] = partner.pk if partner else None
    data["search_first"], data["search_last"] = search_key(data["first_name"]), search_key(data["last_name"])
    state.fields_cache["campaign"] = campaign
    state.fields_cache["lead_list"] = lead_list
    state.fields_cache["partner"] = partner
    return lead


def summary(errors: dict[str, list[dict[str, str]]]) -> tuple[str, str]:
    """Pick the row's headline code and message from its field errors."""
    for preferred in ("missing_field", "invalid_phone"):
        for name, items in errors.items():
            for item in items:
                if item["code"] == preferred:
                    return preferred, item["message"]
    name, items = next(iter(errors.items()))
    return items[0]["code"], f"{name}: {items[0]['message']}"
