"""8x8 Dynamic Campaigns client against the sandbox (real HTTP) — seed 003."""
from __future__ import annotations

import base64
import copy
import itertools
import datetime as dt
import json
import logging
from pathlib import Path

import jsonschema
import pytest
import requests
import responses

from vendors.integrations.base import ACCEPTED, REJECTED, RETRY, Item, VendorError
from vendors.integrations.eightbyeight import EightByEightClient, item_result
from vendors.models import Destination, VendorAccount

SEED = Path("/work/shared/seeds/003_49fa9a8e5576b093.txt")
TENANT, TOKEN = "tenant-4711", "cc-action-token-s3cr3t"
BASIC = "Basic " + base64.b64encode(f"{TENANT}:{TOKEN}".encode()).decode()
ROOT = "/api/tstats/campaigns"
_accounts = itertools.count(1)
STANDARD_HEADERS = {"host", "user-agent", "accept-encoding", "accept", "connection"}


# ---- helpers ---------------------------------------------------------------
@pytest.fixture(scope="module")
def spec():
    return json.loads(SEED.read_text())


def schema_validator(spec, name, relaxed=False):
    """A JSON Schema validator for one of the seed's component schemas. ``relaxed``: the
    seed's own examples give ``customer-id``/``http-status`` as numbers or null although
    the schema says string, so answers are checked with those two types widened."""
    components = copy.deepcopy(spec["components"])
    if relaxed:
        props = components["schemas"]["CustomerItemResponse"]["properties"]
        for field in ("customer-id", "http-status"):
            props[field]["type"] = ["string", "integer", "null"]
            props[field].pop("maximum", None)
    return jsonschema.Draft4Validator({"$ref": f"#/components/schemas/{name}", "components": components})


def utc_ms(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@pytest.fixture
def make_client(sandbox, campaign):
    def make(campaign_id="101", settings=None, token=TOKEN, tenant=TENANT):
        account = VendorAccount.objects.create(
            name=f"8x8 account {next(_accounts)}", kind="eightbyeight",
            base_url=sandbox.url("eightbyeight") + ROOT, credentials={"tenant_id": tenant, "token": token},
        )
        destination = Destination.objects.create(campaign=campaign, account=account, remote_ref=campaign_id,
                                                 settings=settings or {})
        return EightByEightClient(account, destination)
    return make


@pytest.fixture
def sim(sandbox):
    return sandbox.server.sandbox.sims["eightbyeight"]


def assert_request(entry, method, path, body=None, extra_headers=()):
    assert entry["method"] == method
    assert entry["path"] == path
    assert entry["query"] == {}
    assert entry["headers"]["authorization"] == BASIC
    assert entry["headers"]["user-agent"] == "LeadHub/1.0"
    expected_names = STANDARD_HEADERS | {"authorization"} | set(extra_headers)
    if body is not None:
        expected_names |= {"content-type", "content-length"}
        assert entry["headers"]["content-type"] == "application/json"
    elif method in ("DELETE", "PATCH", "POST"):
        expected_names |= {"content-length"}
    assert set(entry["headers"]) == expected_names
    assert entry["body"] == body


# ---- push ------------------------------------------------------------------
def test_it_adds_customers_with_basic_auth_and_the_seeds_date_format(make_client, make_lead, campaign, sandbox, spec):
    client = make_client()
    when = now() + dt.timedelta(hours=2, milliseconds=123)
    leads = [make_lead(campaign, external_id="1000001"), make_lead(campaign, external_id="1000002")]
    items = [Item(id=1, lead=leads[0], contact_at=when), Item(id=2, lead=leads[1])]

    results = client.push(items)

    [entry] = sandbox.requests("eightbyeight")
    expected_body = [{"customer-id": "1000001", "schedule-date-time": utc_ms(when)}, {"customer-id": "1000002"}]
    assert_request(entry, "POST", f"{ROOT}/101/customers", expected_body)
    assert entry["status"] == 207
    schema_validator(spec, "CustomerItemList").validate(entry["body"])
    assert [(r.item_id, r.status, r.remote_ref, r.code, r.http_status) for r in results] == [
        (1, ACCEPTED, "1000001", "", 200), (2, ACCEPTED, "1000002", "", 200)]
    queued = sandbox.state("eightbyeight")["eightbyeight"]["campaigns"]["101"]["customers"]
    assert queued == {"1000001": utc_ms(when), "1000002": None}


def test_the_207_answer_matches_the_seeds_schema(sandbox, spec):
    body = [{"customer-id": "1000001"}, {"customer-id": "4040001"}, {"customer-id": "1000001"},
            {"customer-id": "1000003", "schedule-date-time": "2016-08-29T 09:00:00.000Z"}, {}]
    answer = requests.post(sandbox.url("eightbyeight") + f"{ROOT}/101/customers", json=body,
                           auth=(TENANT, TOKEN), timeout=5)
    assert answer.status_code == 207
    assert answer.json() == [
        {"customer-id": "1000001", "http-status": 200},
        {"customer-id": "4040001", "http-status": 404, "message": "The customer-id has not been found."},
        {"customer-id": "1000001", "http-status": 400, "message": "Duplicate customer"},
        {"customer-id": "1000003", "schedule-date-time": "2016-08-29T 09:00:00.000Z", "http-status": 400,
         "message": "Invalid schedule-date-time format - please use ISO 8601 format"},
        {"customer-id": None, "http-status": 400, "message": "Invalid customer-id"},
    ]
    schema_validator(spec, "CustomerItemResponseList", relaxed=True).validate(answer.json())


def test_it_leaves_out_the_schedule_when_the_lead_is_due_now(make_client, make_lead, campaign, sandbox):
    client = make_client()
    items = [Item(id=1, lead=make_lead(campaign, external_id="55"), contact_at=now() - dt.timedelta(minutes=1))]
    [result] = client.push(items)
    assert sandbox.requests("eightbyeight")[0]["body"] == [{"customer-id": "55"}]
    assert result.status == ACCEPTED


def test_it_takes_the_customer_id_from_the_field_the_settings_name(make_client, make_lead, campaign, sandbox):
    client = make_client(settings={"customer_id_field": "metadata.account_no"})
    lead = make_lead(campaign, external_id="999", metadata={"account_no": "777123"})
    [result] = client.push([Item(id=7, lead=lead)])
    assert sandbox.requests("eightbyeight")[0]["body"] == [{"customer-id": "777123"}]
    assert (result.status, result.remote_ref) == (ACCEPTED, "777123")


def test_it_rejects_a_lead_without_customer_id_before_any_request(make_client, make_lead, campaign, sandbox):
    client = make_client()
    [result] = client.push([Item(id=3, lead=make_lead(campaign, external_id=""))])
    assert (result.status, result.code) == (REJECTED, "missing_customer_id")
    assert "Local CRM" in result.message
    assert sandbox.requests("eightbyeight") == []
    assert client.exchanges == []


def test_it_rejects_a_non_numeric_customer_id_before_any_request(make_client, make_lead, campaign, sandbox):
    [result] = make_client().push([Item(id=3, lead=make_lead(campaign, external_id="ACME-1"))])
    assert (result.status, result.code) == (REJECTED, "invalid")
    assert sandbox.requests("eightbyeight") == []


def test_it_rejects_a_schedule_more_than_7_days_ahead_before_sending(make_client, make_lead, campaign, sandbox):
    client = make_client()
    far = Item(id=1, lead=make_lead(campaign, external_id="11"), contact_at=now() + dt.timedelta(days=7, hours=1))
    near = Item(id=2, lead=make_lead(campaign, external_id="12"), contact_at=now() + dt.timedelta(days=6))
    results = client.push([far, near])
    assert (results[0].status, results[0].code) == (REJECTED, "schedule_too_far_ahead")
    assert results[1].status == ACCEPTED
    [entry] = sandbox.requests("eightbyeight")
    assert [c["customer-id"] for c in entry["body"]] == ["12"]


def test_a_batch_with_one_bad_item_returns_one_rejection_and_the_rest_accepted(make_client, make_lead, campaign,
                                                                               sandbox):
    client = make_client()
    ids = ["2001", "4040999", "2002", "2003"]
    items = [Item(id=n, lead=make_lead(campaign, external_id=cid)) for n, cid in enumerate(ids, 1)]
    results = client.push(items)
    assert [(r.item_id, r.status, r.code) for r in results] == [
        (1, ACCEPTED, ""), (2, REJECTED, "not_found"), (3, ACCEPTED, ""), (4, ACCEPTED, "")]
    assert results[1].message == "The customer-id has not been found."
    assert results[1].http_status == 404
    assert len(sandbox.requests("eightbyeight")) == 1


def test_a_customer_already_in_the_campaign_is_accepted_as_duplicate(make_client, make_lead, campaign, sandbox):
    client = make_client()
    lead = make_lead(campaign, external_id="3001")
    client.push([Item(id=1, lead=lead)])
    [result] = client.push([Item(id=1, lead=lead)])
    assert (result.status, result.code, result.remote_ref, result.message, result.http_status) == (
        ACCEPTED, "duplicate", "3001", "Duplicate customer", 400)


def test_a_schedule_outside_the_campaign_schedule_is_rejected(make_client, make_lead, campaign, sandbox):
    client = make_client("window-5")
    item = Item(id=1, lead=make_lead(campaign, external_id="41"), contact_at=now() + dt.timedelta(days=2))
    [result] = client.push([item])
    assert (result.status, result.code, result.http_status) == (REJECTED, "outside_schedule", 400)
    assert result.message.startswith("The subject schedule-date-time is outside the campaign schedule from ")


def test_a_schedule_the_vendor_finds_in_the_past_is_retried(make_client, make_lead, campaign, sandbox, sim):
    sim.now = lambda: dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=3)  # the vendor's clock is ahead
    item = Item(id=1, lead=make_lead(campaign, external_id="42"), contact_at=now() + dt.timedelta(hours=1))
    [result] = make_client().push([item])
    assert (result.status, result.code, result.message) == (
        RETRY, "schedule_in_past", "The subject schedule-date-time is in the past.")


def test_a_schedule_the_vendor_finds_beyond_7_days_is_rejected(make_client, make_lead, campaign, sandbox, sim):
    sim.now = lambda: dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)  # the vendor's clock is behind
    item = Item(id=1, lead=make_lead(campaign, external_id="43"), contact_at=now() + dt.timedelta(days=6))
    [result] = make_client().push([item])
    assert (result.status, result.code, result.message) == (
        REJECTED, "schedule_too_far_ahead",
        "The subject schedule-date-time must be within 7 days ahead of a future period.")


SEED_ITEM_ANSWERS = json.loads(SEED.read_text())["components"]["schemas"]["CustomerItemResponseList"]["example"]
EXPECTED_FOR_SEED_ANSWERS = [  # in the seed's order
    (ACCEPTED, ""), (ACCEPTED, ""), (ACCEPTED, "duplicate"), (REJECTED, "invalid"), (REJECTED, "invalid"),
    (REJECTED, "not_found"), (RETRY, "schedule_in_past"), (REJECTED, "outside_schedule"),
    (REJECTED, "schedule_too_far_ahead"),
]


@pytest.mark.parametrize("answer, expected", list(zip(SEED_ITEM_ANSWERS, EXPECTED_FOR_SEED_ANSWERS, strict=True)))
def test_it_maps_every_per_item_answer_in_the_seed(answer, expected, make_lead, campaign):
    result = item_result(Item(id=1, lead=make_lead(campaign)), answer, str(answer["customer-id"]))
    assert (result.status, result.code) == expected
    assert result.message == answer.get("message", "")
    assert result.http_status == answer["http-status"]


def test_it_reads_an_http_status_given_as_a_string(make_lead, campaign):
    result = item_result(Item(id=1, lead=make_lead(campaign)), {"customer-id": "1", "http-status": "200"}, "1")
    assert (result.status, result.http_status, result.remote_ref) == (ACCEPTED, 200, "1")


@pytest.mark.parametrize("campaign_id, message", [
    ("stopped-1", "The campaign has stopped. No additional customers can be added."),
    ("new-1", "The operation is invalid for a campaign that has not started."),
    ("static-1", "This is not a dynamic campaign."),
    ("disabled-1", "The campaign is not enabled."),
])
def test_a_campaign_that_refuses_customers_rejects_every_item(campaign_id, message, make_client, make_lead,
                                                              campaign, sandbox):
    items = [Item(id=n, lead=make_lead(campaign, external_id=f"5{n}")) for n in (1, 2)]
    results = make_client(campaign_id).push(items)
    assert [(r.status, r.code, r.message, r.http_status) for r in results] == [
        (REJECTED, "campaign_not_running", message, 400)] * 2
    [entry] = sandbox.requests("eightbyeight")
    assert_request(entry, "POST", f"{ROOT}/{campaign_id}/customers", [{"customer-id": "51"}, {"customer-id": "52"}])


def test_an_invalid_customer_list_rejects_every_item_as_invalid(make_client, make_lead, campaign, sandbox):
    answer = requests.post(sandbox.url("eightbyeight") + f"{ROOT}/101/customers", json=[], auth=(TENANT, TOKEN),
                           timeout=5)
    assert (answer.status_code, answer.json()) == (400, {"message": "The provided customer list is invalid."})
    client = make_client()
    with responses.RequestsMock() as mock:
        mock.post(client.url("101/customers"), status=400, json={"message": "The provided customer list is invalid."})
        [result] = client.push([Item(id=1, lead=make_lead(campaign, external_id="6"))])
    assert (result.status, result.code, result.message) == (REJECTED, "invalid", "The provided customer list is invalid.")


def test_it_retries_on_500(make_client, make_lead, campaign, sandbox):
    [result] = make_client("broken-1").push([Item(id=1, lead=make_lead(campaign, external_id="7"))])
    assert (result.status, result.code, result.http_status, result.retry_after) == (RETRY, "vendor_unavailable", 500, None)
    assert "Internal server error" in result.message


def test_it_retries_on_503_with_retry_after(make_client, make_lead, campaign, sandbox):
    sandbox.faults(vendor="eightbyeight", error_503_rate=1, retry_after=2)
    results = make_client().push([Item(id=n, lead=make_lead(campaign, external_id=f"8{n}")) for n in (1, 2)])
    assert [(r.status, r.code, r.http_status, r.retry_after) for r in results] == [
        (RETRY, "vendor_unavailable", 503, 2.0)] * 2


def test_it_retries_when_the_connection_drops(make_client, make_lead, campaign, sandbox):
    sandbox.faults(vendor="eightbyeight", drop_rate=1)
    [result] = make_client().push([Item(id=1, lead=make_lead(campaign, external_id="9"))])
    assert (result.status, result.code) == (RETRY, "connection_error")


def test_a_refused_token_is_unauthorized_and_never_recorded(make_client, make_lead, campaign, sandbox, caplog):
    caplog.set_level(logging.DEBUG, logger="vendors")
    token = "invalid-token-9f8e7d"
    client = make_client(token=token)
    [result] = client.push([Item(id=1, lead=make_lead(campaign, external_id="10"))])
    assert (result.status, result.code, result.http_status) == (REJECTED, "unauthorized", 401)
    everything = json.dumps([e.__dict__ for e in client.exchanges], default=str) + caplog.text + result.message
    assert token not in everything


def test_no_credential_appears_in_exchanges_or_logs(make_client, make_lead, campaign, sandbox, caplog):
    caplog.set_level(logging.DEBUG, logger="vendors")
    client = make_client()
    client.push([Item(id=1, lead=make_lead(campaign, external_id="12"))])
    client.end_contact([Item(id=1, lead=make_lead(campaign, external_id="12"))])
    client.set_campaign_status("PAUSED")
    recorded = json.dumps([e.__dict__ for e in client.exchanges], default=str) + caplog.text
    assert len(client.exchanges) == 3
    for secret in (TOKEN, BASIC.split()[1]):
        assert secret not in recorded


# ---- end contact -----------------------------------------------------------
def test_it_deletes_a_queued_customer(make_client, make_lead, campaign, sandbox):
    client = make_client()
    lead = make_lead(campaign, external_id="13")
    client.push([Item(id=1, lead=lead)])
    [result] = client.end_contact([Item(id=2, lead=lead, remote_ref="13")])
    entry = sandbox.requests("eightbyeight")[-1]
    assert_request(entry, "DELETE", f"{ROOT}/101/customers/13")
    assert (result.status, result.code, result.http_status) == (ACCEPTED, "", 204)
    assert sandbox.state("eightbyeight")["eightbyeight"]["campaigns"]["101"]["customers"] == {}


def test_deleting_an_unknown_customer_is_accepted_as_not_found(make_client, make_lead, campaign, sandbox):
    [result] = make_client().end_contact([Item(id=1, lead=make_lead(campaign, external_id="14"))])
    assert_request(sandbox.requests("eightbyeight")[0], "DELETE", f"{ROOT}/101/customers/14")
    assert (result.status, result.code, result.http_status) == (ACCEPTED, "not_found", 404)


def test_deleting_a_customer_already_offered_is_rejected_with_the_message(make_client, make_lead, campaign, sandbox):
    client = make_client()
    lead = make_lead(campaign, external_id="7770001")
    client.push([Item(id=1, lead=lead)])
    [result] = client.end_contact([Item(id=1, lead=lead)])
    assert (result.status, result.code, result.message, result.http_status) == (
        REJECTED, "invalid", "The customer is not available for deletion.", 400)


@pytest.mark.parametrize("campaign_id, message", [
    ("stopped-2", "The campaign has stopped. No customers can be deleted."),
    ("static-2", "This is not a dynamic campaign."),
    ("disabled-2", "This campaign is not enabled."),
])
def test_deleting_from_a_campaign_that_refuses_is_rejected(campaign_id, message, make_client, make_lead, campaign,
                                                           sandbox):
    [result] = make_client(campaign_id).end_contact([Item(id=1, lead=make_lead(campaign, external_id="15"))])
    assert (result.status, result.code, result.message, result.http_status) == (
        REJECTED, "campaign_not_running", message, 400)


def test_end_contact_without_customer_id_sends_nothing(make_client, make_lead, campaign, sandbox):
    [result] = make_client().end_contact([Item(id=1, lead=make_lead(campaign, external_id=""))])
    assert (result.status, result.code) == (REJECTED, "missing_customer_id")
    assert sandbox.requests("eightbyeight") == []


def test_end_contact_stops_at_a_whole_call_failure(make_client, make_lead, campaign, sandbox):
    sandbox.faults(vendor="eightbyeight", error_503_rate=1, retry_after=3)
    items = [Item(id=n, lead=make_lead(campaign, external_id=f"16{n}")) for n in (1, 2, 3)]
    results = make_client().end_contact(items)
    assert [(r.status, r.retry_after) for r in results] == [(RETRY, 3.0)] * 3
    assert len(sandbox.requests("eightbyeight")) == 1


# ---- campaign status -------------------------------------------------------
def test_it_changes_the_campaign_status(make_client, sandbox):
    result = make_client().set_campaign_status("PAUSED")
    [entry] = sandbox.requests("eightbyeight")
    assert_request(entry, "PATCH", f"{ROOT}/101", {"status": "PAUSED"})
    assert (result.campaign_id, result.status, result.http_status) == ("101", "PAUSED", 200)
    assert sandbox.state("eightbyeight")["eightbyeight"]["campaigns"]["101"]["status"] == "PAUSED"


def test_a_stopped_campaign_refuses_new_customers(make_client, make_lead, campaign, sandbox):
    client = make_client()
    client.set_campaign_status("STOPPED")
    [result] = client.push([Item(id=1, lead=make_lead(campaign, external_id="17"))])
    assert (result.code, result.message) == (
        "campaign_not_running", "The campaign has stopped. No additional customers can be added.")


@pytest.mark.parametrize("campaign_id, status, http_status, code, message", [
    ("101", "RUNNING", 400, "invalid_transition", "Invalid state transition"),
    ("new-3", "PAUSED", 400, "invalid_transition", "Invalid state transition"),
    ("static-3", "RUNNING", 400, "campaign_not_running", "Not a dynamic campaign"),
    ("disabled-3", "RUNNING", 400, "campaign_not_running", "The campaign is not enabled."),
    ("missing-3", "RUNNING", 404, "not_found", "The campaign cannot be found."),
])
def test_a_refused_status_change_raises_with_the_vendors_message(campaign_id, status, http_status, code, message,
                                                                 make_client, sandbox):
    with pytest.raises(VendorError) as caught:
        make_client(campaign_id).set_campaign_status(status)
    error = caught.value
    assert (error.permanent, error.http_status, error.code, error.message) == (True, http_status, code, message)
    assert_request(sandbox.requests("eightbyeight")[0], "PATCH", f"{ROOT}/{campaign_id}", {"status": status})


def test_a_status_change_on_a_broken_server_is_transient(make_client, sandbox):
    with pytest.raises(VendorError) as caught:
        make_client("broken-4").set_campaign_status("PAUSED")
    assert (caught.value.permanent, caught.value.http_status) == (False, 500)


def test_an_unknown_status_is_refused_without_a_request(make_client, sandbox):
    with pytest.raises(VendorError, match="RUNNING, STOPPED, PAUSED, PURGED"):
        make_client().set_campaign_status("ARCHIVED")
    assert sandbox.requests("eightbyeight") == []


def test_purging_removes_every_queued_customer(make_client, make_lead, campaign, sandbox):
    client = make_client()
    client.push([Item(id=1, lead=make_lead(campaign, external_id="18"))])
    client.set_campaign_status("STOPPED")
    client.set_campaign_status("PURGED")
    state = sandbox.state("eightbyeight")["eightbyeight"]["campaigns"]["101"]
    assert (state["status"], state["customers"]) == ("PURGED", {})


# ---- settings and connection ----------------------------------------------
def test_check_connection_sends_nothing(make_client, sandbox):
    report = make_client().check_connection()
    assert report.ok and report.checked_call == ""
    assert "nothing was sent" in report.message
    assert sandbox.requests("eightbyeight") == []


def test_check_connection_reports_a_missing_base_url(db, campaign):
    account = VendorAccount.objects.create(name="no url", kind="eightbyeight", credentials={"tenant_id": "t", "token": "x"})
    report = EightByEightClient(account).check_connection()
    assert not report.ok and "base URL" in report.message


@pytest.mark.parametrize("settings, errors", [
    ({}, {}),
    ({"customer_id_field": "external_id"}, {}),
    ({"customer_id_field": "metadata.account_no"}, {}),
    ({"customer_id_field": "metadata."}, {"customer_id_field": "Name the metadata key"}),
    ({"customer_id_field": "phone"}, {"customer_id_field": "not usable"}),
    ({"customer_id_field": 5}, {"customer_id_field": "Must be text"}),
    ({"campaign": "x"}, {"campaign": "Unknown 8x8 setting"}),
])
def test_it_validates_settings(settings, errors):
    found = EightByEightClient.validate_settings(settings)
    assert set(found) == set(errors)
    for key, start in errors.items():
        assert start in found[key]
