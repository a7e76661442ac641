"""Bulk staff actions as jobs (issue 17, item 2): small selections run in the request,
large ones in the background with progress, resumable after a crash, counting the leads
changed and the withdrawals planned."""
import datetime as dt
import threading
import time

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from campaigns import audit, bulk, intake, tasks
from campaigns.models import DNC, BulkAction, BulkActionChunk, Erasure, Lead
from vendors.models import Delivery, Destination, VendorAccount

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(get_user_model().objects.create_superuser("boss", "boss@example.com", "pw"))
    return client


@pytest.fixture
def queued(monkeypatch):
    """The broker: enqueued actions are recorded, not run (a worker runs them later)."""
    seen = []
    monkeypatch.setattr(tasks, "enqueue_bulk_action", seen.append)
    return seen


@pytest.fixture
def held_leads(campaign):
    """30 leads the campaign's vendor holds (an accepted push each)."""
    account = VendorAccount.objects.create(name="Platform", kind="platform", credentials={"api_key": "k"})
    destination = Destination.objects.create(campaign=campaign, account=account, remote_ref="list-1")
    leads = Lead.objects.bulk_create([Lead(campaign=campaign, phone=f"+1201555{i:04d}") for i in range(30)])
    Delivery.objects.bulk_create([Delivery(lead=lead, destination=destination, status="accepted", remote_ref=f"r{lead.pk}",
                                           due_at=timezone.now()) for lead in leads])
    return leads


def select_all(staff_client, campaign, action, **extra):
    return staff_client.post(reverse("admin:campaigns_lead_changelist") + f"?campaign__id__exact={campaign.pk}",
                             {"action": action, "select_across": "1", "index": "0", "_selected_action": ["0"],
                              **extra})


def test_a_small_selection_is_cancelled_in_the_request(staff_client, campaign, held_leads, queued):
    response = select_all(staff_client, campaign, "cancel_leads")
    page = staff_client.get(response.url).content.decode()
    assert "Cancelled 30 of 30 selected leads; 30 withdrawal(s) planned at vendors." in page
    assert Lead.objects.filter(status="cancelled").count() == 30 and queued == []
    assert Delivery.objects.filter(operation="end_contact").count() == 30
    assert not BulkActionChunk.objects.exists()  # the snapshot goes once the action is done


def test_a_large_cancel_runs_in_the_background_with_progress(staff_client, campaign, held_leads, queued, settings,
                                                            django_capture_on_commit_callbacks):
    settings.BULK_INLINE_MAX = 10
    Lead.objects.filter(pk=held_leads[0].pk).update(status="cancelled")  # withdrawn already: selected, not changed
    with django_capture_on_commit_callbacks(execute=True):
        response = select_all(staff_client, campaign, "cancel_leads")
    [action_id] = queued
    url = reverse("admin:campaigns_bulkaction_change", args=[action_id])
    assert response.status_code == 302 and response.url == url
    page = staff_client.get(url).content.decode()
    assert "Cancelling 30 leads — 0 %" in page and 'http-equiv="refresh"' in page
    assert Lead.objects.filter(status="cancelled").count() == 1

    assert bulk.run(action_id, chunk=12, max_chunks=1) == "continue"  # a worker, one chunk in
    assert "Cancelling 30 leads — 40 %" in staff_client.get(url).content.decode()
    listing = staff_client.get(reverse("admin:campaigns_bulkaction_changelist")).content.decode()
    assert "Cancelling 30 leads — 40 %" in listing
    assert Lead.objects.filter(status="cancelled").count() == 12  # the first 12 by id, one of them before

    assert tasks.run_bulk_action(action_id) == "done"
    page = staff_client.get(url).content.decode()
    assert "Cancelled 29 of 30 selected leads; 29 withdrawal(s) planned at vendors." in page
    assert 'http-equiv="refresh"' not in page
    assert Delivery.objects.filter(operation="end_contact").count() == 29


def test_a_background_job_is_audited_once_in_the_name_of_the_staff_member_who_started_it(
        staff_client, campaign, held_leads, queued, settings, django_capture_on_commit_callbacks):
    settings.BULK_INLINE_MAX = 10
    with django_capture_on_commit_callbacks(execute=True):
        select_all(staff_client, campaign, "cancel_leads")
    [action_id] = queued
    assert tasks.run_bulk_action(action_id) == "done"  # as a worker runs it: no request, no staff member about
    [entry] = LogEntry.objects.all()  # one for the job, none per lead
    assert (entry.content_type.model, entry.object_id, entry.user.username) == ("bulkaction", str(action_id), "boss")
    assert entry.change_message == (f"Bulk action {action_id} (cancel leads, 30 selected leads): Cancelled 30 of 30 "
                                    "selected leads; 30 withdrawal(s) planned at vendors. — by staff:boss")


def test_erasing_a_large_selection_runs_in_the_background_with_progress_as_one_erasure(
        staff_client, campaign, held_leads, queued, settings, django_capture_on_commit_callbacks):
    settings.BULK_INLINE_MAX = 10
    Lead.objects.filter(pk=held_leads[0].pk).update(status="erased")  # erased already: selected, not changed
    with django_capture_on_commit_callbacks(execute=True):
        response = select_all(staff_client, campaign, "erase_personal_data", confirm="yes", erase_reason="DSAR 7")
    [action_id] = queued
    url = reverse("admin:campaigns_bulkaction_change", args=[action_id])
    assert response.status_code == 302 and response.url == url
    assert "Erasing the personal data of 30 leads — 0 %" in staff_client.get(url).content.decode()
    assert not Erasure.objects.exists() and Lead.objects.filter(status="erased").count() == 1

    assert bulk.run(action_id, chunk=12, max_chunks=1) == "continue"  # a worker, one chunk in
    assert "Erasing the personal data of 30 leads — 40 %" in staff_client.get(url).content.decode()
    assert tasks.run_bulk_action(action_id) == "done"
    assert "Erased the personal data of 29 of 30 selected leads (the others were erased already); 58 erase and " \
           "stop call(s) planned at vendors." in staff_client.get(url).content.decode()
    [erasure] = Erasure.objects.all()  # one record for the whole job, chunk after chunk
    assert (erasure.via, erasure.user.username, erasure.requested_by, erasure.reason, erasure.lead_count) == (
        "admin", "boss", "staff:boss", "DSAR 7", 29)
    assert sorted(erasure.leads.values_list("pk", flat=True)) == [lead.pk for lead in held_leads[1:]]
    lead = Lead.objects.get(pk=held_leads[5].pk)
    assert (lead.status, lead.phone, lead.last_name) == ("erased", f"erased{lead.pk}", "")
    assert Delivery.objects.filter(operation="erase").count() == 29
    [entry] = LogEntry.objects.all()
    assert entry.object_id == str(action_id) and entry.user.username == "boss"


def test_a_crashed_run_resumes_after_its_last_chunk(campaign, held_leads, queued, monkeypatch, settings):
    settings.BULK_INLINE_MAX = 0
    action = bulk.start(BulkAction.Kind.CANCEL, Lead.objects.filter(campaign=campaign))
    real = bulk.ACTIONS[BulkAction.Kind.CANCEL]
    calls = []

    def dies_on_the_third_chunk(action, ids):
        calls.append(ids)
        if len(calls) == 3:
            raise ConnectionError("worker lost the database")
        return real.apply(action, ids)

    monkeypatch.setitem(bulk.ACTIONS, BulkAction.Kind.CANCEL, bulk.Action(real.running, real.done, dies_on_the_third_chunk))
    assert bulk.run(action.pk, chunk=10) == "failed"
    action.refresh_from_db()
    assert (action.processed, action.changed) == (20, 20)
    assert "Stopped after 20 of 30 leads" in action.message
    assert Lead.objects.filter(status="cancelled").count() == 20  # the third chunk rolled back whole

    # a worker that died without a word: running, heartbeat long gone
    BulkAction.objects.filter(pk=action.pk).update(status="running", heartbeat_at=timezone.now() - dt.timedelta(hours=1))
    assert bulk.resume_stalled() == [action.pk]
    assert bulk.run(action.pk, chunk=10) == "done"
    action.refresh_from_db()
    assert (action.processed, action.changed, action.deliveries_planned) == (30, 30, 30)
    assert calls[3][0] == calls[2][0]  # redone from the failed chunk, no lead twice
    assert Delivery.objects.filter(operation="end_contact").count() == 30


def test_a_running_action_is_not_taken_twice(campaign, held_leads, queued, settings):
    settings.BULK_INLINE_MAX = 0
    action = bulk.start(BulkAction.Kind.CANCEL, Lead.objects.filter(campaign=campaign))
    BulkAction.objects.filter(pk=action.pk).update(status="running", heartbeat_at=timezone.now())
    assert bulk.run(action.pk) == "running" and bulk.resume_stalled() == []


def test_the_selection_is_what_staff_selected(campaign, held_leads, queued, settings):
    settings.BULK_INLINE_MAX = 0
    action = bulk.start(BulkAction.Kind.CANCEL, Lead.objects.filter(campaign=campaign))
    late = Lead.objects.create(campaign=campaign, phone="+12025550199")
    bulk.run(action.pk)
    late.refresh_from_db()
    assert late.status == "new" and Lead.objects.filter(status="cancelled").count() == 30


def test_global_dnc_of_a_selection_withdraws_the_numbers_everywhere(staff_client, campaign, make_campaign, held_leads):
    other = make_campaign()
    twin = Lead.objects.create(campaign=other, phone=held_leads[0].phone)
    staff_client.post(reverse("admin:campaigns_lead_changelist"),
                      {"action": "add_to_global_dnc", "_selected_action": [held_leads[0].pk, held_leads[1].pk],
                       "reason": "asked"})
    assert set(DNC.objects.filter(campaign__isnull=True).values_list("phone", flat=True)) == {
        held_leads[0].phone, held_leads[1].phone}
    twin.refresh_from_db()
    assert twin.status == "dnc"
    action = BulkAction.objects.get()
    assert (action.kind, action.total, action.changed) == ("global_dnc", 2, 3)
    assert action.deliveries_planned == 4  # end_contact + dnc for each of the two held leads


def test_campaign_dnc_of_a_large_selection_runs_in_the_background(staff_client, campaign, held_leads, queued, settings,
                                                                  django_capture_on_commit_callbacks):
    settings.BULK_INLINE_MAX = 10
    with django_capture_on_commit_callbacks(execute=True):
        select_all(staff_client, campaign, "add_to_campaign_dnc", reason="asked")
    [action_id] = queued
    page = staff_client.get(reverse("admin:campaigns_bulkaction_change", args=[action_id])).content.decode()
    assert "Adding the numbers of 30 leads to their campaigns&#x27; DNC lists — 0 %" in page
    bulk.run(action_id)
    assert DNC.objects.filter(campaign=campaign, reason="asked").count() == 30
    assert Lead.objects.filter(status="dnc").count() == 30


def test_redelivery_queues_again_the_pushes_that_did_not_arrive(staff_client, campaign, held_leads, queued, settings,
                                                               django_capture_on_commit_callbacks):
    settings.BULK_INLINE_MAX = 10
    Delivery.objects.filter(lead__in=held_leads[:6]).update(status="failed", attempts=8, code="timeout")
    Delivery.objects.filter(lead__in=held_leads[6:9]).update(status="rejected", code="invalid")
    Lead.objects.filter(pk=held_leads[0].pk).update(status="dnc")  # withdrawn: never pushed again
    with django_capture_on_commit_callbacks(execute=True):
        select_all(staff_client, campaign, "redeliver_leads")
    [action_id] = queued
    assert "Re-delivering 30 leads — 0 %" in staff_client.get(
        reverse("admin:campaigns_bulkaction_change", args=[action_id])).content.decode()
    assert bulk.run(action_id) == "done"
    action = BulkAction.objects.get(pk=action_id)
    assert action.message == "Queued again 8 push(es) of 8 of 30 selected leads."
    again = Delivery.objects.filter(status="pending")
    assert sorted(again.values_list("lead_id", flat=True)) == [lead.pk for lead in held_leads[1:9]]
    assert set(again.values_list("attempts", "code")) == {(0, "")}
    assert Delivery.objects.get(lead=held_leads[0]).status == "failed"


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgresql("lanes (SQLite has one writer at a time)")
def test_lanes_share_the_work_and_never_take_a_lead_twice(campaign, held_leads, queued, monkeypatch, settings):
    settings.BULK_INLINE_MAX, settings.BULK_LANES = 0, 2
    boss = get_user_model().objects.create_user("boss", is_staff=True)
    with audit.acting_as("staff:boss", boss):
        action = bulk.start(BulkAction.Kind.CANCEL, Lead.objects.filter(campaign=campaign), user=boss)
    real = bulk.ACTIONS[BulkAction.Kind.CANCEL]
    taken = []

    def slow_apply(action, ids):
        taken.append((threading.current_thread().name, tuple(ids)))
        time.sleep(0.05)  # long enough for the other lane to take the next chunk meanwhile
        return real.apply(action, ids)

    monkeypatch.setitem(bulk.ACTIONS, BulkAction.Kind.CANCEL, bulk.Action(real.running, real.done, slow_apply))
    assert bulk.run(action.pk, chunk=3) == "done"
    assert len({name for name, _ in taken}) == 2
    every = sorted(lead_id for _, ids in taken for lead_id in ids)
    assert every == sorted(lead.pk for lead in held_leads)  # each lead once
    action.refresh_from_db()
    assert (action.processed, action.changed, action.deliveries_planned) == (30, 30, 30)
    [entry] = LogEntry.objects.all()  # the lanes' threads act as who started the job
    assert entry.user == boss and entry.change_message.endswith("— by staff:boss")


def chunk_rows(action):
    return [(first, [int(i) for i in ids.split(",")], size) for first, ids, size in
            BulkActionChunk.objects.filter(action=action).order_by("first_lead_id")
            .values_list("first_lead_id", "lead_ids", "size")]


def test_the_selection_is_kept_as_a_row_per_chunk_of_ids_and_resumes_from_the_row_that_failed(
        campaign, held_leads, queued, monkeypatch, settings):
    settings.BULK_INLINE_MAX = 0
    monkeypatch.setattr(intake, "CHUNK", 12)
    action = bulk.start(BulkAction.Kind.CANCEL, Lead.objects.filter(campaign=campaign))
    ids = [lead.pk for lead in held_leads]
    assert action.total == 30
    assert chunk_rows(action) == [(ids[0], ids[:12], 12), (ids[12], ids[12:24], 12), (ids[24], ids[24:], 6)]

    assert bulk.run(action.pk, max_chunks=1) == "continue"
    action.refresh_from_db()
    assert (action.processed, action.changed, bulk.percent(action)) == (12, 12, 40)
    assert chunk_rows(action) == [(ids[12], ids[12:24], 12), (ids[24], ids[24:], 6)]

    real = bulk.ACTIONS[BulkAction.Kind.CANCEL]

    def dies(action, lead_ids):
        raise ConnectionError("worker lost the database")

    monkeypatch.setitem(bulk.ACTIONS, BulkAction.Kind.CANCEL, bulk.Action(real.running, real.done, dies))
    assert bulk.run(action.pk) == "failed"
    assert chunk_rows(action) == [(ids[12], ids[12:24], 12), (ids[24], ids[24:], 6)]  # the failed chunk's row is back

    monkeypatch.setitem(bulk.ACTIONS, BulkAction.Kind.CANCEL, real)
    BulkAction.objects.filter(pk=action.pk).update(status="queued")  # the admin's "Resume"
    assert bulk.run(action.pk) == "done"
    action.refresh_from_db()
    assert (action.processed, action.changed, action.deliveries_planned) == (30, 30, 30)
    assert chunk_rows(action) == [] and Lead.objects.filter(status="cancelled").count() == 30


def test_a_run_in_smaller_chunks_than_recorded_cuts_the_rows_first(campaign, held_leads, queued, settings):
    settings.BULK_INLINE_MAX = 0
    action = bulk.start(BulkAction.Kind.CANCEL, Lead.objects.filter(campaign=campaign))
    assert [size for _, _, size in chunk_rows(action)] == [30]
    assert bulk.run(action.pk, chunk=8, max_chunks=1) == "continue"
    ids = [lead.pk for lead in held_leads]
    assert chunk_rows(action) == [(ids[8], ids[8:16], 8), (ids[16], ids[16:24], 8), (ids[24], ids[24:], 6)]


@pytest.mark.django_db(transaction=True)
def test_a_selection_recorded_a_row_per_lead_before_the_upgrade_is_kept_a_row_per_chunk():
    before, after = [("campaigns", "0015_vendor_neutral_help")], [("campaigns", "0016_bulk_selection_chunks")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        apps = executor.loader.project_state(before).apps
        OldAction, OldRow = apps.get_model("campaigns", "BulkAction"), apps.get_model("campaigns", "BulkActionLead")
        action = OldAction.objects.create(kind="cancel", total=7000, processed=100)
        OldRow.objects.bulk_create([OldRow(action_id=action.pk, lead_id=i) for i in range(7100, 100, -1)])
        MigrationExecutor(connection).migrate(after)
        rows = list(BulkActionChunk.objects.filter(action_id=action.pk).order_by("first_lead_id")
                    .values_list("first_lead_id", "lead_ids", "size"))
    finally:  # every app's latest state again, for the tests after this one (not just campaigns 0016)
        latest = MigrationExecutor(connection)
        latest.migrate(latest.loader.graph.leaf_nodes())
    assert [(first, size) for first, _, size in rows] == [(101, 5000), (5101, 2000)]
    assert [int(i) for _, joined, _ in rows for i in joined.split(",")] == list(range(101, 7101))
