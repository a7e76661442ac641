"""The audit log: who did what, whichever way it was done, in Django's LogEntry (issue 14 item 5)."""
import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.urls import reverse

from campaigns import audit, intake
from campaigns.models import ApiKey, Campaign, Lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("alice", "alice@example.com", "pw"))
    return client


def entries_for(obj) -> list[str]:
    return list(LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk))
                .order_by("pk").values_list("change_message", flat=True))


def test_a_cancel_from_the_admin_is_logged_in_the_staff_members_name(staff_client, campaign, make_lead):
    lead = make_lead(campaign)
    staff_client.post(reverse("admin:campaigns_lead_changelist"), {"action": "cancel_leads",
                                                                   "_selected_action": [lead.pk]})
    [entry] = LogEntry.objects.filter(object_id=str(lead.pk), content_type__model="lead")
    assert entry.user.username == "alice"
    assert entry.change_message.startswith("Cancelled") and entry.change_message.endswith("by staff:alice")
    page = staff_client.get(reverse("admin:campaigns_lead_history", args=[lead.pk])).content.decode()
    assert "Cancelled; every vendor holding the lead is told to stop" in page


def test_a_cancel_and_a_dnc_through_the_api_name_the_partners_key(client, campaign, partner, make_lead):
    key, raw = ApiKey.issue(partner)
    lead = make_lead(campaign, partner=partner)
    response = client.post(f"/api/v1/leads/{lead.pk}/cancel/", HTTP_X_API_KEY=raw)
    assert response.status_code in (200, 202), response.content
    other = make_lead(campaign, partner=partner)
    response = client.post("/api/v1/dnc/", {"numbers": [str(other.phone)], "campaign": campaign.slug},
                           content_type="application/json", HTTP_X_API_KEY=raw)
    assert response.status_code in (200, 201), response.content
    [cancelled] = entries_for(lead)
    [dnc] = entries_for(other)
    assert cancelled.startswith("Cancelled") and cancelled.endswith(f"by api:acme (key {key.prefix})")
    assert dnc.startswith(f"Put on the DNC list (campaign {campaign.slug}") and dnc.endswith(f"(key {key.prefix})")
    assert LogEntry.objects.get(object_id=str(lead.pk), content_type__model="lead").user.username == \
        audit.SYSTEM_USERNAME


def test_the_pipeline_and_commands_are_named(campaign, make_lead, partner, monkeypatch):
    lead = make_lead(campaign)
    intake.cancel_leads([lead])
    assert entries_for(lead)[0].endswith("by pipeline")
    monkeypatch.setattr("sys.argv", ["manage.py", "create_api_key"])
    call_command("create_api_key", partner="acme", stdout=open("/dev/null", "w"))
    key = ApiKey.objects.get()
    [issued] = entries_for(key)
    assert issued.startswith(f"API key {key.prefix} issued to partner acme") and "by command:create_api_key" in issued


def test_erase_is_logged_on_each_lead(campaign, make_lead):
    lead = make_lead(campaign)
    with audit.acting_as("staff:bob"):
        result = intake.erase_leads([lead], via="admin", requested_by="staff:bob")
    [entry] = entries_for(lead)
    assert f"erasure {result.erasure.pk}" in entry and entry.endswith("by staff:bob")


def test_campaign_pause_and_resume_are_logged(staff_client, campaign):
    campaign.status = Campaign.Status.PAUSED
    campaign.save()
    campaign.status = Campaign.Status.ACTIVE
    campaign.save()
    assert [m.split(":")[0] for m in entries_for(campaign)] == ["Paused", "Resumed"]


def test_key_revocation_is_logged(staff_client, partner):
    key, _ = ApiKey.issue(partner)
    staff_client.post(reverse("admin:campaigns_apikey_changelist"), {"action": "revoke_selected",
                                                                     "_selected_action": [key.pk]})
    assert entries_for(key)[-1] == "API key revoked — by staff:alice"


def test_a_credential_change_is_logged_without_the_secret(staff_client):
    from vendors.models import VendorAccount

    account = VendorAccount.objects.create(name="C8", kind="comunik8", credentials={"api_key": "old-secret"})
    url = reverse("admin:vendors_vendoraccount_change", args=[account.pk])
    form = staff_client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(credentials='{"api_key": "new-secret-123"}', kind="comunik8", name="C8")
    for formset in staff_client.get(url).context["inline_admin_formsets"]:
        data.update({f"{formset.formset.prefix}-{k}": v for k, v in
                     {"TOTAL_FORMS": 0, "INITIAL_FORMS": 0, "MIN_NUM_FORMS": 0, "MAX_NUM_FORMS": 1000}.items()})
    response = staff_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    [entry] = LogEntry.objects.filter(object_id=str(account.pk))
    assert entry.get_change_message() == "Changed credentials." and "new-secret-123" not in entry.change_message


def test_the_audit_log_is_a_searchable_list(staff_client, campaign, make_lead):
    one, two = make_lead(campaign), make_lead(campaign)
    intake.cancel_leads([one])
    intake.add_to_dnc([str(two.phone)], campaign=campaign, reason="asked")
    url = reverse("admin:admin_logentry_changelist")
    response = staff_client.get(url, {"q": "DNC"})
    assert [e.object_id for e in response.context["cl"].result_list] == [str(two.pk)]
    assert staff_client.get(url, {"q": "Cancelled"}).context["cl"].result_list[0].object_id == str(one.pk)
    assert Lead.objects.count() == 2
