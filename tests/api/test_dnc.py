"""DNC endpoints: add with per-number results; check whether a number may be called."""
from __future__ import annotations

from campaigns.models import DNC, Lead


def test_adding_numbers_reports_each_one(api, campaign, partner, make_lead):
    DNC.objects.create(phone="+14155550002", campaign=campaign)
    lead = make_lead(campaign, partner=partner, phone="+14155550001")
    r = api.post("/api/v1/dnc/", {"numbers": ["(415) 555-0001", "+14155550002", "nope", "415.555.0001"],
                                  "reason": "asked"}, format="json")
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["campaigns"] == ["solar-us"]
    assert [(x["input"], x["phone"], x["status"]) for x in body["results"]] == [
        ("(415) 555-0001", "+14155550001", "added"),
        ("+14155550002", "+14155550002", "already_listed"),
        ("nope", None, "invalid"),
        ("415.555.0001", "+14155550001", "added"),
    ]
    assert "nope" in body["results"][2]["message"]
    assert body["leads_withdrawn"] == 1
    lead.refresh_from_db()
    assert lead.status == Lead.Status.DNC
    entry = DNC.objects.get(phone="+14155550001")
    assert entry.campaign == campaign and entry.source == "api:acme" and entry.reason == "asked"


def test_numbers_are_limited_to_1000(api, campaign):
    r = api.post("/api/v1/dnc/", {"numbers": ["+14155550001"] * 1001}, format="json")
    assert r.status_code == 400 and r.json()["code"] == "too_many_items"


def test_check_answers_callable_and_why_not(api, campaign):
    ok = api.get("/api/v1/dnc/check/", {"phone": "(415) 555-0009", "campaign": "solar-us"})
    assert ok.status_code == 200
    assert ok.json() == {"phone": "+14155550009", "campaign": "solar-us", "callable": True, "code": None,
                         "reason": None, "listed": None}
    DNC.objects.create(phone="+14155550009", campaign=campaign)
    listed = api.get("/api/v1/dnc/check/", {"phone": "415-555-0009", "campaign": "solar-us"}).json()
    assert listed["callable"] is False and listed["code"] == "dnc" and listed["listed"] == "campaign"
    DNC.objects.create(phone="+14155550010")
    glob = api.get("/api/v1/dnc/check/", {"phone": "+14155550010", "campaign": "solar-us"}).json()
    assert glob["callable"] is False and glob["listed"] == "global" and "every campaign" in glob["reason"]


def test_check_needs_a_readable_number_and_a_campaign(api, campaign):
    r = api.get("/api/v1/dnc/check/", {"phone": "abc", "campaign": "solar-us"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_phone"
    r = api.get("/api/v1/dnc/check/", {"phone": "+14155550010"})
    assert r.status_code == 400 and r.json()["fields"]["campaign"][0]["code"] == "missing_field"
