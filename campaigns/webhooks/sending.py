"""Sending partner events: claim due ones in order per lead, sign, POST, record the answer.

The rules are the deliveries': the database is the queue of record; a claim marks rows
``in_flight`` with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises
writers), the POST happens outside any transaction, a 2xx is ``delivered``, anything else
(or no answer within WEBHOOK_TIMEOUT_SECONDS) is retried after ``leadhub.backoff.retry_delay``
(at least ``Retry-After``), until WEBHOOK_MAX_ATTEMPTS, then ``failed``. A 410 Gone means the
receiver is gone for good: that event fails and the partner's webhook is disabled until its
URL is saved again.

Order per lead: a claim takes an event only when no older event of its lead is pending or in
flight, so a lead's events reach the receiver in the order they were written, one at a time.
An event that gave up (``failed``) no longer holds the lead's later events: they go on, and
staff can replay it from the admin (it is then sent before the lead's events still waiting).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
import urllib.request

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from leadhub import dbtools
from leadhub.backoff import retry_delay

from .. import wakeups
from ..models import Partner, PartnerEvent
from .signing import signature_header

log = logging.getLogger(__name__)

St = PartnerEvent.Status
OPEN = (St.PENDING, St.IN_FLIGHT)
CLAIM_SIZE = 20
USER_AGENT = "LeadHub-Webhooks/1.0"
_local = threading.local()


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)


WAKE_UP = "send partner events"


def wake() -> None:
    """Ask a worker to send what is due, unless a run is queued already (on commit of each
    transaction that wrote events; ``campaigns.wakeups``). The one-minute sweep is the safety net."""
    wakeups.wake(WAKE_UP, "campaigns.tasks.send_partner_events", group="partner-events")


def reclaim_expired_leases(now: dt.datetime) -> int:
    return PartnerEvent.objects.filter(status=St.IN_FLIGHT, lease_until__lt=now).update(
        status=St.PENDING, lease_until=None, due_at=now)


def due(now: dt.datetime):
    """Due events whose lead has no older event open, for partners with an active URL."""
    older_open = PartnerEvent.objects.filter(lead_id=OuterRef("lead_id"), pk__lt=OuterRef("pk"), status__in=OPEN)
    return (PartnerEvent.objects.filter(status=St.PENDING, due_at__lte=now, partner__webhook_disabled_at__isnull=True)
            .exclude(partner__webhook_url="").exclude(Exists(older_open)))


def claim(now: dt.datetime | None = None, size: int = CLAIM_SIZE) -> list[PartnerEvent]:
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(dbtools.claimable(due(now).order_by("due_at", "id")).values_list("id", flat=True)[:size])
        if ids:
            PartnerEvent.objects.filter(pk__in=ids).update(status=St.IN_FLIGHT, lease_until=now + lease())
    return list(PartnerEvent.objects.filter(pk__in=ids).select_related("partner").order_by("id")) if ids else []


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
        if not urllib.request.getproxies():
            # as vendor sessions (vendors.integrations.base): with no proxy configured, read the CA
            # bundle once and never add ~/.netrc credentials to a request to a partner
            session.trust_env = False
            session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return session


def body_of(event: PartnerEvent) -> bytes:
    return json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False).encode()


def post(event: PartnerEvent) -> tuple[int | None, str, float | None]:
    """POST one event; returns (HTTP status or None, what to store of the answer, Retry-After)."""
    partner = event.partner
    body = body_of(event)
    headers = {
        "Content-Type": "application/json",
        "LeadHub-Event-Id": str(event.event_id),
        "LeadHub-Event-Type": event.type,
        "LeadHub-Signature": signature_header(partner.webhook_secret, int(time.time()), body),
    }
    try:
        response = _session().post(partner.webhook_url, data=body, headers=headers,
                                   timeout=settings.WEBHOOK_TIMEOUT_SECONDS, allow_redirects=False)
    except requests.Timeout:
        return None, f"No answer within {settings.WEBHOOK_TIMEOUT_SECONDS} s.", None
    except requests.RequestException as exc:
        return None, f"Could not connect: {type(exc).__name__}.", None
    retry_after = response.headers.get("Retry-After", "")
    text = response.text[:300] if response.content else ""
    return response.status_code, text, float(retry_after) if retry_after.isdigit() else None


def record(event: PartnerEvent, http_status: int | None, message: str, retry_after: float | None) -> dict:
    """Store one attempt's answer; returns the fields written."""
    now = timezone.now()
    attempts = event.attempts + 1
    fields = {"attempts": attempts, "http_status": http_status, "message": message, "lease_until": None}
    if http_status is not None and 200 <= http_status < 300:
        fields.update(status=St.DELIVERED, delivered_at=now)
    elif http_status == 410:
        fields.update(status=St.FAILED, message=f"410 Gone: webhooks disabled for this partner. {message}"[:2000])
        Partner.objects.filter(pk=event.partner_id, webhook_disabled_at__isnull=True).update(webhook_disabled_at=now)
        log.warning("partner %s answered 410 Gone: its webhooks are disabled", event.partner.slug)
    elif attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        fields.update(status=St.FAILED, message=f"Gave up after {attempts} attempts. Last answer: "
                                                f"{http_status or ''} {message}"[:2000])
    else:
        fields.update(status=St.PENDING, due_at=now + dt.timedelta(seconds=retry_delay(attempts, retry_after)))
    # only our own claim: a replay meanwhile (status set back to pending) is not overwritten
    PartnerEvent.objects.filter(pk=event.pk, status=St.IN_FLIGHT).update(**fields)
    return fields


def send_due(time_budget: float = 60) -> dict[str, int]:
    """Send what is due now, claim after claim, until nothing is due or the budget is spent;
    returns counts per resulting status.

    A receiver that is down costs one attempt per run, not one per event: once a partner's
    receiver gave no answer, a 429 or a 5xx to an event that will be retried (or a 410), the
    partner's other events claimed in this run go back to the queue unsent (no attempt counted),
    due when the failed one is retried."""
    wakeups.woken(WAKE_UP)
    deadline = time.monotonic() + time_budget
    reclaim_expired_leases(timezone.now())
    counts: dict[str, int] = {}
    held: dict[int, dt.datetime] = {}  # partner -> when its receiver may be tried again
    while time.monotonic() < deadline:
        events = claim()
        if not events:
            break
        for event in events:
            if event.partner_id in held:
                PartnerEvent.objects.filter(pk=event.pk, status=St.IN_FLIGHT).update(
                    status=St.PENDING, lease_until=None, due_at=max(held[event.partner_id], event.due_at))
                continue
            http_status, message, retry_after = post(event)
            fields = record(event, http_status, message, retry_after)
            down = http_status is None or http_status == 429 or http_status >= 500
            if http_status == 410 or (down and fields["status"] == St.PENDING):
                # a disabled partner's events are not claimed; the others are due again with the retry
                held[event.partner_id] = fields.get("due_at") or timezone.now()
            counts[str(fields["status"])] = counts.get(str(fields["status"]), 0) + 1
    return counts


def replay(queryset) -> int:
    """Queue events again (same id), due now with fresh attempts; one in flight is left to its sender."""
    now = timezone.now()
    count = queryset.exclude(status=St.IN_FLIGHT).update(
        status=St.PENDING, due_at=now, attempts=0, lease_until=None, delivered_at=None)
    if count:
        transaction.on_commit(wake)
    return count


FINISHED = (St.DELIVERED, St.FAILED)


def prune(days: int) -> int:
    """Delete finished events (delivered, or given up) written more than ``days`` ago, in slices of
    10,000 (no huge transaction); events still to send are kept whatever their age. Returns the rows
    deleted."""
    cutoff = timezone.now() - dt.timedelta(days=days)
    total = 0
    while True:
        ids = list(PartnerEvent.objects.filter(status__in=FINISHED, created_at__lt=cutoff)
                   .values_list("pk", flat=True)[:10000])
        if not ids:
            return total
        total += PartnerEvent.objects.filter(pk__in=ids).delete()[0]
