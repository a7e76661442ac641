"""Several ``qcluster`` processes on one Redis broker and one PostgreSQL (issue 15, item 5).

The same proof as ``make bench ONLY=scaling``, small: two clusters drain a backlog while one of
them is SIGKILLed (its whole process group), and every lead reaches the vendor exactly once; and
an account's rate limit holds across both clusters together. Each run has its own Redis queue
(Q_CLUSTER_NAME with this process's id) so parallel test runs do not take each other's tasks.
"""
import os
import signal
import time

import pytest
from django.db import models

from campaigns import intake
from campaigns.models import Campaign
from vendors.models import Delivery

from .cluster import (
    clusters_ready,
    enqueue_wakeup,
    redis_broker,
    redis_reachable,
    request_rate,
    start_cluster,
    stop,
    wait_for,
)
from .conftest import row

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True),
              pytest.mark.postgresql("several clusters share one PostgreSQL (SQLite takes one writer: README, "
                                     "'Where the embedded default stops')")]

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture
def redis_queue():
    if not redis_reachable(REDIS_URL):
        message = f"Redis at {REDIS_URL} is unreachable (set TEST_REDIS_URL)"
        if os.environ.get("CI"):
            pytest.fail(message + " and CI is set")
        pytest.skip(message)
    queue = f"leadhub-test-{os.getpid()}-{time.monotonic_ns()}"
    with redis_broker(REDIS_URL, queue):
        yield queue


def _start(n: int, queue: str, **env) -> list:
    procs = [start_cluster(REDIS_URL=REDIS_URL, Q_CLUSTER_NAME=queue, **env) for _ in range(n)]
    try:
        assert wait_for(lambda: clusters_ready(procs), timeout=60), "the clusters did not come up within 60 s"
    except BaseException:
        for proc in procs:
            stop(proc, signal.SIGKILL)
        raise
    return procs


def _backlog(campaign, leads: int) -> None:
    """``leads`` due at once: planned while the campaign is paused (held), then resumed."""
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.PAUSED)
    rows = [row(n) for n in range(leads)]
    for start in range(0, leads, 1000):
        assert all(r.accepted for r in intake.submit(rows[start:start + 1000], campaign=campaign))
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.ACTIVE)


def test_two_clusters_lose_nothing_when_one_is_sigkilled_and_the_vendor_holds_each_lead_once(
        redis_queue, aimylogic, sandbox):
    sandbox.faults(vendor="aimylogic", latency_ms=700)  # 20 batches of 100 over 4 threads: a few seconds
    clusters = _start(2, redis_queue, DELIVERY_LEASE_SECONDS="8", DELIVERY_BACKOFF_BASE_SECONDS="0.5")
    try:
        _backlog(aimylogic.campaign, 2000)
        enqueue_wakeup(4)  # a delivery run for each cluster (and one queued behind it)
        assert wait_for(lambda: Delivery.objects.filter(status="accepted").exists(), timeout=60)
        stop(clusters[0], signal.SIGKILL)  # the cluster and its workers, mid-batch: no clean-up
        assert wait_for(lambda: not Delivery.objects.filter(status="pending").exists(), timeout=60)
        stranded = Delivery.objects.filter(status="in_flight").count()
        time.sleep(8.5)  # the dead cluster's leases run out; the survivor's next run takes them back
        enqueue_wakeup()  # the one-minute sweep, now
        assert wait_for(lambda: not Delivery.objects.filter(status__in=Delivery.OPEN).exists(), timeout=60), \
            dict(Delivery.objects.values_list("status").annotate(n=models.Count("id")))
    finally:
        for proc in clusters:
            stop(proc)
    assert stranded > 0, "the killed cluster held no batch: nothing was proven"
    assert set(Delivery.objects.values_list("status", flat=True)) == {"accepted"}
    state = sandbox.state("aimylogic")["aimylogic"]
    phones = [job["phone"] for job in state["jobs"].values()]
    assert len(phones) == len(set(phones)) == state["job_count"] == 2000


def test_an_accounts_rate_limit_holds_across_two_clusters_together(redis_queue, aktify, sandbox):
    limit = 10
    aktify.account.max_requests_per_second = limit
    aktify.account.save()
    clusters = _start(2, redis_queue, DELIVERY_THREADS="4")  # 8 threads could send 8 at once
    try:
        _backlog(aktify.campaign, 80)
        enqueue_wakeup(4)
        assert wait_for(lambda: not Delivery.objects.filter(status__in=Delivery.OPEN).exists(), timeout=60)
    finally:
        for proc in clusters:
            stop(proc)
    log = sandbox.requests("aktify")
    assert sum(1 for r in log if r["status"] == 201 and r["path"] == "/api/v1/leads") == 80
    # every request counts against the limit; over any 2 s a slot's request may land late beside the next one's
    rate, peak = request_rate([r["at"] for r in log], window=2.0)
    assert rate <= limit * 1.1 and peak <= 2 * limit + 2, (rate, peak)
