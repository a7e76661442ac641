"""The partner API's lead list stays an index walk as the table grows (issue 15, item 6).

At 10M leads the list of one partner's leads walked the primary key backwards past every
newer lead of everyone else; lead_partner_list_idx reads that partner's leads newest first.
Filtered to one campaign, an index of (partner, -id) still fetched the partner's own newer leads
in its other campaigns from the table only to drop them (100,000 rows removed by filter at 10M);
with the campaign in the index they are skipped there, among index entries.

(A bitmap of the partner's and the campaign's indexes reads them all and sorts them: cheap for a
small partner, and as slow as the walk for a big one.)
"""
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.api.pagination import LeadCursorPagination
from campaigns.models import Lead

PAGE = LeadCursorPagination.page_size

pytestmark = [pytest.mark.django_db, pytest.mark.postgresql("query plans")]


def _leads_read(plan: dict) -> int:
    """Rows an EXPLAIN ANALYZE (JSON) plan read from campaigns_lead: kept and filtered out."""
    read = 0
    if plan.get("Relation Name") == "campaigns_lead":
        read += (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
                 + plan.get("Rows Removed by Index Recheck", 0)) * plan.get("Actual Loops", 1)
    return read + sum(_leads_read(child) for child in plan.get("Plans", []))


def _plan_of_lead_list(api, query: str) -> dict:
    with CaptureQueriesContext(connection) as queries:
        response = api.get(f"/api/v1/leads/{query}")
    assert response.status_code == 200, response.content
    [sql] = [q["sql"] for q in queries.captured_queries
             if 'FROM "campaigns_lead"' in q["sql"] and "ORDER BY" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
        [[plan]] = cursor.fetchone()
    return plan if isinstance(plan, dict) else json.loads(plan)


@pytest.fixture
def crowded(campaign, partner, make_campaign):
    """The partner's 20,000 leads are the oldest; 30,000 newer leads are staff's, in another campaign."""
    Lead.objects.bulk_create([Lead(campaign=campaign, partner=partner, phone=f"+1415{2000000 + i}")
                              for i in range(20000)], batch_size=5000)
    other = make_campaign(default_region="US")
    Lead.objects.bulk_create([Lead(campaign=other, phone=f"+1212{2000000 + i}") for i in range(30000)],
                             batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE campaigns_lead")


@pytest.mark.parametrize("query", ["", "?campaign=solar-us"])
def test_a_partners_lead_list_reads_its_own_leads_not_everyone_newer(api, crowded, query):
    plan = _plan_of_lead_list(api, query)
    # one page of its newest leads (lead_partner_list_idx), not all 20,000 of them to sort (a bitmap
    # of other indexes) nor the 30,000 newer ones a walk down the primary key passes
    assert _leads_read(plan["Plan"]) <= 2 * PAGE, json.dumps(plan, indent=1)


def test_this_apps_connections_price_random_reads_for_ssds():
    with connection.cursor() as cursor:
        cursor.execute("SHOW random_page_cost")
        assert cursor.fetchone()[0] == "1.1"


@pytest.fixture
def busy_elsewhere(campaign, partner, make_campaign):
    """The partner's 20,000 leads here are its oldest; its 30,000 newer ones are in another campaign."""
    Lead.objects.bulk_create([Lead(campaign=campaign, partner=partner, phone=f"+1415{2000000 + i}")
                              for i in range(20000)], batch_size=5000)
    other = make_campaign(default_region="US")
    partner.campaigns.add(other)
    Lead.objects.bulk_create([Lead(campaign=other, partner=partner, phone=f"+1212{2000000 + i}")
                              for i in range(30000)], batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE campaigns_lead")


def test_one_campaign_of_a_partner_reads_that_campaign_not_its_other_newer_leads(api, busy_elsewhere):
    plan = _plan_of_lead_list(api, "?campaign=solar-us")
    # one page of rows (lead_partner_list_idx skips the other campaign in the index), not the
    # partner's 30,000 newer leads there fetched and filtered out, nor the campaign's 20,000 to sort
    assert _leads_read(plan["Plan"]) <= 2 * PAGE, json.dumps(plan, indent=1)
