"""The admin's lead form: adding goes through intake; editing is checked like intake, and
refused where a vendor already has what would change (issue 12, item 8)."""
import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from campaigns import intake
from campaigns.models import DNC, Lead, LeadList
from vendors.models import Delivery, Destination, VendorAccount

ADD_URL = "admin:campaigns_lead_add"


@pytest.fixture
def destination(campaign):
    account = VendorAccount.objects.create(name="Platform EU", kind="platform", base_url="https://platform.test",
                                           credentials={"tenant_id": "t1", "token": "tok"})
    return Destination.objects.create(campaign=campaign, account=account, remote_ref="7")


def _form(**values):
    """What the add/change page posts: every form field, the deliveries and outcomes inlines' management forms."""
    data = {"campaign": "", "lead_list": "", "partner": "", "phone": "", "phone_alt": "", "first_name": "",
            "last_name": "", "email": "", "address": "", "city": "", "region": "", "postal_code": "", "country": "",
            "timezone": "", "external_id": "", "source": "", "link": "", "metadata": "{}", "consent_at_0": "",
            "consent_at_1": "", "consent_url": "", "scheduled_at_0": "", "scheduled_at_1": "",
            "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0",
            "vendor_outcomes-TOTAL_FORMS": "0", "vendor_outcomes-INITIAL_FORMS": "0"}
    data.update(values)
    return data


def _lead_form(lead, **changes):
    """The change page's post for ``lead`` as it is saved, with ``changes``."""
    data = _form(**{name: getattr(lead, name) or "" for name in intake.TEXT_FIELDS},
                 phone=lead.phone, phone_alt=lead.phone_alt, email=lead.email, country=lead.country,
                 timezone=lead.timezone, lead_list=lead.lead_list_id or "", partner=lead.partner_id or "")
    data.pop("campaign")  # read-only once the lead exists
    deliveries = list(lead.deliveries.values_list("pk", flat=True))
    data.update({"deliveries-TOTAL_FORMS": str(len(deliveries)), "deliveries-INITIAL_FORMS": str(len(deliveries))})
    for i, pk in enumerate(deliveries):
        data.update({f"deliveries-{i}-id": str(pk), f"deliveries-{i}-lead": str(lead.pk)})
    data.update(changes)
    return data


def _errors(response) -> list[str]:
    assert response.status_code == 200 and "adminform" in response.context, response.status_code
    form = response.context["adminform"].form
    return [str(e) for errors in form.errors.values() for e in errors]


# --- adding ----------------------------------------------------------------------------

def test_adding_a_lead_goes_through_intake_and_plans_its_delivery(admin_client, campaign, destination):
    response = admin_client.post(reverse(ADD_URL), _form(campaign=campaign.pk, phone="(415) 555-2671",
                                                         first_name=" Ada ", region="CA"))
    assert response.status_code == 302, _errors(response)
    lead = Lead.objects.get()
    assert (lead.phone, lead.first_name, lead.timezone, lead.country) == (
        "+14155552671", "Ada", "America/Los_Angeles", "US")
    assert lead.source == "staff:admin"
    delivery = Delivery.objects.get()
    assert (delivery.lead, delivery.destination, delivery.operation, delivery.status) == (
        lead, destination, "push", "pending")


def test_an_added_number_without_country_code_is_read_with_the_campaigns_region(admin_client, make_campaign):
    au = make_campaign(default_region="AU", timezone="Australia/Sydney")
    response = admin_client.post(reverse(ADD_URL), _form(campaign=au.pk, phone="02 9374 4000"))
    assert response.status_code == 302, _errors(response)
    assert Lead.objects.get().phone == "+61293744000"  # the default region (US) would refuse it


def test_an_added_number_on_the_dnc_list_is_a_form_error(admin_client, campaign, destination):
    DNC.objects.create(phone="+14155552671", reason="complaint")
    response = admin_client.post(reverse(ADD_URL), _form(campaign=campaign.pk, phone="415-555-2671"))
    assert _errors(response) == ["+14155552671 is on the do-not-call list."]
    assert not Lead.objects.exists() and not Delivery.objects.exists()


def test_an_added_duplicate_is_a_form_error_naming_the_lead(admin_client, campaign, make_lead):
    first = make_lead(campaign, phone="+14155552671")
    response = admin_client.post(reverse(ADD_URL), _form(campaign=campaign.pk, phone="+1 415 555 2671"))
    assert _errors(response) == [
        f"Campaign 'solar-us' already has a lead with +14155552671 (lead {first.pk})."]
    assert Lead.objects.count() == 1


def test_intake_reasons_land_on_their_fields(admin_client, campaign):
    response = admin_client.post(reverse(ADD_URL), _form(campaign=campaign.pk, phone="555", timezone="posixrules",
                                                         country="U1"))
    form = response.context["adminform"].form
    assert "'555' is not a possible phone number" in form.errors["phone"][0]
    assert form.errors["timezone"] == [
        "'posixrules' is not a canonical IANA time zone id (e.g. America/Chicago, Europe/Berlin or UTC)."]
    assert form.errors["country"] == ["'U1' is not a two-letter country code."]
    assert not Lead.objects.exists()


def test_an_archived_campaign_takes_no_lead_from_the_admin(admin_client, campaign):
    campaign.status = "archived"
    campaign.save()
    response = admin_client.post(reverse(ADD_URL), _form(campaign=campaign.pk, phone="4155552671"))
    assert _errors(response) == ["Campaign 'solar-us' is archived and takes no new leads."]


def test_a_list_of_another_campaign_is_refused(admin_client, campaign, make_campaign):
    other_list = LeadList.objects.create(campaign=make_campaign(name="Roofing"), name="May")
    response = admin_client.post(reverse(ADD_URL), _form(campaign=campaign.pk, phone="4155552671",
                                                         lead_list=other_list.pk))
    assert _errors(response) == ["List 'May' belongs to campaign 'Roofing', not 'Solar US'."]


def test_a_number_blocked_between_the_check_and_the_save_is_not_added(admin_client, campaign, destination,
                                                                      monkeypatch):
    """The form's dry run passed, then the number went on the DNC list before the save."""
    checks = []
    real = intake.dnc_phones

    def dnc_after_the_form_check(phones, campaign):
        checks.append(phones)
        return set(phones) if len(checks) > 1 else real(phones, campaign)

    monkeypatch.setattr(intake, "dnc_phones", dnc_after_the_form_check)
    response = admin_client.post(reverse(ADD_URL), _form(campaign=campaign.pk, phone="4155552671"))
    assert response.status_code == 302 and response.url == reverse(ADD_URL)
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "The lead was not added: +14155552671 is on the do-not-call list."]
    assert not Lead.objects.exists() and not Delivery.objects.exists()


# --- editing ---------------------------------------------------------------------------

def _change(client, lead, **changes):
    return client.post(reverse("admin:campaigns_lead_change", args=[lead.pk]), _lead_form(lead, **changes))


def test_editing_an_undelivered_lead_normalises_with_the_campaigns_region(admin_client, make_campaign, make_lead):
    au = make_campaign(default_region="AU", timezone="Australia/Sydney")
    lead = make_lead(au, phone="+61293744000", timezone="Australia/Sydney", country="AU")
    response = _change(admin_client, lead, phone="(02) 9374 4001", phone_alt="0412 345 678", last_name=" Byron ")
    assert response.status_code == 302, _errors(response)
    lead.refresh_from_db()
    assert (lead.phone, lead.phone_alt, lead.last_name) == ("+61293744001", "+61412345678", "Byron")


def test_editing_to_a_number_on_the_dnc_list_is_refused(admin_client, campaign, make_lead):
    lead = make_lead(campaign, phone="+14155552671")
    DNC.objects.create(phone="+14155550000", campaign=campaign)
    response = _change(admin_client, lead, phone="415 555 0000")
    assert _errors(response) == ["+14155550000 is on the do-not-call list."]
    lead.refresh_from_db()
    assert lead.phone == "+14155552671"


def test_editing_to_a_number_the_campaign_has_is_refused(admin_client, campaign, make_lead):
    lead, other = make_lead(campaign, phone="+14155552671"), make_lead(campaign, phone="+14155552672")
    response = _change(admin_client, lead, phone="415.555.2672")
    assert _errors(response) == [f"Campaign 'solar-us' already has a lead with +14155552672 (lead {other.pk})."]


def test_an_edit_that_keeps_the_number_in_another_format_changes_nothing(admin_client, campaign, make_lead):
    lead = make_lead(campaign, phone="+14155552671")
    assert _change(admin_client, lead, phone="(415) 555-2671").status_code == 302
    lead.refresh_from_db()
    assert lead.phone == "+14155552671"


@pytest.mark.parametrize("status,attempts", [("accepted", 1), ("in_flight", 1), ("pending", 1), ("failed", 8)])
def test_editing_what_a_vendor_was_sent_is_refused(admin_client, campaign, make_lead, destination, status, attempts):
    lead = make_lead(campaign, phone="+14155552671", first_name="Ada")
    Delivery.objects.create(lead=lead, destination=destination, status=status, attempts=attempts,
                            due_at=timezone.now())
    response = _change(admin_client, lead, phone="415 555 2679", first_name="Grace")
    assert _errors(response) == [
        "Not saved: Platform EU already has this lead, and vendors keep the details they were sent, so its "
        "first_name, phone cannot change here. Correct them at the vendor; for a wrong number, cancel this lead "
        "and add one with the right number."]
    lead.refresh_from_db()
    assert (lead.phone, lead.first_name) == ("+14155552671", "Ada")


def test_a_delivered_lead_can_still_change_list_and_partner(admin_client, campaign, make_lead, destination,
                                                            lead_list, partner):
    lead = make_lead(campaign, timezone="", country="")  # blanks intake would fill in are no change
    Delivery.objects.create(lead=lead, destination=destination, status="accepted", attempts=1, due_at=timezone.now())
    response = _change(admin_client, lead, phone=f"({lead.phone[2:5]}) {lead.phone[5:8]}-{lead.phone[8:]}",
                       lead_list=lead_list.pk, partner=partner.pk)
    assert response.status_code == 302, _errors(response)
    lead.refresh_from_db()
    assert (lead.lead_list, lead.partner, lead.timezone, lead.country) == (lead_list, partner, "", "")


@pytest.mark.parametrize("status,attempts", [("pending", 0), ("rejected", 1)])
def test_a_lead_no_vendor_has_can_be_edited(admin_client, campaign, make_lead, destination, status, attempts):
    lead = make_lead(campaign, first_name="Ada")
    Delivery.objects.create(lead=lead, destination=destination, status=status, attempts=attempts,
                            due_at=timezone.now())
    assert _change(admin_client, lead, first_name="Grace").status_code == 302
    lead.refresh_from_db()
    assert lead.first_name == "Grace"


def test_a_lead_cannot_move_to_another_campaign(admin_client, campaign, make_campaign, make_lead):
    lead = make_lead(campaign)
    other = make_campaign()
    url = reverse("admin:campaigns_lead_change", args=[lead.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="campaign"' not in page
    assert "A lead stays in its campaign. To move it, cancel it here" in page
    assert admin_client.post(url, _lead_form(lead, campaign=other.pk)).status_code == 302
    lead.refresh_from_db()
    assert lead.campaign == campaign


def test_the_change_page_says_when_a_vendor_has_the_lead(admin_client, campaign, make_lead, destination):
    lead = make_lead(campaign)
    url = reverse("admin:campaigns_lead_change", args=[lead.pk])
    assert "can no longer be changed" not in admin_client.get(url).content.decode()
    Delivery.objects.create(lead=lead, destination=destination, status="accepted", attempts=1, due_at=timezone.now())
    assert ("Platform EU already has this lead: the details vendors were sent can no longer be changed here."
            in admin_client.get(url).content.decode())


def test_a_partner_that_does_not_send_to_the_campaign_is_refused(admin_client, campaign, make_campaign, partner):
    other = make_campaign(name="Roofing")
    response = admin_client.post(reverse(ADD_URL), _form(campaign=other.pk, phone="4155552671", partner=partner.pk))
    assert _errors(response) == ["Acme Leads does not send to campaign 'Roofing'; add the campaign to the partner "
                                 "first, or pick another."]
    response = admin_client.post(reverse(ADD_URL), _form(campaign=campaign.pk, phone="4155552671", partner=partner.pk))
    assert response.status_code == 302, _errors(response)
    assert Lead.objects.get().partner == partner
