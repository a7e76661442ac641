"""The dashboard as staff reach it: the admin's landing page, per campaign, every number a link
to the list behind it, read from the counters (never by counting the raw tables)."""
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns import intake
from campaigns.models import Lead
from vendors import services
from vendors.models import Delivery, VendorAccount

from ..pipeline.conftest import row

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", "boss@example.com", "pw"))
    return client


def deliver():
    return services.deliver_due(threads=1, time_budget=30)


def changelist_count(client, url) -> int:
    """How many rows the changelist behind a link shows."""
    response = client.get(url)
    assert response.status_code == 200, url
    return len(response.context["cl"].result_list)


def test_the_admin_landing_page_is_the_dashboard_and_every_number_opens_its_list(staff_client, aktify,
                                                                                 open_campaign, partner):
    results = intake.submit([row(n) for n in range(1, 5)], campaign=open_campaign, partner=partner,
                            channel=Lead.Channel.API)
    Lead.objects.filter(pk=results[0].lead.pk).update(region="", postal_code="")
    deliver()
    intake.submit([row(9)], campaign=open_campaign, channel=Lead.Channel.CSV)
    response = staff_client.get(reverse("admin:index"))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="lh-dashboard"' in page and "<svg" in page
    board = response.context["dashboard"]
    [fig] = board["rows"]
    numbers = [(fig.accepted, 3), (fig.refused[0][1], 1), (fig.pending, 1), (fig.failed, 0)]
    numbers += [(f, n) for (_, f), n in zip(board["intake_partners"], [4, 1])]
    numbers += [(f, n) for (_, f), n in zip(board["intake_channels"], [4, 1])]
    for figure, expected in numbers:
        assert figure.value == expected
        assert figure.url.replace("&", "&amp;") in page
        assert changelist_count(staff_client, figure.url) == expected, figure.url


def test_the_dashboard_reads_counters_not_the_lead_or_delivery_tables(staff_client, aktify, open_campaign):
    intake.submit([row(n) for n in range(1, 30)], campaign=open_campaign, channel=Lead.Channel.API)
    deliver()
    with CaptureQueriesContext(connection) as queries:
        staff_client.get(reverse("admin:index") + "?period=30d")
    counting = [q["sql"] for q in queries.captured_queries
                if re.search(r'FROM "(campaigns_lead|vendors_delivery)"', q["sql"]) and "COUNT(" in q["sql"].upper()]
    assert counting == []


def test_a_campaigns_dashboard_is_linked_from_its_page(staff_client, aktify, open_campaign, make_campaign):
    other = make_campaign(name="Other campaign")
    response = staff_client.get(reverse("admin:index") + f"?campaign={open_campaign.pk}&period=7d")
    assert response.context["dashboard"]["campaign"] == open_campaign
    assert "Other campaign" not in response.content.decode().split('id="lh-destinations"')[1].split("</table>")[0]
    page = staff_client.get(reverse("admin:campaigns_campaign_change", args=[open_campaign.pk])).content.decode()
    assert f"{reverse('admin:index')}?campaign={open_campaign.pk}" in page
    assert staff_client.get(reverse("admin:index") + "?campaign=999999").status_code == 404
    assert other.pk


def test_the_health_strip_shows_circuit_errors_last_success_and_the_queue(staff_client, aktify, open_campaign,
                                                                        sandbox):
    intake.submit([row(1)], campaign=open_campaign)
    deliver()                                                  # one success
    intake.submit([row(2), row(3)], campaign=open_campaign)
    sandbox.faults(vendor="aktify", error_503_rate=1)
    deliver()                                                  # one failed call, both items back to pending
    Delivery.objects.filter(status="pending").update(due_at=timezone.now() - timezone.timedelta(minutes=7))
    VendorAccount.objects.update(circuit_open_until=timezone.now() + timezone.timedelta(minutes=5),
                                 consecutive_failures=10)
    [health] = staff_client.get(reverse("admin:index")).context["dashboard"]["health"]
    assert health["circuit"] == "open"
    assert (health["calls_last_hour"], health["error_rate"]) == (3, "67 %")   # Aktify: one call per lead
    assert health["last_success"] is not None
    assert health["queue_depth"] == 2
    assert health["oldest_due_age"] == "7 min"
    assert changelist_count(staff_client, health["queue_url"]) == 2
    assert changelist_count(staff_client, health["oldest_due_url"]) == 2


def test_staff_retry_keeps_the_counters_right(staff_client, aktify, open_campaign, sandbox):
    aktify.account.max_attempts = 1
    aktify.account.save()
    intake.submit([row(1), row(2)], campaign=open_campaign)
    sandbox.faults(vendor="aktify", error_503_rate=1)
    deliver()
    [fig] = staff_client.get(reverse("admin:index")).context["dashboard"]["rows"]
    assert (fig.failed.value, fig.pending.value, fig.accepted.value) == (2, 0, 0)
    sandbox.faults(vendor="aktify", error_503_rate=0)
    ids = list(Delivery.objects.values_list("pk", flat=True))
    staff_client.post(reverse("admin:vendors_delivery_changelist"), {"action": "retry_now", "_selected_action": ids})
    # the wake-up ran the retries (tasks run inline in the tests): both went through this time
    [fig] = staff_client.get(reverse("admin:index")).context["dashboard"]["rows"]
    assert (fig.failed.value, fig.pending.value, fig.accepted.value) == (2, 0, 2)


def test_staff_cancel_keeps_the_counters_right(staff_client, aktify, open_campaign):
    open_campaign.status = "paused"         # its pushes wait
    open_campaign.save()
    intake.submit([row(1), row(2)], campaign=open_campaign)
    [fig] = staff_client.get(reverse("admin:index")).context["dashboard"]["rows"]
    assert fig.pending.value == 2
    ids = list(Delivery.objects.values_list("pk", flat=True))
    staff_client.post(reverse("admin:vendors_delivery_changelist"), {"action": "cancel", "_selected_action": ids[:1]})
    [fig] = staff_client.get(reverse("admin:index")).context["dashboard"]["rows"]
    assert fig.pending.value == 1 == Delivery.objects.filter(status__in=Delivery.OPEN).count()


def test_the_index_lists_business_models_first_and_has_no_view_site_link(staff_client):
    response = staff_client.get(reverse("admin:index"))
    labels = [app["app_label"] for app in response.context["app_list"]]
    assert labels[:2] == ["campaigns", "vendors"]
    assert labels.index("auth") > 1
    assert "View site" not in response.content.decode()
