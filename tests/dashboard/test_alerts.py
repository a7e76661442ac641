"""Alerts (issue 14 item 6): a destination over its refusal-rate or failure-streak threshold is
shown in a banner and mailed once to its campaign's watchers; its recovery is mailed once too."""
import datetime as dt
import re

import pytest
from django.contrib.admin.models import LogEntry
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns import intake
from vendors import alerts, counts, services
from vendors.models import Delivery, DestinationAlert, Destination, VendorAccount, VendorExchange
from vendors.schedules import SCHEDULES

from ..pipeline.conftest import row

pytestmark = pytest.mark.django_db
T0 = timezone.now().replace(second=0, microsecond=0)


def minutes(n: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=n)


@pytest.fixture
def watchers(django_user_model, campaign, make_campaign):
    ann = django_user_model.objects.create_user("ann", "ann@example.com", is_staff=True)
    bob = django_user_model.objects.create_user("bob", "bob@example.com", is_staff=True)
    django_user_model.objects.create_user("cid", "cid@example.com", is_staff=True)          # watches nothing
    make_campaign(name="Elsewhere").watchers.add(
        django_user_model.objects.create_user("dee", "dee@example.com", is_staff=True))  # another campaign
    campaign.watchers.add(ann, bob)
    return ["ann@example.com", "bob@example.com"]


@pytest.fixture
def destination(campaign):
    account = VendorAccount.objects.create(name="Aktify", kind="aktify", base_url="http://127.0.0.1:9")
    return Destination.objects.create(campaign=campaign, account=account, secret="k")


def answered(dest, accepted=0, refused=0):
    """The pipeline's counters for pushes the vendor answered (what _record writes)."""
    counts.finished([Delivery(destination_id=dest.pk, operation="push", status="accepted")] * accepted
                    + [Delivery(destination_id=dest.pk, operation="push", status="rejected", code="bad_lead")]
                    * refused)


def calls(dest, *statuses, at=None):
    at = at or timezone.now()
    for i, status in enumerate(statuses):
        VendorExchange.objects.create(destination=dest, started_at=at + dt.timedelta(seconds=i),
                                      request="POST https://vendor/leads", http_status=status,
                                      error="" if status else "timeout")


def alert_of(dest) -> DestinationAlert:
    return DestinationAlert.objects.get(pk=dest.pk)


def test_a_refusal_rate_over_the_threshold_raises_one_alert_mailed_to_the_watchers_only(destination, watchers):
    alerts.check(minutes(0))                        # the hour's first sample
    answered(destination, accepted=10, refused=10)  # 50 % of 20: the defaults
    assert alerts.check(minutes(1))["raised"] == 1
    assert alert_of(destination).is_open
    assert "10 of the 20 pushes answered in the last hour were refused (50 %" in alert_of(destination).reason
    [message] = mail.outbox
    assert sorted(message.to) == watchers
    assert message.subject == f"[LeadHub] Alert: {destination}"
    assert "10 of the 20 pushes" in message.body
    assert reverse("admin:vendors_destination_change", args=[destination.pk]) in message.body


def test_a_destination_that_keeps_refusing_is_mailed_once(destination, watchers):
    alerts.check(minutes(0))
    for minute in range(1, 6):
        answered(destination, refused=25)
        alerts.check(minutes(minute))
    assert len(mail.outbox) == 1
    assert LogEntry.objects.filter(change_message__startswith="Alert raised").count() == 1


def test_recovery_mails_once_clears_the_alert_and_its_banner(destination, watchers, admin_client):
    alerts.check(minutes(0))
    answered(destination, refused=20)
    alerts.check(minutes(1))
    assert 'id="lh-alerts"' in admin_client.get(reverse("admin:index")).content.decode()
    answered(destination, accepted=500)             # the hour since the first sample: 20 of 520 refused
    assert alerts.check(minutes(2))["cleared"] == 1
    alerts.check(minutes(3))
    assert [m.subject for m in mail.outbox] == [f"[LeadHub] Alert: {destination}",
                                                f"[LeadHub] Recovered: {destination}"]
    assert sorted(mail.outbox[1].to) == watchers
    assert not alert_of(destination).is_open
    assert 'id="lh-alerts"' not in admin_client.get(reverse("admin:index")).content.decode()


def test_below_the_minimum_volume_nothing_fires(destination, watchers):
    alerts.check(minutes(0))
    answered(destination, refused=19)               # 100 % refused, one push under the minimum of 20
    assert alerts.check(minutes(1))["raised"] == 0
    assert mail.outbox == [] and not alert_of(destination).is_open


def test_only_the_last_hour_counts(destination, watchers):
    alerts.check(minutes(0))
    answered(destination, refused=30)
    alerts.check(minutes(61))                       # an hour later: the refusals are older than the window
    answered(destination, accepted=30)
    alerts.check(minutes(62))
    assert mail.outbox == []


def test_each_destination_has_its_own_thresholds(destination, watchers, campaign):
    strict = Destination.objects.create(campaign=campaign, account=destination.account, remote_ref="strict",
                                        alert_refusal_percent=10, alert_min_answers=5)
    alerts.check(minutes(0))
    answered(destination, accepted=16, refused=4)   # 20 %: under the default 50 %
    answered(strict, accepted=16, refused=4)        # over its own 10 %
    alerts.check(minutes(1))
    assert not alert_of(destination).is_open
    assert alert_of(strict).is_open
    assert [m.subject for m in mail.outbox] == [f"[LeadHub] Alert: {strict}"]
    calls(destination, 503, 503, 503, 503)          # four failed calls: under the default streak of 5
    destination.alert_failure_streak = 3
    destination.save()
    alerts.check(minutes(2))
    assert "the last 3 calls to Aktify failed (latest: HTTP 503)" in alert_of(destination).reason


def test_a_failure_streak_raises_once_and_any_other_answer_ends_it(destination, watchers):
    calls(destination, 200, None, 503, 429, 401)
    alerts.check(minutes(0))
    assert DestinationAlert.objects.filter(raised_at__isnull=False).count() == 0
    calls(destination, 500, at=timezone.now() + dt.timedelta(minutes=1))
    alerts.check(minutes(1))
    assert "the last 5 calls to Aktify failed (latest: HTTP 500)" in alert_of(destination).reason
    calls(destination, 500, 500, at=timezone.now() + dt.timedelta(minutes=2))
    alerts.check(minutes(2))
    assert len(mail.outbox) == 1
    calls(destination, 400, at=timezone.now() + dt.timedelta(minutes=3))   # the vendor answers again
    alerts.check(minutes(3))
    assert [m.subject.split(":")[0] for m in mail.outbox] == ["[LeadHub] Alert", "[LeadHub] Recovered"]


def test_the_pipelines_refusals_raise_an_alert(aktify, open_campaign, watchers):
    aktify.alert_min_answers = 2
    aktify.save()
    alerts.check()
    results = intake.submit([row(1), row(2), row(3)], campaign=open_campaign)
    from campaigns.models import Lead

    Lead.objects.filter(pk__in=[r.lead.pk for r in results[:2]]).update(region="", postal_code="")  # Aktify refuses
    services.deliver_due(threads=1, time_budget=30)
    assert alerts.check()["raised"] == 1
    assert "2 of the 3 pushes answered in the last hour were refused (67 %" in alert_of(aktify).reason


def test_the_pipelines_failed_calls_raise_an_alert(aktify, open_campaign, watchers, sandbox):
    aktify.alert_failure_streak = 3
    aktify.save()
    sandbox.faults(vendor="aktify", error_503_rate=1)
    intake.submit([row(1), row(2), row(3)], campaign=open_campaign)   # Aktify: one call per lead
    services.deliver_due(threads=1, time_budget=30)
    alerts.check()
    assert "the last 3 calls to Aktify sandbox failed (latest: HTTP 503)" in alert_of(aktify).reason
    assert len(mail.outbox) == 1


def test_raising_and_clearing_are_in_the_audit_log(destination, watchers):
    calls(destination, 503, 503, 503, 503, 503)
    alerts.check(minutes(0))
    calls(destination, 200, at=timezone.now() + dt.timedelta(minutes=1))
    alerts.check(minutes(1))
    entries = list(LogEntry.objects.filter(object_id=str(destination.pk)).order_by("pk")
                   .values_list("change_message", flat=True))
    assert entries[0].startswith("Alert raised: the last 5 calls to Aktify failed") and "by pipeline" in entries[0]
    assert entries[1].startswith("Alert cleared: back under its thresholds")


def test_no_watcher_no_mail_but_the_banner(destination, admin_client):
    calls(destination, 503, 503, 503, 503, 503)
    alerts.check(minutes(0))
    assert mail.outbox == []
    assert alert_of(destination).is_open


def test_the_banner_is_on_the_dashboard_the_campaign_and_the_destination_pages(destination, admin_client,
                                                                             campaign):
    calls(destination, 503, 503, 503, 503, 503)
    alerts.check(minutes(0))
    link = reverse("admin:vendors_destination_change", args=[destination.pk])
    for url in (reverse("admin:index"), reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
                link, reverse("admin:vendors_destination_changelist")):
        page = admin_client.get(url).content.decode()
        banner = page.split('id="lh-alerts"')[1].split("</ul>")[0]
        assert f'href="{link}"' in banner and "the last 5 calls to Aktify failed" in banner, url
    assert 'id="lh-alerts"' not in admin_client.get(reverse("admin:login")).content.decode()  # not signed in: none


def test_the_thresholds_are_edited_in_the_admin_with_clear_errors(destination, admin_client, campaign):
    url = reverse("admin:vendors_destination_change", args=[destination.pk])
    form = {"campaign": campaign.pk, "account": destination.account.pk, "remote_ref": "", "settings": "{}",
            "is_enabled": "on", "alert_refusal_percent": 150, "alert_min_answers": 0, "alert_failure_streak": 101}
    response = admin_client.post(url, form)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["alert_refusal_percent"] == ["A refusal rate is at most 100 %."]
    assert errors["alert_min_answers"] == ["The minimum volume is at least 1 push."]
    assert errors["alert_failure_streak"] == ["A failure streak is at most 100 calls."]
    response = admin_client.post(url, {**form, "alert_refusal_percent": 30, "alert_min_answers": 10,
                                       "alert_failure_streak": 3})
    assert response.status_code == 302
    destination.refresh_from_db()
    assert (destination.alert_refusal_percent, destination.alert_min_answers, destination.alert_failure_streak) \
        == (30, 10, 3)


def test_staff_choose_who_watches_a_campaign(admin_client, campaign, django_user_model):
    ann = django_user_model.objects.create_user("ann", "ann@example.com", is_staff=True)
    partner_user = django_user_model.objects.create_user("pat", "pat@example.com")   # not staff: not offered
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    page = admin_client.get(url).content.decode()
    assert 'id="id_watchers"' in page and "SelectFilter" in page
    field = admin_client.get(url).context["adminform"].form.fields["watchers"]
    assert ann in field.queryset and partner_user not in field.queryset


def test_the_check_is_scheduled_every_minute_and_reads_counters_not_the_delivery_table(destination, watchers):
    [spec] = [s for s in SCHEDULES if s["func"] == "vendors.tasks.check_alerts"]
    assert (spec["schedule_type"], spec["minutes"]) == ("I", 1)
    from vendors import tasks

    tasks.check_alerts()
    answered(destination, refused=20)
    with CaptureQueriesContext(connection) as queries:
        assert tasks.check_alerts()["raised"] == 1
    assert not [q["sql"] for q in queries.captured_queries if re.search(r'FROM "vendors_delivery"', q["sql"])]


def test_a_new_destinations_page_shows_the_default_thresholds(admin_client):
    page = admin_client.get(reverse("admin:vendors_destination_add")).content.decode()
    assert 'name="alert_refusal_percent" value="50"' in page and 'name="alert_failure_streak" value="5"' in page
    assert "none raised" in page
