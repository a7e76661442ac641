"""Issuing and revoking keys: the admin (secret shown once) and create_api_key."""
from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from campaigns.models import ApiKey


@pytest.fixture
def staff(admin_client):
    return admin_client


def test_adding_a_key_in_the_admin_shows_the_secret_once(staff, partner, campaign):
    r = staff.post("/admin/campaigns/apikey/add/", {"partner": partner.pk, "name": "web form",
                                                    "campaigns": [campaign.pk]}, follow=True)
    assert r.status_code == 200
    key = ApiKey.objects.get()
    messages = [str(m) for m in r.context["messages"]]
    [shown] = [m for m in messages if "<code>" in m]
    assert key.prefix in shown
    raw = shown.split("<code>")[1].split("</code>")[0]
    assert key.matches(raw) and key.name == "web form" and list(key.campaigns.all()) == [campaign]
    secret = raw.split(".", 1)[1]
    for url in ("/admin/campaigns/apikey/", f"/admin/campaigns/apikey/{key.pk}/change/"):
        page = staff.get(url)
        assert page.status_code == 200
        assert secret not in page.content.decode() and key.key_hash not in page.content.decode()


def test_the_admin_refuses_campaigns_the_partner_may_not_use(staff, partner, make_campaign):
    foreign = make_campaign()
    r = staff.post("/admin/campaigns/apikey/add/", {"partner": partner.pk, "campaigns": [foreign.pk]})
    assert r.status_code == 200 and "may not send to" in r.content.decode()
    assert not ApiKey.objects.exists()


def test_revoke_selected_keys_action(staff, partner):
    one, _ = ApiKey.issue(partner)
    two, _ = ApiKey.issue(partner)
    r = staff.post("/admin/campaigns/apikey/", {"action": "revoke_selected", "_selected_action": [one.pk]}, follow=True)
    assert r.status_code == 200
    one.refresh_from_db(), two.refresh_from_db()
    assert one.revoked_at is not None and two.revoked_at is None


def test_the_changelist_filters_and_searches(staff, partner):
    key, _ = ApiKey.issue(partner, name="crm sync")
    assert key.prefix in staff.get("/admin/campaigns/apikey/", {"q": "crm"}).content.decode()
    assert staff.get("/admin/campaigns/apikey/", {"revoked_at__isnull": "True"}).status_code == 200


def test_create_api_key_prints_the_key_once(partner, campaign):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", "--partner", "acme", "--campaign", "solar-us", "--name", "cli", stdout=out, stderr=err)
    raw = out.getvalue().strip()
    key = ApiKey.objects.get()
    assert key.matches(raw) and key.name == "cli" and list(key.campaigns.all()) == [campaign]
    assert "will not be shown again" in err.getvalue() and raw not in err.getvalue()


@pytest.mark.parametrize("args, message", [
    (["--partner", "nobody"], "No partner with slug 'nobody'"),
    (["--partner", "acme", "--campaign", "ghost"], "No campaign with slug 'ghost'"),
    (["--partner", "acme", "--campaign", "other"], "may not send to campaign 'other'"),
])
def test_create_api_key_explains_bad_input(partner, campaign, make_campaign, args, message):
    make_campaign(slug="other")
    with pytest.raises(CommandError, match=message):
        call_command("create_api_key", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert not ApiKey.objects.exists()


def test_create_api_key_help_teaches(capsys):
    with pytest.raises(SystemExit):
        call_command("create_api_key", "--help")
    text = capsys.readouterr().out
    assert "X-API-Key" in text and "--campaign SLUG" in text and "Examples" in text
