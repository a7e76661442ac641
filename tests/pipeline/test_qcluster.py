"""A real django-q2 cluster in a subprocess, against the sandbox over HTTP."""
import signal
import time

import pytest

from campaigns import intake
from campaigns.models import WEEKDAYS, Campaign
from vendors import services
from vendors.models import Delivery, Destination, VendorAccount

from .cluster import start_cluster, stop, wait_for
from .conftest import row

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def aktify_campaign(sandbox):
    campaign = Campaign.objects.create(name="Q", slug="q-cluster", status=Campaign.Status.ACTIVE,
                                       calling_days=",".join(WEEKDAYS), calling_start="00:00",
                                       calling_end="23:59:59")
    account = VendorAccount.objects.create(name="Aktify q", kind="aktify", base_url=sandbox.url("aktify"),
                                           max_requests_per_second=1000, timeout_seconds=10)
    Destination.objects.create(campaign=campaign, account=account, secret="ak-cluster-key")
    return campaign


def test_a_real_cluster_delivers_what_intake_accepts(queued, aktify_campaign, sandbox):
    cluster = start_cluster()
    try:
        intake.submit([row(n) for n in range(1, 11)], campaign=aktify_campaign)  # wakes the cluster on commit
        assert wait_for(lambda: Delivery.objects.filter(status="accepted").count() == 10), \
            list(Delivery.objects.values_list("status", "code", "message"))
    finally:
        stop(cluster)
    assert sandbox.state("aktify")["aktify"]["leads_created"] == 10


def test_a_sigkilled_worker_loses_nothing_and_the_vendor_gets_each_lead_once(queued, aktify_campaign, sandbox):
    sandbox.faults(vendor="aktify", latency_ms=700)
    cluster = start_cluster(DELIVERY_LEASE_SECONDS="3", DELIVERY_BACKOFF_BASE_SECONDS="0.5")
    leads = services.SINGLE_ITEM_CLAIM + 12  # one thread's claim and more: some accepted while others fly
    try:
        intake.submit([row(n) for n in range(1, leads + 1)], campaign=aktify_campaign)
        assert wait_for(lambda: Delivery.objects.filter(status="accepted").exists()
                        and Delivery.objects.filter(status="in_flight").exists(), timeout=60)
    finally:
        stop(cluster, signal.SIGKILL)  # no chance to clean up
    stranded = Delivery.objects.filter(status="in_flight").count()
    assert stranded > 0
    sandbox.faults(vendor="aktify")
    time.sleep(3.5)  # the dead worker's lease runs out

    def drained():
        services.deliver_due(threads=1, time_budget=30)
        return not Delivery.objects.filter(status__in=Delivery.OPEN).exists()

    assert wait_for(drained, timeout=60)
    statuses = list(Delivery.objects.values_list("status", flat=True))
    assert statuses == ["accepted"] * leads, [x for x in Delivery.objects.values_list("status", "code", "attempts", "message", "lease_until") if x[0] != "accepted"]
    created = [r["body"]["phoneNumber"] for r in sandbox.requests("aktify") if r["status"] == 201]
    assert sorted(created) == sorted(set(created)) and len(created) == leads


def test_sigterm_during_a_backlog_stops_within_q_timeout_and_loses_or_repeats_nothing(queued, aktify_campaign,
                                                                                     sandbox):
    sandbox.faults(vendor="aktify", latency_ms=300)  # the backlog takes ~30 s for the cluster's two threads
    cluster = start_cluster(Q_TIMEOUT="15", Q_RETRY="60")
    try:
        intake.submit([row(n) for n in range(1, 201)], campaign=aktify_campaign)
        # the stop comes while claims are being sent: ten requests reached the vendor (a claim of 48
        # single-item requests at 300 ms records its results only at its end, 14.4 s in, so waiting
        # for ten recorded deliveries sent the SIGTERM just before Q_TIMEOUT, a race with the timeout)
        assert wait_for(lambda: len(sandbox.requests("aktify")) >= 10, timeout=60)
    finally:
        took = stop(cluster, timeout=60)
    assert took < 15, f"the cluster took {took:.1f}s to stop"
    assert cluster.returncode == 0
    assert not Delivery.objects.filter(status="in_flight").exists()  # batches in hand were recorded
    assert Delivery.objects.filter(status="pending").exists()  # the backlog was left for later, not rushed

    sandbox.faults(vendor="aktify")
    services.deliver_due(threads=1, time_budget=60)
    assert list(Delivery.objects.values_list("status", flat=True).distinct()) == ["accepted"]
    created = [r["body"]["phoneNumber"] for r in sandbox.requests("aktify") if r["status"] == 201]
    assert len(created) == 200 and len(set(created)) == 200
