"""Erasure at the vendors' end of LeadHub: what a vendor was told of a person, kept (encrypted)
with each erase request until it is answered, and scrubbed from the vendor texts LeadHub keeps.
"""
from __future__ import annotations

from collections import defaultdict
from urllib.parse import quote, quote_plus


from campaigns.intake import PERSONAL_FIELDS
from campaigns.models import Lead
from leadhub import dbtools

from .models import Delivery, DeliveryAttempt, VendorExchange

St = Delivery.Status


def personal_details(lead: Lead) -> dict:
    """What an erase must still tell the vendors about a lead: its personal fields."""
    return {name: getattr(lead, name) for name in PERSONAL_FIELDS}


def as_the_vendor_knew_it(delivery: Delivery) -> Lead:
    """The delivery's lead, with the details an erase kept for the vendor put back (in memory only)."""
    lead = delivery.lead
    if delivery.subject:
        lead.__dict__.update(delivery.subject)
    return lead


def _erasable(subject: dict) -> list[str]:
    """The texts to take out for one person: each personal value as typed and URL-encoded,
    longest first (so "Ann Lee" goes before "Ann")."""
    values = set()
    for name in PERSONAL_FIELDS:
        value = subject.get(name)
        if isinstance(value, str) and len(value.strip()) >= 3:  # "Al" would blank ordinary words
            values |= {value, quote(value, safe=""), quote_plus(value)}
    return sorted(values, key=len, reverse=True)


def _scrub(text: str, values: list[str]) -> str:
    for value in values:
        if value in text:
            text = text.replace(value, "[erased]")
    return text


def forget_personal_details(subjects: dict[int, dict]) -> int:
    """Take people's details (``subjects``: lead id -> its :func:`personal_details`) out of what
    their deliveries stored: the vendors' messages, request lines and answer excerpts, in the
    deliveries, their attempts and the exchanges those link to. The rows themselves stay (the
    history of what was sent where, and what came back). Returns the rows changed.

    Linear in the leads: a row is scrubbed of its own lead's details only, and a (shared) batch
    exchange of the details of the leads it carried (each row once searched for every erased
    person's details made 70,000 erasures quadratic)."""
    values = {lead_id: _erasable(subject) for lead_id, subject in subjects.items()}
    values = {lead_id: found for lead_id, found in values.items() if found}
    if not values:
        return 0
    lead_ids = list(values)
    attempts = DeliveryAttempt.objects.filter(delivery__lead_id__in=lead_ids)
    # a batch's exchanges are shared: only these people's details leave them, the others' stay
    leads_of_exchange: dict[int, set[int]] = defaultdict(set)
    for lead_id, *exchanges in attempts.values_list("delivery__lead_id", "sent_in_id", "decided_by_id"):
        for pk in exchanges:
            if pk:
                leads_of_exchange[pk].add(lead_id)
    changed = 0
    for rows_of, fields, lead_of in (
            (Delivery.objects.filter(lead_id__in=lead_ids), ["message"], "lead_id"),
            (attempts, ["request", "message", "excerpt"], "delivery__lead_id"),
            (VendorExchange.objects.filter(pk__in=list(leads_of_exchange)), ["request", "excerpt", "error"], "pk")):
        model = rows_of.model
        rows = []
        for pk, owner, *texts in rows_of.values_list("pk", lead_of, *fields).iterator(chunk_size=5000):
            if model is VendorExchange:
                found = sorted({v for lead_id in leads_of_exchange[pk] for v in values[lead_id]}, key=len, reverse=True)
            else:
                found = values[owner]
            scrubbed = [_scrub(text, found) for text in texts]
            if scrubbed != texts:
                rows.append({"id": pk, **dict(zip(fields, scrubbed))})
        dbtools.update_texts(model, fields, rows)
        changed += len(rows)
    return changed


FINAL_ANSWERS = (St.ACCEPTED, St.REJECTED, St.UNSUPPORTED, St.SKIPPED)


def _forget_erase_subjects(deliveries) -> None:
    """After an erase's rows were sent: the person's details leave their attempts, and
    leave the rows once the vendor answered for good. A row that gave up (``failed``)
    keeps them, encrypted, so that staff can still retry it."""
    carrying = [d for d in deliveries if d.subject]
    if not carrying:
        return
    forget_personal_details({d.lead_id: d.subject for d in carrying})
    Delivery.objects.filter(pk__in=[d.pk for d in carrying if d.status in FINAL_ANSWERS]).update(subject={})
