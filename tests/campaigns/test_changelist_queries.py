"""Every admin changelist runs the same number of queries for 5 rows as for 50.

Rows are filled in as real data has them (leads in lists and from partners,
deliveries with attempts, import jobs into lists, keys narrowed to campaigns),
so a column that reads a relation per row (``LeadList.__str__`` reads its
campaign's name) shows up as queries growing with the page.
"""
import datetime as dt
import itertools

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import (
    DNC, ApiKey, BulkAction, Campaign, Erasure, ImportJob, Lead, LeadList, Partner, PartnerEvent,
)
from vendors.models import Delivery, DeliveryAttempt, Destination, VendorAccount, VendorExchange

_seq = itertools.count()

# model -> changelist; the guard test below keeps this list complete
CHANGELISTS = {
    Lead: "campaigns_lead",
    LeadList: "campaigns_leadlist",
    Campaign: "campaigns_campaign",
    Partner: "campaigns_partner",
    PartnerEvent: "campaigns_partnerevent",
    DNC: "campaigns_dnc",
    ImportJob: "campaigns_importjob",
    BulkAction: "campaigns_bulkaction",
    ApiKey: "campaigns_apikey",
    Erasure: "campaigns_erasure",
    VendorAccount: "vendors_vendoraccount",
    Destination: "vendors_destination",
    Delivery: "vendors_delivery",
    VendorExchange: "vendors_vendorexchange",
}


def _fill(n, user):
    """n rows of every model, each pointing at related rows as real data does."""
    now = timezone.now()
    for _ in range(n):
        i = next(_seq)
        campaign = Campaign.objects.create(name=f"Campaign {i}", slug=f"campaign-{i}", status="active")
        lead_list = LeadList.objects.create(campaign=campaign, name=f"List {i}", source="web")
        partner = Partner.objects.create(name=f"Partner {i}", slug=f"partner-{i}")
        partner.campaigns.add(campaign)
        key, _ = ApiKey.issue(partner, name=f"key {i}", campaigns=[campaign])
        account = VendorAccount.objects.create(name=f"Account {i}", kind="platform", base_url="https://example.com",
                                               credentials={"tenant_id": "t", "token": "secret"})
        destination = Destination.objects.create(campaign=campaign, account=account, remote_ref=str(i))
        lead = Lead.objects.create(campaign=campaign, lead_list=lead_list, partner=partner,
                                   phone=f"+1415{2000000 + i:07d}", first_name="Ada", last_name=f"L{i}")
        DNC.objects.create(phone=f"+1415{3000000 + i:07d}", campaign=campaign, reason="asked")
        delivery = Delivery.objects.create(lead=lead, destination=destination, due_at=now, status="accepted",
                                           attempts=2, remote_ref=f"r{i}")
        for k in range(2):
            exchange = VendorExchange.objects.create(destination=destination, started_at=now,
                                                     request="POST https://example.com/leads", http_status=200)
            DeliveryAttempt.objects.create(delivery=delivery, started_at=now - dt.timedelta(seconds=k),
                                           request="POST https://example.com/leads", http_status=200,
                                           outcome="accepted", sent_in=exchange, decided_by=exchange)
        erasure = Erasure.objects.create(via="api", requested_by=f"api:partner-{i}", api_key=key, user=user,
                                         lead_count=1, reason="ticket")
        erasure.leads.add(lead)
        ImportJob.objects.create(campaign=campaign, lead_list=lead_list, original_name=f"f{i}.csv",
                                 file=f"imports/f{i}.csv", status="done", total_rows=10, processed_rows=10,
                                 counts={"accepted": 9, "duplicate": 1}, created_by=user)
        BulkAction.objects.create(kind="cancel", status="running", total=10, processed=4, changed=3,
                                  created_by=user)
        PartnerEvent.objects.create(partner=partner, lead_id=lead.pk, type="lead.accepted", due_at=now,
                                    created_at=now, payload={"type": "lead.accepted", "lead": {"id": lead.pk}})


def _queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return [q["sql"] for q in captured.captured_queries]


def test_every_registered_admin_of_ours_has_a_changelist_in_this_test():
    ours = {model for model in admin.site._registry if model._meta.app_label in ("campaigns", "vendors")}
    missing = sorted(model._meta.label for model in ours - set(CHANGELISTS))
    assert not missing, f"add a row factory and a changelist entry for {missing} in this test"


@pytest.mark.parametrize("model", list(CHANGELISTS), ids=lambda m: m._meta.model_name)
def test_a_changelist_runs_as_many_queries_for_50_rows_as_for_5(admin_client, django_user_model, model):
    user = django_user_model.objects.get(username="admin")
    url = reverse(f"admin:{CHANGELISTS[model]}_changelist")
    _fill(5, user)
    few = _queries(admin_client, url)
    _fill(45, user)
    assert model.objects.count() >= 50
    many = _queries(admin_client, url)
    extra = [sql for sql in many if sql not in few]
    assert len(many) == len(few), f"{len(few)} queries for 5 rows, {len(many)} for 50; e.g. " + "\n".join(extra[:3])
