"""Call outcomes read back from the vendors that offer them (issue 14, item 3), over real HTTP."""
from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns import intake
from campaigns.models import WEEKDAYS, Campaign, Lead
from vendors import outcomes, services
from vendors.models import Delivery, DeliveryOutcome, Destination, VendorAccount

pytestmark = pytest.mark.django_db
KEY = "pk_outcomes_7f3a"


@pytest.fixture
def platform(sandbox):
    campaign = Campaign.objects.create(name="Outcomes", slug="outcomes", status=Campaign.Status.ACTIVE,
                                       calling_days=",".join(WEEKDAYS), calling_start="00:00", calling_end="23:59:59")
    account = VendorAccount.objects.create(name="Platform", kind="platform", credentials={"api_key": KEY},
                                           base_url=sandbox.url("platform") + "/platform-api", timeout_seconds=5)
    return Destination.objects.create(campaign=campaign, account=account, remote_ref="100",
                                      settings={"bulk_poll_seconds": 0})


def accepted_leads(destination, n):
    """``n`` leads pushed to ``destination`` and accepted (the vendor holds them)."""
    results = intake.submit([{"phone": f"+1415555{1000 + i:04d}", "first_name": f"Lead{i}"} for i in range(n)],
                            campaign=destination.campaign)
    services.deliver_due(threads=1, time_budget=30)
    assert Delivery.objects.filter(status="accepted").count() == n
    return [Lead.objects.get(pk=r.lead.pk) for r in results]


def lead_reads(sandbox):
    return [r for r in sandbox.requests("platform") if r["method"] == "GET" and "/v3.0/leads/" in r["path"]]


def test_it_reads_each_accepted_leads_details_and_stores_what_the_dialler_did(platform, sandbox):
    abandoned, sold, untouched = accepted_leads(platform, 3)
    sandbox.act("platform", "call", customerKey=str(abandoned.pk), statusCode=3, description="Abandoned",
                outcomeType="dialler")
    sandbox.act("platform", "call", customerKey=str(sold.pk), statusCode=7, description="Sale", outcomeType="dialler",
                completed=True)
    before = len(sandbox.requests("platform"))

    stored = outcomes.read_all()

    reads = sandbox.requests("platform")[before:]
    ids = {d.lead_id: d.remote_ref for d in Delivery.objects.all()}
    assert sorted(r["path"] for r in reads) == sorted(f"/platform-api/v3.0/leads/{ids[lead.pk]}"
                                                      for lead in (abandoned, sold, untouched))
    assert all(r["method"] == "GET" and r["headers"]["authorization"] == KEY and r["body"] in (None, "", {})
               for r in reads)
    assert stored == 3
    got = {o.lead_id: (o.completed, o.status_code, o.status_description, o.outcome_type)
           for o in DeliveryOutcome.objects.all()}
    assert got == {abandoned.pk: (False, "3", "Abandoned", "dialler"), sold.pk: (True, "7", "Sale", "dialler"),
                   untouched.pk: (False, "", "New", "preview")}
    # the lead's status follows the vendor: completed there, completed here
    assert {lead.pk: lead.status for lead in Lead.objects.all()} == {
        abandoned.pk: "new", sold.pk: "completed", untouched.pk: "new"}


def test_a_lead_is_read_again_only_after_the_interval_and_a_row_is_stored_only_on_change(platform, sandbox, settings):
    settings.OUTCOME_POLL_SECONDS = 600
    first, second = accepted_leads(platform, 2)
    outcomes.read_all()
    before = len(lead_reads(sandbox))

    assert outcomes.read_all() == 0 and len(lead_reads(sandbox)) == before  # read a moment ago: not again

    sandbox.act("platform", "call", customerKey=str(first.pk), statusCode=5, description="No answer")
    later = timezone.now() + dt.timedelta(seconds=601)
    assert outcomes.read_all(later) == 1  # both read again, one changed
    assert len(lead_reads(sandbox)) == before + 2
    assert [o.status_description for o in DeliveryOutcome.objects.filter(lead=first)] == ["No answer", "New"]
    assert DeliveryOutcome.objects.filter(lead=second).count() == 1


def test_completed_and_withdrawn_leads_are_not_read_again_and_keep_their_status(platform, sandbox):
    done, cancelled = accepted_leads(platform, 2)
    sandbox.act("platform", "call", customerKey=str(done.pk), statusCode=7, description="Sale", completed=True)
    outcomes.read_all()
    intake.cancel_leads(Lead.objects.filter(pk=cancelled.pk))
    services.deliver_due(threads=1, time_budget=30)  # the end of contact goes out
    before = len(lead_reads(sandbox))

    assert outcomes.read_all(timezone.now() + dt.timedelta(days=1)) == 0
    assert len(lead_reads(sandbox)) == before
    assert Lead.objects.get(pk=cancelled.pk).status == "cancelled"


def test_a_failed_read_stores_nothing_and_is_tried_after_the_interval_without_starving_others(platform, sandbox):
    accepted_leads(platform, 2)
    sandbox.faults(vendor="platform", error_500_rate=1)
    assert outcomes.read_all() == 0
    assert not DeliveryOutcome.objects.exists()
    assert Delivery.objects.filter(outcome_checked_at__isnull=True).count() == 0  # counted as read
    sandbox.faults(vendor="platform")
    assert outcomes.read_all(timezone.now() + dt.timedelta(seconds=901)) == 2


def test_vendors_without_a_read_back_are_never_asked(sandbox, campaign):
    from vendors.integrations.aktify import AktifyClient
    from vendors.integrations.platform import PlatformClient

    account = VendorAccount.objects.create(name="Aktify", kind="aktify", base_url=sandbox.url("aktify"))
    Destination.objects.create(campaign=campaign, account=account, secret="ak-secret")
    assert PlatformClient.reads_outcomes() and not AktifyClient.reads_outcomes()
    assert list(outcomes.reading_destinations()) == []
    assert outcomes.read_all() == 0 and sandbox.requests("aktify") == []


def test_the_demo_sandbox_dials_leads_on_its_own_after_a_while(platform, _sandbox_server, sandbox, monkeypatch):
    """``make run`` starts the sandbox with ``--calls-after 60``: the demo's leads get outcomes."""
    sim = _sandbox_server.sandbox.sims["platform"]
    monkeypatch.setattr(sim, "calls_after", 0)
    leads = accepted_leads(platform, 4)
    outcomes.read_all()
    got = {o.lead_id: (o.status_description, o.completed) for o in DeliveryOutcome.objects.all()}
    assert sorted(got.values()) == sorted((words, completed) for _, words, completed in sim.DEMO_CALLS)
    assert Lead.objects.filter(pk__in=[lead.pk for lead in leads], status="completed").count() == 1


def test_the_lead_page_and_the_partner_api_show_the_outcomes_and_who_reports_none(platform, sandbox, admin_client,
                                                                                  client):
    from django.urls import reverse

    from campaigns.models import ApiKey, Partner

    partner = Partner.objects.create(name="Partner", slug="partner")
    partner.campaigns.add(platform.campaign)
    silent = VendorAccount.objects.create(name="Aktify account", kind="aktify", base_url=sandbox.url("aktify"))
    Destination.objects.create(campaign=platform.campaign, account=silent, secret="ak-secret", is_enabled=False)
    [lead] = accepted_leads(platform, 1)
    Lead.objects.filter(pk=lead.pk).update(partner=partner)
    sandbox.act("platform", "call", customerKey=str(lead.pk), statusCode=3, description="Abandoned",
                outcomeType="dialler")
    outcomes.read_all()

    page = admin_client.get(reverse("admin:campaigns_lead_change", args=[lead.pk])).content.decode()
    assert "Call outcomes from the vendors" in page and "Abandoned" in page and "dialler" in page
    assert "Platform: read back every 15 min" in page
    assert "Aktify account: its contract offers no call outcomes" in page

    _, raw = ApiKey.issue(partner, name="k")
    body = client.get(f"/api/v1/leads/{lead.pk}/", HTTP_X_API_KEY=raw).json()
    assert [{k: v for k, v in o.items() if k != "read_at"} for o in body["outcomes"]] == [
        {"vendor": "platform", "completed": False, "status_code": "3", "status_description": "Abandoned",
         "outcome_type": "dialler"}]
