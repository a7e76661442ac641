"""The staff dashboard: what happened today / 7 / 30 days, per destination, and vendor health.

Every figure comes from the counters the pipeline and intake keep (``DeliveryCount``,
``IntakeCount``: a few hundred rows), never from counting the lead or delivery tables, so the
page costs the same at 1M leads as at 100. The health strip reads the newest vendor exchanges and
the oldest due delivery through their indexes. Every number links to the changelist behind it.
"""
from __future__ import annotations

import datetime as dt
import functools
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, IntakeCount, Lead, Partner

from . import charts, queue
from .counts import LATENCY_BOUNDS, OPEN, PLANNED
from .models import Delivery, DeliveryCount, Destination, VendorExchange

Op, St = Delivery.Operation, Delivery.Status
PERIODS = {"today": ("Today", 1), "7d": ("7 days", 7), "30d": ("30 days", 30)}
WITHDRAWAL_OPS = [Op.END_CONTACT, Op.ERASE]        # one per withdrawn lead (a DNC adds a second, DNC push)
WITHDRAWN_CODES = ["withdrawn", "dnc", "erased"]   # pushes stopped before they were sent


@functools.lru_cache(maxsize=None)
def _changelist(name: str) -> str:
    return reverse(name)


def _link(name: str, **params) -> str:
    return f"{_changelist(name)}?{urlencode(params)}"


def deliveries_url(**params) -> str:
    return _link("admin:vendors_delivery_changelist", **params)


def leads_url(**params) -> str:
    return _link("admin:campaigns_lead_changelist", **params)


def latency_label(bucket: int | None) -> str:
    if bucket is None:
        return "—"
    if bucket >= len(LATENCY_BOUNDS):
        return f"> {_duration(LATENCY_BOUNDS[-1])}"
    return f"≤ {_duration(LATENCY_BOUNDS[bucket])}"


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def percentile_bucket(histogram: Counter, q: float) -> int | None:
    """The bucket holding the q-th quantile of a {bucket: count} histogram."""
    total = sum(histogram.values())
    if not total:
        return None
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= q * total:
            return bucket
    return max(histogram)


@dataclass
class Figure:
    value: int
    url: str


@dataclass
class DestinationFigures:
    destination: Destination
    accepted: Figure
    refused: list[tuple[str, Figure]]
    refused_total: int
    failed: Figure
    pending: Figure
    withdrawn: Figure
    stopped_before_sending: Figure
    p50: str
    p95: str
    health: dict = field(default_factory=dict)


def build(period: str = "today", campaign: Campaign | None = None, now: dt.datetime | None = None) -> dict:
    """The dashboard's context for a period key of PERIODS, for one campaign or all."""
    now = now or timezone.now()
    label, days = PERIODS.get(period, PERIODS["today"])
    today = now.astimezone(dt.timezone.utc).date()
    start_day = today - dt.timedelta(days=days - 1)
    since = _midnight(start_day)
    since_text = since.isoformat()

    destinations = list(_with_health_fields(Destination.objects.select_related("account", "campaign"), now)
                        .filter(**({"campaign": campaign} if campaign else {})).order_by("campaign__name", "pk"))
    dest_ids = [d.pk for d in destinations]
    counts = (DeliveryCount.objects.filter(day__gte=start_day, destination_id__in=dest_ids).exclude(status=OPEN)
              .values_list("destination_id", "operation", "status", "code", "latency_bucket")
              .annotate(n=Sum("count")))
    by_dest: dict[int, Counter] = defaultdict(Counter)
    latency: dict[int, Counter] = defaultdict(Counter)
    for dest_id, operation, status, code, bucket, n in counts:
        by_dest[dest_id][(operation, status, code)] += n
        if bucket is not None:
            latency[dest_id][bucket] += n
    open_now = dict(DeliveryCount.objects.filter(status=OPEN, destination_id__in=dest_ids)
                    .values_list("destination_id").annotate(n=Sum("count")))

    rows = []
    for dest in destinations:
        c = by_dest[dest.pk]
        base = {"destination__id__exact": dest.pk}
        finished = {**base, "finished_at__gte": since_text}
        refused = sorted(((code or "(no code)", Figure(n, deliveries_url(
            **finished, operation__exact=Op.PUSH, status__exact=St.REJECTED, code__exact=code)))
            for (op, status, code), n in c.items() if op == Op.PUSH and status == St.REJECTED and n),
            key=lambda item: -item[1].value)
        rows.append(DestinationFigures(
            destination=dest,
            accepted=Figure(sum(n for (op, st, _), n in c.items() if op == Op.PUSH and st == St.ACCEPTED),
                            deliveries_url(**finished, operation__exact=Op.PUSH, status__exact=St.ACCEPTED)),
            refused=refused,
            refused_total=sum(f.value for _, f in refused),
            failed=Figure(sum(n for (op, st, _), n in c.items() if op == Op.PUSH and st == St.FAILED),
                          deliveries_url(**finished, operation__exact=Op.PUSH, status__exact=St.FAILED)),
            pending=Figure(open_now.get(dest.pk, 0), deliveries_url(**base, status__in=",".join(Delivery.OPEN))),
            withdrawn=Figure(sum(n for (op, st, _), n in c.items() if op in WITHDRAWAL_OPS and st == PLANNED),
                             deliveries_url(**base, created_at__gte=since_text,
                                            operation__in=",".join(WITHDRAWAL_OPS))),
            stopped_before_sending=Figure(
                sum(n for (op, st, code), n in c.items()
                    if op == Op.PUSH and st == St.SKIPPED and code in WITHDRAWN_CODES),
                deliveries_url(**finished, operation__exact=Op.PUSH, status__exact=St.SKIPPED,
                               code__in=",".join(WITHDRAWN_CODES))),
            p50=latency_label(percentile_bucket(latency[dest.pk], 0.50)),
            p95=latency_label(percentile_bucket(latency[dest.pk], 0.95)),
        ))
    all_latency = sum(latency.values(), Counter())

    lead_filter = {"created_at__gte": since_text, **({"campaign__id__exact": campaign.pk} if campaign else {})}
    intake = (IntakeCount.objects.filter(day__gte=start_day, **({"campaign": campaign} if campaign else {}))
              .values_list("partner_id", "channel").annotate(n=Sum("count")))
    by_partner: Counter = Counter()
    by_channel: Counter = Counter()
    for partner_id, channel, n in intake:
        by_partner[partner_id] += n
        by_channel[channel] += n
    names = dict(Partner.objects.filter(pk__in=[p for p in by_partner if p]).values_list("pk", "name"))
    partners = [(names.get(pk, "No partner (staff, imports)") if pk else "No partner (staff, imports)",
                 Figure(n, leads_url(**lead_filter, **({"partner__id__exact": pk} if pk else
                                                       {"partner__isnull": "True"}))))
                for pk, n in by_partner.most_common()]
    channel_names = dict(Lead.Channel.choices)
    channels = [(channel_names.get(ch, ch), Figure(by_channel[ch], leads_url(**lead_filter, channel__exact=ch)))
                for ch in [c for c, _ in Lead.Channel.choices] if by_channel[ch]]

    daily = (DeliveryCount.objects.filter(day__gte=start_day, destination_id__in=dest_ids, operation=Op.PUSH,
                                          status__in=[St.ACCEPTED, St.REJECTED, St.FAILED])
             .values_list("day", "status").annotate(n=Sum("count")))
    per_day: dict[dt.date, Counter] = defaultdict(Counter)
    for day, status, n in daily:
        per_day[day][status] += n
    series = [(start_day + dt.timedelta(days=i)) for i in range(days)]
    chart = charts.stacked_bars(
        [(day.strftime("%d %b"), [(status, per_day[day][status],
                                   deliveries_url(operation__exact=Op.PUSH, status__exact=status,
                                                  finished_at__gte=_midnight(day).isoformat(),
                                                  finished_at__lt=_midnight(day + dt.timedelta(days=1)).isoformat(),
                                                  **({"destination__campaign__id__exact": campaign.pk}
                                                     if campaign else {})))
                                  for status in (St.ACCEPTED, St.REJECTED, St.FAILED)]) for day in series],
        colours={St.ACCEPTED: "#2e7d32", St.REJECTED: "#ef6c00", St.FAILED: "#c62828"},
        title="Pushes per day: accepted, refused, failed")
    intake_chart = charts.bars([(name, fig.value, fig.url) for name, fig in channels],
                               title="Leads accepted per source")

    return {
        "period": period if period in PERIODS else "today",
        "period_label": label,
        "periods": [(key, text) for key, (text, _) in PERIODS.items()],
        "since": since,
        "campaign": campaign,
        "rows": rows,
        "intake_total": sum(by_partner.values()),
        "intake_partners": partners,
        "intake_channels": channels,
        "p50": latency_label(percentile_bucket(all_latency, 0.50)),
        "p95": latency_label(percentile_bucket(all_latency, 0.95)),
        "accepted_total": sum(r.accepted.value for r in rows),
        "chart": chart,
        "intake_chart": intake_chart,
        "health": health(destinations, open_now, now),
    }


def _with_health_fields(destinations, now: dt.datetime):
    """Each destination with its last successful exchange and its oldest due delivery per
    operation: subqueries that each read one row from an index ((destination, started_at) and
    the claim index: ``vendors.queue``), so the strip costs one query whatever the number of
    destinations."""
    last_ok = (VendorExchange.objects.filter(destination=OuterRef("pk"), http_status__gte=200, http_status__lt=300)
               .order_by("-started_at").values("started_at")[:1])
    return queue.with_oldest_due(destinations, now).annotate(last_success_at=Subquery(last_ok))


def health(destinations: list[Destination], open_now: dict[int, int], now: dt.datetime) -> list[dict]:
    """Per destination: circuit state, error rate over the last hour, last success, queue depth
    and the age of the oldest due item."""
    hour_ago = now - dt.timedelta(hours=1)
    errors = Q(http_status__isnull=True) | Q(http_status__gte=500) | Q(http_status=429)
    hour = dict((d, (total, bad)) for d, total, bad in VendorExchange.objects.filter(
        started_at__gte=hour_ago, destination_id__in=[d.pk for d in destinations])
        .values_list("destination_id").annotate(total=Count("id"), bad=Count("id", filter=errors)))
    strip = []
    for dest in destinations:
        account = dest.account
        if account.circuit_open_until and account.circuit_open_until > now:
            circuit = ("open", f"open until {timezone.localtime(account.circuit_open_until):%H:%M:%S} "
                               f"after {account.consecutive_failures} failures")
        elif account.consecutive_failures:
            circuit = ("failing", f"closed, {account.consecutive_failures} failure(s) in a row")
        else:
            circuit = ("closed", "closed")
        total, bad = hour.get(dest.pk, (0, 0))
        last_ok = dest.last_success_at
        oldest = queue.oldest_due(dest)
        strip.append({
            "destination": dest,
            "circuit": circuit[0],
            "circuit_text": circuit[1],
            "last_error": account.last_error if circuit[0] != "closed" else "",
            "calls_last_hour": total,
            "error_rate": f"{100 * bad / total:.0f} %" if total else "no calls",
            "error_rate_url": _link("admin:vendors_vendorexchange_changelist", destination__id__exact=dest.pk,
                                    started_at__gte=hour_ago.isoformat(timespec="seconds")),
            "last_success": last_ok,
            "queue_depth": open_now.get(dest.pk, 0),
            "queue_url": deliveries_url(destination__id__exact=dest.pk, status__in=",".join(Delivery.OPEN)),
            "oldest_due_age": _age(now - oldest) if oldest else "nothing due",
            "oldest_due_url": deliveries_url(destination__id__exact=dest.pk, status__exact=St.PENDING,
                                             due_at__lte=now.isoformat(timespec="seconds")),
        })
    return strip


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.timezone.utc)


def _age(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"
