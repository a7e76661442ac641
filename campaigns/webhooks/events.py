"""What a webhook event says, and writing it to the outbox.

Every writer runs inside the transaction that made the change it reports (a rollback writes
no event) and writes only for leads whose partner has an active webhook URL. An event carries
the lead's id, the partner's own ``external_id``, the campaign's slug and the lead's status,
and its ``data``: never the person's details (an erased lead's events, earlier ones included,
carry none).
"""
from __future__ import annotations

import uuid
from typing import Iterable, NamedTuple

from django.db import transaction
from django.utils import timezone

from ..models import Lead, Partner, PartnerEvent

Type = PartnerEvent.Type
ERASED_TEXT = "[erased]"


class PushAnswer(NamedTuple):
    """A destination's final answer to a lead's push (vendors' ``_record``)."""

    lead: Lead              # with its campaign loaded
    accepted: bool          # False: refused
    vendor: str             # the vendor's label
    destination_id: int
    code: str
    message: str


def active_partners(partner_ids: Iterable[int | None]) -> set[int]:
    ids = {pk for pk in partner_ids if pk}
    if not ids:
        return set()
    return set(Partner.objects.filter(pk__in=ids, webhook_disabled_at__isnull=True).exclude(webhook_url="")
               .values_list("pk", flat=True))


def lead_ref(lead_id: int, external_id: str, campaign_slug: str, status: str) -> dict:
    return {"id": lead_id, "external_id": "" if status == Lead.Status.ERASED else external_id,
            "campaign": campaign_slug, "status": status}


def record(type: str, entries: list[tuple[int, dict, dict]]) -> int:
    """Write events of ``type``: ``entries`` are (partner id, lead_ref(...), data). Returns the
    events written; wakes the sender when the transaction commits."""
    if not entries:
        return 0
    now = timezone.now()
    rows = []
    for partner_id, lead, data in entries:
        event_id = uuid.uuid4()
        payload = {"id": str(event_id), "type": str(type), "created_at": now.isoformat().replace("+00:00", "Z"),
                   "lead": lead, "data": data}
        rows.append(PartnerEvent(event_id=event_id, partner_id=partner_id, lead_id=lead["id"], type=type,
                                 payload=payload, due_at=now, created_at=now))
    PartnerEvent.objects.bulk_create(rows, batch_size=1000)
    from .sending import wake

    transaction.on_commit(wake)
    return len(rows)


def push_answered(answers: list[PushAnswer]) -> int:
    """``lead.accepted`` / ``lead.refused``: a destination accepted or refused a lead's push."""
    partners = active_partners(a.lead.partner_id for a in answers)
    return record_each([
        (Type.ACCEPTED if a.accepted else Type.REFUSED, a.lead.partner_id,
         lead_ref(a.lead.pk, a.lead.external_id, a.lead.campaign.slug, a.lead.status),
         {"vendor": a.vendor, "destination_id": a.destination_id, "code": a.code, "message": a.message})
        for a in answers if a.lead.partner_id in partners])


def record_each(typed: list[tuple[str, int, dict, dict]]) -> int:
    by_type: dict[str, list] = {}
    for type, *entry in typed:
        by_type.setdefault(type, []).append(tuple(entry))
    return sum(record(type, entries) for type, entries in by_type.items())


HOW = {Lead.Status.CANCELLED: "cancelled", Lead.Status.DNC: "dnc", Lead.Status.ERASED: "erased"}


def withdrawn(lead_ids: list[int]) -> int:
    """``lead.withdrawn``: leads were cancelled, put on the DNC list or erased (their new status
    is read here, so call it after the change). For erased leads, their earlier events lose
    whatever the person could be recognised by (:func:`forget`)."""
    rows = list(Lead.objects.filter(pk__in=lead_ids, partner__isnull=False, partner__webhook_disabled_at__isnull=True)
                .exclude(partner__webhook_url="")
                .values_list("pk", "partner_id", "external_id", "campaign__slug", "status"))
    erased = [pk for pk, *_, status in rows if status == Lead.Status.ERASED]
    if erased:
        forget(erased)
    return record(Type.WITHDRAWN, [
        (partner_id, lead_ref(pk, external_id, slug, status), {"how": HOW.get(status, status)})
        for pk, partner_id, external_id, slug, status in rows])


def forget(lead_ids: list[int]) -> int:
    """Erased leads: their events (sent or not) keep no external id and no vendor message (a
    vendor may quote the person's details). Returns the events changed."""
    events = list(PartnerEvent.objects.filter(lead_id__in=lead_ids).only("pk", "payload"))
    for event in events:
        event.payload["lead"]["external_id"] = ""
        event.payload["lead"]["status"] = Lead.Status.ERASED
        if event.payload.get("data", {}).get("message"):
            event.payload["data"]["message"] = ERASED_TEXT
    PartnerEvent.objects.bulk_update(events, ["payload"], batch_size=1000)
    return len(events)


def outcome(lead: Lead, data: dict) -> int:
    """``lead.outcome``: what a vendor reported about the lead after taking it (a call's result).
    One lead; :func:`outcomes` for many."""
    return outcomes([(lead, data)])


def outcomes(reports: list[tuple[Lead, dict]]) -> int:
    """``lead.outcome`` for each (lead with its campaign loaded, data). The hook for vendor outcomes:
    ``vendors.outcomes`` calls it in the transaction that stores them, with ``data`` as the partner
    reads it: ``{"vendor", "destination_id", "completed", "outcome", "code", "message"}``."""
    partners = active_partners(lead.partner_id for lead, _ in reports)
    return record(Type.OUTCOME, [
        (lead.partner_id, lead_ref(lead.pk, lead.external_id, lead.campaign.slug, lead.status), data)
        for lead, data in reports if lead.partner_id in partners])
