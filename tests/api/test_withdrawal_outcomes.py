"""The API says, per vendor, whether a withdrawal reached it: cancel, DNC and erase answers and the lead."""
from __future__ import annotations

from campaigns import intake
from campaigns.models import Erasure
from tests.pipeline.conftest import aimylogic, aktify, open_campaign, row  # noqa: F401  (fixtures)
from vendors import services

URL = "/api/v1/leads/"


def delivered_lead(campaign, partner, n=1):
    [result] = intake.submit([row(n)], campaign=campaign, partner=partner)
    services.deliver_due(threads=1, time_budget=30)
    return result.lead


def test_cancel_says_which_vendors_could_not_be_told(api, partner, open_campaign, aktify, aimylogic, sandbox):
    lead = delivered_lead(open_campaign, partner)
    r = api.post(f"{URL}{lead.pk}/cancel/")
    assert r.status_code == 200
    assert r.json() == {"id": lead.pk, "status": "cancelled", "cancelled": True, "withdrawal": [
        {"vendor": "aktify", "destination": aktify.pk, "outcome": "pending", "message": ""},
        {"vendor": "aimylogic", "destination": aimylogic.pk, "outcome": "unsupported",
         "message": "Aimylogic has no API for stop contacting a lead."},
    ]}
    services.deliver_due(threads=1, time_budget=30)
    detail = api.get(f"{URL}{lead.pk}/").json()
    assert [(w["vendor"], w["outcome"]) for w in detail["withdrawal"]] == [("aktify", "withdrawn"),
                                                                           ("aimylogic", "unsupported")]


def test_a_vendor_that_refuses_is_failed(api, partner, open_campaign, aktify, sandbox):
    lead = delivered_lead(open_campaign, partner)
    aktify.account.max_attempts = 1
    aktify.account.save()
    sandbox.faults(vendor="aktify", error_500_rate=1)
    api.post(f"{URL}{lead.pk}/cancel/")
    services.deliver_due(threads=1, time_budget=30)
    [outcome] = api.get(f"{URL}{lead.pk}/").json()["withdrawal"]
    assert (outcome["vendor"], outcome["outcome"]) == ("aktify", "failed")
    assert outcome["message"].startswith("Gave up after 1 attempts.")


def test_a_lead_never_sent_is_withdrawn_everywhere_and_an_open_lead_has_no_withdrawal(api, partner, open_campaign,
                                                                                      aktify):
    [result] = intake.submit([row(1)], campaign=open_campaign, partner=partner)
    assert api.get(f"{URL}{result.lead.pk}/").json()["withdrawal"] is None
    [outcome] = api.post(f"{URL}{result.lead.pk}/cancel/").json()["withdrawal"]
    assert (outcome["vendor"], outcome["outcome"]) == ("aktify", "withdrawn")
    assert "never held" in outcome["message"]


def test_erase_answers_the_outcome_per_vendor_and_records_the_key(api, partner, open_campaign, aktify, aimylogic,
                                                                   sandbox):
    lead = delivered_lead(open_campaign, partner)
    r = api.post(f"{URL}{lead.pk}/erase/")
    assert r.status_code == 200
    assert r.json() == {"id": lead.pk, "status": "erased", "erased": True, "withdrawal": [
        {"vendor": "aktify", "destination": aktify.pk, "outcome": "unsupported",
         "message": "Aktify has no API for erasing a person."},
        {"vendor": "aimylogic", "destination": aimylogic.pk, "outcome": "unsupported",
         "message": "Aimylogic has no API for erasing a person."},
    ]}
    detail = api.get(f"{URL}{lead.pk}/").json()
    assert (detail["status"], detail["phone"], detail["first_name"], detail["email"]) == (
        "erased", f"erased{lead.pk}", "", "")
    [erasure] = Erasure.objects.all()
    assert (erasure.via, erasure.api_key, erasure.user, erasure.lead_count) == ("api", api.key, None, 1)
    assert erasure.requested_by == f"api:acme (key {api.key.prefix}…)"
    again = api.post(f"{URL}{lead.pk}/erase/")
    assert again.json()["erased"] is False and Erasure.objects.count() == 1


def test_dnc_answers_the_outcome_for_the_partners_own_leads_only(api, issue_key, partner, other_partner,
                                                                 open_campaign, aktify, aimylogic, sandbox):
    mine = delivered_lead(open_campaign, partner, 1)
    other_partner.campaigns.add(open_campaign)  # a shared campaign: the rival's lead is withdrawn, not shown
    [theirs] = intake.submit([row(2)], campaign=open_campaign, partner=other_partner)
    assert theirs.accepted
    r = api.post("/api/v1/dnc/", {"numbers": ["+14155550001", "+14155550002"], "campaign": "solar-us"},
                 format="json")
    assert r.status_code == 200
    body = r.json()
    assert body["leads_withdrawn"] == 2
    assert body["withdrawals"] == [{"lead": mine.pk, "withdrawal": [
        {"vendor": "aktify", "destination": aktify.pk, "outcome": "pending", "message": ""},
        {"vendor": "aimylogic", "destination": aimylogic.pk, "outcome": "unsupported",
         "message": "Aimylogic has no API for stop contacting a lead."},
    ]}]


def test_the_lead_list_gives_each_lead_its_withdrawal_in_two_queries(api, partner, open_campaign, aktify, aimylogic,
                                                                    sandbox):
    first = delivered_lead(open_campaign, partner, 1)
    second = delivered_lead(open_campaign, partner, 2)
    [third] = intake.submit([row(3)], campaign=open_campaign, partner=partner)
    api.post(f"{URL}{first.pk}/cancel/")
    api.post(f"{URL}{second.pk}/erase/")
    body = api.get(URL).json()
    by_id = {lead["id"]: lead["withdrawal"] for lead in body["results"]}
    assert by_id[third.lead.pk] is None
    assert [(w["vendor"], w["outcome"]) for w in by_id[first.pk]] == [("aktify", "pending"),
                                                                      ("aimylogic", "unsupported")]
    assert [(w["vendor"], w["outcome"]) for w in by_id[second.pk]] == [("aktify", "unsupported"),
                                                                       ("aimylogic", "unsupported")]
    few = len(connection_queries(api))
    for n in range(4, 14):
        intake.cancel_leads([intake.submit([row(n)], campaign=open_campaign, partner=partner)[0].lead])
    assert len(connection_queries(api)) == few


def connection_queries(api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert api.get(URL).status_code == 200
    return captured.captured_queries
