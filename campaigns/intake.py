"""THE one way a lead enters LeadHub: normalise → validate → dedupe → DNC → save.

The API, the CSV importer, the admin and the demo data all call :func:`submit`.
Each row comes back as a :class:`RowResult`: accepted with its lead, or
rejected with a machine-readable ``code``, a human ``message`` and per-field
errors. The same reason codes appear in the API, the CSV error file and the
admin.

Cleaning a row's values is :mod:`campaigns.lead_values`; withdrawals (cancel, DNC, erase) are
:mod:`campaigns.withdrawing`. Their names are importable from here too.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone as djtz

from leadhub import dbtools, rollup
from leadhub.dbtools import planner

from . import requirements
from .models import DNC, Campaign, IntakeCount, Lead, LeadList, Partner
from .signals import leads_accepted
from .lead_values import (  # noqa: F401
    ACCEPTED_FIELDS, METADATA_MAX_KEY_LENGTH, METADATA_MAX_KEYS, METADATA_MAX_VALUE_LENGTH, TEXT_FIELDS, VALUE_KEYS,
    RowInvalid, clean_row, clean_values, new_lead, summary,
)
from .withdrawing import (  # noqa: F401
    CANCEL_AUDIT, CHUNK, ERASED_PHONE_PREFIX, PERSONAL_FIELDS, WITHDRAWN, DncResult, EraseResult, Withdrawn, add_to_dnc,
    cancel_leads, erase_leads, lead_id_chunks, withdraw,
)

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
