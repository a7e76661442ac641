"""The scoping matrix: every endpoint × every kind of key; nothing crosses between partners.

World: partner A sends to A1 and A2; partner B sends to B1 and also to A1 (a shared
campaign). Keys: A unrestricted, A narrowed to A2, B unrestricted, A revoked, a
wrong secret for a real prefix, garbage, and none.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from django.utils import timezone

from campaigns.models import DNC, ApiKey, Lead, Partner


@dataclass
class World:
    campaigns: dict
    leads: dict          # name -> Lead
    clients: dict        # key name -> client
    visible_campaigns: dict  # key name -> set of slugs
    visible_leads: dict      # key name -> set of lead names


@pytest.fixture
def world(db, make_campaign, make_lead, issue_key):
    from rest_framework.test import APIClient

    a1, a2, b1 = (make_campaign(slug=s, name=s.upper()) for s in ("a-one", "a-two", "b-one"))
    pa = Partner.objects.create(name="A", slug="pa")
    pb = Partner.objects.create(name="B", slug="pb")
    pa.campaigns.add(a1, a2)
    pb.campaigns.add(b1, a1)
    leads = {
        "a1": make_lead(a1, partner=pa, phone="+14155550001"),
        "a2": make_lead(a2, partner=pa, phone="+14155550002"),
        "b_in_a1": make_lead(a1, partner=pb, phone="+14155550003"),
        "b1": make_lead(b1, partner=pb, phone="+14155550004"),
    }
    clients = {
        "a_all": issue_key(pa),
        "a_narrow": issue_key(pa, campaigns=[a2]),
        "b_all": issue_key(pb),
    }
    revoked = issue_key(pa)
    ApiKey.objects.filter(pk=revoked.key.pk).update(revoked_at=timezone.now())
    clients["a_revoked"] = revoked
    wrong = APIClient()
    wrong.credentials(HTTP_X_API_KEY=clients["a_all"].raw[:-3] + "xyz")
    clients["wrong_secret"] = wrong
    garbage = APIClient()
    garbage.credentials(HTTP_AUTHORIZATION="Bearer nonsense")
    clients["garbage"] = garbage
    clients["none"] = APIClient()
    return World(
        campaigns={"a-one": a1, "a-two": a2, "b-one": b1},
        leads=leads,
        clients=clients,
        visible_campaigns={"a_all": {"a-one", "a-two"}, "a_narrow": {"a-two"}, "b_all": {"a-one", "b-one"}},
        visible_leads={"a_all": {"a1", "a2"}, "a_narrow": {"a2"}, "b_all": {"b_in_a1", "b1"}},
    )


KEYS = ["a_all", "a_narrow", "b_all", "a_revoked", "wrong_secret", "garbage", "none"]
DENIED = {"a_revoked", "wrong_secret", "garbage", "none"}
LEAD_NAMES = ["a1", "a2", "b_in_a1", "b1"]
CAMPAIGNS = ["a-one", "a-two", "b-one"]


def assert_no_foreign_data(world, key_name, response):
    """No phone or id of a lead this key may not see appears in the body."""
    text = response.content.decode()
    visible = world.visible_leads.get(key_name, set())
    for name, lead in world.leads.items():
        if name in visible:
            continue
        assert str(lead.phone) not in text, f"{key_name} saw {name}'s phone"
        assert str(lead.phone)[2:] not in text
    try:
        body = json.loads(text)
    except ValueError:
        return
    foreign_ids = {lead.pk for name, lead in world.leads.items() if name not in visible}
    for item in body if isinstance(body, list) else body.get("results", [body]) if isinstance(body, dict) else []:
        if isinstance(item, dict) and "id" in item:
            assert item["id"] not in foreign_ids or item.get("status") == "accepted" and "campaign" not in item


@pytest.mark.parametrize("key_name", KEYS)
def test_campaign_list(world, key_name):
    r = world.clients[key_name].get("/api/v1/campaigns/")
    if key_name in DENIED:
        assert r.status_code == 401 and r.json()["code"] in {"not_authenticated", "authentication_failed", "key_revoked"}
        assert "WWW-Authenticate" in r
        return
    assert r.status_code == 200
    assert {c["slug"] for c in r.json()} == world.visible_campaigns[key_name]


@pytest.mark.parametrize("key_name", KEYS)
def test_lead_list(world, key_name):
    r = world.clients[key_name].get("/api/v1/leads/")
    if key_name in DENIED:
        assert r.status_code == 401
        assert_no_foreign_data(world, key_name, r)
        return
    assert r.status_code == 200
    expected = {world.leads[n].pk for n in world.visible_leads[key_name]}
    assert {x["id"] for x in r.json()["results"]} == expected
    assert_no_foreign_data(world, key_name, r)
    # filtering by a campaign the key cannot see reads exactly like an unknown slug
    for slug in CAMPAIGNS:
        f = world.clients[key_name].get("/api/v1/leads/", {"campaign": slug})
        if slug in world.visible_campaigns[key_name]:
            assert f.status_code == 200
        else:
            unknown = world.clients[key_name].get("/api/v1/leads/", {"campaign": "no-such-" + slug})
            assert f.status_code == 400
            assert f.json()["message"].replace(slug, "X") == unknown.json()["message"].replace("no-such-" + slug, "X")
    # a phone filter for someone else's number finds nothing
    for name, lead in world.leads.items():
        f = world.clients[key_name].get("/api/v1/leads/", {"phone": str(lead.phone)})
        assert [x["id"] for x in f.json()["results"]] == ([lead.pk] if name in world.visible_leads[key_name] else [])


@pytest.mark.parametrize("lead_name", LEAD_NAMES)
@pytest.mark.parametrize("key_name", KEYS)
def test_lead_detail(world, key_name, lead_name):
    lead = world.leads[lead_name]
    r = world.clients[key_name].get(f"/api/v1/leads/{lead.pk}/")
    if key_name in DENIED:
        assert r.status_code == 401
    elif lead_name in world.visible_leads[key_name]:
        assert r.status_code == 200 and r.json()["id"] == lead.pk
    else:
        assert r.status_code == 404
        missing = world.clients[key_name].get("/api/v1/leads/987654/")
        assert r.json() == missing.json()  # indistinguishable from a lead that does not exist
    assert_no_foreign_data(world, key_name, r)


@pytest.mark.parametrize("lead_name", LEAD_NAMES)
@pytest.mark.parametrize("key_name", KEYS)
def test_lead_cancel(world, key_name, lead_name):
    lead = world.leads[lead_name]
    r = world.clients[key_name].post(f"/api/v1/leads/{lead.pk}/cancel/")
    lead.refresh_from_db()
    if key_name in DENIED:
        assert r.status_code == 401 and lead.status == Lead.Status.NEW
    elif lead_name in world.visible_leads[key_name]:
        assert r.status_code == 200 and lead.status == Lead.Status.CANCELLED
    else:
        assert r.status_code == 404 and lead.status == Lead.Status.NEW
    assert_no_foreign_data(world, key_name, r)


@pytest.mark.parametrize("lead_name", LEAD_NAMES)
@pytest.mark.parametrize("key_name", KEYS)
def test_lead_erase(world, key_name, lead_name):
    lead = world.leads[lead_name]
    phone = lead.phone
    r = world.clients[key_name].post(f"/api/v1/leads/{lead.pk}/erase/")
    lead.refresh_from_db()
    if key_name in DENIED:
        assert r.status_code == 401 and (lead.status, lead.phone) == (Lead.Status.NEW, phone)
    elif lead_name in world.visible_leads[key_name]:
        assert r.status_code == 200 and lead.status == Lead.Status.ERASED and lead.phone != phone
    else:
        assert r.status_code == 404 and (lead.status, lead.phone) == (Lead.Status.NEW, phone)
    assert_no_foreign_data(world, key_name, r)


@pytest.mark.parametrize("campaign", CAMPAIGNS)
@pytest.mark.parametrize("key_name", KEYS)
@pytest.mark.parametrize("endpoint", ["single", "bulk"])
def test_lead_post(world, key_name, campaign, endpoint):
    before = Lead.objects.count()
    client = world.clients[key_name]
    if endpoint == "single":
        post = lambda slug: client.post("/api/v1/leads/", {"campaign": slug, "phone": "+14155559999"}, format="json")  # noqa: E731
    else:
        post = lambda slug: client.post("/api/v1/leads/bulk/", {"campaign": slug, "leads": [{"phone": "+14155559999"}]}, format="json")  # noqa: E731
    r = post(campaign)
    if key_name in DENIED:
        assert r.status_code == 401 and Lead.objects.count() == before
    elif campaign in world.visible_campaigns[key_name]:
        assert r.status_code in (201, 207) and Lead.objects.count() == before + 1
        lead = Lead.objects.get(phone="+14155559999", campaign__slug=campaign)
        assert lead.partner == world.clients[key_name].key.partner
    else:
        assert r.status_code == 400 and Lead.objects.count() == before
        unknown = post("zz-unknown")
        assert r.json()["code"] == unknown.json()["code"] == "invalid_field"
        assert r.json()["message"].replace(campaign, "?") == unknown.json()["message"].replace("zz-unknown", "?")
    assert_no_foreign_data(world, key_name, r)


def test_a_duplicate_message_does_not_leak_another_partners_lead(world):
    # B's lead b_in_a1 is in shared campaign A1: A learns it is a duplicate (true), and no more than that.
    r = world.clients["a_all"].post("/api/v1/leads/", {"campaign": "a-one", "phone": "+14155550003"}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "duplicate"
    assert str(world.leads["b_in_a1"].pk) not in r.json()["message"].replace("+14155550003", "")


@pytest.mark.parametrize("campaign", CAMPAIGNS + [None])
@pytest.mark.parametrize("key_name", KEYS)
def test_dnc_add(world, key_name, campaign):
    body = {"numbers": ["+14155557777"]}
    if campaign:
        body["campaign"] = campaign
    r = world.clients[key_name].post("/api/v1/dnc/", body, format="json")
    listed = set(DNC.objects.filter(phone="+14155557777").values_list("campaign__slug", flat=True))
    if key_name in DENIED:
        assert r.status_code == 401 and not listed
    elif campaign is None:
        assert r.status_code == 200 and listed == world.visible_campaigns[key_name]
        assert None not in listed  # never the global list
    elif campaign in world.visible_campaigns[key_name]:
        assert r.status_code == 200 and listed == {campaign}
    else:
        assert r.status_code == 400 and not listed
    assert_no_foreign_data(world, key_name, r)


@pytest.mark.parametrize("campaign", CAMPAIGNS)
@pytest.mark.parametrize("key_name", KEYS)
def test_dnc_check(world, key_name, campaign):
    r = world.clients[key_name].get("/api/v1/dnc/check/", {"phone": "+14155550004", "campaign": campaign})
    if key_name in DENIED:
        assert r.status_code == 401
    elif campaign in world.visible_campaigns[key_name]:
        assert r.status_code == 200 and r.json()["callable"] is True
    else:
        assert r.status_code == 400 and r.json()["fields"]["campaign"][0]["code"] == "invalid_field"


def test_revocation_takes_effect_on_the_next_request(world):
    client = world.clients["a_all"]
    assert client.get("/api/v1/campaigns/").status_code == 200
    ApiKey.objects.filter(pk=client.key.pk).update(revoked_at=timezone.now())
    r = client.get("/api/v1/campaigns/")
    assert r.status_code == 401 and r.json()["code"] == "key_revoked" and "revoked" in r.json()["message"]


def test_an_inactive_partner_is_refused_with_a_clear_message(world):
    client = world.clients["a_all"]
    Partner.objects.filter(slug="pa").update(is_active=False)
    r = client.get("/api/v1/campaigns/")
    assert r.status_code == 401 and r.json()["code"] == "partner_inactive"


def test_bearer_header_works_like_x_api_key(world):
    from rest_framework.test import APIClient

    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Bearer {world.clients['b_all'].raw}")
    assert {x["slug"] for x in c.get("/api/v1/campaigns/").json()} == {"a-one", "b-one"}


def test_a_missing_key_says_how_to_send_one(world):
    r = world.clients["none"].get("/api/v1/leads/")
    assert r.status_code == 401
    assert r.json()["code"] == "not_authenticated" and "X-API-Key" in r.json()["message"]
    assert "X-API-Key" in r["WWW-Authenticate"]


def test_last_used_is_written_at_most_once_a_minute(world, django_assert_max_num_queries):
    client = world.clients["a_all"]
    client.get("/api/v1/campaigns/")
    first = ApiKey.objects.get(pk=client.key.pk).last_used_at
    assert first is not None
    client.get("/api/v1/campaigns/")
    assert ApiKey.objects.get(pk=client.key.pk).last_used_at == first
