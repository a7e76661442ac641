"""Partner API bulk cancel goes through the staff bulk-action path (issue 17, item 2)."""
import pytest
from django.utils import timezone

from campaigns import bulk, tasks
from campaigns.models import BulkAction, Lead
from vendors.models import Delivery, Destination, VendorAccount

URL = "/api/v1/leads/cancel/"


@pytest.fixture
def leads(campaign, partner, other_partner):
    account = VendorAccount.objects.create(name="Platform", kind="platform", credentials={"api_key": "k"})
    destination = Destination.objects.create(campaign=campaign, account=account, remote_ref="list-1")
    mine = Lead.objects.bulk_create([Lead(campaign=campaign, partner=partner, phone=f"+1201555{i:04d}")
                                     for i in range(12)])
    Delivery.objects.bulk_create([Delivery(lead=lead, destination=destination, status="accepted",
                                           due_at=timezone.now()) for lead in mine])
    theirs = Lead.objects.create(campaign=other_partner.campaigns.get(), partner=other_partner, phone="+12015559999")
    return mine, theirs


def test_a_small_bulk_cancel_answers_with_its_outcome(api, leads):
    mine, theirs = leads
    Lead.objects.filter(pk=mine[0].pk).update(status="dnc")
    r = api.post(URL, {"ids": [lead.pk for lead in mine] + [theirs.pk, 999999999]}, format="json")
    assert r.status_code == 200, r.content
    body = r.json()
    assert {k: body[k] for k in ("kind", "status", "total", "processed", "percent", "changed", "deliveries_planned",
                                 "not_found")} == {"kind": "cancel", "status": "done", "total": 12, "processed": 12,
                                                   "percent": 100, "changed": 11, "deliveries_planned": 11,
                                                   "not_found": 2}
    assert body["message"] == "Cancelled 11 of 12 selected leads; 11 withdrawal(s) planned at vendors."
    theirs.refresh_from_db()
    assert theirs.status == "new"  # not this partner's lead
    assert BulkAction.objects.get().api_key == api.key


def test_a_large_bulk_cancel_runs_in_the_background_and_can_be_followed(api, issue_key, other_partner, leads,
                                                                        settings, monkeypatch,
                                                                        django_capture_on_commit_callbacks):
    settings.BULK_INLINE_MAX = 5
    queued = []
    monkeypatch.setattr(tasks, "enqueue_bulk_action", queued.append)
    mine, _ = leads
    with django_capture_on_commit_callbacks(execute=True):
        r = api.post(URL, {"ids": [lead.pk for lead in mine]}, format="json")
    assert r.status_code == 202 and r.json()["status"] == "queued" and queued == [r.json()["id"]]
    follow = f"/api/v1/bulk-actions/{r.json()['id']}/"
    bulk.run(r.json()["id"], chunk=3, max_chunks=1)
    progress = api.get(follow).json()
    assert (progress["status"], progress["percent"], progress["message"]) == ("queued", 25, "Cancelling 12 leads — 25 %")
    assert issue_key(other_partner).get(follow).status_code == 404  # another partner's action
    tasks.run_bulk_action(r.json()["id"])
    assert api.get(follow).json()["status"] == "done"
    assert Lead.objects.filter(status="cancelled").count() == 12


@pytest.mark.parametrize("body,field", [({"ids": []}, "ids"), ({"ids": ["x"]}, "ids.0"), ({}, "ids"),
                                        ({"ids": list(range(1, 10_002))}, "ids")])
def test_a_bad_request_says_which_field(api, leads, body, field):
    r = api.post(URL, body, format="json")
    assert r.status_code == 400 and field in r.json()["fields"]
    assert not BulkAction.objects.exists()
