"""Staff walk the dashboard in chromium: figures, periods, a campaign's own view, and a number's list."""
import re

import pytest

from campaigns import intake
from campaigns.models import Lead
from vendors import services

from ..pipeline.conftest import row

pytestmark = pytest.mark.browser


@pytest.fixture
def delivered(aktify, open_campaign, partner):
    """Five leads from a partner through the API channel, all to Aktify (the wake-up on commit
    delivers them: tasks run inline in the tests)."""
    results = intake.submit([row(n) for n in range(1, 6)], campaign=open_campaign, partner=partner,
                            channel=Lead.Channel.API)
    services.deliver_due(threads=1, time_budget=30)
    intake.cancel_leads([results[1].lead])
    return aktify


def test_staff_walk_the_dashboard_with_data(logged_in, delivered, open_campaign):
    page = logged_in
    page.goto("/admin/")                  # again: the data came after the login
    row_ = page.locator(f'#lh-destinations tr[data-destination="{delivered.pk}"]')
    assert row_.locator("a.lh-accepted").inner_text() == "5"
    assert row_.locator("a.lh-withdrawn").inner_text() == "1"
    assert page.locator("#lh-intake-total").inner_text() == "5"
    assert page.locator("#lh-intake-partners").inner_text().count("Acme Leads") == 1
    assert page.locator("svg.lh-chart").count() == 2
    assert page.locator("#lh-health").inner_text().count("closed") >= 1
    # the dashboard comes before the models, and the business models before Django's
    apps = page.locator("#content-main .app-campaigns, #content-main .app-auth")
    assert apps.first.get_attribute("class").startswith("app-campaigns")
    page.shot("today")

    page.click('a[data-period="30d"]')
    page.wait_for_url(re.compile(r"period=30d"))
    assert page.locator('a[data-period="30d"]').get_attribute("class") == "selected"
    page.select_option("#lh-campaign", str(open_campaign.pk))
    page.wait_for_url(re.compile(rf"campaign={open_campaign.pk}"))
    assert open_campaign.name.upper() in page.locator("#lh-destinations caption").inner_text().upper()
    page.shot("campaign-30-days")

    page.locator(f'#lh-destinations tr[data-destination="{delivered.pk}"] a.lh-accepted').click()
    page.wait_for_url(re.compile(r"/admin/vendors/delivery/"))
    assert page.locator("#result_list tbody tr").count() == 5
    page.shot("accepted-list")
