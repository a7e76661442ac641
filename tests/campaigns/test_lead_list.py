"""The lead list staff need (issue 14 item 7): search by phone in the campaign's region, by
first or last name without accents; filters by partner, list, created date."""
import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns import intake
from campaigns.models import Lead, LeadList, Partner, search_key

URL = "admin:campaigns_lead_changelist"


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("staff", "staff@example.com", "pw"))
    return client


def _ids(response) -> set[int]:
    assert response.status_code == 200
    return {lead.pk for lead in response.context["cl"].result_list}


def _search(client, term, **params):
    return _ids(client.get(reverse(URL), {"q": term, **params}))


# --- phone in the campaign's own region ---------------------------------------------------------

def test_a_national_number_is_read_in_the_region_of_the_campaign_the_list_is_filtered_to(
        staff_client, make_campaign, make_lead):
    au = make_campaign(default_region="AU", timezone="Australia/Sydney")
    lead = make_lead(au, phone="+61489639358", country="AU", timezone="Australia/Sydney")
    assert _search(staff_client, "0489 639 358", campaign__id__exact=au.pk) == {lead.pk}


def test_without_a_campaign_filter_a_national_number_is_read_in_the_project_region(
        staff_client, campaign, make_campaign, make_lead, settings):
    settings.DEFAULT_PHONE_REGION = "US"
    au = make_campaign(default_region="AU")
    make_lead(au, phone="+61489639358", country="AU", timezone="Australia/Sydney")
    us = make_lead(campaign, phone="+14155552671")
    assert _search(staff_client, "0489 639 358") == set()  # not a US number: no phone match
    assert _search(staff_client, "(415) 555-2671") == {us.pk}
    # a campaign without its own region reads numbers in the project's
    assert _search(staff_client, "(415) 555-2671", campaign__id__exact=campaign.pk) == {us.pk}


# --- names, accents ignored ---------------------------------------------------------------------

@pytest.mark.parametrize("text,key", [("Zoë", "zoe"), ("MÜLLER", "muller"), ("Ana María", "ana maria"),
                                      ("Smith", "smith"), ("", ""), ("Ærøskøbing", "ærøskøbing")])
def test_the_search_key_drops_accents_and_case(text, key):
    assert search_key(text) == key


def test_first_name_search_ignores_accents_and_case(staff_client, campaign, make_lead):
    zoe = make_lead(campaign, first_name="Zoë", last_name="Adams")
    zoey = make_lead(campaign, first_name="zoey", last_name="Brown")
    make_lead(campaign, first_name="Chloé", last_name="Zola")  # last name matches "zo" too
    assert _search(staff_client, "Zoe") == {zoe.pk, zoey.pk}
    assert _search(staff_client, "zoë") == {zoe.pk, zoey.pk}
    assert _search(staff_client, "ZOË ADAMS") == {zoe.pk}  # every word matches a first or last name


def test_last_name_search_ignores_accents(staff_client, campaign, make_lead):
    muller = make_lead(campaign, first_name="Jo", last_name="Müller")
    make_lead(campaign, first_name="Jo", last_name="Miller")
    assert _search(staff_client, "muller") == {muller.pk}
    assert _search(staff_client, "Jo Mül") == {muller.pk}


def test_exact_email_and_external_id_still_find_their_lead(staff_client, campaign, make_lead):
    lead = make_lead(campaign, email="zoe@example.com", external_id="CRM-7")
    make_lead(campaign, first_name="Zoe", email="other@example.com")
    assert _search(staff_client, "Zoe@Example.com") == {lead.pk}  # an email: that one only, any case
    assert _search(staff_client, "CRM-7") == {lead.pk}


def test_a_name_or_external_id_search_reads_indexed_columns_only(staff_client, campaign, make_lead):
    """No scan of the lead table: prefix matches on the stored keys and an exact external id
    (each with an index), not LIKE '%…%' or UPPER() on the names, email or external id."""
    zoe = make_lead(campaign, first_name="Zoë", last_name="Adams")
    with CaptureQueriesContext(connection) as queries:
        assert _ids(staff_client.get(reverse(URL), {"q": "Zoë Adams"})) == {zoe.pk}
    searches = [q["sql"].split("WHERE", 1)[1] for q in queries.captured_queries if "zoe%" in q["sql"]]
    assert searches
    for where in searches:
        assert "adams%" in where and "external_id" in where
        assert "UPPER" not in where and "email" not in where and "%zoe" not in where


def test_name_search_is_a_prefix_match_on_the_stored_keys(staff_client, campaign, make_lead):
    make_lead(campaign, first_name="Zoë")
    with CaptureQueriesContext(connection) as queries:
        staff_client.get(reverse(URL), {"q": "zoe"})
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "search_first" in sql and "zoe%" in sql
    assert "%zoe%" not in sql  # no contains-scan of the table


def test_intake_fills_the_keys_and_erasure_wipes_them(campaign):
    [result] = intake.submit([{"phone": "+14155552671", "first_name": "Zoë", "last_name": "Núñez"}],
                             campaign=campaign)
    lead = Lead.objects.get(pk=result.lead.pk)
    assert (lead.search_first, lead.search_last) == ("zoe", "nunez")
    intake.erase_leads([lead], via="command", requested_by="command:test")
    lead.refresh_from_db()
    assert (lead.search_first, lead.search_last) == ("", "")


def test_a_name_edited_in_the_admin_is_found_by_its_new_key(campaign, make_lead):
    lead = make_lead(campaign, first_name="Zoe")
    lead.first_name = "Renée"
    lead.save(update_fields=["first_name"])
    assert Lead.objects.filter(search_first="renee", pk=lead.pk).exists()


def test_the_migration_fills_the_keys_of_existing_leads(campaign, make_lead):
    from importlib import import_module

    from django.apps import apps

    lead = make_lead(campaign, first_name="Zoë", last_name="Ørsted")
    Lead.objects.filter(pk=lead.pk).update(search_first="", search_last="")
    import_module("campaigns.migrations.0014_lead_name_search").fill_search_keys(apps, None)
    lead.refresh_from_db()
    assert (lead.search_first, lead.search_last) == ("zoe", "ørsted")


# --- filters: partner, list, created date -------------------------------------------------------

def test_the_lead_list_filters_by_partner_list_and_created_date(staff_client, campaign, make_lead):
    acme = Partner.objects.create(name="Acme", slug="acme")
    acme.campaigns.add(campaign)
    october = LeadList.objects.create(campaign=campaign, name="October")
    old = make_lead(campaign, partner=acme, lead_list=october)
    Lead.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=40))
    new = make_lead(campaign)
    url = reverse(URL)
    page = staff_client.get(url)
    filters = {spec.title for spec in page.context["cl"].filter_specs}
    assert {"partner", "lead list", "created at"} <= filters
    assert _ids(staff_client.get(url, {"partner__id__exact": acme.pk})) == {old.pk}
    assert _ids(staff_client.get(url, {"partner__isnull": "True"})) == {new.pk}
    assert _ids(staff_client.get(url, {"lead_list__id__exact": october.pk})) == {old.pk}
    since = (timezone.now() - dt.timedelta(days=7)).isoformat()
    assert _ids(staff_client.get(url, {"created_at__gte": since})) == {new.pk}


def test_the_list_and_partner_filters_offer_the_chosen_campaigns_own(staff_client, campaign, make_campaign):
    other = make_campaign()
    LeadList.objects.create(campaign=campaign, name="Mine")
    LeadList.objects.create(campaign=other, name="Theirs")
    mine, theirs = Partner.objects.create(name="Mine P", slug="mine"), Partner.objects.create(name="Their P", slug="t")
    mine.campaigns.add(campaign)
    theirs.campaigns.add(other)
    page = staff_client.get(reverse(URL), {"campaign__id__exact": campaign.pk}).content.decode()
    assert "Mine" in page and "Mine P" in page
    assert "Theirs" not in page and "Their P" not in page
    everything = staff_client.get(reverse(URL)).content.decode()
    assert "Theirs" in everything and "Their P" in everything
