"""Aktify client against the sandbox simulator, over real HTTP (seed 000)."""
from __future__ import annotations

import datetime as dt
import logging
import time

import pytest

from campaigns.models import Lead
from vendors.integrations.aktify import AktifyClient
from vendors.integrations.base import ACCEPTED, REJECTED, RETRY, UNSUPPORTED, Item
from vendors.models import Destination, VendorAccount

KEY = "akt-live-7f3a9c1e5b"

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_client(sandbox, campaign):
    def make(secret=KEY, settings=None, timeout_seconds=15, account_name="Aktify"):
        account, _ = VendorAccount.objects.get_or_create(
            name=account_name, defaults=dict(kind="aktify", base_url=sandbox.url("aktify"), credentials={},
                                             timeout_seconds=timeout_seconds))
        destination = Destination.objects.create(campaign=campaign, account=account, remote_ref=f"solar-{secret}",
                                                 secret=secret, settings=settings or {})
        return AktifyClient(account, destination)
    return make


@pytest.fixture
def client(make_client):
    return make_client()


def only_request(sandbox):
    requests = sandbox.requests("aktify")
    assert len(requests) == 1, requests
    return requests[0]


def test_it_creates_a_lead_with_every_field(sandbox, client, campaign, make_lead):
    lead = make_lead(campaign, phone="+14155550101", first_name="Ada", last_name="Lovelace", email="ada@example.com",
                     region="ca", postal_code="94103", external_id="crm-42", source="web-form",
                     link="https://example.com/quote/42", metadata={"plan": "gold", "score": "7"})
    Lead.objects.filter(pk=lead.pk).update(created_at=dt.datetime(2024, 3, 1, 14, 30, 5, tzinfo=dt.timezone.utc))
    lead.refresh_from_db()

    [result] = client.push([Item(id=1, lead=lead)])

    request = only_request(sandbox)
    assert request["method"] == "POST"
    assert request["path"] == "/api/v1/leads"
    assert request["query"] == {}
    assert request["headers"]["x-api-key"] == KEY
    assert request["headers"]["content-type"] == "application/json"
    assert request["body"] == {
        "phoneNumber": "+14155550101", "region": "CA", "zipCode": "94103", "email": "ada@example.com",
        "firstName": "Ada", "lastName": "Lovelace", "externalLeadId": "crm-42", "source": "web-form",
        "externalCreated": "2024-03-01T14:30:05+00:00", "link": "https://example.com/quote/42",
        "metadata": {"plan": "gold", "score": "7"},
    }
    assert result.item_id == 1
    assert (result.status, result.code, result.http_status, result.remote_ref) == (ACCEPTED, "", 201, "+14155550101")
    assert sandbox.state("aktify")["aktify"]["leads_created"] == 1


def test_it_sends_only_the_zip_code_when_region_is_not_a_us_state(sandbox, client, campaign, make_lead):
    lead = make_lead(campaign, region="Ontario", postal_code="10001", link="", metadata={})

    [result] = client.push([Item(id=1, lead=lead)])

    body = only_request(sandbox)["body"]
    assert "region" not in body and body["zipCode"] == "10001"
    assert result.status == ACCEPTED


def test_it_sends_region_alone_when_there_is_no_zip_code(sandbox, client, campaign, make_lead):
    lead = make_lead(campaign, region="TX", postal_code="")

    [result] = client.push([Item(id=1, lead=lead)])

    body = only_request(sandbox)["body"]
    assert body["region"] == "TX" and "zipCode" not in body
    assert result.status == ACCEPTED


def test_it_rejects_a_lead_with_neither_region_nor_zip_before_any_request(sandbox, client, campaign, make_lead):
    no_region = make_lead(campaign, region="", postal_code="")
    foreign_region = make_lead(campaign, region="Bavaria", postal_code="")
    good = make_lead(campaign, region="NY", postal_code="")

    results = client.push([Item(id=1, lead=no_region), Item(id=2, lead=foreign_region), Item(id=3, lead=good)])

    assert [(r.item_id, r.status, r.code) for r in results] == [
        (1, REJECTED, "missing_region"), (2, REJECTED, "missing_region"), (3, ACCEPTED, "")]
    assert "'Bavaria' is not a US state code" in results[1].message
    assert [r["body"]["phoneNumber"] for r in sandbox.requests("aktify")] == [str(good.phone)]


def test_it_sends_the_link_as_link_to_shorten_when_the_destination_says_so(sandbox, make_client, campaign, make_lead):
    client = make_client(settings={"link_field": "linkToShorten"})
    lead = make_lead(campaign, link="https://example.com/offer")

    [result] = client.push([Item(id=1, lead=lead)])

    body = only_request(sandbox)["body"]
    assert body["linkToShorten"] == "https://example.com/offer" and "link" not in body
    assert result.status == ACCEPTED


def test_it_leaves_both_link_fields_out_when_the_lead_has_no_link(sandbox, client, campaign, make_lead):
    client.push([Item(id=1, lead=make_lead(campaign, link=""))])

    body = only_request(sandbox)["body"]
    assert "link" not in body and "linkToShorten" not in body


def test_it_sends_metadata_values_as_strings_with_mapped_lead_fields(sandbox, make_client, campaign, make_lead):
    client = make_client(settings={"metadata_fields": {"city": "city", "consent": "consent_url"}})
    lead = make_lead(campaign, city="Austin", consent_url="https://example.com/consent",
                     metadata={"plan": "gold"})
    Lead.objects.filter(pk=lead.pk).update(metadata={"plan": "gold", "score": 7, "vip": True})
    lead.refresh_from_db()

    [result] = client.push([Item(id=1, lead=lead)])

    assert only_request(sandbox)["body"]["metadata"] == {
        "plan": "gold", "score": "7", "vip": "true", "city": "Austin", "consent": "https://example.com/consent"}
    assert result.status == ACCEPTED


def test_it_maps_409_to_duplicate(sandbox, client, campaign, make_lead):
    lead = make_lead(campaign, phone="+14155550109")
    client.push([Item(id=1, lead=lead)])

    [result] = client.push([Item(id=2, lead=lead)])

    assert [r["status"] for r in sandbox.requests("aktify")] == [201, 409]
    assert (result.item_id, result.status, result.code, result.http_status) == (2, ACCEPTED, "duplicate", 409)
    assert result.remote_ref == "+14155550109"
    assert "already submitted to the campaign" in result.message
    assert sandbox.state("aktify")["aktify"]["duplicates_refused"] == 1


def test_duplicates_are_per_api_key(sandbox, make_client, campaign, make_lead):
    lead = make_lead(campaign)
    first, second = make_client(secret="key-campaign-a"), make_client(secret="key-campaign-b")

    assert first.push([Item(id=1, lead=lead)])[0].code == ""
    assert second.push([Item(id=2, lead=lead)])[0].code == ""


def test_it_maps_400_to_invalid_with_the_vendors_words(sandbox, client, campaign, make_lead):
    lead = make_lead(campaign, region="", postal_code="SW1A 1AA")

    [result] = client.push([Item(id=1, lead=lead)])

    assert only_request(sandbox)["body"]["zipCode"] == "SW1A 1AA"
    assert (result.status, result.code, result.http_status) == (REJECTED, "invalid", 400)
    assert result.message == "zipCode must be a valid US zip code"


def test_it_maps_401_to_unauthorized_and_stops_the_batch(sandbox, make_client, campaign, make_lead):
    client = make_client(secret="invalid-key-123")
    items = [Item(id=1, lead=make_lead(campaign)), Item(id=2, lead=make_lead(campaign))]

    results = client.push(items)

    request = only_request(sandbox)
    assert request["headers"]["x-api-key"] == "invalid-key-123" and request["status"] == 401
    assert [(r.item_id, r.status, r.code, r.http_status) for r in results] == [
        (1, REJECTED, "unauthorized", 401), (2, REJECTED, "unauthorized", 401)]


def test_it_rejects_without_a_request_when_the_destination_has_no_key(sandbox, make_client, campaign, make_lead):
    client = make_client(secret="")

    [result] = client.push([Item(id=1, lead=make_lead(campaign))])

    assert (result.status, result.code) == (REJECTED, "unauthorized")
    assert sandbox.requests("aktify") == []


def test_it_retries_on_503_with_retry_after(sandbox, client, campaign, make_lead):
    sandbox.faults(vendor="aktify", error_503_rate=1, retry_after=7)

    results = client.push([Item(id=1, lead=make_lead(campaign)), Item(id=2, lead=make_lead(campaign))])

    assert len(sandbox.requests("aktify")) == 1
    assert [(r.status, r.code, r.http_status, r.retry_after) for r in results] == [
        (RETRY, "vendor_unavailable", 503, 7.0)] * 2


def test_it_retries_on_a_timeout(sandbox, make_client, campaign, make_lead):
    client = make_client(timeout_seconds=1)
    sandbox.faults(vendor="aktify", slow_rate=1, slow_seconds=1.5)

    [result] = client.push([Item(id=1, lead=make_lead(campaign))])

    assert (result.status, result.code) == (RETRY, "timeout")
    assert client.exchanges[0].error.startswith("timeout")
    _wait_for_requests(sandbox, 1)   # let the slow request finish before the next test resets


def _wait_for_requests(sandbox, count, seconds=5.0):
    deadline = time.monotonic() + seconds
    while len(sandbox.requests("aktify")) < count and time.monotonic() < deadline:
        time.sleep(0.05)


# ---- end-contact ----------------------------------------------------------------------

def test_it_ends_contact_sending_each_number_once(sandbox, client, campaign, make_campaign, make_lead):
    lead = make_lead(campaign, phone="+14155550111")
    same_person = make_lead(make_campaign(), phone="+14155550111")
    other = make_lead(campaign, phone="+14155550112")

    results = client.end_contact([Item(id=1, lead=lead), Item(id=2, lead=same_person), Item(id=3, lead=other)])

    request = only_request(sandbox)
    assert (request["method"], request["path"], request["query"]) == ("POST", "/api/v1/leads/end-contact", {})
    assert request["headers"]["x-api-key"] == KEY
    assert request["body"] == {"phoneNumberList": ["+14155550111", "+14155550112"]}
    assert [(r.item_id, r.status, r.remote_ref, r.http_status) for r in results] == [
        (1, ACCEPTED, "+14155550111", 201), (2, ACCEPTED, "+14155550111", 201), (3, ACCEPTED, "+14155550112", 201)]


def test_it_splits_120_numbers_into_3_calls_of_at_most_50(sandbox, client, campaign, make_lead):
    leads = [make_lead(campaign, phone=f"+1312555{n:04d}") for n in range(120)]

    results = client.end_contact([Item(id=n, lead=lead) for n, lead in enumerate(leads)])

    lists = [r["body"]["phoneNumberList"] for r in sandbox.requests("aktify")]
    assert [len(numbers) for numbers in lists] == [50, 50, 20]
    assert sum(lists, []) == [str(lead.phone) for lead in leads]
    assert [r.item_id for r in results] == list(range(120))
    assert {r.status for r in results} == {ACCEPTED}
    assert sandbox.state("aktify")["aktify"]["ended"] == 120


def test_it_returns_failure_numbers_as_retry(sandbox, client, campaign, make_lead):
    ok = make_lead(campaign, phone="+14155550121")
    failing = make_lead(campaign, phone="+18085550100")      # the sim's magic "failure" prefix

    results = client.end_contact([Item(id=1, lead=ok), Item(id=2, lead=failing)])

    assert only_request(sandbox)["body"] == {"phoneNumberList": ["+14155550121", "+18085550100"]}
    assert [(r.item_id, r.status, r.code) for r in results] == [
        (1, ACCEPTED, ""), (2, RETRY, "vendor_unavailable")]
    assert "failure" in results[1].message


def test_a_malformed_number_fails_only_its_own_item_after_the_whole_request_400s(sandbox, client, campaign,
                                                                                  make_lead):
    good = make_lead(campaign, phone="+14155550131")
    british = make_lead(campaign, phone="+442079460000")      # E.164, but not a US number: Aktify refuses it
    other = make_lead(campaign, phone="+14155550132")

    results = client.end_contact([Item(id=1, lead=good), Item(id=2, lead=british), Item(id=3, lead=other)])

    sent = [(r["body"]["phoneNumberList"], r["status"]) for r in sandbox.requests("aktify")]
    assert sent == [
        (["+14155550131", "+442079460000", "+14155550132"], 400),
        (["+14155550131"], 201), (["+442079460000"], 400), (["+14155550132"], 201),
    ]
    assert [(r.item_id, r.status, r.code, r.http_status) for r in results] == [
        (1, ACCEPTED, "", 201), (2, REJECTED, "invalid", 400), (3, ACCEPTED, "", 201)]
    assert "is not a valid phone number" in results[1].message


def test_end_contact_rejects_a_number_that_is_not_e164_without_sending_it(sandbox, client, campaign, make_lead):
    good = make_lead(campaign, phone="+14155550141")
    broken = make_lead(campaign, phone="+14155550142")
    Lead.objects.filter(pk=broken.pk).update(phone="555-0142")
    broken.refresh_from_db()

    results = client.end_contact([Item(id=1, lead=good), Item(id=2, lead=broken)])

    assert only_request(sandbox)["body"] == {"phoneNumberList": ["+14155550141"]}
    assert [(r.status, r.code) for r in results] == [(ACCEPTED, ""), (REJECTED, "invalid")]


def test_end_contact_maps_401_to_unauthorized_and_sends_no_further_chunk(sandbox, make_client, campaign, make_lead):
    client = make_client(secret="invalid-key")
    leads = [make_lead(campaign, phone=f"+1646555{n:04d}") for n in range(60)]

    results = client.end_contact([Item(id=n, lead=lead) for n, lead in enumerate(leads)])

    assert len(sandbox.requests("aktify")) == 1
    assert {(r.status, r.code, r.http_status) for r in results} == {(REJECTED, "unauthorized", 401)}
    assert len(results) == 60


def test_end_contact_retries_on_503_with_retry_after(sandbox, client, campaign, make_lead):
    sandbox.faults(vendor="aktify", error_503_rate=1, retry_after=7)

    [result] = client.end_contact([Item(id=1, lead=make_lead(campaign))])

    assert (result.status, result.code, result.retry_after) == (RETRY, "vendor_unavailable", 7.0)


# ---- DNC ------------------------------------------------------------------------------

def test_it_pushes_dnc_numbers(sandbox, client, campaign, make_lead):
    a, b = make_lead(campaign, phone="+14155550151"), make_lead(campaign, phone="+14155550152")

    results = client.dnc([Item(id=1, lead=a), Item(id=2, lead=b)])

    request = only_request(sandbox)
    assert (request["method"], request["path"]) == ("POST", "/api/v1/dncs")
    assert request["headers"]["x-api-key"] == KEY
    assert request["body"] == {"dncList": [{"phoneNumber": "+14155550151"}, {"phoneNumber": "+14155550152"}]}
    assert [(r.item_id, r.status, r.http_status) for r in results] == [(1, ACCEPTED, 201), (2, ACCEPTED, 201)]
    assert sandbox.state("aktify")["aktify"]["dncs"] == 2


def test_dnc_isolates_a_number_aktify_refuses(sandbox, client, campaign, make_lead):
    good, british = make_lead(campaign, phone="+14155550161"), make_lead(campaign, phone="+442079460001")

    results = client.dnc([Item(id=1, lead=good), Item(id=2, lead=british)])

    assert [r["status"] for r in sandbox.requests("aktify")] == [400, 201, 400]
    assert [(r.status, r.code) for r in results] == [(ACCEPTED, ""), (REJECTED, "invalid")]


def test_dnc_maps_401_to_unauthorized(sandbox, make_client, campaign, make_lead):
    [result] = make_client(secret="invalid").dnc([Item(id=1, lead=make_lead(campaign))])

    assert (result.status, result.code, result.http_status) == (REJECTED, "unauthorized", 401)


# ---- everything else --------------------------------------------------------------------

def test_erase_is_unsupported(sandbox, client, campaign, make_lead):
    [result] = client.erase([Item(id=1, lead=make_lead(campaign))])

    assert (result.status, result.code) == (UNSUPPORTED, "unsupported")
    assert sandbox.requests("aktify") == []


def test_check_connection_sends_nothing_and_says_why(sandbox, client):
    report = client.check_connection()

    assert report.ok and report.checked_call == ""
    assert "no call" in report.message
    assert sandbox.requests("aktify") == []


def test_check_connection_flags_a_destination_without_a_key(sandbox, make_client):
    report = make_client(secret="").check_connection()

    assert not report.ok and "no Aktify API key" in report.message


def test_it_validates_destination_settings():
    assert AktifyClient.validate_settings({"link_field": "link", "default_source": "x",
                                           "metadata_fields": {"c": "city"}}) == {}
    errors = AktifyClient.validate_settings({"link_field": "url", "default_source": 3,
                                             "metadata_fields": {"c": "shoe_size"}, "colour": "red"})
    assert set(errors) == {"link_field", "default_source", "metadata_fields", "colour"}
    assert "linkToShorten" in errors["link_field"]
    assert "shoe_size" in errors["metadata_fields"]
    assert "Known settings" in errors["colour"]


def test_the_api_key_never_appears_in_exchanges_or_logs(sandbox, make_client, campaign, make_lead, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client()
    lead = make_lead(campaign)
    client.push([Item(id=1, lead=lead), ])
    client.push([Item(id=2, lead=lead)])                              # 409
    client.push([Item(id=3, lead=make_lead(campaign, region="", postal_code="bad"))])  # 400
    client.end_contact([Item(id=4, lead=lead)])
    client.dnc([Item(id=5, lead=lead)])
    sandbox.faults(vendor="aktify", error_503_rate=1)
    client.push([Item(id=6, lead=make_lead(campaign))])

    assert len(client.exchanges) == 6
    recorded = " ".join(f"{e.url} {e.excerpt} {e.error}" for e in client.exchanges)
    assert KEY not in recorded
    assert KEY not in caplog.text
