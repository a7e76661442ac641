"""Wake-ups: a burst of accepted leads queues one delivery task, and a run sends what arrives meanwhile."""
import os
import threading

import pytest
from django.db import connection
from django.db.models import Count

from campaigns import intake
from campaigns.models import WEEKDAYS, Campaign, WakeUp
from vendors import services
from vendors.models import Delivery, Destination, VendorAccount

from .cluster import start_cluster, stop, wait_for
from .conftest import row

pytestmark = pytest.mark.django_db(transaction=True)  # every intake commits: on_commit wakes for real
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")  # a database of the tests' own
BURST = 10_000


def broker():
    from django_q.brokers import get_broker

    return get_broker()


@pytest.fixture
def redis_broker(queued, monkeypatch):
    """Tasks go to Redis (database 13 by default), on a queue named for this test run, so that
    two runs of the suite on one machine never take each other's tasks. Returns the cluster's
    environment for that queue."""
    import redis
    from django_q.conf import Conf

    try:
        redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError:
        pytest.skip(f"Redis at {REDIS_URL} is unreachable (set TEST_REDIS_URL)")
    queue = f"leadhub-test-{os.getpid()}"
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", REDIS_URL)
    monkeypatch.setattr(Conf, "CLUSTER_NAME", queue)
    broker().purge_queue()
    yield {"REDIS_URL": REDIS_URL, "Q_CLUSTER_NAME": queue}
    broker().purge_queue()


@pytest.fixture
def platform_campaign(sandbox):
    """A campaign that pushes to ipSCAPE Platform (bulk of 500) and is always open for calls.
    No periodic schedules: only wake-ups run, so the sweep can neither hide a lost one nor
    leave its own tasks in the queue the tests count."""
    from django_q.models import Schedule

    Schedule.objects.all().delete()
    campaign = Campaign.objects.create(name="Burst", slug="burst", status=Campaign.Status.ACTIVE,
                                       calling_days=",".join(WEEKDAYS), calling_start="00:00",
                                       calling_end="23:59:59")
    account = VendorAccount.objects.create(name="Platform burst", kind="platform", timeout_seconds=30,
                                           base_url=sandbox.url("platform") + "/platform-api",
                                           credentials={"api_key": "pk_burst"}, max_requests_per_second=1000)
    Destination.objects.create(campaign=campaign, account=account, remote_ref="100",
                               settings={"bulk_poll_seconds": 0})
    return campaign


def accept_one_by_one(campaign, numbers, clients=4):
    """``clients`` threads (each its own connection) submit one lead per transaction, as partners do."""
    errors = []

    def client(part):
        try:
            for n in part:
                [result] = intake.submit([row(0, phone=f"+1415{2_000_000 + n:07d}")], campaign=campaign)
                assert result.accepted, result.message
        except Exception as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(numbers[i::clients],)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]


def deliver_with_a_cluster(count, sandbox, **env):
    cluster = start_cluster(DELIVERY_LINGER_SECONDS="0", **env)
    try:
        assert wait_for(lambda: Delivery.objects.filter(status="accepted").count() == count, timeout=240), \
            dict(Delivery.objects.values_list("status").annotate(n=Count("id")))
        # a backlog brings more workers in, one coalesced wake-up at a time; the last finds nothing
        assert wait_for(lambda: broker().queue_size() == 0 and not WakeUp.objects.exists(), timeout=30)
    finally:
        stop(cluster)
    bulk_adds = [r["body"]["leads"] for r in sandbox.requests("platform")
                 if r["method"] == "POST" and r["path"].endswith("/leads/bulk")]
    sent = [lead["customerKey"] for leads in bulk_adds for lead in leads]
    assert len(sent) == count and len(set(sent)) == count  # each lead sent once
    assert sandbox.state("platform")["platform"]["leads"] == count


@pytest.mark.slow
def test_a_burst_of_10000_accepted_leads_queues_one_wake_up_and_all_are_delivered(
        queued, platform_campaign, sandbox):
    accept_one_by_one(platform_campaign, list(range(BURST)))

    assert Delivery.objects.filter(status="pending").count() == BURST
    assert broker().queue_size() == 1  # one wake-up for the burst (it was one per lead)
    assert WakeUp.objects.count() == 1

    deliver_with_a_cluster(BURST, sandbox)
    assert broker().queue_size() == 0 and not WakeUp.objects.exists()


@pytest.mark.slow
def test_with_the_redis_broker_a_burst_queues_one_wake_up_too(redis_broker, platform_campaign, sandbox):
    accept_one_by_one(platform_campaign, list(range(600)))
    assert broker().queue_size() == 1 and WakeUp.objects.count() == 1

    deliver_with_a_cluster(600, sandbox, **redis_broker)
    assert broker().queue_size() == 0 and not WakeUp.objects.exists()


def test_a_lead_accepted_while_a_run_is_sending_is_sent_by_that_run(queued, platform_campaign, sandbox,
                                                                     monkeypatch):
    """The lead commits after the run's last claim came back empty, just before it would exit."""
    intake.submit([row(1)], campaign=platform_campaign)
    assert broker().queue_size() == 1  # the first lead's wake-up
    real_claim, late = services.claim, []

    def claim(*args, **kwargs):
        claimed = real_claim(*args, **kwargs)
        if claimed is None and not late:
            late.extend(intake.submit([row(2)], campaign=platform_campaign))
        return claimed

    monkeypatch.setattr(services, "claim", claim)
    counts = services.deliver_due(threads=1, time_budget=30)

    assert late and late[0].accepted
    assert counts == {"accepted": 2}
    assert sorted(Delivery.objects.values_list("lead__phone", "status")) == [
        ("+14155550001", "accepted"), ("+14155550002", "accepted")]
    # the late lead's commit came after the run had started, so it queued one wake-up of its own
    assert broker().queue_size() == 2 and WakeUp.objects.count() == 1


def test_commits_while_a_wake_up_is_queued_queue_nothing_more(queued, platform_campaign):
    for n in range(1, 6):
        intake.submit([row(n)], campaign=platform_campaign)
    assert broker().queue_size() == 1

    services.deliver_due(threads=1, time_budget=0)  # a worker starts: the flag is down again
    assert not WakeUp.objects.exists()
    intake.submit([row(6)], campaign=platform_campaign)
    intake.submit([row(7)], campaign=platform_campaign)
    assert broker().queue_size() == 2


def test_a_wake_up_the_broker_refused_is_tried_again_by_the_next_commit(queued, platform_campaign, monkeypatch,
                                                                         caplog):
    import django_q.tasks

    real_async_task = django_q.tasks.async_task

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(django_q.tasks, "async_task", broker_down)
    intake.submit([row(1)], campaign=platform_campaign)
    assert "could not enqueue a wake-up (deliver due)" in caplog.text
    assert not WakeUp.objects.exists() and broker().queue_size() == 0

    monkeypatch.setattr(django_q.tasks, "async_task", real_async_task)
    intake.submit([row(2)], campaign=platform_campaign)
    assert WakeUp.objects.count() == 1 and broker().queue_size() == 1


def test_a_backlog_larger_than_one_round_of_claims_brings_a_second_worker_in(queued, platform_campaign,
                                                                             sandbox, monkeypatch):
    """One run's threads claim SINGLE_ITEM_CLAIM items each at most per round; when more is due, the
    run queues one more (coalesced) wake-up so another worker of the cluster shares the backlog."""
    monkeypatch.setattr(services, "SINGLE_ITEM_CLAIM", 5)
    intake.submit([row(n) for n in range(11)], campaign=platform_campaign)   # 11 > 2 threads x 5
    assert broker().queue_size() == 1          # the intake's own wake-up, taken by this run:
    broker().purge_queue()

    services.deliver_due(threads=2, time_budget=30)

    assert Delivery.objects.filter(status="accepted").count() == 11
    assert broker().queue_size() == 1 and WakeUp.objects.count() == 1   # help was asked for, once


def test_a_backlog_one_round_of_claims_takes_queues_no_second_worker(queued, platform_campaign, sandbox,
                                                                      monkeypatch):
    monkeypatch.setattr(services, "SINGLE_ITEM_CLAIM", 5)
    intake.submit([row(n) for n in range(10)], campaign=platform_campaign)   # 10 = 2 threads x 5
    broker().purge_queue()

    services.deliver_due(threads=2, time_budget=30)

    assert Delivery.objects.filter(status="accepted").count() == 10
    assert broker().queue_size() == 0 and not WakeUp.objects.exists()
