"""Only canonical IANA zone ids get in (campaigns.zones): the ones every vendor takes."""
import importlib

import pytest
from django.core.exceptions import ValidationError

from campaigns import intake
from campaigns.models import Campaign
from campaigns.phones import parse_phone


@pytest.mark.parametrize("name", ["posixrules", "localtime", "Factory", "posix/America/New_York", "right/UTC",
                                  "Etc/GMT+5", "Mars/Olympus"])
def test_intake_refuses_a_name_that_is_no_canonical_zone(campaign, name):
    [result] = intake.submit([{"phone": "(415) 555-2671", "timezone": name}], campaign=campaign)
    assert not result.accepted and result.code == "invalid_field"
    assert result.fields["timezone"] == [{
        "code": "invalid_field",
        "message": f"{name!r} is not a canonical IANA time zone id (e.g. America/Chicago, Europe/Berlin or UTC)."}]


@pytest.mark.parametrize(("alias", "canonical"), [("US/Eastern", "America/New_York"),
                                                  ("Asia/Calcutta", "Asia/Kolkata")])
def test_intake_refuses_an_old_alias_and_names_the_canonical_id(campaign, alias, canonical):
    [result] = intake.submit([{"phone": "(415) 555-2671", "timezone": alias}], campaign=campaign)
    assert not result.accepted
    assert result.fields["timezone"][0]["message"] == (
        f"{alias!r} is an old alias of an IANA time zone; vendors need its canonical id {canonical!r}.")


@pytest.mark.parametrize("name", ["America/Chicago", "Europe/Amsterdam", "Australia/Sydney", "UTC"])
def test_intake_accepts_canonical_zones(campaign, name):
    [result] = intake.submit([{"phone": "(415) 555-2671", "timezone": name}], campaign=campaign)
    assert result.accepted and result.lead.timezone == name


def test_a_zone_derived_from_the_number_is_canonical_although_phonenumbers_names_an_alias():
    # phonenumbers gives ("Asia/Calcutta",) for Delhi landlines
    assert parse_phone("+91 11 2345 6789").time_zone == "Asia/Kolkata"


def test_a_campaign_refuses_a_non_canonical_zone(db):
    campaign = Campaign(name="X", slug="x", timezone="posixrules")
    with pytest.raises(ValidationError) as caught:
        campaign.full_clean()
    assert "'posixrules' is not a canonical IANA time zone id" in caught.value.message_dict["timezone"][0]


def test_stored_zones_become_canonical(campaign, make_campaign, make_lead):
    from django.apps import apps

    migration = importlib.import_module("campaigns.migrations.0007_canonical_time_zones")
    alias = make_lead(campaign, timezone="US/Eastern")
    bogus = make_lead(campaign, timezone="posixrules")
    fine = make_lead(campaign, timezone="Europe/Amsterdam")
    old_campaign = make_campaign(timezone="Asia/Calcutta")
    bogus_campaign = make_campaign(timezone="localtime")
    migration.canonical_time_zones(apps, None)
    for obj in (alias, bogus, fine, old_campaign, bogus_campaign):
        obj.refresh_from_db()
    assert [alias.timezone, bogus.timezone, fine.timezone] == ["America/New_York", "", "Europe/Amsterdam"]
    # a campaign's bad zone is left for staff: its form names the problem
    assert [old_campaign.timezone, bogus_campaign.timezone] == ["Asia/Kolkata", "localtime"]


def test_platform_receives_the_canonical_zone_of_a_lead_whose_number_phonenumbers_names_by_an_alias(
        campaign, sandbox):
    from vendors import registry
    from vendors.integrations.base import ACCEPTED, Item
    from vendors.models import Destination, VendorAccount

    [result] = intake.submit([{"phone": "+91 11 2345 6789", "first_name": "Asha"}], campaign=campaign)
    assert result.lead.timezone == "Asia/Kolkata"
    account = VendorAccount.objects.create(name="ipSCAPE", kind="platform", credentials={"api_key": "k"},
                                           base_url=sandbox.url("platform") + "/platform-api")
    client = registry.client_for(Destination.objects.create(campaign=campaign, account=account, remote_ref="100"))
    [pushed] = client.push([Item(id=1, lead=result.lead)])
    [request] = sandbox.requests("platform")
    assert request["body"]["timezone"] == "Asia/Kolkata" and pushed.status == ACCEPTED
