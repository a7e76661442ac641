"""Alerts: a destination whose vendor refuses too much or keeps failing is shown in a banner on
every admin page and mailed, once, to the staff who watch its campaign; its recovery is mailed too.

``check`` runs every minute (the "leadhub: check alerts" schedule), off the delivery path. It reads
what the dashboard already keeps, never the delivery table:

- the refusal rate over the last hour, from the ``DeliveryCount`` counters: each check stores the
  destination's accepted and refused push totals per UTC day in its ``DestinationAlert.samples``,
  and the last hour's figures are the difference between this check and the oldest sample of the
  hour (so the first check after an idle hour has no rate yet, and clears nothing);
- the failure streak, from the destination's newest ``VendorExchange`` rows (the health strip's
  source): at most ``alert_failure_streak`` rows, read through the (destination, started_at) index.

The thresholds are fields of each ``Destination`` (their help text is the exact rule). One
``DestinationAlert`` row per destination holds the state: a conditional update turns it open or
closed, so a destination that keeps failing is mailed once, and two checks running at once mail
once between them. Raising and clearing are recorded in the audit log.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from campaigns import audit

from . import counts
from .models import Delivery, DeliveryCount, Destination, DestinationAlert, VendorExchange

log = logging.getLogger(__name__)

St = Delivery.Status
WINDOW = dt.timedelta(hours=1)
# what ends a failure streak is any other answer: a refusal of one lead is the vendor working
FAILED_CALL_STATUSES = {401, 403, 429}


def failed_call(http_status: int | None) -> bool:
    return http_status is None or http_status >= 500 or http_status in FAILED_CALL_STATUSES


@dataclass
class Verdict:
    destination: Destination
    reasons: list[str]
    measured: bool          # the refusal rate could be computed (a sample from the last hour exists)


def check(now: dt.datetime | None = None) -> dict[str, int]:
    """Evaluate every destination's thresholds; raise or clear its alert. Returns what changed."""
    now = now or timezone.now()
    destinations = list(Destination.objects.select_related("campaign", "account").order_by("pk"))
    states = {a.pk: a for a in DestinationAlert.objects.filter(pk__in=[d.pk for d in destinations])}
    totals = _answered_push_totals([d.pk for d in destinations])
    done = {"raised": 0, "cleared": 0, "checked": len(destinations)}
    for dest in destinations:
        state = states.get(dest.pk) or DestinationAlert.objects.get_or_create(destination=dest)[0]
        verdict = _evaluate(dest, state, totals.get(dest.pk, {}), now)
        if verdict.reasons and raise_alert(dest, "; ".join(verdict.reasons), now):
            done["raised"] += 1
        elif not verdict.reasons and verdict.measured and clear_alert(dest, now):
            done["cleared"] += 1
    return done


def _answered_push_totals(dest_ids: list[int]) -> dict[int, dict[str, list[int]]]:
    """{destination id: {UTC day: [accepted, refused]}} for yesterday and today, from the counters."""
    rows = (DeliveryCount.objects.filter(day__gte=counts.recent_days()[0], destination_id__in=dest_ids,
                                         operation=Delivery.Operation.PUSH, status__in=[St.ACCEPTED, St.REJECTED])
            .values_list("destination_id", "day", "status").annotate(n=Sum("count")))
    totals: dict[int, dict[str, list[int]]] = defaultdict(dict)
    for dest_id, day, status, n in rows:
        totals[dest_id].setdefault(day.isoformat(), [0, 0])[status == St.REJECTED] += n
    return totals


def _evaluate(dest: Destination, state: DestinationAlert, now_totals: dict[str, list[int]],
              now: dt.datetime) -> Verdict:
    since = now - WINDOW
    samples = [s for s in state.samples if dt.datetime.fromisoformat(s[0]) >= since]
    reasons = []
    if samples:
        then = samples[0][1]
        # per day, so the yesterday that drops out of the totals at midnight subtracts nothing
        accepted = sum(acc - then.get(day, [0, 0])[0] for day, (acc, _) in now_totals.items())
        refused = sum(ref - then.get(day, [0, 0])[1] for day, (_, ref) in now_totals.items())
        answered = accepted + refused
        if answered >= dest.alert_min_answers and refused * 100 >= dest.alert_refusal_percent * answered:
            reasons.append(f"{refused} of the {answered} pushes answered in the last hour were refused "
                           f"({100 * refused / answered:.0f} %, threshold {dest.alert_refusal_percent} %)")
    streak = dest.alert_failure_streak
    recent = list(VendorExchange.objects.filter(destination=dest).order_by("-started_at")
                  .values_list("http_status", "error")[:streak])
    if len(recent) == streak and all(failed_call(status) for status, _ in recent):
        status, error = recent[0]
        reasons.append(f"the last {streak} calls to {dest.account.name} failed "
                       f"(latest: {f'HTTP {status}' if status else error or 'no answer'})")
    DestinationAlert.objects.filter(pk=dest.pk).update(
        checked_at=now, samples=[*samples, [now.isoformat(), now_totals]])
    return Verdict(dest, reasons, measured=bool(samples))


def raise_alert(dest: Destination, reason: str, now: dt.datetime) -> bool:
    """Open the destination's alert unless it is open already; True (and one mail) if this call opened it."""
    with transaction.atomic():
        opened = DestinationAlert.objects.filter(Q(raised_at=None) | Q(cleared_at__isnull=False), pk=dest.pk).update(
            raised_at=now, cleared_at=None, reason=reason[:2000])
        if opened:
            audit.record([dest], f"Alert raised: {reason}")
    if opened:
        _mail(dest, f"[LeadHub] Alert: {dest}", f"{dest} crossed its alert threshold at {_when(now)}:\n\n"
                                                f"{reason}.\n\nThis alert is mailed once; you will be mailed "
                                                f"again when it recovers.")
    return bool(opened)


def clear_alert(dest: Destination, now: dt.datetime) -> bool:
    """Close the destination's open alert; True (and one mail) if this call closed it."""
    with transaction.atomic():
        alert = DestinationAlert.objects.select_for_update().filter(
            pk=dest.pk, raised_at__isnull=False, cleared_at=None).first()
        if alert:
            DestinationAlert.objects.filter(pk=dest.pk).update(cleared_at=now)
            audit.record([dest], f"Alert cleared: back under its thresholds (raised {_when(alert.raised_at)}: "
                                 f"{alert.reason})")
    if alert:
        _mail(dest, f"[LeadHub] Recovered: {dest}",
              f"{dest} is back under its alert thresholds at {_when(now)}.\n\n"
              f"The alert raised at {_when(alert.raised_at)} said: {alert.reason}.")
    return alert is not None


def watchers_emails(dest: Destination) -> list[str]:
    return sorted(dest.campaign.watchers.filter(is_active=True, is_staff=True).exclude(email="")
                  .values_list("email", flat=True))


def _mail(dest: Destination, subject: str, body: str) -> None:
    recipients = watchers_emails(dest)
    if not recipients:
        log.warning("alert on %s: campaign %s has no watcher with an email address; shown in the admin only",
                    dest, dest.campaign)
        return
    link = settings.ADMIN_BASE_URL.rstrip("/") + reverse("admin:vendors_destination_change", args=[dest.pk])
    try:
        send_mail(subject[:200], f"{body}\n\nThe destination: {link}\n\nYou watch the campaign {dest.campaign}; "
                                 f"its page in the admin lists who is mailed.\n", None, recipients)
    except Exception:  # the banner still shows it; the next state change mails again
        log.exception("alert mail for %s could not be sent", dest)


def _when(moment: dt.datetime) -> str:
    return f"{moment.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M} UTC"


def open_alerts():
    return list(DestinationAlert.objects.filter(raised_at__isnull=False, cleared_at=None)
                .select_related("destination__campaign", "destination__account").order_by("raised_at"))


def context(request) -> dict:
    """Template context processor: ``lh_open_alerts`` for the admin's banner, read only when a
    page for staff renders it."""
    user = getattr(request, "user", None)
    return {"lh_open_alerts": SimpleLazyObject(
        lambda: open_alerts() if user is not None and user.is_authenticated and user.is_staff else [])}
