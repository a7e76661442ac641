"""A real django-q2 cluster in a subprocess, against the sandbox over HTTP."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from campaigns import intake
from campaigns.models import WEEKDAYS, Campaign
from vendors import services
from vendors.models import Delivery, Destination, VendorAccount

from .conftest import row

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_cluster(**env_overrides) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "leadhub.settings", "DEBUG": "false",
           "SECRET_KEY": settings.SECRET_KEY, "FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEY,
           "DATABASE_URL": _database_url(), "Q_WORKERS": "1", "DELIVERY_THREADS": "2", "LOG_LEVEL": "WARNING",
           **env_overrides}
    env.pop("Q_SYNC", None)
    return subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop(proc: subprocess.Popen, sig=signal.SIGTERM):
    """SIGTERM to the cluster's main process (it stops its workers); SIGKILL to the whole group."""
    try:
        if sig == signal.SIGKILL:
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def queued(monkeypatch):
    """Enqueue tasks on the real broker instead of running them inline."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)


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
    try:
        intake.submit([row(n) for n in range(1, 21)], campaign=aktify_campaign)
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
    assert statuses == ["accepted"] * 20, [x for x in Delivery.objects.values_list("status", "code", "attempts", "message", "lease_until") if x[0] != "accepted"]
    created = [r["body"]["phoneNumber"] for r in sandbox.requests("aktify") if r["status"] == 201]
    assert sorted(created) == sorted(set(created)) and len(created) == 20
