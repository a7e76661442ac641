"""Partner webhooks (campaigns.webhooks): events written in the transaction that made the change,
sent signed to a real HTTP receiver, in order per lead, retried, given up, replayed."""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from campaigns import intake, webhooks
from campaigns.models import ApiKey, Lead, Partner, PartnerEvent
from campaigns.webhooks import sending
from vendors import services
from vendors.models import Delivery

from .conftest import row

St = PartnerEvent.Status


class Receiver:
    """A partner's webhook endpoint: records each request; answers the statuses queued in
    ``answers`` (then 200)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list[tuple[int, dict]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, headers = receiver.answers.pop(0) if receiver.answers else (200, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/leadhub"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def ids(self) -> list[str]:
        return [r["headers"]["LeadHub-Event-Id"] for r in self.requests]

    def events(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def hooked(partner, open_campaign, receiver):
    """The partner, with a webhook URL at the receiver and a signing secret."""
    partner.webhook_url, partner.webhook_secret = receiver.url, webhooks.new_secret()
    partner.save()
    return partner


def submit(campaign, rows, partner):
    return [r.lead for r in intake.submit(rows, campaign=campaign, partner=partner)]


def deliver():
    return services.deliver_due(threads=1, time_budget=30)


def send():
    return sending.send_due(time_budget=30)


def make_due():
    PartnerEvent.objects.filter(status=St.PENDING).update(due_at=timezone.now())


def test_accepted_and_refused_pushes_become_events_with_the_vendors_answer(aktify, hooked, open_campaign, receiver):
    good, bad = submit(open_campaign, [row(1, external_id="crm-1"), row(2, external_id="crm-2")], hooked)
    Lead.objects.filter(pk=bad.pk).update(region="", postal_code="")  # Aktify refuses it
    deliver()
    events = {e.lead_id: e for e in PartnerEvent.objects.all()}
    assert {(e.type, e.status) for e in events.values()} == {("lead.accepted", "pending"), ("lead.refused", "pending")}
    assert send() == {"delivered": 2}
    sent = {e["lead"]["id"]: e for e in receiver.events()}
    accepted, refused = sent[good.pk], sent[bad.pk]
    assert accepted["type"] == "lead.accepted" and accepted["id"] == str(events[good.pk].event_id)
    assert accepted["lead"] == {"id": good.pk, "external_id": "crm-1", "campaign": "solar-us", "status": "new"}
    assert accepted["data"] == {"vendor": "Aktify", "destination_id": aktify.pk, "code": "", "message": ""}
    assert refused["type"] == "lead.refused"
    assert refused["data"]["code"] == "missing_region" and refused["data"]["vendor"] == "Aktify"
    assert set(accepted) == {"id", "type", "created_at", "lead", "data"}
    assert "+14155550001" not in receiver.requests[0]["body"].decode() + receiver.requests[1]["body"].decode()
    assert [r["headers"]["LeadHub-Event-Type"] for r in receiver.requests] == [e["type"] for e in receiver.events()]


def test_a_rolled_back_record_writes_no_event(aktify, hooked, open_campaign, monkeypatch):
    submit(open_campaign, [row(1)], hooked)
    original = webhooks.push_answered

    def then_crash(answers):
        assert original(answers) == 1
        raise RuntimeError("crash after the events were written")

    monkeypatch.setattr(webhooks, "push_answered", then_crash)
    with pytest.raises(RuntimeError):
        deliver()
    assert PartnerEvent.objects.count() == 0
    assert Delivery.objects.get().status == "in_flight"  # the result was undone with it


@pytest.mark.parametrize("how", ["cancelled", "dnc", "erased"])
def test_withdrawals_become_events_in_their_transaction(hooked, open_campaign, receiver, how):
    [lead] = submit(open_campaign, [row(1, external_id="crm-1")], hooked)

    def withdraw():
        if how == "cancelled":
            intake.cancel_leads([lead])
        elif how == "dnc":
            intake.add_to_dnc([str(lead.phone)], campaign=open_campaign)
        else:
            intake.erase_leads([lead], via="command", requested_by="command:test")

    with pytest.raises(RuntimeError), transaction.atomic():
        withdraw()
        assert PartnerEvent.objects.count() == 1
        raise RuntimeError("rolled back")
    assert PartnerEvent.objects.count() == 0
    withdraw()
    assert send() == {"delivered": 1}
    [event] = receiver.events()
    assert event["type"] == "lead.withdrawn" and event["data"] == {"how": how}
    assert event["lead"] == {"id": lead.pk, "external_id": "" if how == "erased" else "crm-1",
                             "campaign": "solar-us", "status": how}


def test_an_erased_leads_earlier_events_lose_what_could_identify_the_person(aktify, hooked, open_campaign):
    [lead] = submit(open_campaign, [row(1, external_id="crm-1")], hooked)
    Lead.objects.filter(pk=lead.pk).update(region="", postal_code="")
    deliver()
    PartnerEvent.objects.update(payload={**PartnerEvent.objects.get().payload,
                                         "data": {"vendor": "Aktify", "message": "Ada L1 +14155550001 refused"}})
    intake.erase_leads([lead], via="command", requested_by="command:test")
    payloads = [e.payload for e in PartnerEvent.objects.order_by("id")]
    assert [p["type"] for p in payloads] == ["lead.refused", "lead.withdrawn"]
    assert all(p["lead"]["external_id"] == "" for p in payloads)
    assert "+14155550001" not in json.dumps(payloads) and "crm-1" not in json.dumps(payloads)


def test_the_signature_verifies_with_the_documented_snippet(hooked, open_campaign, receiver, client):
    [lead] = submit(open_campaign, [row(1)], hooked)
    intake.cancel_leads([lead])
    send()
    [request] = receiver.requests
    description = client.get("/api/schema/?format=json").json()["info"]["description"]
    assert "## Webhooks" in description
    [snippet] = re.findall(r"```python\n(.*?)```", description, re.S)
    namespace: dict = {}
    exec(snippet, namespace)  # the receiver's code, as the docs print it
    verify, header, body = namespace["verify"], request["headers"]["LeadHub-Signature"], request["body"]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    assert verify(hooked.webhook_secret, body, header)
    assert not verify(hooked.webhook_secret, body.replace(b"cancelled", b"accepted"), header)
    assert not verify("whsec_another", body, header)
    stale = int(header.split(",")[0][2:]) - 301
    assert not verify(hooked.webhook_secret, body, f"t={stale},v1={sending.signature_header(hooked.webhook_secret, stale, body)[-64:]}")
    assert "compare_digest" in snippet
    assert request["headers"]["LeadHub-Event-Id"] == json.loads(body)["id"]
    assert request["headers"]["Content-Type"] == "application/json"


def test_a_leads_second_event_waits_while_its_first_is_retried(hooked, open_campaign, receiver):
    [lead, other] = submit(open_campaign, [row(1), row(2)], hooked)
    webhooks.outcome(lead, {"outcome": "first"})
    webhooks.outcome(lead, {"outcome": "second"})
    webhooks.outcome(other, {"outcome": "other lead"})
    receiver.answers = [(500, {})]
    assert send() == {"pending": 1}  # the receiver failed: the partner's other events wait for the retry
    assert [e["data"]["outcome"] for e in receiver.events()] == ["first"]
    assert send() == {}  # the first is backing off: the second is not sent before it
    make_due()
    assert send() == {"delivered": 3}
    assert [e["data"]["outcome"] for e in receiver.events()] == ["first", "first", "other lead", "second"]
    assert [e.attempts for e in PartnerEvent.objects.order_by("id")] == [2, 1, 1]


def test_retries_keep_the_same_id_and_back_off(hooked, open_campaign, receiver, settings):
    settings.DELIVERY_BACKOFF_BASE_SECONDS = 10
    [lead] = submit(open_campaign, [row(1)], hooked)
    intake.cancel_leads([lead])
    receiver.answers = [(503, {}), (500, {}), (429, {"Retry-After": "600"})]
    delays = []
    for _ in range(3):
        before = timezone.now()
        assert send() == {"pending": 1}
        event = PartnerEvent.objects.get()
        delays.append((event.due_at - before).total_seconds())
        make_due()
    assert send() == {"delivered": 1}
    event = PartnerEvent.objects.get()
    assert event.attempts == 4 and event.http_status == 200 and event.delivered_at
    assert len(set(receiver.ids())) == 1 and receiver.ids()[0] == str(event.event_id)
    assert len({e["id"] for e in receiver.events()}) == 1
    assert 5 <= delays[0] <= 10.5 and 10 <= delays[1] <= 20.5 and delays[2] >= 600


def test_it_gives_up_after_max_attempts_and_the_leads_next_event_goes_on(hooked, open_campaign, receiver,
                                                                          settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    [lead] = submit(open_campaign, [row(1)], hooked)
    webhooks.outcome(lead, {"outcome": "first"})
    receiver.answers = [(500, {})] * 3
    for _ in range(3):
        send()
        make_due()
    first = PartnerEvent.objects.order_by("id").first()
    assert first.status == "failed" and first.attempts == 3 and first.message.startswith("Gave up after 3 attempts")
    webhooks.outcome(lead, {"outcome": "second"})
    assert send() == {"delivered": 1}
    assert receiver.events()[-1]["data"] == {"outcome": "second"}


def test_a_timeout_is_retried(hooked, open_campaign, settings):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    Partner.objects.filter(pk=hooked.pk).update(webhook_url=f"http://127.0.0.1:{listener.getsockname()[1]}/")
    [lead] = submit(open_campaign, [row(1)], hooked)
    intake.cancel_leads([lead])
    try:
        assert send() == {"pending": 1}
    finally:
        listener.close()
    event = PartnerEvent.objects.get()
    assert event.http_status is None and event.message == "No answer within 0.3 s." and event.attempts == 1


def test_410_gone_disables_the_partners_webhook(hooked, open_campaign, receiver, admin_client):
    [lead, other] = submit(open_campaign, [row(1), row(2)], hooked)
    intake.cancel_leads([lead, other])
    receiver.answers = [(410, {})]
    assert send() == {"failed": 1}
    hooked.refresh_from_db()
    assert hooked.webhook_disabled_at is not None and len(receiver.requests) == 1
    assert PartnerEvent.objects.filter(status="pending").count() == 1  # kept, not sent
    # saving the URL again re-enables it
    response = admin_client.post(f"/admin/campaigns/partner/{hooked.pk}/change/", {
        "name": hooked.name, "slug": hooked.slug, "is_active": "on", "campaigns": [open_campaign.pk],
        "webhook_url": receiver.url + "?v=2"})
    assert response.status_code == 302
    hooked.refresh_from_db()
    assert hooked.webhook_disabled_at is None
    assert send() == {"delivered": 1}


def test_replay_from_the_admin_sends_the_same_event_again(hooked, open_campaign, receiver, admin_client):
    [lead] = submit(open_campaign, [row(1)], hooked)
    intake.cancel_leads([lead])
    send()
    event = PartnerEvent.objects.get()
    assert event.status == "delivered"
    listing = admin_client.get("/admin/campaigns/partnerevent/", {"q": str(event.event_id)})
    assert listing.status_code == 200 and str(event.event_id) in listing.content.decode()
    assert str(event.event_id) in admin_client.get("/admin/campaigns/partnerevent/", {"q": str(lead.pk)}).content.decode()
    for query in ({"status__exact": "delivered"}, {"type__exact": "lead.withdrawn"}, {"partner__id__exact": hooked.pk}):
        assert admin_client.get("/admin/campaigns/partnerevent/", query).status_code == 200
    response = admin_client.post("/admin/campaigns/partnerevent/", {
        "action": "replay_events", "_selected_action": [event.pk]}, follow=True)
    assert "Queued 1 event(s) again" in response.content.decode()
    assert PartnerEvent.objects.get().status == "pending"
    assert send() == {"delivered": 1}
    assert receiver.ids() == [str(event.event_id)] * 2
    assert receiver.events()[0] == receiver.events()[1]


def test_the_secret_is_shown_once_and_never_logged_nor_in_api_answers(open_campaign, receiver, admin_client,
                                                                       client, caplog):
    caplog.set_level(logging.DEBUG)
    response = admin_client.post("/admin/campaigns/partner/add/", {
        "name": "Hooked", "slug": "hooked", "is_active": "on", "campaigns": [open_campaign.pk],
        "webhook_url": receiver.url}, follow=True)
    partner = Partner.objects.get(slug="hooked")
    secret = partner.webhook_secret
    assert secret.startswith("whsec_") and secret in response.content.decode()  # once, in the message
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT webhook_secret FROM campaigns_partner WHERE id = %s", [partner.pk])
        assert secret not in cursor.fetchone()[0]  # encrypted at rest
    page = admin_client.get(f"/admin/campaigns/partner/{partner.pk}/change/").content.decode()
    assert secret not in page and "Signing secret set" in page
    response = admin_client.post("/admin/campaigns/partner/", {
        "action": "rotate_webhook_secret", "_selected_action": [partner.pk]}, follow=True)
    partner.refresh_from_db()
    assert partner.webhook_secret != secret and partner.webhook_secret in response.content.decode()
    secrets = [secret, partner.webhook_secret]
    _, raw = ApiKey.issue(partner)
    [lead] = submit(open_campaign, [row(1)], partner)
    intake.cancel_leads([lead])
    receiver.answers = [(500, {})]
    send()
    make_due()
    send()
    answers = [client.get(path, HTTP_X_API_KEY=raw).content.decode()
               for path in ("/api/v1/leads/", f"/api/v1/leads/{lead.pk}/", "/api/v1/campaigns/")]
    answers.append(client.get("/api/schema/?format=json").content.decode())
    for text in [caplog.text, *answers, *(json.dumps(e.payload) for e in PartnerEvent.objects.all()),
                 *(r["body"].decode() for r in receiver.requests)]:
        assert not any(s in text for s in secrets)


def test_a_partner_without_a_url_gets_no_events(aktify, partner, open_campaign):
    leads = submit(open_campaign, [row(1), row(2)], partner) + submit(open_campaign, [row(3)], None)
    deliver()
    intake.cancel_leads(leads[:1])
    intake.add_to_dnc([str(leads[1].phone)])
    intake.erase_leads(leads[2:], via="command", requested_by="command:test")
    assert webhooks.outcome(Lead.objects.get(pk=leads[0].pk), {"outcome": "completed"}) == 0
    assert Delivery.objects.filter(status="accepted").count() == 3
    assert PartnerEvent.objects.count() == 0


def test_the_outcome_hook_writes_an_event_for_the_lead(hooked, open_campaign, receiver):
    [lead] = submit(open_campaign, [row(1, external_id="crm-9")], hooked)
    with pytest.raises(RuntimeError), transaction.atomic():
        webhooks.outcome(lead, {"vendor": "Platform", "destination_id": 7, "outcome": "completed"})
        raise RuntimeError("rolled back")
    assert webhooks.outcome(lead, {"vendor": "Platform", "destination_id": 7, "outcome": "completed"}) == 1
    send()
    [event] = receiver.events()
    assert event["type"] == "lead.outcome" and event["data"]["outcome"] == "completed"
    assert event["lead"]["external_id"] == "crm-9"


def test_an_expired_lease_returns_the_event_to_the_queue(hooked, open_campaign, receiver):
    [lead] = submit(open_campaign, [row(1)], hooked)
    intake.cancel_leads([lead])
    assert len(sending.claim()) == 1  # a worker claims it and dies
    assert send() == {} and receiver.requests == []
    PartnerEvent.objects.update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    assert send() == {"delivered": 1}


@pytest.mark.parametrize("url, ok", [
    ("https://partner.example.com/hooks", True), ("http://127.0.0.1:9000/hooks", True),
    ("http://localhost/hooks", True), ("http://partner.example.com/hooks", False)])
def test_a_webhook_url_must_be_https_outside_this_machine(db, url, ok):
    partner = Partner(name="P", slug="p", webhook_url=url)
    with override_settings(DEBUG=False):
        if ok:
            partner.full_clean()
        else:
            with pytest.raises(ValidationError, match="https"):
                partner.full_clean()
    with override_settings(DEBUG=True):
        partner.full_clean()


@pytest.mark.django_db(transaction=True)
def test_a_commit_that_wrote_events_wakes_a_sender(hooked, open_campaign, receiver):
    """Tests run django-q2 tasks inline (Q_CLUSTER sync): the wake-up on commit sends at once."""
    [lead, other] = submit(open_campaign, [row(1), row(2)], hooked)
    with pytest.raises(RuntimeError), transaction.atomic():
        intake.cancel_leads([other])
        raise RuntimeError("rolled back: no event, no wake-up")
    assert receiver.requests == []
    intake.cancel_leads([lead])
    assert [e["lead"]["id"] for e in receiver.events()] == [lead.pk]
    assert PartnerEvent.objects.get().status == "delivered"


def test_the_sweep_sends_partner_events_every_minute():
    from vendors.schedules import SCHEDULES

    [sweep] = [s for s in SCHEDULES if s["func"] == "campaigns.tasks.send_partner_events"]
    assert (sweep["schedule_type"], sweep["minutes"]) == ("I", 1)


def test_a_vendor_outcome_read_back_becomes_an_event(sandbox, partner, receiver):
    """Platform reports what its dialler did (vendors.outcomes): each change is a lead.outcome event,
    written with the outcome row; nothing new, no event."""
    from campaigns.models import WEEKDAYS, Campaign
    from vendors import outcomes
    from vendors.models import DeliveryOutcome, Destination, VendorAccount

    campaign = Campaign.objects.create(name="Outcomes", slug="outcomes", status=Campaign.Status.ACTIVE,
                                       calling_days=",".join(WEEKDAYS), calling_start="00:00", calling_end="23:59:59")
    account = VendorAccount.objects.create(name="Platform", kind="platform", credentials={"api_key": "pk_wh_1"},
                                           base_url=sandbox.url("platform") + "/platform-api", timeout_seconds=5)
    platform = Destination.objects.create(campaign=campaign, account=account, remote_ref="100",
                                          settings={"bulk_poll_seconds": 0})
    partner.webhook_url, partner.webhook_secret = receiver.url, webhooks.new_secret()
    partner.save()
    sold, _untouched = submit(campaign, [{"phone": "+14155551001", "first_name": "A", "external_id": "crm-7"},
                                         {"phone": "+14155551002", "first_name": "B"}], partner)
    deliver()
    send()  # the two lead.accepted events
    sandbox.act("platform", "call", customerKey=str(sold.pk), statusCode=7, description="Sale",
                outcomeType="dialler", completed=True)
    assert outcomes.read_all() == 2 and DeliveryOutcome.objects.count() == 2
    event = PartnerEvent.objects.get(type="lead.outcome", lead_id=sold.pk)
    assert send() == {"delivered": 2}
    sent = next(e for e in receiver.events() if e["type"] == "lead.outcome" and e["lead"]["id"] == sold.pk)
    assert sent["id"] == str(event.event_id)
    PartnerEvent.objects.all().delete()
    Delivery.objects.update(outcome_checked_at=timezone.now() - dt.timedelta(hours=1))
    assert outcomes.read_all() == 0 and not PartnerEvent.objects.exists()  # read again, nothing new
    assert sent["lead"] == {"id": sold.pk, "external_id": "crm-7", "campaign": "outcomes", "status": "completed"}
    assert sent["data"] == {"vendor": "ipSCAPE Platform API", "destination_id": platform.pk, "completed": True,
                            "outcome": "dialler", "code": "7", "message": "Sale"}


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_commits_that_wrote_events_queues_one_sending_task(queued, hooked, open_campaign, receiver):
    from django_q.brokers import get_broker

    from campaigns.models import WakeUp

    leads = submit(open_campaign, [row(n) for n in range(1, 7)], hooked)
    broker = get_broker()
    broker.purge_queue()
    for lead in leads[:4]:
        intake.cancel_leads([lead])  # one commit each
    assert broker.queue_size() == 1 and list(WakeUp.objects.values_list("name", flat=True)) == [sending.WAKE_UP]
    assert send() == {"delivered": 4}  # a run starts: the flag is down again
    assert not WakeUp.objects.exists()
    intake.cancel_leads([leads[4]])
    intake.cancel_leads([leads[5]])
    assert broker.queue_size() == 2
    broker.purge_queue()


def test_finished_events_are_pruned_after_the_days_kept(hooked, open_campaign, settings):
    from campaigns import tasks

    settings.WEBHOOK_KEEP_DAYS = 30
    leads = submit(open_campaign, [row(n) for n in range(1, 6)], hooked)
    intake.cancel_leads(leads)
    old, recent = timezone.now() - dt.timedelta(days=31), timezone.now() - dt.timedelta(days=29)
    statuses = ["delivered", "failed", "pending", "in_flight", "delivered"]
    for event, status, created in zip(PartnerEvent.objects.order_by("id"), statuses, [old] * 4 + [recent]):
        PartnerEvent.objects.filter(pk=event.pk).update(status=status, created_at=created)
    assert tasks.prune_partner_events() == 2
    assert sorted(PartnerEvent.objects.values_list("status", flat=True)) == ["delivered", "in_flight", "pending"]


def test_a_receiver_that_is_down_costs_one_attempt_per_run_and_other_partners_go_on(
        hooked, open_campaign, receiver, settings):
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections, never answers
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    Partner.objects.filter(pk=hooked.pk).update(webhook_url=f"http://127.0.0.1:{listener.getsockname()[1]}/")
    other = Partner.objects.create(name="Other", slug="other", webhook_url=receiver.url,
                                   webhook_secret=webhooks.new_secret())
    down = submit(open_campaign, [row(n) for n in range(1, 6)], hooked)
    [up] = submit(open_campaign, [row(9)], other)
    intake.cancel_leads(down + [up])
    started = time.monotonic()
    try:
        counts = send()
    finally:
        listener.close()
    assert time.monotonic() - started < 2  # one timeout, not five
    assert counts == {"pending": 1, "delivered": 1}
    assert [e["lead"]["id"] for e in receiver.events()] == [up.pk]
    waiting = PartnerEvent.objects.filter(partner=hooked).order_by("id")
    [tried] = [e for e in waiting if e.attempts]
    assert all(e.status == "pending" and e.due_at >= tried.due_at for e in waiting)
    assert sorted(e.attempts for e in waiting) == [0, 0, 0, 0, 1]
