import re

import pytest

from campaigns import intake
from campaigns.models import DNC, Campaign, Lead
from campaigns.signals import leads_accepted, leads_withdrawn
from leadhub.dbtools import planner


@pytest.fixture
def announced():
    seen = {"accepted": [], "withdrawn": []}

    def on_accept(sender, leads, **kw):
        seen["accepted"].extend(leads)

    def on_withdraw(sender, leads, operation, **kw):
        seen["withdrawn"].append((operation, [getattr(lead, "pk", lead) for lead in leads]))

    leads_accepted.connect(on_accept)
    leads_withdrawn.connect(on_withdraw)
    yield seen
    leads_accepted.disconnect(on_accept)
    leads_withdrawn.disconnect(on_withdraw)


def test_it_accepts_a_lead_and_normalises_it(campaign, announced):
    [result] = intake.submit([{"phone": "(415) 555-2671", "first_name": " Ada ", "email": "ada@example.com",
                               "metadata": {"roof": "tile"}}], campaign=campaign)
    assert result.accepted and result.status == "accepted"
    lead = Lead.objects.get()
    assert str(lead.phone) == "+14155552671"
    assert lead.first_name == "Ada"
    assert lead.timezone == "America/Los_Angeles"  # derived from the number
    assert lead.country == "US"
    assert announced["accepted"] == [lead]


def test_a_given_time_zone_wins_over_the_number(campaign):
    [result] = intake.submit([{"phone": "(415) 555-2671", "timezone": "America/Denver"}], campaign=campaign)
    assert result.lead.timezone == "America/Denver"


def test_the_same_person_typed_two_ways_is_one_lead(campaign):
    results = intake.submit([{"phone": "(415) 555-2671"}, {"phone": "+14155552671"}], campaign=campaign)
    assert [r.code for r in results] == ["", "duplicate_in_batch"]
    assert "item 0" in results[1].message
    again = intake.submit([{"phone": "415.555.2671"}], campaign=campaign)
    assert again[0].code == "duplicate"
    assert Lead.objects.count() == 1


def test_it_refuses_numbers_on_the_global_or_campaign_dnc_list(campaign, make_campaign):
    DNC.objects.create(phone="+14155552671")
    DNC.objects.create(phone="+14155552672", campaign=campaign)
    DNC.objects.create(phone="+14155552673", campaign=make_campaign())  # another campaign's: no effect
    results = intake.submit([{"phone": "+14155552671"}, {"phone": "+14155552672"}, {"phone": "+14155552673"}],
                            campaign=campaign)
    assert [r.code for r in results] == ["dnc", "dnc", ""]


def test_one_bad_row_loses_nothing_else_and_says_why_per_field(campaign):
    results = intake.submit([
        {"phone": "+14155552671"},
        {"phone": "not a number", "email": "nope", "link": "ftp://x", "metadata": {"n": 5}},
        {"first_name": "No phone"},
        {"phone": "+14155552674", "scheduled_at": "tomorrow"},
        {"phone": "+14155552675", "favourite_colour": "blue"},
    ], campaign=campaign)
    assert [r.accepted for r in results] == [True, False, False, False, False]
    bad = results[1]
    assert bad.code == "invalid_phone"
    assert set(bad.fields) == {"phone", "email", "link", "metadata"}
    assert results[2].code == "missing_field"
    assert results[3].fields["scheduled_at"][0]["code"] == "invalid_field"
    assert "metadata" in results[4].fields["favourite_colour"][0]["message"]
    assert Lead.objects.count() == 1


def test_dry_run_reports_and_saves_nothing(campaign, announced):
    results = intake.submit([{"phone": "+14155552671"}, {"phone": "bad"}], campaign=campaign, dry_run=True)
    assert [r.accepted for r in results] == [True, False]
    assert Lead.objects.count() == 0
    assert announced["accepted"] == []


def test_an_archived_campaign_takes_no_leads(campaign):
    campaign.status = Campaign.Status.ARCHIVED
    campaign.save()
    [result] = intake.submit([{"phone": "+14155552671"}], campaign=campaign)
    assert result.code == "campaign_closed"


def test_numbers_use_the_campaign_region(make_campaign):
    au = make_campaign(default_region="AU", timezone="Australia/Sydney")
    [result] = intake.submit([{"phone": "0412 345 678"}], campaign=au)
    assert str(result.lead.phone) == "+61412345678"


def test_cancel_withdraws_open_leads_once(campaign, make_lead, announced):
    lead = make_lead(campaign)
    assert intake.cancel_leads([lead]) == 1
    assert intake.cancel_leads([lead]) == 0
    lead.refresh_from_db()
    assert lead.status == Lead.Status.CANCELLED
    assert announced["withdrawn"] == [("end_contact", [lead.pk])]


def test_dnc_adds_rows_and_withdraws_matching_leads(campaign, make_campaign, make_lead, announced):
    other = make_campaign()
    mine = make_lead(campaign, phone="+14155552671")
    theirs = make_lead(other, phone="+14155552671")
    result = intake.add_to_dnc(["(415) 555-2671", "garbage"], campaign=campaign, reason="asked")
    assert result.added == ["+14155552671"]
    assert result.invalid[0][0] == "garbage"
    mine.refresh_from_db(), theirs.refresh_from_db()
    assert (mine.status, theirs.status) == ("dnc", "new")
    again = intake.add_to_dnc(["+14155552671"], campaign=campaign)
    assert again.already_listed == ["+14155552671"] and again.added == []
    glob = intake.add_to_dnc(["+14155552671"])
    theirs.refresh_from_db()
    assert glob.added == ["+14155552671"] and theirs.status == "dnc"
    assert [op for op, _ in announced["withdrawn"]] == ["dnc", "dnc"]


def test_the_fast_lead_constructor_matches_the_models_own(campaign, lead_list, partner):
    """intake builds leads without Model.__init__ for speed; it must build the same object."""
    from campaigns.intake import new_lead

    values = {"phone": "+14155552671", "first_name": "Ada", "metadata": {"a": "b"}}
    fast = new_lead(campaign, lead_list, partner, dict(values))
    # and the name search keys, which Lead.save() fills (bulk inserts do not call it)
    slow = Lead(campaign=campaign, lead_list=lead_list, partner=partner, search_first="ada", **values)
    fields = {k: v for k, v in fast.__dict__.items() if k != "_state"}
    assert fields == {k: v for k, v in slow.__dict__.items() if k != "_state"}
    assert fast.campaign is campaign and fast.lead_list is lead_list and fast.partner is partner
    fast.save()
    assert Lead.objects.get(pk=fast.pk).first_name == "Ada"


@pytest.fixture
def stale_statistics(campaign):
    """The campaign's leads and DNC entries grew after the tables were last analyzed."""
    from django.db import connection

    other = Campaign.objects.create(name="Other", slug="other", default_region="US")
    Lead.objects.bulk_create([Lead(campaign=other, phone=f"+1415{2000000 + i}") for i in range(20000)],
                             batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE campaigns_lead")
        cursor.execute("ANALYZE campaigns_dnc")
    # now the campaign grows behind the statistics' back
    Lead.objects.bulk_create([Lead(campaign=campaign, phone=f"+1212{2000000 + i}") for i in range(20000)],
                             batch_size=5000)
    DNC.objects.bulk_create([DNC(campaign=campaign, phone=f"+1646{2000000 + i}") for i in range(5000)])
    DNC.objects.create(phone="+13125550199")  # global


@pytest.mark.django_db
@pytest.mark.postgresql("query plans")
def test_existing_and_dnc_lookups_probe_the_phone_index_whatever_the_statistics_say(campaign, stale_statistics):
    """A campaign filling up (an import) is unknown to the planner's statistics, and a
    table never analyzed has none: lookups the planner could cost from them became
    "every lead of the campaign, then filter by phone" (120 ms a batch at 200k leads) or a
    sequential scan (24 µs a row over a 1M import on a fresh database). Each number must
    be one probe of a unique index on all its columns, which is one row whatever the
    statistics say."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    phones = [f"+1212{2000000 + i}" for i in range(0, 40000, 8)]
    with CaptureQueriesContext(connection) as queries:
        assert len(intake.existing_leads(campaign, phones)) == 2500
        assert intake.dnc_phones(["+16462000007", "+13125550100", "+13125550199"], campaign) == {
            "+16462000007", "+13125550199"}
    lookups = [query["sql"] for query in queries.captured_queries if "set_config" not in query["sql"]]
    assert len(lookups) == 2
    plans = []
    for sql in lookups:
        with planner(seqscan=False), connection.cursor() as cursor:  # as the lookups ran
            cursor.execute("EXPLAIN " + sql)
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    for plan in plans:
        assert "Seq Scan" not in plan, plan
    # leads: probes of the (phone, campaign) index, never "the campaign's leads, filtered by phone"
    assert re.search(r"Index Scan (using|on) lead_unique_phone_campaign", plans[0]), plans[0]
    assert "Index Cond: ((phone)::text = ANY" in plans[0], plans[0]
    assert "Index Cond: (campaign_id" not in plans[0], plans[0]
    # DNC: an index per arm (the phone ones, or the campaign's where the statistics think it tiny)
    assert plans[1].count("Index Scan") == 2, plans[1]
    with connection.cursor() as cursor:  # and the setting is back
        cursor.execute("SHOW enable_seqscan")
        assert cursor.fetchone()[0] == "on"


@pytest.mark.django_db
@pytest.mark.postgresql("query plans")
def test_one_number_is_looked_up_by_equality_on_the_unique_indexes_without_planner_settings(
        campaign, stale_statistics):
    """A single-lead POST: equality on every column of a unique index is one row to the
    planner whatever the statistics, so the lookups need no planner settings (two round
    trips each)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    known = Lead.objects.get(campaign=campaign, phone="+12122000008").pk
    with CaptureQueriesContext(connection) as queries:
        assert intake.existing_leads(campaign, ["+12122000008"]) == {"+12122000008": known}
        assert intake.existing_leads(campaign, ["+13125550100"]) == {}
        assert intake.dnc_phones(["+16462000007"], campaign) == {"+16462000007"}
        assert intake.dnc_phones(["+13125550199"], campaign) == {"+13125550199"}
        assert intake.dnc_phones(["+13125550100"], campaign) == set()
    assert len(queries) == 5 and not [q for q in queries.captured_queries if "set_config" in q["sql"]]
    plans = []
    for sql in (queries.captured_queries[0]["sql"], queries.captured_queries[2]["sql"]):
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql)
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert "Seq Scan" not in plans[0] and "Seq Scan" not in plans[1], plans
    assert re.search(r"Index Scan (using|on) lead_unique_phone_campaign", plans[0]), plans[0]
    assert "dnc_one_global_per_phone" in plans[1] and "dnc_one_per_phone_campaign" in plans[1], plans[1]
