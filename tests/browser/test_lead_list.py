"""Staff use every new filter of the lead list in chromium, search it the ways they type, and the
table fits a 1366 x 768 screen (issue 14 item 7)."""
import datetime as dt
import re

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Lead, LeadList, Partner
from vendors.models import Delivery, Destination, VendorAccount

pytestmark = pytest.mark.browser


@pytest.fixture
def leads(staff):
    """An Australian campaign delivering to Aktify and Platform: leads from a partner in a list,
    one refused by Aktify, one 40 days old; names long enough to test the width."""
    au = Campaign.objects.create(name="Solar Australia — residential rooftop", slug="solar-au", status="active",
                                 timezone="Australia/Sydney", default_region="AU")
    acme = Partner.objects.create(name="Acme Leads International", slug="acme")
    acme.campaigns.add(au)
    october = LeadList.objects.create(campaign=au, name="October web form — second wave", source="web")
    aktify, platform = (Destination.objects.create(campaign=au, remote_ref=name, account=VendorAccount.objects.create(
        name=name, kind=kind, credentials={"api_key": "k"})) for name, kind in (("Aktify", "aktify"),
                                                                                ("Platform", "platform")))
    now = timezone.now()

    def lead(phone, first, last, **kw):
        made = Lead.objects.create(campaign=au, phone=phone, first_name=first, last_name=last, country="AU",
                                   email=f"{first.lower()}.{last.lower()}@example.com.au",
                                   timezone="Australia/Sydney", **kw)
        for dest in (aktify, platform):
            Delivery.objects.create(lead=made, destination=dest, status="accepted", due_at=now)
        return made

    zoe = lead("+61489639358", "Zoë", "Fitzgerald-Worthington", partner=acme, lead_list=october)
    Delivery.objects.filter(lead=zoe, destination=aktify).update(status="rejected", code="missing_region",
                                                                 message="Region is required")
    old = lead("+61412345678", "Maximilian", "Oberhausen-Schönberg", partner=acme)
    Lead.objects.filter(pk=old.pk).update(created_at=now - dt.timedelta(days=40))
    for n in range(30):
        lead(f"+6141300{n:04d}", f"Person{n}", "Somebody-Longname")
    return {"campaign": au, "zoe": zoe, "old": old, "aktify": aktify}


def _rows(page) -> int:
    return page.locator("#result_list tbody tr").count()


def _filter(page, title: str, choice: str) -> None:
    page.locator(f'#changelist-filter details[data-filter-title="{title}"] a', has_text=choice).first.click()
    page.wait_for_load_state()


def test_staff_filter_and_search_the_lead_list_at_1366_px(logged_in, leads):
    page = logged_in
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto("/admin/campaigns/lead/")
    assert _rows(page) == 32
    assert page.locator("td.field-state_column").first.inner_text().count("accepted") == 2
    # the table fits: no horizontal scroll at 1366 px, of the page or of the table's own box
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    assert page.evaluate("[...document.querySelectorAll('#changelist .results')]"
                         ".every(box => box.scrollWidth <= box.clientWidth)")
    page.shot("lead-list-1366")

    page.goto(f"/admin/campaigns/lead/?campaign__id__exact={leads['campaign'].pk}")  # its one campaign: no filter
    _filter(page, "partner", "Acme Leads International")
    assert _rows(page) == 2
    _filter(page, "lead list", "October web form")
    assert _rows(page) == 1
    _filter(page, "lead list", "All")
    _filter(page, "created at", "Past 7 days")
    assert _rows(page) == 1 and "Fitzgerald" in page.locator("#result_list").inner_text()
    _filter(page, "created at", "Any date")
    _filter(page, "partner", "All")
    _filter(page, "delivery to Aktify", "refused")
    assert _rows(page) == 1
    assert "Aktify refused" in page.locator("td.field-state_column").inner_text()
    assert page.evaluate("document.querySelector('#changelist .results').scrollWidth <= 1366")
    page.shot("filtered-refused-at-aktify")
    _filter(page, "delivery to Aktify", "All")

    # staff of the Australian campaign type the number as it is written there
    page.fill("#searchbar", "0489 639 358")
    page.press("#searchbar", "Enter")
    page.wait_for_url(re.compile(r"q=0489"))
    assert _rows(page) == 1 and "+61489639358" in page.locator("#result_list").inner_text()
    # and a first name without its accent
    page.fill("#searchbar", "zoe")
    page.press("#searchbar", "Enter")
    page.wait_for_url(re.compile(r"q=zoe"))
    assert _rows(page) == 1 and "Zoë" in page.locator("#result_list").inner_text()
    page.shot("searched")
