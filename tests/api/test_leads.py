"""Lead endpoints: single and bulk intake, error shape per reason code, dry run, listing, detail, cancel."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns.models import DNC, Campaign, Lead

URL = "/api/v1/leads/"
BULK = "/api/v1/leads/bulk/"


def assert_error_shape(body):
    assert set(body) == {"code", "message", "fields"}, body
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["message"], str) and body["message"]
    for name, items in body["fields"].items():
        assert isinstance(name, str)
        for item in items:
            assert set(item) == {"code", "message"}


def test_it_accepts_a_lead_and_answers_with_the_normalised_phone(api, campaign, partner):
    r = api.post(URL, {"campaign": "solar-us", "phone": "(415) 555-2671", "first_name": "Ada"}, format="json")
    assert r.status_code == 201, r.json()
    body = r.json()
    lead = Lead.objects.get(pk=body["id"])
    assert body == {"id": lead.pk, "status": "new", "phone": "+14155552671", "campaign": "solar-us", "dry_run": False,
                    "warnings": []}
    assert lead.partner == partner and lead.source == "api:acme"


@pytest.mark.parametrize(
    "payload, status, code, field",
    [
        ({"phone": "not a number"}, 400, "invalid_phone", "phone"),
        ({"phone": "415 555"}, 400, "invalid_phone", "phone"),
        ({}, 400, "missing_field", "phone"),
        ({"phone": ""}, 400, "missing_field", "phone"),
        ({"phone": "+14155552671", "email": "nope"}, 400, "invalid_field", "email"),
        ({"phone": "+14155552671", "shoe_size": "9"}, 400, "invalid_field", "shoe_size"),
        ({"phone": "+14155552671", "timezone": "Mars/Base"}, 400, "invalid_field", "timezone"),
        ({"phone": "+14155552671", "timezone": "posixrules"}, 400, "invalid_field", "timezone"),  # no vendor takes it
        ({"phone": "+14155552671", "consent_at": "yesterday"}, 400, "invalid_field", "consent_at"),
        ({"phone": "+14155552671", "metadata": "x"}, 400, "invalid_field", "metadata"),
    ],
)
def test_each_validation_reason_has_its_code_and_the_error_shape(api, campaign, payload, status, code, field):
    r = api.post(URL, {"campaign": "solar-us", **payload}, format="json")
    assert r.status_code == status, r.json()
    body = r.json()
    assert_error_shape(body)
    assert body["code"] == code
    assert body["fields"][field][0]["code"] == code
    assert not Lead.objects.exists()


def test_a_duplicate_is_a_409_with_code_duplicate(api, campaign, make_lead):
    make_lead(campaign, phone="+14155552671")
    r = api.post(URL, {"campaign": "solar-us", "phone": "415.555.2671"}, format="json")
    assert r.status_code == 409
    body = r.json()
    assert_error_shape(body)
    assert body["code"] == "duplicate" and body["fields"]["phone"][0]["code"] == "duplicate"


@pytest.mark.django_db(transaction=True)  # autocommit, as in production: intake's transaction is the outermost
def test_a_single_lead_post_spends_no_round_trip_on_savepoints_or_planner_settings(api, campaign):
    """Its statements: key, campaign, existing number, DNC, insert, destinations, commit,
    wake-up flag (and outbox rows when the campaign has destinations); every check kept."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        r = api.post(URL, {"campaign": "solar-us", "phone": "415.555.2671"}, format="json")
    assert r.status_code == 201
    statements = [q["sql"] for q in queries.captured_queries]
    assert not [sql for sql in statements if "SAVEPOINT" in sql or "set_config" in sql], statements
    assert sum("campaigns_dnc" in sql for sql in statements) == 1  # the DNC check is still made
    assert sum("FROM campaigns_lead" in sql or 'FROM "campaigns_lead"' in sql for sql in statements) == 1


@pytest.mark.django_db(transaction=True)
def test_a_single_lead_that_loses_the_race_for_its_number_is_a_duplicate_and_leaves_nothing(
        api, campaign, make_lead, monkeypatch):
    from campaigns import intake

    make_lead(campaign, phone="+14155552671")  # committed by another request after our lookup ran
    real, calls = intake.existing_leads, []

    def not_yet_visible(campaign, phones):
        calls.append(phones)
        return {} if len(calls) == 1 else real(campaign, phones)

    monkeypatch.setattr(intake, "existing_leads", not_yet_visible)
    r = api.post(URL, {"campaign": "solar-us", "phone": "415.555.2671"}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "duplicate", r.json()
    assert Lead.objects.filter(phone="+14155552671").count() == 1
    r = api.post(URL, {"campaign": "solar-us", "phone": "415.555.2672"}, format="json")  # the connection is fine
    assert r.status_code == 201


def test_a_dnc_number_is_a_422_with_code_dnc(api, campaign):
    DNC.objects.create(phone="+14155552671", campaign=campaign)
    r = api.post(URL, {"campaign": "solar-us", "phone": "+1 415 555 2671"}, format="json")
    assert r.status_code == 422
    assert_error_shape(r.json())
    assert r.json()["code"] == "dnc"


def test_a_globally_listed_number_is_dnc_too(api, campaign):
    DNC.objects.create(phone="+14155552671", campaign=None)
    r = api.post(URL, {"campaign": "solar-us", "phone": "4155552671"}, format="json")
    assert r.status_code == 422 and r.json()["code"] == "dnc"


def test_an_archived_campaign_answers_campaign_closed(api, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.ARCHIVED)
    r = api.post(URL, {"campaign": "solar-us", "phone": "+14155552671"}, format="json")
    assert r.status_code == 409
    assert_error_shape(r.json())
    assert r.json()["code"] == "campaign_closed"


def test_duplicate_in_batch_has_its_code_in_bulk(api, campaign):
    r = api.post(BULK, {"campaign": "solar-us", "leads": [{"phone": "+14155552671"}, {"phone": "(415) 555-2671"}]},
                 format="json")
    assert r.status_code == 207
    second = r.json()["results"][1]
    assert second["status"] == "rejected" and second["error"]["code"] == "duplicate_in_batch"
    assert_error_shape(second["error"])


def test_an_unknown_campaign_is_a_field_error(api, campaign):
    r = api.post(URL, {"campaign": "nope", "phone": "+14155552671"}, format="json")
    assert r.status_code == 400
    assert_error_shape(r.json())
    assert r.json()["fields"]["campaign"][0]["code"] == "invalid_field"


def test_dry_run_reports_acceptance_and_saves_nothing(api, campaign):
    r = api.post(URL + "?dry_run=true", {"campaign": "solar-us", "phone": "(415) 555-2671"}, format="json")
    assert r.status_code == 200
    assert r.json() == {"id": None, "status": "new", "phone": "+14155552671", "campaign": "solar-us", "dry_run": True,
                        "warnings": []}
    assert not Lead.objects.exists()


def test_dry_run_reports_the_rejection_it_would_give(api, campaign, make_lead):
    make_lead(campaign, phone="+14155552671")
    r = api.post(URL + "?dry_run=1", {"campaign": "solar-us", "phone": "+14155552671"}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "duplicate"
    assert Lead.objects.count() == 1


def test_bulk_dry_run_saves_nothing(api, campaign):
    r = api.post(BULK + "?dry_run=true", {"campaign": "solar-us", "leads": [{"phone": "+14155552671"},
                                                                           {"phone": "bad"}]}, format="json")
    assert r.status_code == 207
    body = r.json()
    assert body["dry_run"] is True and body["summary"] == {"accepted": 1, "rejected": 1}
    assert body["results"][0] == {"index": 0, "status": "accepted", "id": None, "phone": "+14155552671", "error": None,
                                  "warnings": []}
    assert not Lead.objects.exists()


def test_a_bad_dry_run_value_is_a_field_error(api, campaign):
    r = api.post(URL + "?dry_run=maybe", {"campaign": "solar-us", "phone": "+14155552671"}, format="json")
    assert r.status_code == 400 and "dry_run" in r.json()["fields"]


def test_bulk_partial_success_gives_one_result_per_item_in_order(api, campaign, make_lead):
    make_lead(campaign, phone="+14155550100")
    DNC.objects.create(phone="+14155550101", campaign=campaign)
    items = [
        {"phone": "+1 415 555 0102", "first_name": "Ok"},
        {"phone": "+14155550100"},            # duplicate
        {"phone": "415-555-0101"},            # dnc
        {"phone": "banana"},                  # invalid
        "not an object",
        {"phone": "+14155550103", "email": "x@"},  # invalid_field
        {"phone": "(415) 555-0104"},
    ]
    r = api.post(BULK, {"campaign": "solar-us", "leads": items}, format="json")
    assert r.status_code == 207, r.json()
    body = r.json()
    assert body["summary"] == {"accepted": 2, "rejected": 5}
    assert [x["index"] for x in body["results"]] == list(range(7))
    codes = [x["error"]["code"] if x["error"] else x["status"] for x in body["results"]]
    assert codes == ["accepted", "duplicate", "dnc", "invalid_phone", "invalid_field", "invalid_field", "accepted"]
    ids = [x["id"] for x in body["results"] if x["id"]]
    assert set(Lead.objects.filter(pk__in=ids).values_list("phone", flat=True)) == {"+14155550102", "+14155550104"}
    assert Lead.objects.count() == 3


def test_bulk_refuses_more_than_1000_items_with_a_clear_message(api, campaign):
    r = api.post(BULK, {"campaign": "solar-us", "leads": [{"phone": "+14155550100"}] * 1001}, format="json")
    assert r.status_code == 400
    body = r.json()
    assert_error_shape(body)
    assert body["code"] == "too_many_items" and "1,000" in body["message"] and "1,001" in body["message"]
    assert not Lead.objects.exists()


def test_bulk_takes_exactly_1000(api, campaign):
    leads = [{"phone": f"+1415555{n:04d}"} for n in range(1000)]
    r = api.post(BULK, {"campaign": "solar-us", "leads": leads}, format="json")
    assert r.status_code == 207 and r.json()["summary"]["accepted"] == 1000


def test_listing_is_cursor_paged_newest_first(api, campaign, partner, make_lead):
    leads = [make_lead(campaign, partner=partner) for _ in range(5)]
    seen, url = [], URL + "?page_size=2"
    while url:
        r = api.get(url)
        assert r.status_code == 200
        body = r.json()
        assert set(body) == {"next_cursor", "previous_cursor", "next", "previous", "results"}
        assert len(body["results"]) <= 2
        seen += [x["id"] for x in body["results"]]
        url = body["next"]
    assert seen == sorted((lead.pk for lead in leads), reverse=True)


@pytest.mark.parametrize("written", ["+14155552671", "(415) 555-2671", "415.555.2671", "1-415-555-2671",
                                     "+1 415 555 2671", "004 1 4155552671".replace(" ", "")[:0] + "0014155552671"])
def test_the_phone_filter_matches_any_format(api, campaign, partner, make_lead, written):
    wanted = make_lead(campaign, partner=partner, phone="+14155552671")
    make_lead(campaign, partner=partner, phone="+14155552672")
    r = api.get(URL, {"phone": written})
    assert r.status_code == 200
    assert [x["id"] for x in r.json()["results"]] == [wanted.pk]


def test_an_unreadable_phone_filter_is_a_400(api, campaign):
    r = api.get(URL, {"phone": "abc"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_phone"


def test_list_filters_by_campaign_status_and_created_range(api, campaign, partner, make_lead, make_campaign):
    second = make_campaign(slug="solar-ca")
    partner.campaigns.add(second)
    a = make_lead(campaign, partner=partner)
    b = make_lead(second, partner=partner, status=Lead.Status.CANCELLED)
    old = make_lead(campaign, partner=partner)
    Lead.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=10))
    ids = lambda **q: [x["id"] for x in api.get(URL, q).json()["results"]]  # noqa: E731
    assert ids(campaign="solar-ca") == [b.pk]
    assert ids(status="cancelled") == [b.pk]
    week_ago = (timezone.now() - dt.timedelta(days=7)).isoformat()
    assert ids(created_after=week_ago) == [b.pk, a.pk]
    assert ids(created_before=week_ago) == [old.pk]
    assert api.get(URL, {"status": "bogus"}).status_code == 400


def test_detail_shows_the_lead_with_delivery_status(api, campaign, partner, make_lead):
    lead = make_lead(campaign, partner=partner)
    r = api.get(f"{URL}{lead.pk}/")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == lead.pk and body["campaign"] == "solar-us" and body["phone"] == str(lead.phone)
    assert isinstance(body["deliveries"], list)


def test_detail_shows_each_vendor_answer_and_nothing_secret(api, campaign, partner, make_lead):
    vendors = pytest.importorskip("vendors.models")
    if not hasattr(vendors, "Delivery"):
        pytest.skip("the delivery pipeline is not installed")
    lead = make_lead(campaign, partner=partner)
    account = vendors.VendorAccount.objects.create(name="Aktify main", kind="aktify",
                                                   credentials={"api_key": "SECRET-CRED"})
    destination = vendors.Destination.objects.create(campaign=campaign, account=account, remote_ref="REMOTE-CAMPAIGN",
                                                     secret="SECRET-DEST")
    vendors.Delivery.objects.filter(lead=lead).delete()
    vendors.Delivery.objects.create(lead=lead, destination=destination, operation="push", status="rejected",
                                    code="invalid_zip", message="Zip code not served", remote_ref="REMOTE-LEAD-9",
                                    due_at=timezone.now(), http_status=422)
    r = api.get(f"{URL}{lead.pk}/")
    assert r.status_code == 200
    [delivery] = r.json()["deliveries"]
    assert set(delivery) == {"vendor", "operation", "status", "code", "message", "updated_at"}
    assert delivery["vendor"] == "aktify" and delivery["status"] == "rejected" and delivery["code"] == "invalid_zip"
    text = r.content.decode()
    for secret in ("SECRET-CRED", "SECRET-DEST", "REMOTE-CAMPAIGN", "REMOTE-LEAD-9", "Aktify main"):
        assert secret not in text


def test_delivery_status_is_empty_without_the_pipeline(monkeypatch, campaign, partner, make_lead):
    from campaigns import pipeline
    from campaigns.api import deliveries

    monkeypatch.setattr(pipeline, "_pipeline", None)
    assert deliveries.delivery_status(make_lead(campaign, partner=partner)) == []


def test_a_missing_or_non_numeric_lead_is_a_json_404(api, campaign):
    for url in (f"{URL}999999/", f"{URL}abc/", f"{URL}999999/cancel/"):
        r = api.post(url) if url.endswith("cancel/") else api.get(url)
        assert r.status_code == 404
        assert r.json()["code"] == "not_found"


def test_cancel_withdraws_the_lead_once(api, campaign, partner, make_lead):
    lead = make_lead(campaign, partner=partner)
    r = api.post(f"{URL}{lead.pk}/cancel/")
    assert r.status_code == 200
    assert r.json() == {"id": lead.pk, "status": "cancelled", "cancelled": True, "withdrawal": []}
    lead.refresh_from_db()
    assert lead.status == Lead.Status.CANCELLED
    again = api.post(f"{URL}{lead.pk}/cancel/")
    assert again.json() == {"id": lead.pk, "status": "cancelled", "cancelled": False, "withdrawal": []}


def test_campaigns_lists_what_a_lead_needs(api, campaign):
    r = api.get("/api/v1/campaigns/")
    assert r.status_code == 200
    [item] = r.json()
    assert item["slug"] == "solar-us" and item["status"] == "active" and item["accepts_leads"] is True
    assert item["required_fields"] == ["phone"] and "email" in item["optional_fields"]
    assert item["phone_region"] == "US"


def test_a_405_and_bad_json_have_the_error_shape(api, campaign):
    r = api.delete("/api/v1/campaigns/")
    assert r.status_code == 405
    assert_error_shape(r.json())
    assert r.json()["code"] == "method_not_allowed"
    r = api.generic("POST", URL, "{not json", content_type="application/json")
    assert r.status_code == 400 and r.json()["code"] == "parse_error"
    assert_error_shape(r.json())
    r = api.get("/api/v1/nothing-here/")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
