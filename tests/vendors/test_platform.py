"""ipSCAPE Platform API client against the real-HTTP sandbox (seed 001)."""
from __future__ import annotations

import datetime as dt
import logging
import time

import pytest

from vendors.integrations.base import ACCEPTED, REJECTED, RETRY, Item, VendorError
from vendors.integrations.paging import walk_cursor
from vendors.integrations.platform import ENDPOINTS, PlatformClient
from vendors.models import Destination, VendorAccount
from vendors import registry

API_KEY = "pk_live_S3CRET_platform_key_42"
ROOT = "/platform-api/v3.0"


@pytest.fixture
def account(db, sandbox):
    return VendorAccount.objects.create(name="ipSCAPE", kind="platform", timeout_seconds=5,
                                        base_url=sandbox.url("platform") + "/platform-api",
                                        credentials={"api_key": API_KEY})


@pytest.fixture
def make_client(account, campaign):
    def make(list_id="100", api_key=None, **settings):
        settings.setdefault("bulk_poll_seconds", 0)
        if api_key is not None:
            account.credentials = {"api_key": api_key}
            account.save()
        destination, _ = Destination.objects.update_or_create(
            campaign=campaign, account=account, defaults={"remote_ref": list_id, "settings": settings})
        return registry.client_for(destination)
    return make


@pytest.fixture
def client(make_client):
    return make_client()


def lead_body(lead, list_id=100, **extra):
    body = {"listId": list_id, "customerKey": str(lead.id), "timezone": lead.timezone, "phone1": str(lead.phone),
            "leadData": {"firstName": lead.first_name, "lastName": lead.last_name, "email": lead.email,
                         "state": lead.region, "postcode": lead.postal_code, "country": lead.country}}
    body.update(extra)
    return body


def calls(sandbox):
    return [(r["method"], r["path"], r["query"]) for r in sandbox.requests("platform")]


# ---- single add ------------------------------------------------------------------
def test_registry_builds_this_client(client):
    assert isinstance(client, PlatformClient)
    assert client.max_batch == 500 and client.required_credentials == ("api_key",)


def test_it_adds_one_lead_with_the_exact_request(client, sandbox, campaign, make_lead):
    lead = make_lead(campaign, metadata={"source_id": "A7"})
    when = dt.datetime(2030, 1, 2, 15, 30, tzinfo=dt.timezone.utc)
    [result] = client.push([Item(id=1, lead=lead, contact_at=when)])

    [req] = sandbox.requests("platform")
    assert (req["method"], req["path"], req["query"]) == ("POST", f"{ROOT}/leads", {})
    assert req["headers"]["authorization"] == API_KEY
    assert req["headers"]["content-type"] == "application/json"
    expected = lead_body(lead, nextAttemptTimestamp="2030-01-02T15:30:00Z")
    expected["leadData"] = {"source_id": "A7", **expected["leadData"]}
    assert req["body"] == expected
    assert result.status == ACCEPTED and result.remote_ref == "1000" and result.http_status == 200
    assert result.code == ""


def test_it_maps_lead_data_customer_key_and_defaults_from_settings(make_client, sandbox, campaign, make_lead):
    client = make_client(lead_data_fields={"name": "full_name", "ref": "external_id"}, include_metadata=False,
                         customer_key_field="external_id", status_code=3, agent_id=1002)
    lead = make_lead(campaign, external_id="CRM-9", phone_alt="+14155550199", metadata={"x": "y"})
    [result] = client.push([Item(id=5, lead=lead)])
    body = sandbox.requests("platform")[0]["body"]
    assert body == {"listId": 100, "customerKey": "CRM-9", "timezone": lead.timezone, "phone1": str(lead.phone),
                    "phone2": "+14155550199", "leadData": {"name": lead.full_name, "ref": "CRM-9"},
                    "statusCode": 3, "agentId": 1002}
    assert result.status == ACCEPTED


def test_it_reports_a_list_that_is_not_in_the_dialler(make_client, campaign, make_lead):
    [result] = make_client(list_id="103").push([Item(id=1, lead=make_lead(campaign))])
    assert result.status == ACCEPTED and "not in the dialler" in result.message


def test_an_existing_customer_key_is_accepted_as_duplicate_with_its_id(client, sandbox, campaign, make_lead):
    lead = make_lead(campaign)
    [first] = client.push([Item(id=1, lead=lead)])
    [again] = client.push([Item(id=1, lead=lead)])
    assert calls(sandbox)[1:] == [
        ("POST", f"{ROOT}/leads", {}),
        ("GET", f"{ROOT}/leads", {"customerKey": [str(lead.id)], "listId": ["100"]}),
    ]
    assert sandbox.requests("platform")[1]["status"] == 409
    assert (again.status, again.code, again.remote_ref, again.http_status) == (ACCEPTED, "duplicate", first.remote_ref, 409)
    assert "already exists" in again.message


def test_check_existing_skips_leads_the_vendor_already_holds(make_client, sandbox, campaign, make_lead):
    lead = make_lead(campaign)
    client = make_client(check_existing=True)
    [first] = client.push([Item(id=1, lead=lead)])
    [again] = client.push([Item(id=1, lead=lead)])
    assert [c[0] for c in calls(sandbox)] == ["GET", "POST", "GET"]
    assert (again.status, again.code, again.remote_ref) == (ACCEPTED, "duplicate", first.remote_ref)


def test_it_rejects_an_invalid_lead_with_the_vendors_words(client, sandbox, campaign, make_lead):
    lead = make_lead(campaign, phone="+12")
    [result] = client.push([Item(id=1, lead=lead)])
    assert sandbox.requests("platform")[0]["body"]["phone1"] == "+12"
    assert (result.status, result.code, result.http_status) == (REJECTED, "invalid", 422)
    assert result.message == "The given data was invalid. — phone1: The phone1 format is invalid."


def test_it_rejects_an_unknown_list(make_client, sandbox, campaign, make_lead):
    [result] = make_client(list_id="999").push([Item(id=1, lead=make_lead(campaign))])
    assert sandbox.requests("platform")[0]["body"]["listId"] == 999
    assert (result.status, result.code) == (REJECTED, "invalid")
    assert "listId: The selected list id is invalid." in result.message


def test_a_list_id_that_is_not_an_integer_is_rejected_before_sending(make_client, sandbox, campaign, make_lead):
    results = make_client(list_id="sales").push([Item(id=1, lead=make_lead(campaign)), Item(id=2, lead=make_lead(campaign))])
    assert sandbox.requests("platform") == []
    assert [(r.status, r.code) for r in results] == [(REJECTED, "invalid")] * 2
    assert "not an integer listId" in results[0].message


def test_a_lead_without_a_customer_key_is_rejected_before_sending(make_client, sandbox, campaign, make_lead):
    [result] = make_client(customer_key_field="external_id").push([Item(id=1, lead=make_lead(campaign))])
    assert sandbox.requests("platform") == []
    assert (result.status, result.code) == (REJECTED, "invalid") and "customerKey" in result.message


# ---- bulk add -----------------------------------------------------------------------
def test_it_bulk_adds_polls_and_learns_lead_ids(client, sandbox, campaign, make_lead):
    leads = [make_lead(campaign) for _ in range(3)]
    results = client.push([Item(id=n, lead=lead) for n, lead in enumerate(leads)])

    reqs = sandbox.requests("platform")
    assert reqs[0]["method"] == "POST" and reqs[0]["path"] == f"{ROOT}/leads/bulk" and reqs[0]["query"] == {}
    assert reqs[0]["headers"]["authorization"] == API_KEY
    assert reqs[0]["body"] == {"leads": [lead_body(lead) for lead in leads]}
    uuid = reqs[1]["path"].rsplit("/", 1)[1]
    assert [(r["method"], r["path"]) for r in reqs[1:4]] == [
        ("GET", f"{ROOT}/leads/bulk/{uuid}"), ("GET", f"{ROOT}/leads/bulk/{uuid}"),
        ("GET", f"{ROOT}/leads/bulk/{uuid}/errors")]
    assert reqs[4]["method"] == "GET" and reqs[4]["path"] == f"{ROOT}/leads"
    assert set(reqs[4]["query"]) == {"listId", "uploadedTimestampFrom"} and reqs[4]["query"]["listId"] == ["100"]
    assert len(reqs) == 5
    assert [(r.item_id, r.status, r.remote_ref, r.code) for r in results] == [
        (0, ACCEPTED, "1000", ""), (1, ACCEPTED, "1001", ""), (2, ACCEPTED, "1002", "")]
    assert sandbox.state("platform")["platform"]["leads"] == 3


def test_a_bulk_batch_with_one_bad_item_returns_one_rejection_and_the_rest_accepted(client, sandbox, campaign, make_lead):
    leads = [make_lead(campaign) for _ in range(2)] + [make_lead(campaign, phone="+12")] + [make_lead(campaign)]
    results = client.push([Item(id=10 + n, lead=lead) for n, lead in enumerate(leads)])
    assert [r.item_id for r in results] == [10, 11, 12, 13]
    assert [r.status for r in results] == [ACCEPTED, ACCEPTED, REJECTED, ACCEPTED]
    assert results[2].code == "invalid" and results[2].message == "phone1: The phone1 format is invalid."
    assert all(r.remote_ref for r in results if r.status == ACCEPTED)
    assert results[2].remote_ref == ""


def test_it_maps_bulk_errors_back_to_items_over_several_pages(client, sandbox, campaign, make_lead):
    bad = {1, 2, 4, 5, 7, 9, 11, 12, 14, 16, 18, 20}            # 12 errors: two pages of 10
    leads = [make_lead(campaign, phone=f"+{10 + n}" if n in bad else f"+1415555{7000 + n}") for n in range(22)]
    results = client.push([Item(id=100 + n, lead=lead) for n, lead in enumerate(leads)])

    error_reqs = [r for r in sandbox.requests("platform") if r["path"].endswith("/errors")]
    assert [r["query"] for r in error_reqs] == [{}, {"pageNo": ["2"]}]
    assert [n for n, r in enumerate(results) if r.status == REJECTED] == sorted(bad)
    assert all(r.code == "invalid" and "phone1" in r.message for r in results if r.status == REJECTED)
    assert all(r.remote_ref for r in results if r.status == ACCEPTED)


@pytest.fixture
def deduplicating_tenant(sandbox):
    """A tenant whose bulk import refuses a customerKey the list already holds (the seed promises
    no such check, so the sandbox does not make it by default)."""
    sandbox.server.sandbox.sims["platform"].bulk_checks_duplicates = True


def test_bulk_errors_map_by_index_when_customer_keys_repeat(client, sandbox, campaign, make_lead,
                                                            deduplicating_tenant):
    lead = make_lead(campaign)
    results = client.push([Item(id=1, lead=lead), Item(id=2, lead=lead)])
    assert [(r.status, r.code) for r in results] == [(ACCEPTED, ""), (ACCEPTED, "duplicate")]
    assert results[0].remote_ref == results[1].remote_ref != ""


def test_a_bulk_duplicate_is_accepted_with_the_existing_id(client, sandbox, campaign, make_lead,
                                                         deduplicating_tenant):
    old, new = make_lead(campaign), make_lead(campaign)
    [first] = client.push([Item(id=1, lead=old)])
    results = client.push([Item(id=1, lead=old), Item(id=2, lead=new)])
    assert (results[0].status, results[0].code, results[0].remote_ref) == (ACCEPTED, "duplicate", first.remote_ref)
    assert "already exists" in results[0].message
    assert (results[1].status, results[1].code) == (ACCEPTED, "")


def test_it_gives_up_polling_after_the_bound_and_asks_for_a_retry(make_client, sandbox, campaign, make_lead):
    client = make_client(list_id="101", bulk_max_polls=3)
    results = client.push([Item(id=n, lead=make_lead(campaign)) for n in range(2)])
    polls = [r for r in sandbox.requests("platform") if r["method"] == "GET"]
    assert len(polls) == 3
    assert [(r.status, r.code) for r in results] == [(RETRY, "timeout")] * 2
    assert "still 'processing' after 3 polls" in results[0].message


def test_it_sleeps_between_polls_as_configured(make_client, campaign, make_lead, monkeypatch):
    pauses = []
    client = make_client(bulk_poll_seconds=1.5)
    monkeypatch.setattr(client, "sleep", pauses.append)
    client.push([Item(id=n, lead=make_lead(campaign)) for n in range(2)])
    assert pauses == [1.5]                    # the job finishes on the second poll


def test_a_failed_bulk_job_without_errors_retries_its_items(make_client, sandbox, campaign, make_lead):
    results = make_client(list_id="102").push([Item(id=n, lead=make_lead(campaign)) for n in range(2)])
    assert [(r.status, r.code) for r in results] == [(RETRY, "vendor_unavailable")] * 2
    assert "ended 'failed'" in results[0].message
    assert sandbox.state("platform")["platform"]["leads"] == 0


def test_a_bulk_call_the_vendor_refuses_whole_rejects_every_item(make_client, sandbox, campaign, make_lead, monkeypatch):
    monkeypatch.setattr(PlatformClient, "max_batch", 1000)
    client = make_client()
    leads = [make_lead(campaign, phone=f"+1415666{n:04d}") for n in range(501)]
    results = client.push([Item(id=n, lead=lead) for n, lead in enumerate(leads)])
    assert len(sandbox.requests("platform")) == 1
    assert {(r.status, r.code, r.http_status) for r in results} == {(REJECTED, "invalid", 422)}
    assert "more than 500" in results[0].message


def test_push_splits_batches_larger_than_max_batch(make_client, sandbox, campaign, make_lead, monkeypatch):
    monkeypatch.setattr(PlatformClient, "max_batch", 2)
    results = make_client().push([Item(id=n, lead=make_lead(campaign)) for n in range(3)])
    adds = [r for r in sandbox.requests("platform") if r["method"] == "POST"]
    # one call per chunk of max_batch; a chunk of one lead is a single add, as in the pipeline
    assert [len(r["body"]["leads"]) if r["path"].endswith("/bulk") else 1 for r in adds] == [2, 1]
    assert [r.status for r in results] == [ACCEPTED] * 3


# ---- transient and auth failures ---------------------------------------------------------
def test_it_retries_on_503_with_retry_after(client, sandbox, campaign, make_lead):
    sandbox.faults(vendor="platform", error_503_rate=1, retry_after=7)
    single = client.push([Item(id=1, lead=make_lead(campaign))])
    bulk = client.push([Item(id=2, lead=make_lead(campaign)), Item(id=3, lead=make_lead(campaign))])
    for r in single + bulk:
        assert (r.status, r.code, r.http_status, r.retry_after) == (RETRY, "vendor_unavailable", 503, 7)
    assert [r["status"] for r in sandbox.requests("platform")] == [503, 503]


def test_it_reports_429_as_rate_limited(client, sandbox, campaign, make_lead):
    sandbox.faults(vendor="platform", error_429_rate=1, retry_after=3)
    [r] = client.push([Item(id=1, lead=make_lead(campaign))])
    assert (r.status, r.code, r.retry_after) == (RETRY, "rate_limited", 3)


def test_a_refused_key_rejects_with_unauthorized(make_client, sandbox, campaign, make_lead):
    client = make_client(api_key="invalid-key-123")
    results = client.push([Item(id=n, lead=make_lead(campaign)) for n in range(2)])
    [single] = client.push([Item(id=9, lead=make_lead(campaign))])
    assert [r["status"] for r in sandbox.requests("platform")] == [401, 401]
    for r in results + [single]:
        assert (r.status, r.code, r.http_status) == (REJECTED, "unauthorized", 401)


def test_a_dead_server_gives_connection_error_retries(campaign, make_lead, db):
    account = VendorAccount.objects.create(name="down", kind="platform", base_url="http://127.0.0.1:9/platform-api",
                                           credentials={"api_key": API_KEY})
    dest = Destination.objects.create(campaign=campaign, account=account, remote_ref="100")
    [r] = registry.client_for(dest).push([Item(id=1, lead=make_lead(campaign))])
    assert (r.status, r.code) == (RETRY, "connection_error")


def test_a_slow_answer_gives_timeout_retries(client, sandbox, campaign, make_lead):
    client.timeout = (1.0, 0.3)
    sandbox.faults(vendor="platform", slow_rate=1, slow_seconds=0.8)
    [r] = client.push([Item(id=1, lead=make_lead(campaign))])
    assert (r.status, r.code) == (RETRY, "timeout")
    time.sleep(1.0)   # let the sandbox finish the slow request before the next test resets it


def test_no_credential_appears_in_exchanges_or_logs(client, sandbox, campaign, make_lead, caplog):
    caplog.set_level(logging.DEBUG)
    client.push([Item(id=n, lead=make_lead(campaign, phone="+12" if n == 1 else f"+1415555{8000 + n}")) for n in range(3)])
    client.push([Item(id=9, lead=make_lead(campaign))])
    client.check_connection()
    sandbox.faults(vendor="platform", error_503_rate=1)
    client.push([Item(id=10, lead=make_lead(campaign))])
    assert len(client.exchanges) >= 7
    for ex in client.exchanges:
        assert API_KEY not in ex.url and API_KEY not in ex.excerpt and API_KEY not in ex.error
    assert API_KEY not in caplog.text
    assert sandbox.requests("platform")[0]["headers"]["authorization"] == API_KEY   # it was sent, just never kept


# ---- get / update / end contact / erase --------------------------------------------------
def test_it_reads_a_leads_outcomes(client, sandbox, campaign, make_lead):
    lead = make_lead(campaign)
    [added] = client.push([Item(id=1, lead=lead)])
    result, data = client.get_lead(Item(id=1, lead=lead, remote_ref=added.remote_ref))
    assert calls(sandbox)[-1] == ("GET", f"{ROOT}/leads/{added.remote_ref}", {})
    assert result.status == ACCEPTED and result.remote_ref == added.remote_ref
    assert data["completed"] is False and data["customerKey"] == str(lead.id) and data["listId"] == 100
    assert "completed=False" in result.message


def test_getting_an_unknown_lead_is_not_found(client, sandbox, campaign, make_lead):
    result, data = client.get_lead(Item(id=1, lead=make_lead(campaign), remote_ref="424242"))
    assert calls(sandbox) == [("GET", f"{ROOT}/leads/424242", {})]
    assert (result.status, result.code, result.http_status, data) == (REJECTED, "not_found", 404, None)


def test_the_vendor_refuses_to_uncomplete_a_lead_too(client, sandbox, campaign, make_lead):
    lead = make_lead(campaign)
    [added] = client.push([Item(id=1, lead=lead)])
    import requests
    resp = requests.patch(client.url(f"v3.0/leads/{added.remote_ref}"), json={"isCompleted": False},
                          headers={"Authorization": API_KEY}, timeout=5)
    assert resp.status_code == 422 and "only be completed" in resp.json()["errors"]["isCompleted"][0]


def test_it_deletes_a_lead_to_end_contact(client, sandbox, campaign, make_lead):
    lead = make_lead(campaign)
    [added] = client.push([Item(id=1, lead=lead)])
    [r] = client.end_contact([Item(id=1, lead=lead, remote_ref=added.remote_ref)])
    req = sandbox.requests("platform")[-1]
    assert (req["method"], req["path"], req["query"], req["body"]) == ("DELETE", f"{ROOT}/leads/{added.remote_ref}", {}, None)
    assert req["headers"]["authorization"] == API_KEY
    assert (r.status, r.remote_ref, r.code, r.http_status) == (ACCEPTED, added.remote_ref, "", 204)
    assert sandbox.state("platform")["platform"]["leads"] == 0


def test_ending_contact_with_a_lead_the_vendor_no_longer_has_is_done(client, sandbox, campaign, make_lead):
    [r] = client.end_contact([Item(id=1, lead=make_lead(campaign), remote_ref="777")])
    assert calls(sandbox) == [("DELETE", f"{ROOT}/leads/777", {})]
    assert (r.status, r.code, r.http_status) == (ACCEPTED, "not_found", 404)


def test_it_completes_instead_of_deleting_when_configured(make_client, sandbox, campaign, make_lead):
    client = make_client(end_contact_mode="complete")
    lead = make_lead(campaign)
    [added] = client.push([Item(id=1, lead=lead)])
    [r] = client.end_contact([Item(id=1, lead=lead, remote_ref=added.remote_ref)])
    req = sandbox.requests("platform")[-1]
    assert (req["method"], req["path"], req["body"]) == ("PATCH", f"{ROOT}/leads/{added.remote_ref}", {"isCompleted": True})
    assert r.status == ACCEPTED
    assert sandbox.state("platform")["platform"]["completed"] == 1


def test_end_contact_without_a_remote_ref_finds_the_lead_by_customer_key(client, sandbox, campaign, make_lead):
    lead = make_lead(campaign)
    [added] = client.push([Item(id=1, lead=lead)])
    [r] = client.end_contact([Item(id=1, lead=lead)])
    assert calls(sandbox)[1:] == [("GET", f"{ROOT}/leads", {"customerKey": [str(lead.id)], "listId": ["100"]}),
                                  ("DELETE", f"{ROOT}/leads/{added.remote_ref}", {})]
    assert (r.status, r.remote_ref) == (ACCEPTED, added.remote_ref)


def test_end_contact_retries_the_rest_after_a_503(client, sandbox, campaign, make_lead):
    sandbox.faults(vendor="platform", error_503_rate=1, retry_after=7)
    results = client.end_contact([Item(id=n, lead=make_lead(campaign), remote_ref=str(1000 + n)) for n in range(3)])
    assert len(sandbox.requests("platform")) == 1
    assert [(r.status, r.code, r.retry_after) for r in results] == [(RETRY, "vendor_unavailable", 7)] * 3


def test_it_erases_a_customer(client, sandbox, campaign, make_lead):
    lead = make_lead(campaign)
    client.push([Item(id=1, lead=lead)])
    [r] = client.erase([Item(id=1, lead=lead)])
    req = sandbox.requests("platform")[-1]
    assert (req["method"], req["path"], req["body"]) == ("DELETE", f"{ROOT}/customer", None)
    assert req["query"] == {"phoneNumber": [str(lead.phone)], "emailAddress": [lead.email]}
    assert r.status == ACCEPTED and "leadData" in r.message
    state = sandbox.state("platform")["platform"]
    assert state["erased_customers"] == 1 and state["leads"] == 0


def test_the_vendor_refuses_an_erase_without_phone_or_email(client, sandbox):
    import requests
    resp = requests.delete(client.url("v3.0/customer"), headers={"Authorization": API_KEY}, timeout=5)
    assert resp.status_code == 422 and "phoneNumber" in resp.json()["errors"]


def test_a_cursor_walk_follows_the_cursor_pages(client, sandbox):
    lists = list(walk_cursor(lambda query: client.call("list_lists", params=query).json(), {}, max_pages=10))
    assert [lst["id"] for lst in lists] == [100, 101, 102, 103]
    assert calls(sandbox) == [("GET", f"{ROOT}/lists", {}), ("GET", f"{ROOT}/lists", {"cursor": ["2"]})]


# ---- lists and connection ----------------------------------------------------------------
def test_check_connection_reads_the_destinations_list(client, sandbox):
    report = client.check_connection()
    assert report.ok and report.checked_call == "GET v3.0/lists/100" and "List One" in report.message
    assert calls(sandbox) == [("GET", f"{ROOT}/lists/100", {})]


def test_check_connection_without_a_destination_lists_lists(account, sandbox):
    report = registry.client_for_account(account).check_connection()
    assert report.ok and report.checked_call == "GET v3.0/lists"
    assert [r["method"] for r in sandbox.requests("platform")] == ["GET"]


def test_check_connection_reports_a_refused_key(make_client, sandbox):
    report = make_client(api_key="invalid").check_connection()
    assert not report.ok and report.http_status == 401


def test_check_connection_reports_an_unknown_list(make_client, sandbox):
    report = make_client(list_id="4040").check_connection()
    assert not report.ok and report.http_status == 404


# ---- settings -------------------------------------------------------------------------------
def test_validate_settings_accepts_every_documented_setting():
    assert PlatformClient.validate_settings({
        "lead_data_fields": {"name": "full_name"}, "include_metadata": False, "customer_key_field": "external_id",
        "status_code": 1, "agent_id": 2, "end_contact_mode": "complete", "check_existing": True,
        "bulk_poll_seconds": 0, "bulk_max_polls": 5, "bulk_error_index_base": 1, "resolve_bulk_lead_ids": False,
    }) == {}


def test_validate_settings_explains_unknown_keys_and_wrong_types():
    errors = PlatformClient.validate_settings({
        "listid": 5, "lead_data_fields": {"name": "nickname"}, "include_metadata": "yes",
        "end_contact_mode": "cancel", "bulk_max_polls": 0, "status_code": "3", "customer_key_field": "uuid",
    })
    assert set(errors) == {"listid", "lead_data_fields", "include_metadata", "end_contact_mode", "bulk_max_polls",
                           "status_code", "customer_key_field"}
    assert "known settings" in errors["listid"]
    assert "'nickname'" in errors["lead_data_fields"] and "first_name" in errors["lead_data_fields"]
    assert "true or false" in errors["include_metadata"]
    assert '"delete"' in errors["end_contact_mode"]


def test_the_path_table_is_one_dict_of_methods_and_paths():
    assert all(path.startswith("v3.0/") and method in {"GET", "POST", "PATCH", "DELETE"}
               for method, path in ENDPOINTS.values())


# ---- the simulator itself -----------------------------------------------------------------
def test_the_sandbox_refuses_a_missing_authorization_header(client, sandbox):
    import requests
    resp = requests.get(client.url("v3.0/lists"), timeout=5)
    assert resp.status_code == 401 and resp.json() == {"message": "Unauthenticated."}


def test_the_sandbox_rejects_unknown_fields_and_wrong_types(client, sandbox):
    import requests
    resp = requests.post(client.url("v3.0/leads"), headers={"Authorization": API_KEY}, timeout=5,
                         json={"listId": "100", "phone1": "+14155550000", "leadData": "x", "colour": "red"})
    assert resp.status_code == 422
    assert set(resp.json()["errors"]) == {"listId", "leadData", "colour"}


def test_a_second_bulk_into_the_same_list_scans_only_from_where_the_first_scan_ended(client, sandbox, campaign,
                                                                                    make_lead, monkeypatch):
    import datetime as dt

    from vendors.integrations import bulkjobs

    monkeypatch.setattr(bulkjobs, "_WALK_RESUME", {})  # this process scanned list 100 in earlier tests

    client.push([Item(id=n, lead=make_lead(campaign)) for n in range(3)])
    first_scan = [r for r in sandbox.requests("platform") if r["method"] == "GET" and r["path"] == f"{ROOT}/leads"][-1]
    second = client.push([Item(id=10 + n, lead=make_lead(campaign)) for n in range(3)])
    scans = [r for r in sandbox.requests("platform") if r["method"] == "GET" and r["path"] == f"{ROOT}/leads"]
    begin = lambda r: dt.datetime.fromisoformat(r["query"]["uploadedTimestampFrom"][0].replace("Z", "+00:00"))  # noqa: E731
    # the first scan reached back two minutes; the second starts a second before the newest lead it saw
    assert begin(scans[-1]) - begin(first_scan) >= dt.timedelta(seconds=100)
    assert [(r.status, bool(r.remote_ref)) for r in second] == [(ACCEPTED, True)] * 3
