"""Staff open a lead's call outcomes, and run a CSV import through the pages, in a real browser."""
import pytest
from django.urls import reverse

from campaigns.models import Lead
from vendors import outcomes

from ..vendors.test_outcomes import accepted_leads, platform  # noqa: F401 (fixture: a campaign at Platform)

pytestmark = pytest.mark.browser


def test_staff_open_a_leads_call_outcomes(logged_in, platform, sandbox):  # noqa: F811
    page = logged_in
    [lead] = accepted_leads(platform, 1)
    sandbox.act("platform", "call", customerKey=str(lead.pk), statusCode=3, description="Abandoned",
                outcomeType="dialler")
    outcomes.read_all()
    page.goto(reverse("admin:campaigns_lead_change", args=[lead.pk]))
    section = page.locator("fieldset", has_text="Call outcomes from the vendors")
    text = section.inner_text()
    assert "Abandoned" in text and "dialler" in text and "Platform" in text
    assert "read back every 15 min" in text.lower()  # the heading says which vendors report outcomes
    page.shot("lead-outcomes")


def test_staff_import_a_csv_end_to_end_through_the_pages(logged_in, open_campaign, tmp_path):
    page = logged_in
    upload = tmp_path / "leads.csv"
    upload.write_text("Phone,First name,Last name,Email\n"
                      "+14155550101,Ada,Lovelace,ada@example.com\n"
                      "+14155550102,Alan,Turing,alan@example.com\n"
                      "not a phone,Bad,Row,bad@example.com\n")
    page.goto(reverse("admin:campaigns_lead_import"))
    page.select_option("#id_campaign", str(open_campaign.pk))
    page.fill("#id_new_list", "Browser import")
    page.set_input_files("#id_file", str(upload))
    page.shot("upload")
    page.click('input[value="Upload and map columns"]')
    page.wait_for_url("**/map/")
    assert page.locator("#id_col_0").input_value() == "phone"  # the header was recognised
    page.shot("mapping")
    page.click('input[value="Preview the first rows"]')
    page.wait_for_url("**/preview/")
    assert "Lovelace" in page.content()
    page.shot("preview")
    page.click('input[value="Import the whole file"]')
    page.wait_for_selector("#import-counts", timeout=60_000)  # the page polls until the job is done
    counts = page.locator("#import-counts").inner_text()
    assert "Imported (accepted)\t2" in counts and "Invalid phone number (invalid_phone)\t1" in counts, counts
    assert page.locator("#error-download").count() == 1
    page.shot("result")
    assert sorted(Lead.objects.filter(campaign=open_campaign).values_list("last_name", flat=True)) == [
        "Lovelace", "Turing"]
    assert set(Lead.objects.values_list("lead_list__name", flat=True)) == {"Browser import"}
