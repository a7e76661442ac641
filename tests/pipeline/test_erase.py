"""Erase (GDPR) through the pipeline against the real-HTTP sandbox: what each vendor receives,
what the lead keeps, what the delivery history keeps."""
import pytest

from campaigns import intake
from campaigns.models import Erasure, Lead
from vendors import services
from vendors.models import Delivery, DeliveryAttempt, Destination, VendorAccount, VendorExchange

from .conftest import row

PLATFORM_KEY = "pk_live_erase_platform_key"


@pytest.fixture
def platform(sandbox, open_campaign):
    account = VendorAccount.objects.create(name="Platform sandbox", kind="platform",
                                           base_url=sandbox.url("platform") + "/platform-api",
                                           credentials={"api_key": PLATFORM_KEY}, timeout_seconds=2,
                                           max_requests_per_second=1000)
    return Destination.objects.create(campaign=open_campaign, account=account, remote_ref="100",
                                      settings={"bulk_poll_seconds": 0})


def deliver():
    return services.deliver_due(threads=1, time_budget=30)


def erase(lead, **kwargs):
    kwargs.setdefault("via", "command")
    kwargs.setdefault("requested_by", "command:tester")
    return intake.erase_leads([lead], **kwargs)


def outcomes():
    return {(d.destination.account.kind, d.operation): (d.status, d.code)
            for d in Delivery.objects.exclude(operation="push").select_related("destination__account")}


def test_platform_receives_the_exact_delete_customer_request(platform, open_campaign, sandbox):
    [result] = intake.submit([row(1, phone_alt="+14155559999")], campaign=open_campaign)
    deliver()
    assert sandbox.state("platform")["platform"]["leads"] == 1
    erase(result.lead)
    deliver()
    [request] = [r for r in sandbox.requests("platform") if r["path"].endswith("/customer")]
    assert (request["method"], request["path"], request["body"]) == ("DELETE", "/platform-api/v3.0/customer", None)
    assert request["query"] == {"phoneNumber": ["+14155550001"], "emailAddress": ["a1@example.com"]}
    assert request["headers"]["authorization"] == PLATFORM_KEY
    assert outcomes()[("platform", "erase")] == ("accepted", "")
    state = sandbox.state("platform")["platform"]
    assert state["erased_customers"] == 1 and state["leads"] == 0


def test_the_erased_lead_keeps_its_history_and_no_personal_data(platform, aktify, open_campaign, sandbox):
    [result] = intake.submit([row(1, phone_alt="+14155559999", external_id="crm-77", address="1 Main St",
                                  city="Springfield", metadata={"note": "call after 5"})], campaign=open_campaign)
    deliver()
    outcome = erase(result.lead, reason="ticket 42")
    deliver()
    lead = Lead.objects.get(pk=result.lead.pk)
    assert lead.status == "erased" and lead.campaign == open_campaign
    assert lead.phone == f"erased{lead.pk}"
    assert [getattr(lead, f) for f in ("phone_alt", "first_name", "last_name", "email", "address", "city",
                                       "region", "postal_code", "external_id", "link", "consent_url")] == [""] * 11
    assert lead.metadata == {}
    # every delivery and attempt is still there, without the person's details
    assert Delivery.objects.filter(lead=lead).count() == 6  # push, end_contact, erase at 2 vendors
    stored = " ".join(f"{a.request} {a.message} {a.excerpt}" for a in DeliveryAttempt.objects.all())
    stored += " ".join(f"{e.request} {e.excerpt} {e.error}" for e in VendorExchange.objects.all())
    stored += " ".join(Delivery.objects.values_list("message", flat=True))
    assert DeliveryAttempt.objects.filter(delivery__lead=lead).count() >= 4
    assert VendorExchange.objects.filter(request__contains="customer").exists()  # the DELETE customer call
    for value in ("+14155550001", "%2B14155550001", "a1@example.com", "a1%40example.com", "crm-77", "1 Main St"):
        assert value not in stored
    assert not Delivery.objects.exclude(subject="").exists()  # the vendors answered: nothing kept for them
    [erasure] = Erasure.objects.all()
    assert (erasure.requested_by, erasure.via, erasure.reason, erasure.lead_count) == (
        "command:tester", "command", "ticket 42", 1)
    assert list(erasure.leads.all()) == [lead] and outcome.erasure == erasure


def test_vendors_without_erase_stop_contact_and_show_unsupported_at_once(platform, aktify, aimylogic, open_campaign,
                                                                        sandbox):
    [result] = intake.submit([row(1)], campaign=open_campaign)
    deliver()
    erase(result.lead)
    # known before any worker runs: these vendors have no call for it
    assert {k: v for k, v in outcomes().items() if v[0] == "unsupported"} == {
        ("aktify", "erase"): ("unsupported", "unsupported"),
        ("aimylogic", "erase"): ("unsupported", "unsupported"),
        ("aimylogic", "end_contact"): ("unsupported", "unsupported"),
    }
    assert Delivery.objects.get(destination=aimylogic, operation="erase").message == (
        "Aimylogic has no API for erasing a person.")
    deliver()
    # Aktify is still told to stop calling, with the number the lead had
    end = [r for r in sandbox.requests("aktify") if r["path"] == "/api/v1/leads/end-contact"]
    assert [r["body"] for r in end] == [{"phoneNumberList": ["+14155550001"]}]
    assert outcomes()[("aktify", "end_contact")] == ("accepted", "")


def test_an_unsent_push_is_skipped_and_the_number_may_come_back(platform, open_campaign, sandbox):
    [result] = intake.submit([row(1)], campaign=open_campaign)
    erase(result.lead)
    assert deliver() == {}
    push = Delivery.objects.get()
    assert (push.status, push.code) == ("skipped", "erased")
    assert sandbox.requests("platform") == []
    # GDPR erasure keeps no number, so the same person may be submitted again as a new lead
    [again] = intake.submit([row(1)], campaign=open_campaign)
    assert again.accepted and again.lead.pk != result.lead.pk


def test_erasing_twice_erases_once(platform, open_campaign, sandbox):
    [result] = intake.submit([row(1)], campaign=open_campaign)
    first = erase(result.lead)
    second = erase(result.lead)
    assert (first.erased, second.erased, second.already_erased) == ([result.lead.pk], [], [result.lead.pk])
    assert second.erasure is None and Erasure.objects.count() == 1


def test_a_cancel_not_yet_sent_still_reaches_the_vendor_after_the_erase(aktify, open_campaign, sandbox):
    [result] = intake.submit([row(1)], campaign=open_campaign)
    deliver()
    intake.cancel_leads([result.lead])  # end_contact planned, not sent yet
    erase(result.lead)
    deliver()
    end = [r for r in sandbox.requests("aktify") if r["path"] == "/api/v1/leads/end-contact"]
    assert [r["body"] for r in end] == [{"phoneNumberList": ["+14155550001"]}]


def test_a_push_in_flight_when_erased_is_erased_once_it_lands(platform, open_campaign, sandbox):
    from django.utils import timezone

    [result] = intake.submit([row(1)], campaign=open_campaign)
    claimed = services.claim()
    erase(result.lead)
    erase_row = Delivery.objects.get(operation="erase")
    assert erase_row.status == "pending" and erase_row.due_at > timezone.now()  # waits for the push's lease
    services.process(claimed)  # the push lands at the vendor after all
    assert sandbox.state("platform")["platform"]["leads"] == 1
    Delivery.objects.filter(operation__in=["erase", "end_contact"]).update(due_at=timezone.now())
    deliver()
    assert sandbox.state("platform")["platform"]["leads"] == 0
    assert outcomes()[("platform", "erase")][0] == "accepted"


def test_a_failed_erase_keeps_what_a_retry_needs(platform, open_campaign, sandbox):
    [result] = intake.submit([row(1)], campaign=open_campaign)
    deliver()
    platform.account.max_attempts = 1
    platform.account.save()
    sandbox.faults(vendor="platform", error_500_rate=1)
    erase(result.lead)
    deliver()
    failed = Delivery.objects.get(operation="erase")
    assert failed.status == "failed" and failed.subject["phone"] == "+14155550001"
    attempt = failed.attempt_log.get()
    assert "14155550001" not in attempt.request + attempt.excerpt
    assert "14155550001" not in attempt.sent_in.request and "[erased]" in attempt.sent_in.request


def test_the_stored_vendor_answers_lose_the_details_at_once(aimylogic, open_campaign, sandbox):
    [result] = intake.submit([row(1, first_name="Adalberta")], campaign=open_campaign)
    deliver()
    push = Delivery.objects.get()
    # a vendor that echoes the person back (as many do in their answers and error messages),
    # in a batch answer shared with someone who is not erased
    Delivery.objects.filter(pk=push.pk).update(message="Lead Adalberta +14155550001 queued")
    DeliveryAttempt.objects.filter(delivery=push).update(
        request="GET https://vendor.example/find?phone=%2B14155550001", excerpt='{"email": "a1@example.com"}')
    VendorExchange.objects.filter(pk=push.attempt_log.get().sent_in_id).update(
        excerpt='[{"phone": "+14155550001"}, {"phone": "+14155550002"}]')
    erase(result.lead)  # Aimylogic can neither stop nor erase: nothing is sent, the history is scrubbed now
    assert set(Delivery.objects.exclude(operation="push").values_list("status", flat=True)) == {"unsupported"}
    push.refresh_from_db()
    attempt = push.attempt_log.get()
    assert push.message == "Lead [erased] [erased] queued"
    assert (attempt.request, attempt.excerpt) == ("GET https://vendor.example/find?phone=[erased]",
                                                  '{"email": "[erased]"}')
    assert attempt.sent_in.excerpt == '[{"phone": "[erased]"}, {"phone": "+14155550002"}]'
