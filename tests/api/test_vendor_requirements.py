"""The partner API and the campaign's vendors' requirements (issue 12, item 7): the answers to single and
bulk intake, GET /api/v1/campaigns/ and the OpenAPI description."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import Campaign, Lead
from vendors.models import Delivery, Destination, VendorAccount

URL = "/api/v1/leads/"
BULK = "/api/v1/leads/bulk/"
AKTIFY = "Aktify needs a US state code in region (e.g. CA) or a zip code in postal_code."


def add_destination(campaign, kind, **fields):
    account, _ = VendorAccount.objects.get_or_create(name=kind, defaults={"kind": kind,
                                                                          "credentials": {"api_key": "k"}})
    return Destination.objects.create(campaign=campaign, account=account, **fields)


@pytest.fixture
def vendors(campaign):
    """solar-us delivers to Aktify and Comunik8."""
    return add_destination(campaign, "aktify", secret="ak-key"), add_destination(campaign, "comunik8",
                                                                                  remote_ref="solar")


LEAD = {"campaign": "solar-us", "phone": "(415) 555-2671", "first_name": "Ada", "last_name": "Lovelace",
        "email": "ada@example.com", "region": "CA"}


def test_a_lead_a_vendor_would_refuse_is_a_422_naming_the_vendor_per_field(api, vendors):
    r = api.post(URL, {**LEAD, "region": "", "last_name": ""}, format="json")
    assert r.status_code == 422
    assert r.json() == {
        "code": "vendor_requirements",
        "message": f"{AKTIFY} Comunik8 needs a surname (last_name).",
        "fields": {"region": [{"code": "vendor_requirements", "message": AKTIFY}],
                   "postal_code": [{"code": "vendor_requirements", "message": AKTIFY}],
                   "last_name": [{"code": "vendor_requirements", "message": "Comunik8 needs a surname (last_name)."}]},
    }
    assert not Lead.objects.exists()
    dry = api.post(URL + "?dry_run=true", {**LEAD, "region": ""}, format="json")
    assert dry.status_code == 422 and dry.json()["code"] == "vendor_requirements"


def test_bulk_rejects_only_the_items_a_vendor_would_refuse(api, vendors):
    r = api.post(BULK, {"campaign": "solar-us", "leads": [
        {k: v for k, v in LEAD.items() if k != "campaign"},
        {"phone": "415 555 0100", "first_name": "Bo", "last_name": "Ng", "postal_code": "94103"},
    ]}, format="json")
    assert r.status_code == 207
    body = r.json()
    assert body["summary"] == {"accepted": 1, "rejected": 1}
    assert body["results"][0]["status"] == "accepted" and body["results"][0]["warnings"] == []
    error = body["results"][1]["error"]
    assert error["code"] == "vendor_requirements"
    assert error["fields"] == {"email": [{"code": "vendor_requirements",
                                          "message": "Comunik8 needs an email address (email)."}]}


def test_with_the_skip_policy_the_lead_is_accepted_and_the_answer_says_which_vendor_it_skips(api, campaign, vendors):
    aktify, comunik8 = vendors
    campaign.vendor_requirements_policy = Campaign.VendorRequirementsPolicy.SKIP
    campaign.save()
    r = api.post(URL, {**LEAD, "region": "Bavaria"}, format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["warnings"] == [{"code": "vendor_requirements", "message": f"Not sent to Aktify: {AKTIFY}"}]
    lead = Lead.objects.get(pk=r.json()["id"])
    assert lead.region == "Bavaria"
    detail = api.get(f"{URL}{lead.pk}/").json()
    by_vendor = {d["vendor"]: (d["status"], d["code"], d["message"]) for d in detail["deliveries"]}
    assert by_vendor["aktify"] == ("skipped", "vendor_requirements", f"Not sent: {AKTIFY}")
    assert by_vendor["comunik8"][0] == "pending"


def test_campaigns_list_the_effective_required_fields(api, campaign, vendors):
    [item] = api.get("/api/v1/campaigns/").json()
    assert item["required_fields"] == ["phone", "email", "first_name", "last_name"]
    assert item["vendor_requirements_policy"] == "reject"
    assert item["requirements"] == [
        {"fields": ["phone"], "one_of": False, "vendors": ["Aktify", "Comunik8"],
         "message": "Aktify needs a phone number (phone). Comunik8 needs a phone number (phone)."},
        {"fields": ["region", "postal_code"], "one_of": True, "vendors": ["Aktify"], "message": AKTIFY},
        {"fields": ["email"], "one_of": False, "vendors": ["Comunik8"],
         "message": "Comunik8 needs an email address (email)."},
        {"fields": ["first_name"], "one_of": False, "vendors": ["Comunik8"],
         "message": "Comunik8 needs a first name (first_name)."},
        {"fields": ["last_name"], "one_of": False, "vendors": ["Comunik8"],
         "message": "Comunik8 needs a surname (last_name)."},
    ]
    assert not {"phone", "email", "first_name", "last_name"} & set(item["optional_fields"])
    assert {"region", "postal_code"} <= set(item["optional_fields"])


def test_a_disabled_destination_imposes_nothing_on_the_campaign(api, campaign, vendors):
    Destination.objects.filter(account__kind="comunik8").update(is_enabled=False)
    [item] = api.get("/api/v1/campaigns/").json()
    assert item["required_fields"] == ["phone"]
    assert [r["fields"] for r in item["requirements"]] == [["phone"], ["region", "postal_code"]]


def test_the_campaign_list_reads_the_requirements_in_one_query_for_all_campaigns(api, partner, make_campaign,
                                                                                  vendors):
    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert api.get("/api/v1/campaigns/").status_code == 200
        return len(ctx.captured_queries)

    count()  # the key's first use is recorded once
    before = count()
    for _ in range(3):
        extra = make_campaign()
        partner.campaigns.add(extra)
        add_destination(extra, "eightbyeight", remote_ref="1")
    assert count() == before
    items = {c["slug"]: c for c in api.get("/api/v1/campaigns/").json()}
    assert items[extra.slug]["required_fields"] == ["phone", "external_id"]


def test_the_openapi_description_documents_the_requirements(client):
    doc = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    campaign = doc["components"]["schemas"]["Campaign"]["properties"]
    for name in ("required_fields", "requirements", "vendor_requirements_policy"):
        assert name in campaign
    text = campaign["requirements"]["description"]
    assert "vendor_requirements" in text
    assert AKTIFY in text
    assert ("Comunik8 needs an email address (email); a first name (first_name); a surname (last_name)."
            in text)
    assert "Aimylogic needs only a phone number." in text
    item = doc["components"]["schemas"]["Requirement"]["properties"]
    assert set(item) == {"fields", "one_of", "vendors", "message"}
    assert "warnings" in doc["components"]["schemas"]["LeadCreated"]["properties"]
    responses = doc["paths"]["/api/v1/leads/"]["post"]["responses"]
    assert "vendor_requirements" in responses["422"]["description"]
    assert "`vendor_requirements` → 422" in doc["paths"]["/api/v1/leads/"]["post"]["description"]
