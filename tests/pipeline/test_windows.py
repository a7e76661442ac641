"""Calling windows in the lead's local time, across DST changes and outside the US."""
import datetime as dt

import pytest
from django.utils import timezone

from campaigns import intake
from campaigns.models import Campaign, Lead
from vendors import services
from vendors.integrations.base import CallingWindow
from vendors.models import Delivery, Destination, VendorAccount
from vendors.windows import lead_time_zone, next_open, window_for

from .conftest import row

UTC = dt.timezone.utc
EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


def test_next_open_follows_new_york_into_summer_time():
    window = CallingWindow(EVERY_DAY, dt.time(9), dt.time(20), "America/New_York")
    # Sat 7 March 2026, 21:00 EST; clocks go forward at 02:00 on Sunday 8 March
    assert next_open(window, utc(2026, 3, 8, 2, 0)) == utc(2026, 3, 8, 13, 0)  # 09:00 EDT = UTC-4


def test_next_open_follows_new_york_back_to_standard_time():
    window = CallingWindow(EVERY_DAY, dt.time(9), dt.time(20), "America/New_York")
    # Sat 31 Oct 2026, 22:00 EDT; clocks go back at 02:00 on Sunday 1 November
    assert next_open(window, utc(2026, 11, 1, 2, 0)) == utc(2026, 11, 1, 14, 0)  # 09:00 EST = UTC-5


def test_next_open_in_sydney_across_the_end_of_daylight_saving():
    window = CallingWindow(EVERY_DAY, dt.time(9), dt.time(20), "Australia/Sydney")
    # Sat 4 April 2026, 21:00 AEDT (UTC+11); DST ends 03:00 → 02:00 on Sunday 5 April
    assert next_open(window, utc(2026, 4, 4, 10, 0)) == utc(2026, 4, 4, 23, 0)  # 09:00 AEST = UTC+10


def test_a_start_time_inside_the_skipped_hour_still_opens_that_day():
    window = CallingWindow(EVERY_DAY, dt.time(2, 30), dt.time(20), "America/New_York")
    opens = next_open(window, utc(2026, 3, 8, 5, 0))  # 00:00 EST on the DST day
    assert opens.astimezone(dt.timezone(dt.timedelta(hours=-4))).date() == dt.date(2026, 3, 8)


def test_next_open_skips_days_that_are_not_calling_days():
    window = CallingWindow(("mon",), dt.time(9), dt.time(17), "Europe/London")
    # Friday 13 November 2026 at 12:00 London → Monday 16 November 09:00 GMT
    assert next_open(window, utc(2026, 11, 13, 12, 0)) == utc(2026, 11, 16, 9, 0)


def test_inside_the_window_it_is_open_now():
    window = CallingWindow(EVERY_DAY, dt.time(9), dt.time(17), "Asia/Tokyo")
    now = utc(2026, 6, 1, 3, 0)  # 12:00 in Tokyo
    assert next_open(window, now) == now
    evening = utc(2026, 6, 1, 9, 0)  # 18:00 in Tokyo
    assert next_open(window, evening) != evening


def test_the_lead_zone_comes_from_the_lead_then_its_number_then_the_campaign(campaign):
    campaign.timezone = "America/Chicago"
    assert lead_time_zone(Lead(campaign=campaign, phone="+14155552671", timezone="America/Denver")) == "America/Denver"
    assert lead_time_zone(Lead(campaign=campaign, phone="+14155552671")) == "America/Los_Angeles"
    # a toll-free number has no single zone: the campaign's applies
    assert lead_time_zone(Lead(campaign=campaign, phone="+18005551234")) == "America/Chicago"


def test_aimylogic_gets_the_leads_window_in_its_own_terms(sandbox, campaign):
    campaign.calling_days, campaign.calling_start, campaign.calling_end = "mon,tue,wed,thu,fri", dt.time(9), dt.time(20)
    campaign.save()
    account = VendorAccount.objects.create(name="aimy", kind="aimylogic", base_url=sandbox.url("aimylogic"),
                                           max_requests_per_second=1000)
    Destination.objects.create(campaign=campaign, account=account, secret="aimy-token-987")
    intake.submit([row(1, timezone="Europe/Berlin")], campaign=campaign)
    Delivery.objects.update(due_at=timezone.now())
    services.deliver_due(threads=1)
    [sent] = sandbox.requests("aimylogic")[0]["body"]
    assert sent["allowedDays"] == ["mon", "tue", "wed", "thu", "fri"]
    assert sent["allowedTime"] == {"default": [{"localTimeFrom": "09:00", "localTimeTo": "20:00"}]}
    assert sent["gmtZone"] == "Europe/Berlin"
    assert Delivery.objects.get().status == "accepted"


def test_8x8_gets_a_schedule_time_when_the_window_opens_later(sandbox, campaign):
    local = timezone.now().astimezone(__import__("zoneinfo").ZoneInfo("America/Los_Angeles"))
    tomorrow = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(local.weekday() + 1) % 7]
    campaign.calling_days, campaign.calling_start, campaign.calling_end = tomorrow, dt.time(9), dt.time(17)
    campaign.save()
    account = VendorAccount.objects.create(name="8x8", kind="eightbyeight",
                                           base_url=sandbox.url("eightbyeight") + "/api/tstats/campaigns",
                                           credentials={"tenant_id": "tenant1", "token": "tok-123"},
                                           max_requests_per_second=1000)
    Destination.objects.create(campaign=campaign, account=account, remote_ref="1234")
    intake.submit([row(1, external_id="5551001", timezone="America/Los_Angeles")], campaign=campaign)
    delivery = Delivery.objects.get()
    assert delivery.due_at <= timezone.now()  # 8x8 schedules itself: push now, not at the window
    services.deliver_due(threads=1)
    [customer] = sandbox.requests("eightbyeight")[0]["body"]
    expected = next_open(window_for(Lead.objects.get()), timezone.now())
    assert customer["customer-id"] == "5551001"
    assert customer["schedule-date-time"] == expected.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert Delivery.objects.get().status == "accepted"


def test_pausing_a_campaign_pauses_its_8x8_campaign_and_resuming_runs_it(sandbox, campaign):
    account = VendorAccount.objects.create(name="8x8", kind="eightbyeight",
                                           base_url=sandbox.url("eightbyeight") + "/api/tstats/campaigns",
                                           credentials={"tenant_id": "tenant1", "token": "tok-123"})
    dest = Destination.objects.create(campaign=campaign, account=account, remote_ref="1234")
    campaign.status = Campaign.Status.PAUSED
    campaign.save()
    services.sync_campaign_status(campaign.pk)  # what the on-commit task runs
    campaign.status = Campaign.Status.ACTIVE
    campaign.save()
    services.sync_campaign_status(campaign.pk)
    patches = [(r["method"], r["path"], r["body"]) for r in sandbox.requests("eightbyeight")]
    assert patches == [("PATCH", "/api/tstats/campaigns/1234", {"status": "PAUSED"}),
                       ("PATCH", "/api/tstats/campaigns/1234", {"status": "RUNNING"})]
    dest.refresh_from_db()
    assert dest.remote_status == "RUNNING" and "Set to RUNNING" in dest.remote_status_message


@pytest.mark.django_db(transaction=True)
def test_a_status_change_enqueues_the_vendor_sync_on_commit(sandbox, django_capture_on_commit_callbacks):
    campaign = Campaign.objects.create(name="c", slug="c-sync", status=Campaign.Status.ACTIVE)
    account = VendorAccount.objects.create(name="8x8b", kind="eightbyeight",
                                           base_url=sandbox.url("eightbyeight") + "/api/tstats/campaigns",
                                           credentials={"tenant_id": "tenant1", "token": "tok-123"})
    Destination.objects.create(campaign=campaign, account=account, remote_ref="777")
    campaign.status = Campaign.Status.ARCHIVED
    campaign.save()  # sync django-q in tests: the task runs inline after commit
    assert [(r["path"], r["body"]) for r in sandbox.requests("eightbyeight")] == [
        ("/api/tstats/campaigns/777", {"status": "STOPPED"})]
