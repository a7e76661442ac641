"""Staff erase personal data from the lead admin, and the withdrawal actions say which vendors could not be told."""
import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from campaigns import intake
from campaigns.models import Erasure, Lead
from tests.pipeline.conftest import aimylogic, aktify, open_campaign, row  # noqa: F401  (fixtures)
from tests.pipeline.test_erase import platform  # noqa: F401  (fixture)
from vendors import services
from vendors.models import Delivery

URL = reverse("admin:campaigns_lead_changelist")


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("staff", "staff@example.com", "pw")
    client.force_login(user)
    client.user = user
    return client


def delivered(campaign, *rows):
    results = intake.submit(list(rows), campaign=campaign)
    services.deliver_due(threads=1, time_budget=30)
    return [r.lead for r in results]


def test_the_erase_action_asks_first_showing_the_count_and_the_vendors(staff_client, open_campaign, platform,
                                                                       aimylogic, sandbox):
    a, b = delivered(open_campaign, row(1), row(2))
    page = staff_client.post(URL, {"action": "erase_personal_data", "_selected_action": [a.pk, b.pk]})
    html = page.content.decode()
    assert page.status_code == 200 and "Erase the personal data of 2 lead(s)?" in html
    assert "Platform sandbox (ipSCAPE Platform API)" in html and "asked to erase the person" in html
    assert "Aimylogic sandbox (Aimylogic)" in html and "Aimylogic has no API for erasing a person." in html
    assert set(Lead.objects.values_list("status", flat=True)) == {"new"}  # nothing erased yet
    assert not Erasure.objects.exists() and not Delivery.objects.exclude(operation="push").exists()


def test_confirming_erases_records_who_and_says_which_vendors_cannot_erase(staff_client, open_campaign, platform,
                                                                           aimylogic, sandbox):
    a, b = delivered(open_campaign, row(1), row(2))
    response = staff_client.post(URL, {"action": "erase_personal_data", "_selected_action": [a.pk], "confirm": "yes",
                                       "erase_reason": "ticket 9"}, follow=True)
    html = response.content.decode()
    assert "Erased the personal data of 1 lead(s)." in html
    assert "Aimylogic sandbox could not be told for 1 lead(s): Aimylogic has no API for erasing a person." in html
    assert "Platform sandbox: being told for 1" in html
    a.refresh_from_db(), b.refresh_from_db()
    assert (a.status, a.phone, a.email) == ("erased", f"erased{a.pk}", "") and b.status == "new"
    [erasure] = Erasure.objects.all()
    assert (erasure.via, erasure.user, erasure.requested_by, erasure.reason, erasure.lead_count) == (
        "admin", staff_client.user, "staff:staff", "ticket 9", 1)
    assert list(erasure.leads.all()) == [a]
    page = staff_client.get(reverse("admin:campaigns_erasure_change", args=[erasure.pk])).content.decode()
    assert reverse("admin:campaigns_lead_change", args=[a.pk]) in page


def test_erasing_needs_the_delete_permission(client, django_user_model, open_campaign, make_lead):
    user = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_lead", "change_lead"]))
    client.force_login(user)
    lead = make_lead(open_campaign)
    assert "erase_personal_data" not in client.get(URL).content.decode()
    client.post(URL, {"action": "erase_personal_data", "_selected_action": [lead.pk], "confirm": "yes"})
    lead.refresh_from_db()
    assert lead.status == "new" and not Erasure.objects.exists()
    user.user_permissions.add(Permission.objects.get(codename="delete_lead"))
    assert "erase_personal_data" in client.get(URL).content.decode()


def test_the_cancel_action_names_the_vendors_that_could_not_be_told(staff_client, open_campaign, aktify, aimylogic,
                                                                    sandbox):
    [lead] = delivered(open_campaign, row(1))
    html = staff_client.post(URL, {"action": "cancel_leads", "_selected_action": [lead.pk]},
                             follow=True).content.decode()
    assert "Cancelled 1 of 1 selected leads" in html
    assert "Aktify sandbox: being told for 1" in html
    assert ("Aimylogic sandbox could not be told for 1 lead(s): Aimylogic has no API for stop contacting a lead."
            in html)
    assert "are told to stop" not in html


def test_the_dnc_action_names_the_vendors_that_could_not_be_told(staff_client, open_campaign, aktify, aimylogic,
                                                                 sandbox):
    [lead] = delivered(open_campaign, row(1))
    html = staff_client.post(URL, {"action": "add_to_global_dnc", "_selected_action": [lead.pk]},
                             follow=True).content.decode()
    assert "1 open lead(s) with them withdrawn" in html
    assert ("Aimylogic sandbox could not be told for 1 lead(s): Aimylogic has no API for stop contacting a lead."
            in html)


def test_the_details_kept_for_a_vendor_are_never_shown(staff_client, open_campaign, platform, sandbox):
    [lead] = delivered(open_campaign, row(1))
    sandbox.faults(vendor="platform", error_503_rate=1)
    intake.erase_leads([lead], via="admin", requested_by="staff:staff")
    erase = Delivery.objects.get(operation="erase")
    assert erase.subject["phone"] == "+14155550001"  # kept (encrypted) for the vendor call
    for url in (reverse("admin:vendors_delivery_change", args=[erase.pk]),
                reverse("admin:campaigns_lead_change", args=[lead.pk])):
        page = staff_client.get(url).content.decode()
        assert "14155550001" not in page and "a1@example.com" not in page


def test_an_erased_lead_can_be_viewed_not_edited(staff_client, open_campaign, make_lead):
    lead = make_lead(open_campaign)
    intake.erase_leads([lead], via="admin", requested_by="staff:staff")
    url = reverse("admin:campaigns_lead_change", args=[lead.pk])
    page = staff_client.get(url)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert staff_client.post(url, {"first_name": "Ada", "phone": "+14155550001"}).status_code == 403
    lead.refresh_from_db()
    assert (lead.first_name, lead.phone) == ("", f"erased{lead.pk}")
