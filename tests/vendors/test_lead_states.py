"""Each lead's state per destination in the lead list (issue 14 item 7: a column, one filter per
destination) and in the CSV export (item 8: a state and an outcome column per destination)."""
import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from vendors.models import Delivery, Destination, VendorAccount

URL = "admin:campaigns_lead_changelist"


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("staff", "staff@example.com", "pw"))
    return client


def _destination(campaign, name, kind="platform"):
    account = VendorAccount.objects.create(name=name, kind=kind, credentials={"api_key": "k"})
    return Destination.objects.create(campaign=campaign, account=account, remote_ref=name.lower())


def _row(lead, dest, status, operation="push", code="", message=""):
    return Delivery.objects.create(lead=lead, destination=dest, operation=operation, status=status, code=code,
                                   message=message, due_at=timezone.now())


@pytest.fixture
def world(campaign, make_lead):
    """One lead per state at Aktify; Platform has accepted every lead that has a push at Aktify."""
    aktify, platform = _destination(campaign, "Aktify", "aktify"), _destination(campaign, "Platform")
    leads = {state: make_lead(campaign, first_name=state) for state in
             ("accepted", "refused", "pending", "in_flight", "failed", "withdrawn", "stopped", "skipped", "none")}
    for state, status in (("accepted", "accepted"), ("refused", "rejected"), ("pending", "pending"),
                          ("in_flight", "in_flight"), ("failed", "failed"), ("withdrawn", "accepted"),
                          ("skipped", "skipped")):
        _row(leads[state], aktify, status, code="missing_region" if state == "refused" else "",
             message="Region is required" if state == "refused" else "")
        _row(leads[state], platform, "accepted")
    _row(leads["withdrawn"], aktify, "accepted", operation="end_contact")
    _row(leads["stopped"], aktify, "skipped", code="dnc", message="Not sent: the lead was dnc first.")
    return {"aktify": aktify, "platform": platform, "leads": leads}


def _ids(response):
    assert response.status_code == 200
    return {lead.pk for lead in response.context["cl"].result_list}


@pytest.mark.parametrize("state,expected", [
    ("accepted", {"accepted"}), ("refused", {"refused"}), ("pending", {"pending", "in_flight"}),
    ("failed", {"failed"}), ("withdrawn", {"withdrawn", "stopped"}), ("skipped", {"skipped"}), ("none", {"none"}),
])
def test_the_delivery_filter_of_a_destination_finds_the_leads_in_each_state(staff_client, world, state, expected):
    aktify, leads = world["aktify"], world["leads"]
    got = _ids(staff_client.get(reverse(URL), {f"delivery_{aktify.pk}": state}))
    assert got == {leads[name].pk for name in expected}


def test_there_is_one_delivery_filter_per_destination_of_the_chosen_campaign(
        staff_client, world, campaign, make_campaign):
    other = _destination(make_campaign(name="Elsewhere"), "Comunik8", "comunik8")
    filtered = staff_client.get(reverse(URL), {"campaign__id__exact": campaign.pk})
    titles = [spec.title for spec in filtered.context["cl"].filter_specs]
    assert "delivery to Aktify" in titles and "delivery to Platform" in titles
    assert not any("Comunik8" in title for title in titles)
    everywhere = [spec.title for spec in staff_client.get(reverse(URL)).context["cl"].filter_specs]
    assert "delivery to Elsewhere → Comunik8" in everywhere
    # a link naming another campaign's destination is honoured, not refused
    named = staff_client.get(reverse(URL), {"campaign__id__exact": campaign.pk, f"delivery_{other.pk}": "accepted"})
    assert _ids(named) == set()


def test_two_delivery_filters_combine(staff_client, world):
    aktify, platform, leads = world["aktify"], world["platform"], world["leads"]
    got = _ids(staff_client.get(reverse(URL), {f"delivery_{aktify.pk}": "refused",
                                                f"delivery_{platform.pk}": "accepted"}))
    assert got == {leads["refused"].pk}


def test_the_vendors_column_shows_each_destinations_state(staff_client, world):
    page = staff_client.get(reverse(URL)).content.decode()
    assert 'class="lh-state lh-state-refused" title="Aktify: refused (rejected missing_region: Region is ' \
           'required)">Aktify refused</span>' in page
    assert 'title="Aktify: withdrawn (end contact accepted)">Aktify withdrawn</span>' in page
    assert 'title="Platform: none">Platform none</span>' in page  # the lead with nothing planned


def test_the_vendors_column_costs_the_same_queries_for_any_page_size(staff_client, campaign, make_lead):
    aktify = _destination(campaign, "Aktify", "aktify")

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert staff_client.get(reverse(URL)).status_code == 200
        return len(queries)

    for _ in range(3):
        _row(make_lead(campaign), aktify, "accepted")
    few = count()
    for _ in range(30):
        _row(make_lead(campaign), aktify, "rejected")
    assert count() == few


# --- the export (item 8) ------------------------------------------------------------------------

def _export(client, leads, action="export_csv_with_vendor_states"):
    response = client.post(reverse(URL), {"action": action, "_selected_action": [lead.pk for lead in leads]})
    assert response.status_code == 200 and response.streaming
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def test_the_export_can_add_a_state_and_outcome_column_per_destination(staff_client, world, make_campaign,
                                                                        make_lead):
    other_campaign = make_campaign(name="Other", default_region="US")
    _destination(other_campaign, "Comunik8", "comunik8")
    stranger = make_lead(other_campaign, first_name="stranger")
    leads = world["leads"]
    rows = _export(staff_client, [*leads.values(), stranger])
    assert list(rows[0])[-6:] == ["Comunik8 state", "Comunik8 outcome", "Aktify state", "Aktify outcome",
                                  "Platform state", "Platform outcome"]
    by_name = {row["first_name"]: row for row in rows}
    refused = by_name["refused"]
    assert (refused["Aktify state"], refused["Aktify outcome"]) == ("refused",
                                                                    "rejected missing_region: Region is required")
    assert (refused["Platform state"], refused["Platform outcome"]) == ("accepted", "accepted")
    assert by_name["withdrawn"]["Aktify state"] == "withdrawn"
    assert by_name["stopped"]["Aktify outcome"] == "skipped dnc: Not sent: the lead was dnc first."
    assert by_name["none"]["Aktify state"] == "none"
    # another campaign's destinations are blank, not "none"
    assert by_name["stranger"]["Aktify state"] == "" and by_name["stranger"]["Comunik8 state"] == "none"
    assert by_name["accepted"]["Comunik8 state"] == ""
    # the plain export is unchanged
    assert "Aktify state" not in _export(staff_client, [leads["accepted"]], action="export_csv")[0]


def test_the_export_reads_deliveries_once_per_chunk_not_per_row(staff_client, campaign, make_lead, monkeypatch):
    from vendors import lead_states

    monkeypatch.setattr(lead_states, "EXPORT_CHUNK", 4)
    aktify = _destination(campaign, "Aktify", "aktify")
    leads = [make_lead(campaign) for _ in range(10)]
    for lead in leads:
        _row(lead, aktify, "accepted")
    with CaptureQueriesContext(connection) as queries:
        rows = _export(staff_client, leads)
    assert [row["Aktify state"] for row in rows] == ["accepted"] * 10
    delivery_reads = [q for q in queries.captured_queries if 'FROM "vendors_delivery"' in q["sql"]]
    assert len(delivery_reads) == 1 + 3  # the changelist page the action is posted from; 10 rows in chunks of 4


def test_the_export_names_columns_apart_when_two_destinations_share_a_vendor_account(campaign, make_campaign):
    from vendors import lead_states

    account = VendorAccount.objects.create(name="Platform", kind="platform", credentials={"api_key": "k"})
    other = make_campaign(slug="other")
    first = Destination.objects.create(campaign=campaign, account=account, remote_ref="a")
    second = Destination.objects.create(campaign=other, account=account, remote_ref="b")
    third = Destination.objects.create(campaign=other, account=account, remote_ref="c")
    assert lead_states.export_columns([first, second]) == [
        "solar-us Platform state", "solar-us Platform outcome", "other Platform state", "other Platform outcome"]
    assert lead_states.export_columns([second, third])[0] == f"other Platform #{second.pk} state"

