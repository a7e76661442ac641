import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.models import DNC, Lead


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("staff", "staff@example.com", "pw")
    client.force_login(user)
    return client


def _bulk_leads(campaign, n, start=0):
    Lead.objects.bulk_create(
        Lead(campaign=campaign, phone=f"+1415{2000000 + start + i:07d}", first_name="L", last_name=str(i),
             status="new" if i % 3 else "cancelled")
        for i in range(n)
    )


def test_the_admin_is_branded_leadhub(staff_client):
    page = staff_client.get(reverse("admin:index")).content.decode()
    assert "LeadHub" in page
    assert "Django administration" not in page


def test_the_lead_changelist_issues_a_bounded_number_of_queries(staff_client, campaign, make_campaign):
    _bulk_leads(campaign, 5000)
    _bulk_leads(make_campaign(), 100, start=6000)
    url = reverse("admin:campaigns_lead_changelist")
    with CaptureQueriesContext(connection) as small:
        assert staff_client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as filtered:
        assert staff_client.get(url, {"status__exact": "new", "campaign__id__exact": campaign.pk}).status_code == 200
    assert len(small) <= 12, [q["sql"] for q in small.captured_queries]
    assert len(filtered) <= 12
    # no full-table COUNT(*) beside the filtered one (show_full_result_count off)
    counts = [q["sql"] for q in filtered.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) <= 1


@pytest.mark.parametrize("term", ["(415) 555-2671", "415.555.2671", "+1 415 555 2671", "14155552671"])
def test_phone_search_accepts_any_format_and_matches_exactly(staff_client, campaign, make_lead, term):
    target = make_lead(campaign, phone="+14155552671", last_name="Target")
    make_lead(campaign, phone="+14155552672", last_name="Other")
    url = reverse("admin:campaigns_lead_changelist")
    with CaptureQueriesContext(connection) as queries:
        page = staff_client.get(url, {"q": term}).content.decode()
    assert "Target" in page and "Other" not in page
    search_sql = [q["sql"] for q in queries.captured_queries if "campaigns_lead" in q["sql"] and "LIKE" in q["sql"].upper()]
    assert search_sql == []  # exact, indexed: no LIKE scan
    assert target.pk


def test_phone_search_also_finds_the_alternate_number(staff_client, campaign, make_lead):
    make_lead(campaign, phone="+14155552671", phone_alt="+14155559999", last_name="HasAlt")
    page = staff_client.get(reverse("admin:campaigns_lead_changelist"), {"q": "415-555-9999"}).content.decode()
    assert "HasAlt" in page


def test_cancel_action_cancels_selected_leads(staff_client, campaign, make_lead):
    a, b = make_lead(campaign), make_lead(campaign)
    response = staff_client.post(reverse("admin:campaigns_lead_changelist"),
                                 {"action": "cancel_leads", "_selected_action": [a.pk]}, follow=True)
    assert "Cancelled 1 of 1 selected leads" in response.content.decode()
    a.refresh_from_db(), b.refresh_from_db()
    assert (a.status, b.status) == ("cancelled", "new")


def test_dnc_actions_add_campaign_or_global_rows(staff_client, campaign, make_lead):
    a, b = make_lead(campaign), make_lead(campaign)
    url = reverse("admin:campaigns_lead_changelist")
    staff_client.post(url, {"action": "add_to_campaign_dnc", "_selected_action": [a.pk], "reason": "asked"})
    staff_client.post(url, {"action": "add_to_global_dnc", "_selected_action": [b.pk]})
    assert DNC.objects.get(phone=a.phone).campaign == campaign
    assert DNC.objects.get(phone=a.phone).reason == "asked"
    assert DNC.objects.get(phone=b.phone).campaign is None
    a.refresh_from_db(), b.refresh_from_db()
    assert a.status == b.status == "dnc"


def test_adding_a_dnc_entry_in_the_admin_withdraws_the_lead(staff_client, campaign, make_lead):
    lead = make_lead(campaign, phone="+14155552671")
    response = staff_client.post(reverse("admin:campaigns_dnc_add"),
                                 {"phone": "(415) 555-2671", "reason": "complaint", "source": ""}, follow=True)
    assert response.status_code == 200
    lead.refresh_from_db()
    assert lead.status == "dnc"
    assert DNC.objects.get().campaign is None


def test_every_model_has_a_working_changelist(staff_client, campaign, make_lead):
    make_lead(campaign)
    for name in ["campaign", "leadlist", "partner", "lead", "dnc"]:
        assert staff_client.get(reverse(f"admin:campaigns_{name}_changelist")).status_code == 200
        assert staff_client.get(reverse(f"admin:campaigns_{name}_add")).status_code == 200
    assert staff_client.get(reverse("admin:campaigns_lead_change", args=[Lead.objects.get().pk])).status_code == 200


def test_a_leads_status_changes_only_through_the_actions_that_tell_vendors(staff_client, campaign, make_lead):
    lead = make_lead(campaign)
    page = staff_client.get(reverse("admin:campaigns_lead_change", args=[lead.pk])).content.decode()
    assert 'name="status"' not in page  # read-only on the form; "Cancel selected leads" does it properly
