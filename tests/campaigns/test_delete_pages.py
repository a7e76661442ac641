"""Delete confirmation pages show counts per model and name at most 20 objects (issue 17, item 4).

Django's own page lists every related object (32 MB of HTML for a campaign with
333,333 leads); these pages count instead.
"""
import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from campaigns.models import DNC, ApiKey, Lead, LeadList
from leadhub.deletion import SHOWN
from vendors.models import Delivery, DeliveryAttempt, Destination, VendorAccount

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(get_user_model().objects.create_superuser("boss", "boss@example.com", "pw"))
    return client


def leads(campaign, n, **kwargs):
    return Lead.objects.bulk_create([Lead(campaign=campaign, phone=f"+1201555{i:04d}", last_name=f"L{i}", **kwargs)
                                     for i in range(n)])


def named(page: str, verbose_name: str) -> int:
    """How many objects of this kind the page names (one "<Verbose name>: <a …>" per object)."""
    return len(re.findall(rf"<li>{verbose_name}: ", page))


def test_a_campaign_with_leads_names_twenty_and_counts_the_rest(staff_client, campaign):
    leads(campaign, 60)
    page = staff_client.get(reverse("admin:campaigns_campaign_delete", args=[campaign.pk])).content.decode()
    assert "Cannot delete campaign" in page
    assert named(page, "Lead") == SHOWN
    assert "… and 40 more leads" in page


def test_a_campaign_without_leads_counts_what_it_takes_with_it(staff_client, campaign):
    DNC.objects.bulk_create([DNC(phone=f"+1201555{i:04d}", campaign=campaign) for i in range(30)])
    LeadList.objects.create(campaign=campaign, name="October")
    account = VendorAccount.objects.create(name="P", kind="platform", credentials={"api_key": "k"})
    destination = Destination.objects.create(campaign=campaign, account=account, remote_ref="x")
    page = staff_client.get(reverse("admin:campaigns_campaign_delete", args=[campaign.pk])).content.decode()
    assert "Are you sure" in page
    summary = re.sub(r"\s+", " ", page[page.index("<h2>Summary</h2>"):])
    for line in ("Campaigns: 1", "DNC list: 30", "Lead lists: 1", "Destinations: 1"):
        assert f"<li>{line}</li>" in summary
    assert named(page, "DNC entry") + named(page, "Lead list") + named(page, "Destination") + 1 <= SHOWN
    assert "more DNC list" in page
    response = staff_client.post(reverse("admin:campaigns_campaign_delete", args=[campaign.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not DNC.objects.exists() and not Destination.objects.filter(pk=destination.pk).exists()


def test_deleting_a_lead_list_says_its_leads_stay_and_keeps_them(staff_client, campaign, lead_list):
    leads(campaign, 30, lead_list=lead_list)
    url = reverse("admin:campaigns_leadlist_delete", args=[lead_list.pk])
    page = staff_client.get(url).content.decode()
    assert "30 leads stay, without their lead list" in page and named(page, "Lead") == 0
    staff_client.post(url, {"post": "yes"})
    assert Lead.objects.filter(lead_list__isnull=True).count() == 30


def test_a_partner_counts_its_keys_and_leads(staff_client, campaign, partner):
    leads(campaign, 25, partner=partner)
    ApiKey.issue(partner, name="web form")
    page = staff_client.get(reverse("admin:campaigns_partner_delete", args=[partner.pk])).content.decode()
    assert "25 leads stay, without their partner" in page
    assert "<li>API keys: 1</li>" in re.sub(r"\s+", " ", page[page.index("<h2>Summary</h2>"):])


def test_a_destination_counts_deliveries_and_attempts(staff_client, campaign):
    account = VendorAccount.objects.create(name="P", kind="platform", credentials={"api_key": "k"})
    destination = Destination.objects.create(campaign=campaign, account=account, remote_ref="x")
    deliveries = Delivery.objects.bulk_create([Delivery(lead=lead, destination=destination, due_at="2026-01-01T00:00Z")
                                               for lead in leads(campaign, 30)])
    DeliveryAttempt.objects.bulk_create([DeliveryAttempt(delivery=d, started_at="2026-01-01T00:00Z", outcome="accepted")
                                         for d in deliveries])
    page = staff_client.get(reverse("admin:vendors_destination_delete", args=[destination.pk])).content.decode()
    summary = re.sub(r"\s+", " ", page[page.index("<h2>Summary</h2>"):])
    assert "<li>Deliveries: 30</li>" in summary and "<li>Delivery attempts: 30</li>" in summary
    assert named(page, "Delivery") + named(page, "Delivery attempt") <= SHOWN - 1
    account_page = staff_client.get(reverse("admin:vendors_vendoraccount_delete", args=[account.pk])).content.decode()
    assert "Cannot delete vendor account" in account_page and named(account_page, "Destination") == 1


def test_the_bulk_delete_action_counts_too(staff_client, campaign, make_campaign):
    other = make_campaign()
    leads(campaign, 30)
    page = staff_client.post(reverse("admin:campaigns_campaign_changelist"),
                             {"action": "delete_selected", "_selected_action": [campaign.pk, other.pk]}).content.decode()
    assert "Cannot delete campaigns" in page and named(page, "Lead") == SHOWN
    assert "… and 10 more leads" in page
