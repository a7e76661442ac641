"""No query breaks on its size under server-side binding (issue 17, item 1).

Each bulk path runs over more leads (or numbers) than a prepared statement can
bind parameters for; each failed with "number of parameters must be between 0
and 65535" before LeadHub's backend and the set-wise bulk paths.
"""
import csv
import io

import pytest
from django.db import connection
from django.urls import reverse

from campaigns import bulk, intake, tasks
from campaigns.models import DNC, BulkAction, BulkActionChunk, Lead, LeadList
from vendors import forgetting, services
from vendors.models import Delivery, DeliveryAttempt, VendorExchange

from .conftest import MANY, load_accepted_pushes, load_leads, phones

pytestmark = pytest.mark.django_db


def test_the_connection_binds_server_side_and_django_knows_the_limit():
    assert connection.settings_dict["OPTIONS"]["server_side_binding"] is True
    assert connection.features.max_query_params == 65_535
    assert connection.ops.bulk_batch_size(["phone", "campaign", "reason", "source", "created_at"], range(MANY)) == 13_107


def test_a_long_in_list_is_one_array_parameter(campaign):
    ids = load_leads(campaign)
    assert Lead.objects.filter(pk__in=ids).count() == MANY
    assert Lead.objects.filter(campaign__in=[campaign.pk] * 2000, pk__in=ids[:5]).count() == 5  # a FK lookup too
    sql = str(Lead.objects.filter(pk__in=ids).values("pk").query.sql_with_params()[0])
    assert "= ANY(%s::bigint[])" in sql


def test_djangos_delete_collector_removes_leads_with_their_deliveries(campaign, destination):
    load_leads(campaign)
    load_accepted_pushes(campaign, destination)
    deleted, per_model = Lead.objects.filter(campaign=campaign).delete()
    assert per_model == {"vendors.Delivery": MANY, "campaigns.Lead": MANY}
    assert not Delivery.objects.exists()


def test_cancel_leads_of_a_campaign_withdraws_every_lead_and_plans_each_withdrawal(campaign, destination):
    load_leads(campaign)
    load_accepted_pushes(campaign, destination)
    assert intake.cancel_leads(Lead.objects.filter(campaign=campaign)) == MANY
    assert Lead.objects.filter(campaign=campaign, status="cancelled").count() == MANY
    assert Delivery.objects.filter(operation="end_contact", status="pending", destination=destination).count() == MANY
    assert intake.cancel_leads(Lead.objects.filter(campaign=campaign)) == 0


def test_plan_withdrawal_of_a_long_list_plans_every_lead_and_skips_pending_pushes(campaign, destination):
    ids = load_leads(campaign)
    load_accepted_pushes(campaign, destination)
    Delivery.objects.filter(lead_id__in=ids[:10]).update(status="pending")  # not sent yet
    assert services.plan_withdrawal(ids, "dnc") == 2 * (MANY - 10)  # end_contact + dnc per held lead
    assert Delivery.objects.filter(operation="push", status="skipped", code="dnc").count() == 10
    assert services.plan_withdrawal(ids, "dnc") == 0  # planned once


def test_add_to_dnc_lists_every_number_and_withdraws_their_leads(campaign, destination):
    load_leads(campaign)
    load_accepted_pushes(campaign, destination)
    result = intake.add_to_dnc(phones(), campaign=None, reason="bulk", source="test")
    assert len(result.added) == MANY and result.leads_withdrawn == MANY
    assert DNC.objects.filter(campaign__isnull=True).count() == MANY
    assert Lead.objects.filter(status="dnc").count() == MANY
    assert Delivery.objects.filter(operation="dnc").count() == MANY
    again = intake.add_to_dnc(phones(10), campaign=None)
    assert len(again.already_listed) == 10 and again.leads_withdrawn == 0


def test_deleting_a_lead_list_keeps_its_leads_without_the_list(campaign):
    lead_list = LeadList.objects.create(campaign=campaign, name="Big list")
    load_leads(campaign, lead_list=lead_list)
    lead_list.delete()
    assert Lead.objects.filter(campaign=campaign, lead_list__isnull=True).count() == MANY


def test_export_of_every_lead_of_a_campaign_streams_them_all(staff_client, campaign):
    load_leads(campaign)
    response = staff_client.post(reverse("admin:campaigns_lead_changelist") + f"?campaign__id__exact={campaign.pk}",
                                 {"action": "export_csv", "select_across": "1", "index": "0",
                                  "_selected_action": ["0"]})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert len(rows) == MANY + 1 and rows[1][0].isdigit()


def test_erase_of_every_lead_of_a_campaign_scrubs_each_ones_history_in_linear_work(campaign, destination, monkeypatch):
    load_leads(campaign)
    load_accepted_pushes(campaign, destination)
    with connection.cursor() as cursor:  # what the vendor answered: one batch exchange per 1,000 leads, an attempt each
        cursor.execute("INSERT INTO vendors_vendorexchange (started_at, duration_ms, request, http_status, excerpt, "
                       "error, destination_id) SELECT now(), 5, 'POST /leads', 200, 'created Lead' || ((g - 1) * 1000 + 1) || ' and more', "
                       "'', %s FROM generate_series(1, %s / 1000) AS g RETURNING id", [destination.pk, MANY])
        exchanges = sorted(row[0] for row in cursor.fetchall())
        cursor.execute("INSERT INTO vendors_deliveryattempt (started_at, duration_ms, request, http_status, outcome, "
                       "code, message, excerpt, delivery_id, sent_in_id) "
                       "SELECT now(), 5, 'POST /leads', 200, 'accepted', '', 'Welcome ' || l.last_name, '', d.id, "
                       "%s::bigint + (row_number() OVER (ORDER BY d.id) - 1) / 1000 "
                       "FROM vendors_delivery d JOIN campaigns_lead l ON l.id = d.lead_id", [exchanges[0]])
    searched = []
    real_scrub = forgetting._scrub

    def counting_scrub(text, values):
        searched.append(len(values))
        return real_scrub(text, values)

    monkeypatch.setattr(forgetting, "_scrub", counting_scrub)
    result = intake.erase_leads(Lead.objects.filter(campaign=campaign), via="command", requested_by="command:test",
                                audit_leads=False)
    assert len(result.erased) == MANY and result.erasure.lead_count == MANY == result.erasure.leads.count()
    assert Lead.objects.filter(campaign=campaign, status="erased", last_name="").count() == MANY
    assert Delivery.objects.filter(operation="erase", destination=destination).count() == MANY
    assert not DeliveryAttempt.objects.exclude(message="Welcome [erased]").exists()
    assert VendorExchange.objects.get(pk=exchanges[4]).excerpt == "created [erased] and more"
    # each text searched for its own people's details only (4 values a lead here: phone, encoded phone, 2 names;
    # 3 deliveries a lead (push, end_contact, erase), 3 texts an attempt or exchange, 1,000 leads an exchange),
    # not for everyone's: 2.3 million searches, where searching every text for every person's makes 10^11
    assert sum(searched) <= 4 * (3 * MANY + 3 * MANY + 3 * 1000 * len(exchanges))


def test_a_bulk_cancel_job_of_every_lead_of_a_campaign_keeps_its_selection_a_row_per_chunk_and_resumes(
        campaign, destination, settings, monkeypatch):
    settings.BULK_INLINE_MAX = 0
    monkeypatch.setattr(tasks, "enqueue_bulk_action", lambda action_id: None)  # a worker runs it below
    ids = load_leads(campaign)
    load_accepted_pushes(campaign, destination)
    action = bulk.start(BulkAction.Kind.CANCEL, Lead.objects.filter(campaign=campaign))
    assert action.total == MANY and action.status == "queued"
    rows = list(BulkActionChunk.objects.filter(action=action).order_by("first_lead_id")
                .values_list("first_lead_id", "lead_ids", "size"))
    assert len(rows) == -(-MANY // intake.CHUNK) and sum(size for *_, size in rows) == MANY
    assert [int(i) for _, joined, _ in rows for i in joined.split(",")] == ids  # every lead once, ascending

    assert bulk.run(action.pk, max_chunks=3) == "continue"  # a worker's time slice ends
    action.refresh_from_db()
    assert (action.processed, action.changed, bulk.percent(action)) == (15_000, 15_000, 21)
    real = bulk.ACTIONS[BulkAction.Kind.CANCEL]
    monkeypatch.setitem(bulk.ACTIONS, BulkAction.Kind.CANCEL, bulk.Action(
        real.running, real.done, lambda action, lead_ids: 1 / 0))  # the next chunk fails whole
    assert bulk.run(action.pk) == "failed"
    monkeypatch.setitem(bulk.ACTIONS, BulkAction.Kind.CANCEL, real)
    BulkAction.objects.filter(pk=action.pk).update(status="queued")  # the admin's "Resume"
    assert bulk.run(action.pk) == "done"
    action.refresh_from_db()
    assert (action.processed, action.changed, action.deliveries_planned) == (MANY, MANY, MANY)
    assert Lead.objects.filter(campaign=campaign, status="cancelled").count() == MANY
    assert Delivery.objects.filter(operation="end_contact", destination=destination).count() == MANY
    assert not BulkActionChunk.objects.filter(action=action).exists()
