"""The dashboard's counters: kept by intake and the pipeline in their own transactions, equal to
what the raw tables say, folded by compaction without changing a figure."""
import datetime as dt
from collections import Counter

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from campaigns import intake
from campaigns.models import IntakeCount, Lead
from vendors import dashboard, services, tasks
from vendors.counts import OPEN, latency_bucket
from vendors.models import Delivery, DeliveryCount

from ..pipeline.conftest import row

pytestmark = pytest.mark.django_db


def deliver():
    return services.deliver_due(threads=1, time_budget=30)


def figures(period="today", campaign=None):
    return {r.destination.pk: r for r in dashboard.build(period, campaign)["rows"]}


def raw_truth(destination):
    """What counting the delivery table (which the dashboard never does) says."""
    pushes = Delivery.objects.filter(destination=destination, operation="push")
    return {
        "accepted": pushes.filter(status="accepted").count(),
        "refused": Counter(pushes.filter(status="rejected").values_list("code", flat=True)),
        "failed": pushes.filter(status="failed").count(),
        "pending": Delivery.objects.filter(destination=destination, status__in=Delivery.OPEN).count(),
        "withdrawn": Delivery.objects.filter(destination=destination, operation__in=["end_contact", "erase"]).count(),
        "stopped": pushes.filter(status="skipped", code__in=["withdrawn", "dnc", "erased"]).count(),
    }


def shown(fig):
    return {"accepted": fig.accepted.value, "refused": Counter({c: f.value for c, f in fig.refused}),
            "failed": fig.failed.value, "pending": fig.pending.value, "withdrawn": fig.withdrawn.value,
            "stopped": fig.stopped_before_sending.value}


def test_it_counts_what_the_pipeline_did_exactly_as_the_delivery_table_says(aktify, open_campaign, partner):
    results = intake.submit([row(n) for n in range(1, 6)], campaign=open_campaign, partner=partner,
                            channel=Lead.Channel.API)
    leads = [r.lead for r in results]
    assert shown(figures()[aktify.pk]) == raw_truth(aktify) == {
        "accepted": 0, "refused": Counter(), "failed": 0, "pending": 5, "withdrawn": 0, "stopped": 0}
    Lead.objects.filter(pk=leads[0].pk).update(region="", postal_code="")   # Aktify refuses it
    intake.cancel_leads([leads[1]])                                         # stopped before sending
    deliver()
    intake.cancel_leads([leads[2]])                                         # the vendor has it: end contact
    truth = raw_truth(aktify)
    assert truth == {"accepted": 3, "refused": Counter({"missing_region": 1}), "failed": 0, "pending": 1,
                     "withdrawn": 1, "stopped": 1}
    assert shown(figures()[aktify.pk]) == truth
    deliver()
    assert shown(figures()[aktify.pk]) == raw_truth(aktify) == {**truth, "pending": 0}


def test_compaction_folds_the_deltas_without_changing_a_figure(aktify, open_campaign):
    for n in range(1, 4):
        intake.submit([row(n)], campaign=open_campaign, channel=Lead.Channel.ADMIN)
    deliver()
    before = shown(figures()[aktify.pk])
    rows_before = DeliveryCount.objects.count()
    assert tasks.compact_counts() > 0
    assert DeliveryCount.objects.count() < rows_before
    assert DeliveryCount.objects.filter(status=OPEN).count() <= 1
    assert IntakeCount.objects.count() == 1 and IntakeCount.objects.get().count == 3
    assert shown(figures()[aktify.pk]) == before == {**before, "accepted": 3}


def test_compaction_leaves_older_days_alone(aktify):
    old = timezone.now().date() - dt.timedelta(days=5)
    DeliveryCount.objects.bulk_create([DeliveryCount(day=old, destination=aktify, operation="push",
                                                     status="accepted", count=1) for _ in range(2)])
    tasks.compact_counts()
    assert DeliveryCount.objects.filter(day=old).count() == 2


def test_a_failed_push_is_counted_failed(aktify, open_campaign, sandbox):
    aktify.account.max_attempts = 1
    aktify.account.save()
    intake.submit([row(1)], campaign=open_campaign)
    sandbox.faults(vendor="aktify", error_503_rate=1)
    deliver()
    assert shown(figures()[aktify.pk]) == raw_truth(aktify) == {
        "accepted": 0, "refused": Counter(), "failed": 1, "pending": 0, "withdrawn": 0, "stopped": 0}


def test_a_rolled_back_intake_counts_nothing(aktify, open_campaign):
    with pytest.raises(RuntimeError), transaction.atomic():
        intake.submit([row(1)], campaign=open_campaign, channel=Lead.Channel.API)
        raise RuntimeError("crash after intake")
    assert not DeliveryCount.objects.exists() and not IntakeCount.objects.exists()


def test_intake_is_counted_per_partner_and_channel(aktify, open_campaign, partner):
    intake.submit([row(1), row(2)], campaign=open_campaign, partner=partner, channel=Lead.Channel.API)
    intake.submit([row(3)], campaign=open_campaign, channel=Lead.Channel.CSV)
    intake.submit([row(3)], campaign=open_campaign, channel=Lead.Channel.CSV)   # duplicate: not counted
    board = dashboard.build("today")
    assert [(name, f.value) for name, f in board["intake_partners"]] == [
        ("Acme Leads", 2), ("No partner (staff, imports)", 1)]
    assert [(name, f.value) for name, f in board["intake_channels"]] == [("API", 2), ("CSV import", 1)]
    assert board["intake_total"] == 3
    assert set(Lead.objects.values_list("channel", flat=True)) == {"api", "csv"}


def test_intake_to_accepted_times_give_p50_and_p95(aktify, open_campaign):
    results = intake.submit([row(n) for n in range(1, 11)], campaign=open_campaign)
    now = timezone.now()
    # nine leads came in 40 s before their push, one 3 hours before
    Lead.objects.filter(pk__in=[r.lead.pk for r in results[:9]]).update(created_at=now - dt.timedelta(seconds=40))
    Lead.objects.filter(pk=results[9].lead.pk).update(created_at=now - dt.timedelta(hours=3))
    deliver()
    buckets = dict(DeliveryCount.objects.filter(status="accepted").values_list("latency_bucket")
                   .annotate(n=Sum("count")))
    assert buckets == {latency_bucket(40): 9, latency_bucket(3 * 3600): 1}
    board = dashboard.build("today")
    assert (board["p50"], board["p95"]) == ("≤ 1 min", "≤ 6 h")
    assert (figures()[aktify.pk].p50, figures()[aktify.pk].p95) == ("≤ 1 min", "≤ 6 h")


def test_periods_count_the_days_they_cover(aktify):
    today = timezone.now().date()
    for days_ago, n in ((0, 1), (3, 10), (20, 100), (40, 1000)):
        DeliveryCount.objects.create(day=today - dt.timedelta(days=days_ago), destination=aktify, operation="push",
                                     status="accepted", count=n)
    assert [figures(p)[aktify.pk].accepted.value for p in ("today", "7d", "30d")] == [1, 11, 111]


def test_a_campaigns_dashboard_shows_only_its_destinations(aktify, make_campaign, sandbox):
    from vendors.models import Destination

    other = Destination.objects.create(campaign=make_campaign(), account=aktify.account, secret="other-key")
    assert set(figures()) == {aktify.pk, other.pk}
    assert set(figures(campaign=aktify.campaign)) == {aktify.pk}
