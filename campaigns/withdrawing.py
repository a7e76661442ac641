"""Taking leads out of contact: cancel, do-not-call and erase (GDPR).

Every change to a lead's contactability goes through :func:`withdraw` (or :func:`erase_leads`)
and so sends the same signal, ``leads_withdrawn`` (see ``campaigns.signals``), which the vendors
app answers by planning the withdrawals at every vendor holding the lead. The names are
importable from ``campaigns.intake`` too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

from django.db import transaction
from django.db.models import CharField, F, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone as djtz

from leadhub import dbtools
from leadhub.dbtools import planner

from . import audit, webhooks
from .models import DNC, Campaign, Erasure, Lead
from .phones import PhoneError, parse_phone
from .signals import leads_withdrawn

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
    added = dbtools.insert_new(DNC, {"phone": phones}, returning="phone",
                               campaign=campaign.pk if campaign else None, reason=reason, source=source,
                               created_at=djtz.now())
    affected = Lead.objects.filter(phone__in=phones).exclude(status__in=WITHDRAWN)
    if campaign is not None:
        affected = affected.filter(campaign=campaign)
    with planner(seqscan=False):  # the phone index, whatever the statistics (see existing_leads)
        return set(added), list(affected.order_by("pk").values_list("pk", flat=True))


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
