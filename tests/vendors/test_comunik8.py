"""Comunik8 client against the sandbox simulator, over real HTTP (seed 002)."""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
import urllib.error
import urllib.request

import pytest
from django.utils import timezone

from campaigns.models import Lead
from vendors.integrations.base import ACCEPTED, REJECTED, RETRY, UNSUPPORTED, Item
from vendors.integrations.comunik8 import Comunik8Client
from vendors.models import Destination, VendorAccount

KEY = "c8/live+Key=42abc"          # characters that get URL-encoded in the query string

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_client(sandbox, campaign):
    def make(lead_type="motor-trade", settings=None, api_key=KEY, timeout_seconds=15):
        account = VendorAccount.objects.create(name=f"Comunik8 {VendorAccount.objects.count()}", kind="comunik8",
                                               base_url=sandbox.url("comunik8"), credentials={"api_key": api_key},
                                               timeout_seconds=timeout_seconds)
        destination = Destination.objects.create(campaign=campaign, account=account, remote_ref=lead_type,
                                                 settings=settings or {})
        return Comunik8Client(account, destination)
    return make


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.fixture
def uk_lead(campaign, make_lead):
    def make(**kwargs):
        kwargs.setdefault("phone", "+447840258823")
        kwargs.setdefault("first_name", "John")
        kwargs.setdefault("last_name", "Doe")
        kwargs.setdefault("email", "john@example.com")
        kwargs.setdefault("metadata", {})
        return make_lead(campaign, **kwargs)
    return make


def only_request(sandbox):
    requests = sandbox.requests("comunik8")
    assert len(requests) == 1, requests
    return requests[0]


# ---- add --------------------------------------------------------------------------------

def test_it_adds_a_lead_with_the_key_in_the_query_and_data_as_a_json_string(sandbox, make_client, uk_lead):
    client = make_client(settings={"subtype": "valeter", "data_fields": {"addresss": "address"}})
    lead = uk_lead(phone_alt="+447700900456", address="123 Greenacre Road", metadata={"vehicle_make": "Ford"})

    [result] = client.push([Item(id=1, lead=lead)])

    request = only_request(sandbox)
    assert (request["method"], request["path"]) == ("POST", "/lead/add")
    assert request["query"] == {"key": [KEY]}
    assert request["headers"]["content-type"] == "application/json"
    assert request["body"] == {
        "email": "john@example.com", "first_name": "John", "surname": "Doe", "mobile": "+447840258823",
        "type": "motor-trade", "subtype": "valeter", "other_phone": "+447700900456",
        "data": '{"vehicle_make":"Ford","addresss":"123 Greenacre Road"}',
    }
    assert isinstance(request["body"]["data"], str)
    assert (result.item_id, result.status, result.code, result.http_status, result.remote_ref) == (
        1, ACCEPTED, "", 200, "+447840258823")
    assert sandbox.state("comunik8")["comunik8"]["saved"] == 1


def test_it_leaves_data_out_when_there_is_nothing_to_send(sandbox, client, uk_lead):
    [result] = client.push([Item(id=1, lead=uk_lead())])

    assert "data" not in only_request(sandbox)["body"]
    assert result.status == ACCEPTED


def test_it_sends_delays_as_whole_seconds_until_contact_at(sandbox, client, uk_lead):
    contact_at = timezone.now() + dt.timedelta(seconds=600, milliseconds=500)

    [result] = client.push([Item(id=1, lead=uk_lead(), contact_at=contact_at)])

    assert only_request(sandbox)["body"]["delays"] == 601
    assert result.status == ACCEPTED


def test_it_sends_no_delays_when_contact_at_has_passed(sandbox, client, uk_lead):
    client.push([Item(id=1, lead=uk_lead(), contact_at=timezone.now() - dt.timedelta(minutes=5))])

    assert "delays" not in only_request(sandbox)["body"]


def test_it_sends_national_mobiles_when_the_destination_says_so(sandbox, make_client, uk_lead):
    client = make_client(settings={"mobile_format": "national"})
    lead = uk_lead()

    client.push([Item(id=1, lead=lead)])
    client.end_contact([Item(id=2, lead=lead)])

    assert [r["body"]["mobile"] for r in sandbox.requests("comunik8")] == ["07840258823", "07840258823"]


def test_test_mode_validates_without_saving(sandbox, make_client, uk_lead):
    client = make_client(settings={"test": True})

    [result] = client.push([Item(id=1, lead=uk_lead())])

    assert only_request(sandbox)["body"]["test"] is True
    assert (result.status, result.code, result.http_status) == (ACCEPTED, "test_ok", 200)
    state = sandbox.state("comunik8")["comunik8"]
    assert state["saved"] == 0 and state["tests_ok"] == 1


def test_it_maps_existing_contact_to_duplicate(sandbox, client, uk_lead):
    lead = uk_lead()
    client.push([Item(id=1, lead=lead)])

    [result] = client.push([Item(id=2, lead=lead)])

    assert (result.status, result.code, result.http_status, result.message) == (
        ACCEPTED, "duplicate", 200, "Existing Contact")
    assert result.remote_ref == "+447840258823"


def test_it_maps_another_call_scheduled_to_accepted_call_scheduled(sandbox, client, uk_lead):
    [result] = client.push([Item(id=1, lead=uk_lead(email="already-scheduled@example.com"))])

    assert only_request(sandbox)["body"]["email"] == "already-scheduled@example.com"
    assert (result.status, result.code, result.message) == (
        ACCEPTED, "call_scheduled", "Another call is already scheduled")


def test_it_maps_unknown_type_to_rejected(sandbox, make_client, uk_lead):
    client = make_client(lead_type="unknown-motor")

    [result] = client.push([Item(id=1, lead=uk_lead())])

    assert only_request(sandbox)["body"]["type"] == "unknown-motor"
    assert (result.status, result.code, result.message) == (REJECTED, "unknown_type", "Unknown Type")


def test_it_maps_a_400_field_dictionary_to_invalid_naming_the_fields(sandbox, client, uk_lead):
    lead = uk_lead(email="", first_name="")

    [result] = client.push([Item(id=1, lead=lead)])

    assert only_request(sandbox)["status"] == 400
    assert (result.status, result.code, result.http_status) == (REJECTED, "invalid", 400)
    assert result.message == "email: Email cannot be blank.; first_name: First Name cannot be blank."


def test_the_sim_refuses_data_that_is_not_a_json_string(sandbox):
    """The client always encodes ``data``; the seed's data error is checked against the sim directly."""
    body = {"email": "john@example.com", "first_name": "John", "surname": "Doe", "mobile": "07840258823",
            "type": "motor-trade"}
    for data in ({"vehicle_make": "Ford"}, "not json", "", "{}"):
        request = urllib.request.Request(f"{sandbox.url('comunik8')}/lead/add?key=k", method="POST",
                                         data=json.dumps({**body, "data": data}).encode(),
                                         headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=5)
        assert caught.value.code == 400
        assert json.loads(caught.value.read()) == {"data": {"0": "Empty or invalid content of `data` field"}}


def test_it_retries_on_a_500(sandbox, make_client, uk_lead):
    client = make_client(lead_type="error-500")

    [result] = client.push([Item(id=1, lead=uk_lead())])

    assert (result.status, result.code, result.http_status) == (RETRY, "vendor_unavailable", 500)


def test_it_maps_401_to_unauthorized_and_stops_the_batch(sandbox, make_client, uk_lead):
    client = make_client(api_key="invalid-key")

    results = client.push([Item(id=1, lead=uk_lead()), Item(id=2, lead=uk_lead(phone="+447840258824"))])

    assert only_request(sandbox)["status"] == 401
    assert [(r.status, r.code, r.http_status) for r in results] == [(REJECTED, "unauthorized", 401)] * 2


def test_it_rejects_without_a_request_when_the_destination_has_no_type(sandbox, make_client, uk_lead):
    [result] = make_client(lead_type="").push([Item(id=1, lead=uk_lead())])

    assert (result.status, result.code) == (REJECTED, "invalid")
    assert "lead type" in result.message
    assert sandbox.requests("comunik8") == []


def test_it_retries_on_503_with_retry_after(sandbox, client, uk_lead):
    sandbox.faults(vendor="comunik8", error_503_rate=1, retry_after=7)

    [result] = client.push([Item(id=1, lead=uk_lead())])

    assert (result.status, result.code, result.http_status, result.retry_after) == (
        RETRY, "vendor_unavailable", 503, 7.0)


def test_it_retries_on_a_timeout(sandbox, make_client, uk_lead):
    client = make_client(timeout_seconds=1)
    sandbox.faults(vendor="comunik8", slow_rate=1, slow_seconds=1.5)

    [result] = client.push([Item(id=1, lead=uk_lead())])

    assert (result.status, result.code) == (RETRY, "timeout")
    deadline = time.monotonic() + 5           # let the slow request finish before the next test resets
    while not sandbox.requests("comunik8") and time.monotonic() < deadline:
        time.sleep(0.05)


# ---- cancel -----------------------------------------------------------------------------

def test_it_cancels_a_lead(sandbox, client, uk_lead):
    lead = uk_lead()
    client.push([Item(id=1, lead=lead)])

    [result] = client.end_contact([Item(id=2, lead=lead)])

    request = sandbox.requests("comunik8")[-1]
    assert (request["method"], request["path"], request["query"]) == ("POST", "/lead/cancel", {"key": [KEY]})
    assert request["body"] == {"type": "motor-trade", "mobile": "+447840258823"}
    assert (result.item_id, result.status, result.code, result.http_status) == (2, ACCEPTED, "", 200)
    assert sandbox.state("comunik8")["comunik8"]["cancelled"] == 1


def test_cancel_of_an_unknown_lead_is_accepted_as_not_found(sandbox, client, uk_lead):
    [result] = client.end_contact([Item(id=1, lead=uk_lead())])

    assert only_request(sandbox)["body"] == {"type": "motor-trade", "mobile": "+447840258823"}
    assert (result.status, result.code) == (ACCEPTED, "not_found")


def test_cancel_of_a_dialled_lead_is_rejected_as_already_processed(sandbox, client, uk_lead):
    lead = uk_lead(email="processed@example.com")
    client.push([Item(id=1, lead=lead)])

    [result] = client.end_contact([Item(id=2, lead=lead)])

    assert (result.status, result.code) == (REJECTED, "already_processed")


def test_cancel_with_a_type_that_does_not_exist_is_retried_as_unknown_type(sandbox, make_client, uk_lead):
    [result] = make_client(lead_type="unknown-type").end_contact([Item(id=1, lead=uk_lead())])

    assert (result.status, result.code, result.message) == (RETRY, "unknown_type", "server error (call group)")


def test_cancel_server_error_save_is_retried(sandbox, make_client, uk_lead):
    [result] = make_client(lead_type="save-error").end_contact([Item(id=1, lead=uk_lead())])

    assert (result.status, result.code, result.message) == (RETRY, "vendor_unavailable", "server error (save)")


def test_cancel_maps_a_400_to_invalid(sandbox, client, uk_lead):
    lead = uk_lead()
    Lead.objects.filter(pk=lead.pk).update(phone="+4412")
    lead.refresh_from_db()

    [result] = client.end_contact([Item(id=1, lead=lead)])

    assert (result.status, result.code, result.message) == (REJECTED, "invalid", "mobile: Mobile is not a valid phone number.")


def test_cancel_maps_401_to_unauthorized(sandbox, make_client, uk_lead):
    [result] = make_client(api_key="an-invalid-key").end_contact([Item(id=1, lead=uk_lead())])

    assert (result.status, result.code, result.http_status) == (REJECTED, "unauthorized", 401)


def test_dnc_and_erase_are_unsupported(sandbox, client, uk_lead):
    lead = uk_lead()

    assert [r.status for r in client.dnc([Item(id=1, lead=lead)]) + client.erase([Item(id=2, lead=lead)])] == [
        UNSUPPORTED, UNSUPPORTED]
    assert sandbox.requests("comunik8") == []


# ---- connection check, settings, secrets ------------------------------------------------

def test_check_connection_sends_a_test_lead_that_saves_nothing(sandbox, client):
    report = client.check_connection()

    request = only_request(sandbox)
    assert (request["path"], request["query"]) == ("/lead/add", {"key": [KEY]})
    assert request["body"]["test"] is True and request["body"]["type"] == "motor-trade"
    assert report.ok and report.http_status == 200 and "test mode" in report.checked_call
    assert sandbox.state("comunik8")["comunik8"]["saved"] == 0


def test_check_connection_reports_an_unknown_type(sandbox, make_client):
    report = make_client(lead_type="unknown-x").check_connection()

    assert not report.ok and "does not know the lead type" in report.message


def test_check_connection_reports_a_refused_key(sandbox, make_client):
    report = make_client(api_key="invalid").check_connection()

    assert not report.ok and report.http_status == 401


def test_it_validates_destination_settings():
    assert Comunik8Client.validate_settings({"test": False, "mobile_format": "national", "subtype": "x",
                                             "data_fields": {"addr": "address"}}) == {}
    errors = Comunik8Client.validate_settings({"test": "yes", "mobile_format": "uk", "subtype": 1,
                                               "data_fields": ["address"], "delay": 5})
    assert set(errors) == {"test", "mobile_format", "subtype", "data_fields", "delay"}
    assert "national" in errors["mobile_format"] and "Known settings" in errors["delay"]


def test_the_api_key_never_appears_in_exchanges_or_logs(sandbox, client, uk_lead, caplog):
    caplog.set_level(logging.DEBUG)
    lead = uk_lead()
    client.push([Item(id=1, lead=lead)])
    client.push([Item(id=2, lead=lead)])
    client.push([Item(id=3, lead=uk_lead(phone="+447840258825", email=""))])
    client.end_contact([Item(id=4, lead=lead)])
    client.check_connection()
    sandbox.faults(vendor="comunik8", error_503_rate=1)
    client.push([Item(id=5, lead=uk_lead(phone="+447840258826"))])

    assert len(client.exchanges) == 6
    recorded = " ".join(f"{e.url} {e.excerpt} {e.error}" for e in client.exchanges)
    assert "key=***" in recorded
    assert "/lead/add?key=*** " in caplog.text          # urllib3 logs the request line at DEBUG
    for form in (KEY, "c8%2Flive%2BKey%3D42abc"):
        assert form not in recorded
        assert form not in caplog.text
