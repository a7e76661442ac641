"""A sixth vendor joins with one registry line (issue 13, item 2): its client and sandbox app live in
tests/vendors/sixth_vendor.py, nothing else in the tree changes, and it shows in the admin, delivers
through the real pipeline over HTTP, and gets a demo account."""
from __future__ import annotations

import datetime as dt

import pytest

from campaigns import intake
from campaigns.models import WEEKDAYS
from vendors import registry, services
from vendors.demo import create_demo_vendors
from vendors.models import Delivery, Destination, VendorAccount

from .sixth_vendor import TOKEN

pytestmark = pytest.mark.django_db


@pytest.fixture
def ringo():
    entry = registry.register("tests.vendors.sixth_vendor.RingoClient", "tests.vendors.sixth_vendor.RingoSim")
    yield entry
    registry.unregister(entry)


@pytest.fixture
def ringo_destination(ringo, sandbox, campaign):
    campaign.calling_days = ",".join(WEEKDAYS)
    campaign.calling_start, campaign.calling_end = dt.time(0, 0), dt.time(23, 59, 59)
    campaign.save()
    account = VendorAccount.objects.create(name="Ringo sandbox", kind="ringo", base_url=sandbox.url("ringo"),
                                           credentials={"token": TOKEN}, timeout_seconds=2,
                                           max_requests_per_second=1000)
    return Destination.objects.create(campaign=campaign, account=account, remote_ref="list-7")


def test_it_shows_in_the_vendor_account_form_with_its_help(ringo, admin_client):
    page = admin_client.get("/admin/vendors/vendoraccount/add/").content.decode()
    assert '<option value="ringo">Ringo Dialler</option>' in page
    assert "Ringo Dialler: token." in page                                  # credentials it needs
    assert "Ringo Dialler: https://api.ringo.example (no default)." in page  # its base URL


def test_an_account_of_it_is_saved_through_the_admin(ringo, admin_client):
    response = admin_client.post("/admin/vendors/vendoraccount/add/", {
        "name": "Ringo", "kind": "ringo", "base_url": "https://api.ringo.example", "is_enabled": "on",
        "credentials": '{"token": "t-123456"}', "timeout_seconds": 15, "max_requests_per_second": 10,
        "max_attempts": 8, "destinations-TOTAL_FORMS": 0, "destinations-INITIAL_FORMS": 0})
    assert response.status_code == 302, response.content.decode()[:2000]
    account = VendorAccount.objects.get(name="Ringo")
    assert (account.kind, account.get_kind_display(), account.credentials) == ("ringo", "Ringo Dialler",
                                                                              {"token": "t-123456"})


def test_its_destination_form_lists_its_settings_and_call_list(ringo, admin_client):
    page = admin_client.get("/admin/vendors/destination/add/").content.decode()
    assert "Ringo Dialler: caller_name." in page and "Ringo Dialler: Ringo call list." in page


def test_it_delivers_a_lead_through_the_pipeline_to_its_sandbox_app(ringo_destination, campaign, sandbox):
    intake.submit([{"phone": "+14155550101", "first_name": "Ada"}, {"phone": "+447911123456", "first_name": "Bo"}],
                  campaign=campaign)

    assert services.deliver_due(threads=1, time_budget=30) == {"accepted": 1, "rejected": 1}

    [call] = sandbox.requests("ringo")
    assert (call["method"], call["path"], call["headers"]["authorization"]) == ("POST", "/contacts", f"Bearer {TOKEN}")
    assert call["body"]["list"] == "list-7"
    assert [c["phone"] for c in call["body"]["contacts"]] == ["+14155550101", "+447911123456"]
    taken, refused = Delivery.objects.order_by("lead__phone")
    assert (taken.status, taken.remote_ref, taken.http_status) == ("accepted", "rg-1", 200)
    assert (refused.status, refused.code, refused.message) == ("rejected", "invalid",
                                                               "Ringo dials North American numbers only.")
    assert [a.outcome for a in taken.attempt_log.all()] == ["accepted"]
    assert sandbox.state("ringo") == {"ringo": {"contacts": 1}}


def test_the_demo_connects_it_to_its_sandbox_app(ringo, make_campaign):
    solar, cover = make_campaign(), make_campaign()
    create_demo_vendors(solar, cover, "http://127.0.0.1:8765/")
    account = VendorAccount.objects.get(kind="ringo")
    assert (account.name, account.base_url, account.credentials) == ("Ringo Dialler (sandbox)",
                                                                     "http://127.0.0.1:8765/ringo", {"token": TOKEN})
    assert list(account.destinations.values_list("campaign", "remote_ref")) == [(solar.pk, "demo-list")]
    assert sorted(VendorAccount.objects.values_list("kind", flat=True)) == sorted(registry.kinds())


def test_its_registry_line_is_all_that_makes_it_known():
    entry = registry.register("tests.vendors.sixth_vendor.RingoClient", "tests.vendors.sixth_vendor.RingoSim")
    assert (registry.kinds()[-1], registry.client_class("ringo").label) == ("ringo", "Ringo Dialler")
    registry.unregister(entry)
    assert "ringo" not in dict(registry.kind_choices())
    with pytest.raises(LookupError, match="Unknown vendor kind 'ringo'"):
        registry.client_class("ringo")
