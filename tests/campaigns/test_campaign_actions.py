"""Campaign-level actions with counts first (issue 17, item 3): cancel all open leads of a
campaign, archive it, delete a lead list keeping or cancelling its leads."""
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from campaigns import intake
from campaigns.models import BulkAction, Campaign, Lead, LeadList
from vendors.models import Delivery, Destination, VendorAccount

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(get_user_model().objects.create_superuser("boss", "boss@example.com", "pw"))
    return client


@pytest.fixture
def leads(campaign, lead_list):
    """25 leads held at a vendor (20 in the list), 5 of them cancelled already."""
    account = VendorAccount.objects.create(name="Platform", kind="platform", credentials={"api_key": "k"})
    destination = Destination.objects.create(campaign=campaign, account=account, remote_ref="list-1")
    made = Lead.objects.bulk_create([Lead(campaign=campaign, phone=f"+1201555{i:04d}",
                                          lead_list=lead_list if i < 20 else None,
                                          status="cancelled" if i % 5 == 0 else "new") for i in range(25)])
    Delivery.objects.bulk_create([Delivery(lead=lead, destination=destination, status="accepted", due_at=timezone.now())
                                  for lead in made])
    return made


def post_action(client, model, action, pks, **extra):
    return client.post(reverse(f"admin:campaigns_{model}_changelist"),
                       {"action": action, "_selected_action": pks, **extra}, follow=True)


def test_cancel_all_open_leads_shows_counts_first_then_cancels(staff_client, campaign, leads):
    page = post_action(staff_client, "campaign", "cancel_open_leads", [campaign.pk]).content.decode()
    assert f"{campaign.name}: 20 open lead(s) of 25" in page and "Yes, cancel them" in page
    assert Lead.objects.filter(status="cancelled").count() == 5  # nothing yet
    done = post_action(staff_client, "campaign", "cancel_open_leads", [campaign.pk], confirm="yes").content.decode()
    assert "Cancelled 20 of 20 selected leads; 20 withdrawal(s) planned at vendors." in done
    assert Lead.objects.filter(status="cancelled").count() == 25
    assert Delivery.objects.filter(operation="end_contact").count() == 20


def test_archive_closes_intake_and_withdraws_everywhere_keeping_the_history(staff_client, campaign, leads):
    page = post_action(staff_client, "campaign", "archive", [campaign.pk]).content.decode()
    assert "20 open lead(s) of 25" in page and "Intake stops" in page
    post_action(staff_client, "campaign", "archive", [campaign.pk], confirm="yes")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ARCHIVED
    assert Lead.objects.count() == 25 and Lead.objects.filter(status="cancelled").count() == 25
    assert Delivery.objects.filter(operation="end_contact").count() == 20
    [result] = intake.submit([{"phone": "+12025550143"}], campaign=campaign)
    assert result.code == "campaign_closed"


def test_deleting_a_lead_list_keeps_its_leads_when_staff_choose_so(staff_client, lead_list, leads):
    page = post_action(staff_client, "leadlist", "delete_lists", [lead_list.pk]).content.decode()
    assert f"{lead_list}: 20 lead(s), 16 open" in page and "Keep the leads; they lose the list" in page
    assert LeadList.objects.exists()
    post_action(staff_client, "leadlist", "delete_lists", [lead_list.pk], confirm="yes", choice="keep")
    assert not LeadList.objects.exists()
    assert Lead.objects.filter(lead_list__isnull=True).count() == 25 and Lead.objects.filter(status="new").count() == 20


def test_deleting_a_lead_list_can_cancel_its_leads(staff_client, lead_list, leads):
    done = post_action(staff_client, "leadlist", "delete_lists", [lead_list.pk], confirm="yes",
                       choice="cancel").content.decode()
    assert "Cancelled 16 of 16 selected leads" in done
    assert not LeadList.objects.exists()
    assert Lead.objects.filter(status="new").count() == 4  # the leads outside the list stay open
    assert BulkAction.objects.get().changed == 16
