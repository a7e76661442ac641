"""The partner API's lead list stays an index walk as the table grows (issue 15, item 6).

At 10M leads the list of one partner's leads walked the primary key backwards past every
newer lead of everyone else (228 ms a first page); lead_partner_idx reads that partner's
leads newest first, with or without a campaign filter.
"""
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import Lead

pytestmark = [pytest.mark.django_db, pytest.mark.postgresql("query plans")]


def _plan_of_lead_list(api, query: str) -> str:
    with CaptureQueriesContext(connection) as queries:
        response = api.get(f"/api/v1/leads/{query}")
    assert response.status_code == 200, response.content
    [sql] = [q["sql"] for q in queries.captured_queries
             if 'FROM "campaigns_lead"' in q["sql"] and "ORDER BY" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
        [[plan]] = cursor.fetchone()
    return json.dumps(plan if isinstance(plan, (dict, list)) else json.loads(plan))


@pytest.fixture
def crowded(campaign, partner, make_campaign):
    """The partner's 50 leads are the oldest; 30,000 newer leads are staff's, in another campaign."""
    Lead.objects.bulk_create([Lead(campaign=campaign, partner=partner, phone=f"+1415{2000000 + i}")
                              for i in range(50)])
    other = make_campaign(default_region="US")
    Lead.objects.bulk_create([Lead(campaign=other, phone=f"+1212{2000000 + i}") for i in range(30000)],
                             batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE campaigns_lead")


@pytest.mark.parametrize("query", ["", "?campaign=solar-us"])
def test_a_partners_lead_list_reads_its_own_leads_through_the_partner_index(api, crowded, query):
    plan = _plan_of_lead_list(api, query)
    assert "lead_partner_idx" in plan, plan


def test_this_apps_connections_price_random_reads_for_ssds():
    with connection.cursor() as cursor:
        cursor.execute("SHOW random_page_cost")
        assert cursor.fetchone()[0] == "1.1"
