import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from campaigns.models import DNC, Campaign, Lead


def test_the_database_refuses_a_second_lead_with_the_same_phone_in_a_campaign(campaign):
    Lead.objects.create(campaign=campaign, phone="+14155552671")
    with pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.create(campaign=campaign, phone="+14155552671")


def test_the_same_phone_may_be_a_lead_in_two_campaigns(campaign, make_campaign):
    Lead.objects.create(campaign=campaign, phone="+14155552671")
    Lead.objects.create(campaign=make_campaign(), phone="+14155552671")
    assert Lead.objects.filter(phone="+14155552671").count() == 2


def test_the_database_allows_one_global_dnc_row_per_phone(db):
    DNC.objects.create(phone="+14155552671")
    with pytest.raises(IntegrityError), transaction.atomic():
        DNC.objects.create(phone="+14155552671")


def test_one_dnc_row_per_phone_and_campaign_beside_a_global_one(campaign, make_campaign):
    DNC.objects.create(phone="+14155552671")
    DNC.objects.create(phone="+14155552671", campaign=campaign)
    DNC.objects.create(phone="+14155552671", campaign=make_campaign())
    with pytest.raises(IntegrityError), transaction.atomic():
        DNC.objects.create(phone="+14155552671", campaign=campaign)
    assert DNC.objects.count() == 3


def test_campaign_validation_explains_bad_zone_days_and_window(db):
    campaign = Campaign(name="X", slug="x", timezone="Mars/Olympus", calling_days="mon,funday",
                        calling_start="18:00", calling_end="09:00")
    with pytest.raises(ValidationError) as exc:
        campaign.full_clean()
    errors = exc.value.message_dict
    assert "IANA time zone" in errors["timezone"][0]
    assert "funday" in errors["calling_days"][0]
    assert "end after it starts" in errors["calling_end"][0]
