"""Intake checks a lead against what every enabled vendor of its campaign needs (issue 12, item 7).

The campaign's vendor_requirements_policy decides: reject the lead (default, reason
``vendor_requirements``, one message per field naming the vendor) or accept it and store the
destination that cannot take it as a skipped delivery, with the reason.
"""
from __future__ import annotations


import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns import intake
from campaigns.models import Campaign, Lead
from vendors import services
from vendors.models import Delivery, Destination, VendorAccount

from .conftest import row

AKTIFY = "Aktify needs a US state code in region (e.g. CA) or a zip code in postal_code."
COMUNIK8_EMAIL = "Comunik8 needs an email address (email)."
COMUNIK8_SURNAME = "Comunik8 needs a surname (last_name)."


def test_a_lead_a_vendor_would_refuse_is_rejected_with_a_message_per_field_naming_the_vendor(
        aktify, comunik8, open_campaign):
    [result] = intake.submit([row(1, region="", postal_code="", email="")], campaign=open_campaign)
    assert not result.accepted and result.code == "vendor_requirements"
    assert result.fields == {
        "region": [{"code": "vendor_requirements", "message": AKTIFY}],
        "postal_code": [{"code": "vendor_requirements", "message": AKTIFY}],
        "email": [{"code": "vendor_requirements", "message": COMUNIK8_EMAIL}],
    }
    assert result.message == f"{AKTIFY} {COMUNIK8_EMAIL}"
    assert not Lead.objects.exists() and not Delivery.objects.exists()


def test_a_lead_every_vendor_can_take_is_accepted_and_planned_for_each(aktify, comunik8, open_campaign):
    [result] = intake.submit([row(1, region="", postal_code="90210")], campaign=open_campaign)
    assert result.accepted and result.warnings == []
    assert set(Delivery.objects.values_list("destination", "status")) == {(aktify.pk, "pending"),
                                                                         (comunik8.pk, "pending")}


def test_only_enabled_destinations_of_enabled_accounts_count(aktify, comunik8, open_campaign):
    comunik8.is_enabled = False
    comunik8.save()
    Destination.objects.filter(pk=aktify.pk).update(is_enabled=True)
    VendorAccount.objects.filter(pk=aktify.account_id).update(is_enabled=False)
    [result] = intake.submit([row(1, region="", postal_code="", email="")], campaign=open_campaign)
    assert result.accepted


def test_a_dry_run_gives_the_same_verdict(aktify, open_campaign):
    [result] = intake.submit([row(1, region="Ontario", postal_code="")], campaign=open_campaign, dry_run=True)
    assert (result.accepted, result.code, result.message) == (False, "vendor_requirements", AKTIFY)


def test_within_a_batch_a_refused_row_does_not_make_a_later_fixed_one_a_duplicate(aktify, open_campaign):
    results = intake.submit([row(1, region="", postal_code=""), row(1)], campaign=open_campaign)
    assert [(r.accepted, r.code) for r in results] == [(False, "vendor_requirements"), (True, "")]


def test_the_requirements_are_read_once_per_batch_not_per_row(aktify, comunik8, open_campaign):
    def queries(rows, dry_run=False):
        with CaptureQueriesContext(connection) as ctx:
            intake.submit(rows, campaign=open_campaign, dry_run=dry_run)
        return [q["sql"] for q in ctx.captured_queries]

    def destination_reads(sql):
        return [q for q in sql if 'FROM "vendors_destination"' in q]

    batch = [row(n) for n in range(2, 52)] + [row(60, email="")]
    # as many queries for 2 rows as for 51 (one row alone takes fewer: its lookups need no planner settings)
    assert len(queries([row(1), row(61)], dry_run=True)) == len(queries(batch, dry_run=True))
    assert len(destination_reads(queries([row(1)]))) == 2  # intake's check, and planning the pushes
    assert len(destination_reads(queries(batch))) == 2
    assert Lead.objects.count() == 51


def test_an_archived_campaign_says_closed_rather_than_requirements(aktify, open_campaign):
    open_campaign.status = Campaign.Status.ARCHIVED
    open_campaign.save()
    [result] = intake.submit([row(1, region="", postal_code="")], campaign=open_campaign)
    assert result.code == "campaign_closed"


# ---- the "skip" policy -----------------------------------------------------------------------------

@pytest.fixture
def skipping(open_campaign):
    open_campaign.vendor_requirements_policy = Campaign.VendorRequirementsPolicy.SKIP
    open_campaign.save()
    return open_campaign


def test_skip_accepts_the_lead_and_stores_the_destination_as_skipped_with_the_reason(aktify, comunik8, skipping):
    [result] = intake.submit([row(1, region="", postal_code="")], campaign=skipping)
    assert result.accepted
    assert result.warnings == [{"code": "vendor_requirements", "message": f"Not sent to Aktify: {AKTIFY}"}]
    skipped = Delivery.objects.get(destination=aktify)
    assert (skipped.status, skipped.code, skipped.message) == ("skipped", "vendor_requirements", f"Not sent: {AKTIFY}")
    assert skipped.finished_at is not None
    assert Delivery.objects.get(destination=comunik8).status == "pending"


def test_skip_sends_the_lead_only_to_the_vendors_that_can_take_it(aktify, comunik8, skipping, sandbox):
    intake.submit([row(1, region="", postal_code=""), row(2, email="", last_name="")], campaign=skipping)
    counts = services.deliver_due(threads=1, time_budget=30)
    assert counts == {"accepted": 2}
    assert [r["body"]["phoneNumber"] for r in sandbox.requests("aktify")] == ["+14155550002"]
    assert [r["body"]["mobile"] for r in sandbox.requests("comunik8")] == ["+14155550001"]
    refused = Delivery.objects.get(lead__phone="+14155550002", destination=comunik8)
    assert (refused.status, refused.code, refused.attempts) == ("skipped", "vendor_requirements", 0)
    assert refused.message == f"Not sent: {COMUNIK8_EMAIL} {COMUNIK8_SURNAME}"
    assert not refused.attempt_log.exists()


def test_skip_keeps_every_other_check(aktify, skipping, make_lead):
    make_lead(skipping, phone="+14155550001")
    [result] = intake.submit([row(1, region="", postal_code="")], campaign=skipping)
    assert (result.accepted, result.code, result.warnings) == (False, "duplicate", [])
