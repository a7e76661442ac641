"""THE one way a lead enters LeadHub: normalise → validate → dedupe → DNC → save.

The API, the CSV importer, the admin and the demo data all call :func:`submit`.
Each row comes back as a :class:`RowResult`: accepted with its lead, or
rejected with a machine-readable ``code``, a human ``message`` and per-field
errors. The same reason codes appear in the API, the CSV error file and the
admin.

Withdrawals (cancel, DNC, erase) live here too so that every change to a lead's
contactability sends the same signal (see ``campaigns.signals``).
"""
from __future__ import annotations

import datetime as dt
import operator
import re
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import IntegrityError, transaction
from django.db.models import CharField, F, Value
from django.db.models.functions import Cast, Concat
from django.db.models.base import ModelState
from django.utils import timezone as djtz
from django.utils.dateparse import parse_datetime

from leadhub import dbtools, rollup
from leadhub.dbtools import planner

from . import audit, requirements, webhooks
from .models import DNC, Campaign, Erasure, IntakeCount, Lead, LeadList, Partner, search_key
from .phones import PhoneError, parse_phone
from .phones import extension as phone_extension
from .signals import leads_accepted, leads_withdrawn
from .zones import iana_zone, zone_error

# reason code -> what it means (shown in API docs and the admin)
REASONS = {
    "missing_field": "A required field is empty.",
    "invalid_phone": "The phone number cannot be parsed or is not a valid number.",
    "invalid_field": "A field has a value of the wrong form.",
    "duplicate": "The campaign already has a lead with this phone number.",
    "duplicate_in_batch": "The same phone number appears earlier in this submission.",
    "dnc": "The number is on the do-not-call list.",
    "campaign_closed": "The campaign is archived and takes no new leads.",
    requirements.CODE: "A vendor this campaign delivers to needs a field the lead lacks (see the campaign's "
                       "requirements).",
}

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
    """Django's rules with its lazily compiled regexes resolved once: every access to a
    lazy regex goes through LazyObject.__getattribute__, 18 µs per address in an import."""

    user_regex = re.compile(EmailValidator.user_regex.pattern, EmailValidator.user_regex.flags)
    domain_regex = re.compile(EmailValidator.domain_regex.pattern, EmailValidator.domain_regex.flags)
    literal_regex = re.compile(EmailValidator.literal_regex.pattern, EmailValidator.literal_regex.flags)


_email = _EmailValidator()
_url = URLValidator(schemes=["http", "https"])


@dataclass
class RowResult:
    index: int
    accepted: bool
    lead: Lead | None = None
    code: str = ""
    message: str = ""
    fields: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    # accepted, but not going to every vendor: [{code, message}] (the campaign's "skip" policy)
    warnings: list[dict[str, str]] = field(default_factory=list)
    phone: str | None = None  # the E.164 number of a rejected row whose number could be read

    @property
    def status(self) -> str:
        return "accepted" if self.accepted else "rejected"


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


def revise(lead: Lead, raw: dict[str, Any]) -> dict[str, Any]:
    """Check new values for an existing lead as a new one is checked: normalised with
    its campaign's region (:func:`clean_values`), and a changed number against the DNC
    list and the campaign's other leads. Returns the values (``VALUE_KEYS``) or raises
    RowInvalid; saving them is the caller's (the admin's lead form)."""
    campaign = lead.campaign
    values = clean_values(raw, campaign.phone_region)
    phone = values["phone"]
    if phone != lead.phone:
        if dnc_phones([phone], campaign):
            raise RowInvalid({"phone": [{"code": "dnc", "message": f"{phone} is on the do-not-call list."}]})
        other = Lead.objects.filter(campaign=campaign, phone=phone).exclude(pk=lead.pk).values_list("pk", flat=True)
        other = other.first()
        if other:
            raise RowInvalid({"phone": [{"code": "duplicate", "message": (
                f"Campaign {campaign.slug!r} already has a lead with {phone} (lead {other}).")}]})
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
    """An unsaved Lead without Model.__init__ (≈ 55 µs: per-field defaults and three FK
    descriptors), the hot spot of large imports once rows are cleaned in worker processes.

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


def existing_leads(campaign: Campaign, phones: list[str]) -> dict[str, int]:
    """{phone: lead id} of ``phones`` the campaign already has (one query)."""
    if len(phones) == 1:
        # one lead (an API POST): equality on both columns of the unique (phone, campaign) index,
        # which the planner takes whatever the statistics, so no planner settings (two more round trips)
        return dict(Lead.objects.filter(phone=phones[0], campaign=campaign).values_list("phone", "id"))
    # One probe of the (phone, campaign) index per number whatever the statistics say: the
    # statistics of a campaign filling up (an import) lag behind it, and a plan made from them
    # walks all of the campaign's leads per batch, or the whole table when it was never
    # analyzed. ``campaign_id + 0`` is not indexable, so the phone index is the only one left,
    # and the sequential scan is taken away.
    leads = Lead.objects.filter(phone__in=phones).alias(campaign_plus_0=F("campaign_id") + 0)
    with planner(seqscan=False):
        return dict(leads.filter(campaign_plus_0=campaign.pk).values_list("phone", "id"))


def dnc_phones(phones: Iterable[str], campaign: Campaign | int) -> set[str]:
    """The subset of ``phones`` that may not be called in ``campaign`` (one query)."""
    phones = list(set(phones))
    if not phones:
        return set()
    campaign_id = campaign.pk if isinstance(campaign, Campaign) else campaign
    # one arm per partial unique index (global entries, the campaign's), so each can probe its
    # index; planner settings only for many numbers (see existing_leads)
    listed = DNC.objects.filter(phone__in=phones, campaign__isnull=True).values_list("phone").union(
        DNC.objects.filter(phone__in=phones, campaign_id=campaign_id).values_list("phone"), all=True)
    with planner(seqscan=False) if len(phones) > 1 else nullcontext():
        return {phone for (phone,) in listed}


def submit(
    rows: Sequence[dict[str, Any]],
    *,
    campaign: Campaign,
    lead_list: LeadList | None = None,
    partner: Partner | None = None,
    source: str = "",
    channel: str = "",
    dry_run: bool = False,
    start_index: int = 0,
) -> list[RowResult]:
    """Take a batch of raw rows into ``campaign``; one result per row, in order.

    One query for existing numbers, one for DNC, one bulk insert. With
    ``dry_run`` nothing is written and accepted rows carry an unsaved lead.
    """
    results: list[RowResult] = []
    for offset, raw in enumerate(rows):
        index = start_index + offset
        try:
            lead = clean_row(raw, campaign, lead_list=lead_list, partner=partner, source=source)
        except RowInvalid as exc:
            code, message = summary(exc.errors)
            results.append(RowResult(index, False, code=code, message=message, fields=exc.errors, phone=exc.phone))
            continue
        results.append(RowResult(index, True, lead=lead))
    return admit(results, campaign=campaign, channel=channel, dry_run=dry_run)


def admit(results: list[RowResult], *, campaign: Campaign, channel: str = "",
          dry_run: bool = False) -> list[RowResult]:
    """The database half of :func:`submit`, for rows already cleaned (accepted results
    carry an unsaved lead): what the campaign's vendors need, duplicates within the
    batch, existing numbers, DNC, insert. The CSV importer cleans rows in worker
    processes and hands them over here, a batch at a time. ``channel`` (a ``Lead.Channel``:
    api, csv, admin) is stored on each lead and counted for the dashboard."""
    if campaign.status == Campaign.Status.ARCHIVED:
        for result in results:
            _reject(result, "campaign_closed", f"Campaign {campaign.slug!r} is archived and takes no new leads.")
            result.fields = {}
        return results
    needs = requirements.for_campaign(campaign)  # once per batch: one query
    skip = campaign.vendor_requirements_policy == Campaign.VendorRequirementsPolicy.SKIP
    first_row_of: dict[str, int] = {}
    candidates: list[tuple[RowResult, Lead]] = []
    for result in results:
        if not result.accepted:
            continue
        gaps = needs.gaps(result.lead) if needs else None
        if gaps:
            if not skip:
                _reject(result, requirements.CODE, needs.summary(gaps))
                result.fields = needs.field_errors(gaps)
                continue
            result.warnings = [{"code": requirements.CODE, "message": message} for message in
                               dict.fromkeys(f"Not sent to {rule.vendor}: {rule.text}" for rule in gaps)]
        phone = result.lead.phone
        if phone in first_row_of:
            _reject(result, "duplicate_in_batch",
                    f"{phone} appears earlier in this submission (item {first_row_of[phone]}).")
            continue
        first_row_of[phone] = result.index
        candidates.append((result, result.lead))

    if not candidates:
        return results
    phones = [str(lead.phone) for _, lead in candidates]
    to_insert: list[tuple[RowResult, Lead]] = []
    try:
        with transaction.atomic():
            existing = existing_leads(campaign, phones)
            blocked = dnc_phones(phones, campaign)
            for result, lead in candidates:
                phone = str(lead.phone)
                if phone in blocked:
                    _reject(result, "dnc", f"{phone} is on the do-not-call list.")
                elif phone in existing:
                    _reject(result, "duplicate", f"Campaign {campaign.slug!r} already has a lead with {phone} (lead {existing[phone]}).")
                else:
                    to_insert.append((result, lead))
            if to_insert and not dry_run:
                for _, lead in to_insert:
                    lead.channel = channel
                _insert(to_insert, campaign)
    except IntegrityError:
        # one lead inserted without a savepoint (see _insert) lost a race for its number:
        # the transaction is undone whole, and the lead is the duplicate it now is
        if len(to_insert) != 1 or not existing_leads(campaign, [str(to_insert[0][1].phone)]):
            raise
        result, lead = to_insert[0]
        _reject(result, "duplicate", f"Campaign {campaign.slug!r} already has a lead with {lead.phone}.")
    return results


def _reject(result: RowResult, code: str, message: str) -> None:
    if result.lead is not None:
        result.phone = str(result.lead.phone)
    result.accepted = False
    result.lead = None
    result.code = code
    result.message = message
    result.fields = {"phone": [{"code": code, "message": message}]}
    result.warnings = []


# Batches at least this large go in as one binary COPY on PostgreSQL (leadhub.dbtools.create_objects).
COPY_MIN_ROWS = 500


def _insert(pairs: list[tuple[RowResult, Lead]], campaign: Campaign) -> None:
    """Insert accepted leads and announce them; must run inside a transaction.

    One lead (an API POST) goes in without a savepoint (two round trips of its
    dozen): if it loses a race for its number, the IntegrityError undoes the
    caller's transaction and :func:`admit` answers it as a duplicate. A batch keeps
    its savepoint so one lost race falls back row by row and costs no other row.
    """
    leads = [lead for _, lead in pairs]
    try:
        if len(leads) == 1:
            Lead.objects.bulk_create(leads)  # a lost race propagates to admit (no savepoint)
        else:
            with transaction.atomic():  # savepoint: a lost race falls back row by row
                dbtools.create_objects(Lead, leads, copy_from=COPY_MIN_ROWS)
    except IntegrityError:
        if len(leads) == 1:
            raise
        for result, lead in pairs:
            lead.pk = None
            try:
                with transaction.atomic():
                    lead.save(force_insert=True)
            except IntegrityError:
                _reject(result, "duplicate", f"Campaign {campaign.slug!r} already has a lead with {lead.phone}.")
        leads = [lead for result, lead in pairs if result.accepted]
    if leads:
        rollup.add(IntakeCount, IntakeCount.KEY,
                   ((djtz.now().date(), lead.campaign_id, lead.partner_id, lead.channel) for lead in leads))
        leads_accepted.send(sender=Lead, leads=leads)


# --- withdrawal -------------------------------------------------------------

WITHDRAWN = [Lead.Status.CANCELLED, Lead.Status.DNC, Lead.Status.ERASED]
# Leads (or numbers) per transaction in bulk withdrawals: each chunk commits with its
# deliveries planned, so a long run holds no lock for long and an interruption loses
# nothing done; statements stay far below PostgreSQL's 65,535 bound parameters.
CHUNK = 5000


def lead_id_chunks(leads: Iterable[Lead | int] | Any, size: int = CHUNK) -> Iterator[list[int]]:
    """The ids of ``leads`` in ascending chunks of ``size``.

    A queryset is read set-wise, a chunk at a time (keyset on the primary key:
    ``pk > last ORDER BY pk LIMIT size``), never as one Python list of every id; leads
    changed by the caller between chunks do not shift the next one. Lead objects or ids
    are taken as given.
    """
    if hasattr(leads, "values_list"):
        queryset = leads.order_by()
        last = 0
        while True:
            ids = list(queryset.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:size])
            if not ids:
                return
            yield ids
            last = ids[-1]
    ids = sorted({getattr(lead, "pk", lead) for lead in leads})
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


class Withdrawn(NamedTuple):
    lead_ids: list[int]  # the leads changed
    planned: int         # withdrawal deliveries planned for them (what the signal's receivers report)


def withdraw(lead_ids: Sequence[int], status: str, operation: str, audit_message: str | None) -> Withdrawn:
    """Set the still-open leads among ``lead_ids`` to ``status``, announce them and record it in
    the audit log (one entry per lead; ``audit_message=None``: the caller records it, as a
    background bulk job does once for all its leads), in one transaction. Callers pass at most
    a chunk (:func:`lead_id_chunks`)."""
    with transaction.atomic():
        still_open = Lead.objects.filter(pk__in=lead_ids).exclude(status__in=WITHDRAWN)
        open_ids = sorted(dbtools.update_returning(still_open, {"status": status, "updated_at": djtz.now()}))
        planned = 0
        if open_ids:
            replies = leads_withdrawn.send(sender=Lead, leads=open_ids, operation=operation)
            planned = sum(reply for _, reply in replies if isinstance(reply, int))
            webhooks.withdrawn(open_ids)
            if audit_message is not None:
                audit.record(Lead.objects.filter(pk__in=open_ids), audit_message)
    return Withdrawn(open_ids, planned)


def cancel_leads(leads: Iterable[Lead] | Any) -> int:
    """Cancel leads still open and tell every vendor holding them to stop; returns how many.

    ``leads`` is a queryset (read set-wise) or Lead objects / ids; :data:`CHUNK` leads per
    transaction. Staff selections go through ``campaigns.bulk`` (progress, background).
    """
    if hasattr(leads, "values_list"):
        leads = leads.exclude(status__in=WITHDRAWN)
    return sum(len(withdraw(ids, Lead.Status.CANCELLED, "end_contact", CANCEL_AUDIT).lead_ids)
               for ids in lead_id_chunks(leads))


CANCEL_AUDIT = "Cancelled; every vendor holding the lead is told to stop"


@dataclass
class DncResult:
    added: list[str] = field(default_factory=list)
    already_listed: list[str] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (input, message)
    leads_withdrawn: int = 0
    withdrawn_ids: list[int] = field(default_factory=list)
    withdrawals_planned: int = 0


def add_to_dnc(
    numbers: Iterable[str], *, campaign: Campaign | None = None, reason: str = "", source: str = "",
    region: str | None = None, audit_leads: bool = True,
) -> DncResult:
    """Put numbers on the DNC list (``campaign=None``: every campaign) and withdraw their leads
    (each withdrawn lead gets an audit entry unless ``audit_leads`` is off: a background bulk
    job records one entry for all its leads).

    Works :data:`CHUNK` numbers per transaction: each chunk lists its numbers and withdraws
    their open leads together, so a number is never listed while its leads stay open.
    """
    result = DncResult()
    phones: dict[str, None] = {}
    region = region or (campaign.phone_region if campaign else None)
    for raw in numbers:
        try:
            phone = parse_phone(raw, region).e164
        except PhoneError as exc:
            result.invalid.append((str(raw), exc.message))
            continue
        phones[phone] = None
    ordered = list(phones)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start:start + CHUNK]
        with transaction.atomic():
            added, lead_ids = _list_dnc_chunk(chunk, campaign, reason, source)
            result.added += [p for p in chunk if p in added]
            result.already_listed += [p for p in chunk if p not in added]
            if lead_ids:
                withdrawn = withdraw(lead_ids, Lead.Status.DNC, "dnc",
                                     f"Put on the DNC list ({'campaign ' + campaign.slug if campaign else 'all campaigns'}"
                                     f"{': ' + reason if reason else ''}); vendors told to stop" if audit_leads else None)
                result.leads_withdrawn += len(withdrawn.lead_ids)
                result.withdrawn_ids += withdrawn.lead_ids
                result.withdrawals_planned += withdrawn.planned
    return result


def _list_dnc_chunk(phones: list[str], campaign: Campaign | None, reason: str, source: str) -> tuple[set[str], list[int]]:
    """List ``phones`` (E.164) in ``campaign``'s DNC list (None: global); returns the numbers
    newly listed and the ids of open leads with any of the numbers in that scope."""
    # ON CONFLICT skips what is listed already, RETURNING tells what was added
    added = dbtools.insert_new(DNC, ["phone", "campaign", "reason", "source", "created_at"],
                               [(phone, campaign.pk if campaign else None, reason, source, djtz.now()) for phone in phones],
                               returning="phone")
    affected = Lead.objects.filter(phone__in=phones).exclude(status__in=WITHDRAWN)
    if campaign is not None:
        affected = affected.filter(campaign=campaign)
    with planner(seqscan=False):  # the phone index, whatever the statistics (see existing_leads)
        return set(added), list(affected.order_by("pk").values_list("pk", flat=True))


# --- erase (GDPR: the right to erasure) ----------------------------------------

# What identifies a person; an erased lead keeps none of it. Kept: id, campaign, list,
# partner, status, source, country and time zone (coarse, from the number), consent
# and schedule times, and the delivery history (its vendor texts scrubbed by vendors).
PERSONAL_FIELDS = ("phone", "phone_alt", "first_name", "last_name", "email", "address", "city", "region",
                   "postal_code", "external_id", "link", "metadata", "consent_url")
ERASED_PHONE_PREFIX = "erased"  # + the lead id: unique per campaign, never a number (fits 16 chars to id 10^10)


@dataclass
class EraseResult:
    erasure: Erasure | None = None      # the audit row (None when nothing was left to erase)
    erased: list[int] = field(default_factory=list)
    already_erased: list[int] = field(default_factory=list)
    planned: int = 0  # erase and end-of-contact deliveries planned at vendors


def erase_leads(leads: Iterable[Lead] | Any, *, via: str, requested_by: str, user=None, api_key=None,
                reason: str = "", erasure: Erasure | None = None, audit_leads: bool = True) -> EraseResult:
    """Erase leads' personal data here and at every vendor holding them, and record who did.

    The withdrawal signal goes first, while the leads still carry their details: vendors
    plans an ``erase`` (and an end of contact) at every vendor holding each lead, keeping
    what those calls need until the vendor has answered, and scrubs the details from the
    stored vendor answers. Then the lead keeps its id, campaign, status ``erased`` and
    delivery history, and none of ``PERSONAL_FIELDS``: its phone becomes
    ``erased<id>``, so the number is not kept and may be submitted again as a new lead.

    ``leads`` is a queryset (read set-wise) or Lead objects / ids; :data:`CHUNK` leads per
    transaction, all recorded on one ``Erasure`` (``erasure``: add to that one, as a bulk job
    does chunk after chunk). Each erased lead gets an audit entry unless ``audit_leads`` is off
    (a background bulk job records one entry for all its leads).
    """
    result = EraseResult(erasure=erasure)
    for ids in lead_id_chunks(leads):
        with transaction.atomic():
            found = list(Lead.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
            todo = [lead for lead in found if lead.status != Lead.Status.ERASED]
            result.already_erased += [lead.pk for lead in found if lead.status == Lead.Status.ERASED]
            if not todo:
                continue
            replies = leads_withdrawn.send(sender=Lead, leads=todo, operation="erase")
            result.planned += sum(reply for _, reply in replies if isinstance(reply, int))
            blank = {name: "" for name in (*PERSONAL_FIELDS, "search_first", "search_last")}
            blank.update(metadata={}, phone=Concat(Value(ERASED_PHONE_PREFIX), Cast("id", CharField())))
            todo_ids = [lead.pk for lead in todo]
            Lead.objects.filter(pk__in=todo_ids).update(status=Lead.Status.ERASED, updated_at=djtz.now(), **blank)
            webhooks.withdrawn(todo_ids)  # after the wipe: the event and earlier ones carry no personal data
            if result.erasure is None:
                result.erasure = Erasure.objects.create(via=via, requested_by=requested_by[:200], user=user,
                                                        api_key=api_key, reason=reason[:255], lead_count=0)
            Erasure.objects.filter(pk=result.erasure.pk).update(lead_count=F("lead_count") + len(todo))
            result.erasure.leads.through.objects.bulk_create(
                [result.erasure.leads.through(erasure_id=result.erasure.pk, lead_id=pk) for pk in todo_ids],
                ignore_conflicts=True)
            if audit_leads:
                audit.record(todo, f"Personal data erased here and at the vendors (erasure {result.erasure.pk}, "
                                   f"requested by {requested_by})")
            result.erased += todo_ids
    if result.erasure is not None:
        result.erasure.refresh_from_db(fields=["lead_count"])
    return result
