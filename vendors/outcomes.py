"""Call outcomes: what the vendors' diallers did with the leads they accepted.

Where a contract offers a read-back (a client overriding ``VendorClient.outcomes``, e.g. a
lead details call), a schedule reads each accepted push's lead again every
``OUTCOME_POLL_SECONDS``, least recently read first, ``OUTCOME_BATCH`` per destination and run,
within the account's rate limit. A ``DeliveryOutcome`` row is stored when what the vendor says
changes, and the lead's status follows: a lead the vendor has completed becomes ``completed``
(a withdrawn lead keeps its status). Leads that are completed or withdrawn are not read again.
A read that fails (the vendor is down, the lead is gone) counts as read: it is tried again
after the same interval and never starves the others.
"""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from campaigns import webhooks
from campaigns.models import Lead

from . import registry
from .integrations.base import Item
from .models import Delivery, DeliveryOutcome, Destination
from .services import AccountRateLimiter

STILL_CALLED = [Lead.Status.NEW, Lead.Status.ACTIVE]


def reading_destinations():
    """Enabled destinations whose vendor offers call outcomes."""
    kinds = [cls.kind for cls in registry.client_classes() if cls.reads_outcomes()]
    return (Destination.objects.filter(is_enabled=True, account__is_enabled=True, account__kind__in=kinds)
            .select_related("account", "campaign"))


def due(destination: Destination, now: dt.datetime, limit: int) -> list[Delivery]:
    """Accepted pushes of ``destination`` whose lead is still called and not read within the interval."""
    stale = now - dt.timedelta(seconds=settings.OUTCOME_POLL_SECONDS)
    return list(Delivery.objects.filter(destination=destination, status=Delivery.Status.ACCEPTED,
                                        operation=Delivery.Operation.PUSH, lead__status__in=STILL_CALLED)
                .filter(Q(outcome_checked_at__isnull=True) | Q(outcome_checked_at__lt=stale))
                .select_related("lead").order_by(F("outcome_checked_at").asc(nulls_first=True), "pk")[:limit])


def read(destination: Destination, now: dt.datetime | None = None, limit: int | None = None) -> list[DeliveryOutcome]:
    """Read the outcomes due at one destination; returns the outcome rows stored (the changes)."""
    now = now or timezone.now()
    deliveries = due(destination, now, limit or settings.OUTCOME_BATCH)
    if not deliveries:
        return []
    client = registry.client_for(destination, throttle=AccountRateLimiter(destination.account,
                                                                          expected=len(deliveries)))
    by_id = {d.pk: d for d in deliveries}
    read_back = client.outcomes([Item(id=d.pk, lead=d.lead, remote_ref=d.remote_ref) for d in deliveries])
    latest = {o.delivery_id: o for o in DeliveryOutcome.objects.filter(delivery_id__in=by_id).order_by("read_at", "id")}
    changed = []
    for got in read_back:
        if got.error is not None or got.item_id not in by_id:
            continue
        delivery = by_id[got.item_id]
        outcome = DeliveryOutcome(delivery=delivery, lead_id=delivery.lead_id, read_at=now, completed=got.completed,
                                  status_code=got.status_code, status_description=got.status_description,
                                  outcome_type=got.outcome_type)
        if not outcome.same_as(latest.get(delivery.pk)):
            changed.append(outcome)
    with transaction.atomic():
        DeliveryOutcome.objects.bulk_create(changed)
        Delivery.objects.filter(pk__in=list(by_id)).update(outcome_checked_at=now)
        completed = [o.lead_id for o in changed if o.completed]
        if completed:
            Lead.objects.filter(pk__in=completed, status__in=STILL_CALLED).update(status=Lead.Status.COMPLETED,
                                                                                  updated_at=now)
        _tell_partners(destination, changed)
    return changed


def _tell_partners(destination: Destination, changed: list[DeliveryOutcome]) -> int:
    """A ``lead.outcome`` webhook event per outcome stored (to the lead's partner, if it has a URL)."""
    label = registry.client_class(destination.account.kind).label
    reports = []
    for o in changed:
        lead = o.delivery.lead
        lead.campaign = destination.campaign
        if o.completed and lead.status in STILL_CALLED:
            lead.status = Lead.Status.COMPLETED
        reports.append((lead, {"vendor": label, "destination_id": destination.pk, "completed": o.completed,
                               "outcome": o.outcome_type, "code": o.status_code, "message": o.status_description}))
    return webhooks.outcomes(reports)


def read_all(now: dt.datetime | None = None) -> int:
    """One run of the schedule: every destination that offers outcomes; returns the rows stored."""
    return sum(len(read(destination, now)) for destination in reading_destinations())
