"""Staff cancel a lead in the lead list and read who did it on the lead's history page."""
import pytest
from django.urls import reverse

pytestmark = pytest.mark.browser


def test_staff_cancel_a_lead_and_open_its_audit_history(logged_in, campaign, make_lead):
    page = logged_in
    lead = make_lead(campaign)
    page.goto(reverse("admin:campaigns_lead_changelist"))
    page.check(f'input[name="_selected_action"][value="{lead.pk}"]')
    page.select_option('select[name="action"]', "cancel_leads")
    page.click('button[name="index"]')
    page.wait_for_selector(".messagelist")
    page.goto(reverse("admin:campaigns_lead_history", args=[lead.pk]))
    history = page.locator("#change-history").inner_text()
    assert "Cancelled; every vendor holding the lead is told to stop — by staff:staff" in history
    page.shot("lead-history")
    page.goto(reverse("admin:admin_logentry_changelist") + "?q=Cancelled")
    assert page.locator("#result_list tbody tr").count() == 1
    page.shot("audit-log")
