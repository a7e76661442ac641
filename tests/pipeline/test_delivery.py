"""The delivery pipeline end to end against the real-HTTP sandbox."""
import datetime as dt
import re

import pytest
from django.db import transaction
from django.utils import timezone

from campaigns import intake
from campaigns.models import DNC, Campaign
from leadhub import backoff
from vendors import services
from vendors.models import Delivery, DeliveryAttempt, VendorAccount

from .conftest import row


def submit(campaign, rows):
    return intake.submit(rows, campaign=campaign)


def deliver():
    return services.deliver_due(threads=1, time_budget=30)


def test_accepting_a_lead_plans_one_push_per_enabled_destination_in_its_transaction(aktify, comunik8, open_campaign):
    comunik8.is_enabled = False
    comunik8.save()
    submit(open_campaign, [row(1)])
    [delivery] = Delivery.objects.all()
    assert (delivery.destination, delivery.operation, delivery.status) == (aktify, "push", "pending")


def test_a_rolled_back_intake_plans_nothing(aktify, open_campaign):
    with pytest.raises(RuntimeError), transaction.atomic():
        submit(open_campaign, [row(1)])
        raise RuntimeError("crash after intake")
    assert Delivery.objects.count() == 0


def test_it_pushes_due_leads_and_records_the_vendor_answer(aktify, open_campaign, sandbox):
    [result] = submit(open_campaign, [row(1)])
    counts = deliver()
    assert counts == {"accepted": 1}
    delivery = Delivery.objects.get()
    assert delivery.status == "accepted" and delivery.attempts == 1 and delivery.http_status == 201
    [attempt] = delivery.attempt_log.all()
    assert attempt.outcome == "accepted" and attempt.http_status == 201
    assert attempt.request.startswith("POST ") and attempt.request.endswith("/aktify/api/v1/leads")
    [received] = sandbox.requests("aktify")
    assert received["body"]["phoneNumber"] == "+14155550001"
    assert received["headers"]["x-api-key"] == "ak-secret-key-123"
    assert "ak-secret-key-123" not in attempt.excerpt + attempt.request


def test_it_retries_on_503_honouring_retry_after_then_succeeds(aktify, open_campaign, sandbox):
    submit(open_campaign, [row(1)])
    sandbox.faults(vendor="aktify", error_503_rate=1, retry_after=40)
    before = timezone.now()
    assert deliver() == {"pending": 1}
    delivery = Delivery.objects.get()
    assert delivery.attempts == 1 and delivery.code == "vendor_unavailable" and delivery.http_status == 503
    assert delivery.due_at >= before + dt.timedelta(seconds=40)
    assert deliver() == {}  # not due yet: nothing sent
    sandbox.faults(vendor="aktify")
    Delivery.objects.update(due_at=timezone.now())
    assert deliver() == {"accepted": 1}
    assert [a.outcome for a in Delivery.objects.get().attempt_log.order_by("started_at")] == ["retry", "accepted"]


def test_it_gives_up_after_max_attempts_with_the_last_answer(aktify, open_campaign, sandbox):
    submit(open_campaign, [row(1)])
    sandbox.faults(vendor="aktify", error_500_rate=1)
    for _ in range(3):
        Delivery.objects.filter(status="pending").update(due_at=timezone.now())
        deliver()
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts == 3
    assert delivery.message.startswith("Gave up after 3 attempts")
    assert DeliveryAttempt.objects.count() == 3


def test_a_vendor_rejection_is_terminal_with_the_vendors_reason(aktify, open_campaign, sandbox):
    [result] = submit(open_campaign, [row(1)])
    # edited behind intake's back after the push was planned (intake refuses such a lead)
    type(result.lead).objects.filter(pk=result.lead.pk).update(region="", postal_code="")
    deliver()
    delivery = Delivery.objects.get()
    assert delivery.status == "rejected" and delivery.code == "missing_region"
    assert sandbox.requests("aktify") == []


def test_it_rechecks_dnc_just_before_sending(aktify, open_campaign, sandbox):
    submit(open_campaign, [row(1), row(2)])
    DNC.objects.create(phone="+14155550001")  # e.g. a DNC row loaded behind intake's back
    deliver()
    skipped = Delivery.objects.get(lead__phone="+14155550001")
    assert (skipped.status, skipped.code) == ("skipped", "dnc")
    assert [r["body"]["phoneNumber"] for r in sandbox.requests("aktify")] == ["+14155550002"]


@pytest.mark.parametrize("status", [Campaign.Status.PAUSED, Campaign.Status.DRAFT])
def test_a_paused_campaign_holds_its_pushes_until_resumed(aktify, open_campaign, sandbox, status):
    submit(open_campaign, [row(1)])
    open_campaign.status = status
    open_campaign.save()
    assert deliver() == {}
    assert Delivery.objects.get().status == "pending"
    open_campaign.status = Campaign.Status.ACTIVE
    open_campaign.save()
    assert deliver() == {"accepted": 1}


def test_a_closed_window_makes_the_push_wait_without_using_an_attempt(aktify, open_campaign, sandbox):
    from campaigns.models import WEEKDAYS
    local = timezone.now().astimezone(__import__("zoneinfo").ZoneInfo("America/Los_Angeles"))
    open_campaign.calling_days = WEEKDAYS[(local.weekday() + 2) % 7]  # only the day after tomorrow
    open_campaign.save()
    submit(open_campaign, [row(1)])
    delivery = Delivery.objects.get()
    assert delivery.due_at > timezone.now() + dt.timedelta(hours=24)  # planned for the window
    Delivery.objects.update(due_at=timezone.now())  # even if claimed early...
    assert deliver() == {"waiting_for_window": 1}
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 0
    assert delivery.due_at > timezone.now() + dt.timedelta(hours=24)
    assert sandbox.requests("aktify") == []


def test_batch_vendors_get_batches_up_to_their_maximum(aimylogic, open_campaign, sandbox):
    submit(open_campaign, [row(n) for n in range(250)])
    assert deliver() == {"accepted": 250}
    sizes = [len(r["body"]) for r in sandbox.requests("aimylogic")]
    assert sizes == [100, 100, 50]
    refs = set(Delivery.objects.values_list("remote_ref", flat=True))
    assert len(refs) == 250 and "" not in refs


def test_cancelling_an_accepted_lead_ends_contact_at_the_vendor(aktify, open_campaign, sandbox):
    [result] = submit(open_campaign, [row(1)])
    deliver()
    intake.cancel_leads([result.lead])
    end = Delivery.objects.get(operation="end_contact")
    assert end.status == "pending"
    deliver()
    end.refresh_from_db()
    assert end.status == "accepted"
    last = sandbox.requests("aktify")[-1]
    assert (last["path"], last["body"]) == ("/api/v1/leads/end-contact", {"phoneNumberList": ["+14155550001"]})


def test_dnc_ends_contact_and_pushes_dnc_or_says_unsupported(aktify, comunik8, open_campaign, sandbox):
    submit(open_campaign, [row(1)])
    deliver()
    intake.add_to_dnc(["+14155550001"], reason="asked")
    deliver()
    outcome = {(d.destination.account.kind, d.operation): (d.status, d.code)
               for d in Delivery.objects.exclude(operation="push").select_related("destination__account")}
    assert outcome[("aktify", "end_contact")][0] == "accepted"
    assert outcome[("aktify", "dnc")][0] == "accepted"
    assert outcome[("comunik8", "end_contact")][0] == "accepted"
    assert outcome[("comunik8", "dnc")] == ("unsupported", "unsupported")
    paths = [r["path"] for r in sandbox.requests("aktify")]
    assert sorted(paths[1:]) == ["/api/v1/dncs", "/api/v1/leads/end-contact"]


def test_withdrawing_before_the_push_skips_it(aktify, open_campaign, sandbox):
    [result] = submit(open_campaign, [row(1)])
    intake.cancel_leads([result.lead])
    assert deliver() == {}
    push = Delivery.objects.get(operation="push")
    assert (push.status, push.code) == ("skipped", "withdrawn")
    assert sandbox.requests("aktify") == []


def test_a_lead_cancelled_while_in_flight_is_ended_once_accepted(aktify, open_campaign, sandbox):
    [result] = submit(open_campaign, [row(1)])
    claimed = services.claim()
    intake.cancel_leads([result.lead])  # the push is in flight: no end_contact planned yet
    assert not Delivery.objects.filter(operation="end_contact").exists()
    services.process(claimed)  # re-checked before the cancel landed; the vendor accepts it
    assert Delivery.objects.get(operation="end_contact").status == "pending"


def test_a_worker_that_died_mid_batch_loses_nothing_and_creates_nothing_twice(aktify, open_campaign, sandbox,
                                                                             settings):
    submit(open_campaign, [row(1), row(2)])
    # the vendor handles the first push but the answer never arrives (worker or network died)
    sandbox.faults(vendor="aktify", drop_after_rate=1)
    claimed = services.claim()
    services.process(claimed)
    assert set(Delivery.objects.values_list("status", flat=True)) == {"pending"}
    # a worker claims and then dies: its rows stay in flight until the lease expires
    sandbox.faults(vendor="aktify")
    Delivery.objects.update(due_at=timezone.now())
    services.claim()
    assert deliver() == {}
    Delivery.objects.update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    assert deliver() == {"accepted": 2}
    assert sandbox.state("aktify")["aktify"]["leads_created"] == 2
    codes = sorted(Delivery.objects.values_list("code", flat=True))
    assert codes == ["", "duplicate"] or codes == ["duplicate", "duplicate"]


def test_the_circuit_opens_after_repeated_outages_and_probes_later(aktify, open_campaign, sandbox):
    VendorAccount.objects.update(max_attempts=services.CIRCUIT_THRESHOLD + 5)
    submit(open_campaign, [row(n) for n in range(1, 8)])
    sandbox.faults(vendor="aktify", error_503_rate=1, retry_after=0)
    for _ in range(services.CIRCUIT_THRESHOLD):
        claimed = services.claim()
        claimed.deliveries = claimed.deliveries[:1]
        Delivery.objects.exclude(pk=claimed.deliveries[0].pk).filter(status="in_flight").update(status="pending")
        services.process(claimed)
        Delivery.objects.filter(status="pending").update(due_at=timezone.now())
    account = VendorAccount.objects.get()
    assert account.circuit_open_until > timezone.now()
    requests_before = len(sandbox.requests("aktify"))
    assert deliver() == {}  # paused: nothing is sent
    assert len(sandbox.requests("aktify")) == requests_before
    sandbox.faults(vendor="aktify")
    VendorAccount.objects.update(circuit_open_until=timezone.now() - dt.timedelta(seconds=1))
    assert deliver()["accepted"] == 7  # the probe succeeded and the circuit closed
    account.refresh_from_db()
    assert account.consecutive_failures == 0 and account.circuit_open_until is None


def test_the_rate_limit_spaces_requests_across_workers(aktify, monkeypatch):
    waits = []
    monkeypatch.setattr(services.time, "sleep", waits.append)
    VendorAccount.objects.update(max_requests_per_second=4, next_request_at=None)
    limiter = services.AccountRateLimiter(VendorAccount.objects.get())
    other_worker = services.AccountRateLimiter(VendorAccount.objects.get())
    for take in (limiter, other_worker, limiter, other_worker):
        take()
    assert len(waits) >= 3
    assert waits[-1] == pytest.approx(0.75, abs=0.05)  # the 4th request starts 3 slots after the 1st


def test_a_fast_account_reserves_a_claims_slots_in_one_statement_and_spaces_them(aktify, monkeypatch):
    clock = [1000.0]
    waits, reserved = [], []
    monkeypatch.setattr(services.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(services.time, "sleep", waits.append)
    reserve = services.AccountRateLimiter.reserve
    monkeypatch.setattr(services.AccountRateLimiter, "reserve",
                        lambda self, slots=1: reserved.append(slots) or reserve(self, slots))
    VendorAccount.objects.update(max_requests_per_second=100, next_request_at=None)
    limiter = services.AccountRateLimiter(VendorAccount.objects.get(), expected=8)
    for _ in range(8):  # a claim of 8 single-item requests, sent at once
        limiter()
    assert reserved == [8]  # one statement, not one per request
    assert waits == pytest.approx([0.01 * i for i in range(1, 8)], abs=0.005)  # 10 ms apart
    account = VendorAccount.objects.get()
    # the account's next free slot is after the 8 reserved, for every other worker
    assert (account.next_request_at - timezone.now()).total_seconds() == pytest.approx(0.08, abs=0.05)


def test_a_block_of_slots_never_covers_more_than_a_tenth_of_a_second_of_the_account(aktify, monkeypatch):
    reserved = []
    monkeypatch.setattr(services.time, "sleep", lambda s: None)
    monkeypatch.setattr(services.AccountRateLimiter, "reserve", lambda self, slots=1: reserved.append(slots) or 0.0)
    VendorAccount.objects.update(max_requests_per_second=50)
    limiter = services.AccountRateLimiter(VendorAccount.objects.get(), expected=16)
    for _ in range(16):
        limiter()
    assert reserved == [5, 5, 5, 1]  # 0.1 s at 50 requests/s is 5 slots; the last block only what is left


def test_retry_delays_grow_with_jitter_and_honour_retry_after():
    first = [backoff.retry_delay(1, None) for _ in range(50)]
    fifth = [backoff.retry_delay(5, None) for _ in range(50)]
    assert max(first) <= 5 and min(fifth) >= 40
    assert len(set(first)) > 1
    assert backoff.retry_delay(1, 120) == 120


def test_retry_now_and_cancel_admin_actions(admin_client, aktify, open_campaign, sandbox):
    from django.urls import reverse

    submit(open_campaign, [row(1), row(2)])
    sandbox.faults(vendor="aktify", error_500_rate=1)
    deliver()
    first, second = Delivery.objects.order_by("id")
    url = reverse("admin:vendors_delivery_changelist")
    admin_client.post(url, {"action": "cancel", "_selected_action": [second.pk]})
    sandbox.faults(vendor="aktify")
    admin_client.post(url, {"action": "retry_now", "_selected_action": [first.pk]})
    first.refresh_from_db(), second.refresh_from_db()
    assert first.status == "accepted"  # sync django-q: the wake-up ran inline
    assert (second.status, second.code) == ("skipped", "cancelled_by_staff")


def test_the_lead_page_shows_deliveries_and_attempts(admin_client, aktify, open_campaign):
    from django.urls import reverse

    [result] = submit(open_campaign, [row(1)])
    deliver()
    page = admin_client.get(reverse("admin:campaigns_lead_change", args=[result.lead.pk])).content.decode()
    assert "Deliveries to vendors" in page and "Aktify sandbox" in page and "HTTP 201" in page
    campaign_page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[open_campaign.pk])).content.decode()
    assert "push accepted: 1" in campaign_page


@pytest.mark.postgresql("query plans")
def test_a_claim_walks_the_due_rows_in_order_whatever_the_statistics_say(open_campaign):
    """A large import plans thousands of pushes behind the planner's statistics (autovacuum
    lags, or is off): the claim then read every pending delivery of the destination with
    its lead and sorted them all to take the first 16 (6 s a claim after a 180k-row import
    on a fresh database). Each claim query must read its rows in due order from an index
    and stop at its limit."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from campaigns.models import Lead
    from vendors.models import Destination

    account = VendorAccount.objects.create(name="Aktify", kind="aktify", base_url="http://127.0.0.1:9")
    destination = Destination.objects.create(campaign=open_campaign, account=account)
    with connection.cursor() as cursor:  # statistics that know nothing of what follows
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'vendors_delivery'")
        if cursor.fetchone()[0] >= 0:
            cursor.execute("ANALYZE vendors_delivery")  # (analyzed before: make it see an empty table)
    leads = Lead.objects.bulk_create([Lead(campaign=open_campaign, phone=f"+1415{2000000 + i}") for i in range(4000)])
    past = timezone.now() - dt.timedelta(hours=1)
    Delivery.objects.bulk_create([Delivery(lead=lead, destination=destination, operation="push",
                                           due_at=past + dt.timedelta(seconds=i % 600)) for i, lead in enumerate(leads)])
    with CaptureQueriesContext(connection) as queries:
        claimed = services.claim()
    assert claimed is not None and len(claimed.deliveries) == services.SINGLE_ITEM_CLAIM
    assert [d.due_at for d in claimed.deliveries] == sorted(d.due_at for d in claimed.deliveries)
    selects = [q["sql"] for q in queries.captured_queries
               if q["sql"].startswith("SELECT") and "FOR UPDATE" in q["sql"] and '"vendors_delivery"' in q["sql"]]
    assert len(selects) == 1  # the group is picked without locking rows (the destination row is the claimers' lock)
    with transaction.atomic(), connection.cursor() as cursor:  # as the claim ran it: no planner switch
        cursor.execute("EXPLAIN " + selects[0])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Sort" not in plan, plan  # read in due order and stopped at the limit, never all sorted
    assert "Index Scan using delivery_claim_idx on vendors_delivery" in plan, plan
    assert re.search(r"Index Cond: \(\(destination_id = \S+\) AND \(\(status\)::text = 'pending'::text\) "
                     r"AND \(\(operation\)::text = 'push'::text\)", plan), plan


def _delivery_rows_read(plan: dict) -> int:
    """Rows an EXPLAIN ANALYZE (JSON) plan read from vendors_delivery: kept and filtered out."""
    read = 0
    if plan.get("Relation Name") == "vendors_delivery":
        read += (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)) * plan.get("Actual Loops", 1)
    return read + sum(_delivery_rows_read(child) for child in plan.get("Plans", []))


@pytest.fixture
def paused_backlog(open_campaign):
    """3,000 pushes held by a paused campaign, due before 5 pushes of an open one, and one
    withdrawal of the paused campaign due last: (held, sending, withdrawal)."""
    from campaigns.models import Lead
    from vendors.models import Destination

    account = VendorAccount.objects.create(name="Aktify", kind="aktify", base_url="http://127.0.0.1:9")
    paused = Campaign.objects.create(name="Paused", slug="paused", status=Campaign.Status.PAUSED)
    held = Destination.objects.create(campaign=paused, account=account)
    sending = Destination.objects.create(campaign=open_campaign, account=account)
    now = timezone.now()
    backlog = Lead.objects.bulk_create([Lead(campaign=paused, phone=f"+1415{2000000 + i}") for i in range(3000)])
    Delivery.objects.bulk_create([Delivery(lead=lead, destination=held, operation="push",
                                           due_at=now - dt.timedelta(hours=2)) for lead in backlog])
    fresh = Lead.objects.bulk_create([Lead(campaign=open_campaign, phone=f"+1415{3000000 + i}") for i in range(5)])
    Delivery.objects.bulk_create([Delivery(lead=lead, destination=sending, operation="push",
                                           due_at=now - dt.timedelta(minutes=1)) for lead in fresh])
    withdrawal = Delivery.objects.create(lead=backlog[0], destination=held, operation="end_contact",
                                         due_at=now - dt.timedelta(seconds=30))
    return held, sending, withdrawal


def test_a_paused_campaigns_backlog_is_held_while_its_withdrawals_go(paused_backlog):
    from vendors import queue

    held, sending, withdrawal = paused_backlog
    group = queue.next_group(timezone.now())
    assert group[1:] == (sending.pk, "push")  # the held pushes are older, but held
    claimed = services.claim()
    assert (claimed.destination, claimed.operation, len(claimed.deliveries)) == (sending, "push", 5)
    claimed = services.claim()  # withdrawals of a paused campaign still go
    assert (claimed.destination, claimed.operation, claimed.deliveries) == (held, "end_contact", [withdrawal])


@pytest.mark.postgresql("query plans")
def test_a_paused_campaigns_backlog_is_not_read_to_find_the_next_group(paused_backlog):
    """A paused campaign holds its pushes. Finding what to claim used to walk the pending rows
    in due order past every held one: 200,000 of them made each claim take 0.2-0.6 s."""
    import json

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from vendors import queue

    with CaptureQueriesContext(connection) as queries:
        queue.next_group(timezone.now())
    [query] = queries.captured_queries
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query["sql"])
        [[plan]] = cursor.fetchone()
    plan = plan if isinstance(plan, dict) else json.loads(plan)
    # one index entry per destination and operation, not the 3,000 held rows
    assert _delivery_rows_read(plan["Plan"]) <= 8, json.dumps(plan, indent=1)


def test_a_claim_renews_its_lease_while_its_requests_go_out_one_by_one(aktify, open_campaign, sandbox, settings):
    """A claim of single-item requests to a slow vendor outlasts its lease: the lease is renewed
    as it goes, so no other worker takes (and sends again) rows still being sent."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.DELIVERY_LEASE_SECONDS = 1.5  # renewed every 0.5 s
    submit(open_campaign, [row(n) for n in range(1, 6)])
    sandbox.faults(vendor="aktify", latency_ms=300)  # five requests: 1.5 s and more
    claimed = services.claim()
    assert len(claimed.deliveries) == 5
    leases = []
    original = services.LeaseRenewal.renew_if_due

    def renew_and_look(self):
        original(self)
        leases.append((timezone.now(), min(Delivery.objects.filter(status="in_flight")
                                           .values_list("lease_until", flat=True), default=None)))

    with CaptureQueriesContext(connection) as queries:
        services.LeaseRenewal.renew_if_due = renew_and_look
        try:
            services.process(claimed)
        finally:
            services.LeaseRenewal.renew_if_due = original
    renewals = [q for q in queries.captured_queries if q["sql"].startswith("UPDATE") and "lease_until" in q["sql"]
                and "in_flight" in q["sql"]]
    assert len(renewals) >= 2
    # the rows still in flight were never past their lease while the claim was sending
    assert leases and all(lease is None or lease > at for at, lease in leases)
    assert Delivery.objects.filter(status="accepted").count() == 5


def test_a_stop_requested_mid_claim_sends_nothing_more_and_gives_the_rest_back_unsent(aktify, open_campaign, sandbox,
                                                                                    monkeypatch):
    """SIGTERM (vendors.stopping) during a claim of single-item requests: the request in hand is
    finished and recorded, the others go back to pending with no attempt used, so the cluster
    stops within seconds whatever the claim size."""
    from vendors import stopping

    submit(open_campaign, [row(n) for n in range(1, 6)])
    claimed = services.claim()
    sent = []
    monkeypatch.setattr(stopping, "requested", lambda: bool(sent))
    original = services.AccountRateLimiter.__call__
    monkeypatch.setattr(services.AccountRateLimiter, "__call__", lambda self: sent.append(1) or original(self))

    counts = services.process(claimed).counts

    assert len(sandbox.requests("aktify")) == 1
    assert dict(counts) == {"accepted": 1, "unsent_at_stop": 4}
    assert sorted(Delivery.objects.values_list("status", "attempts", "lease_until")) == [
        ("accepted", 1, None)] + [("pending", 0, None)] * 4
