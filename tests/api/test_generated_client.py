"""A partner's client, generated from /api/schema/ with openapi-python-client, runs a whole flow.

The client is generated into a temporary package from the document the API serves,
imported, and driven over real HTTP semantics (httpx through the WSGI app): list
campaigns, create, bulk with bad rows, page to the end, cancel, DNC add and check,
idempotent replay and conflict. The generated models parse every answer (they raise on
a shape they do not expect), and each exchange is also validated against the strict
document (tests/contract.py).
"""
from __future__ import annotations

import importlib
import json
import subprocess
import sys

import httpx
import pytest

from campaigns.models import ApiKey, Lead
from tests import contract

PACKAGE = "leadhub_client"


@pytest.fixture
def wsgi_app():
    """The real WSGI app, minus the per-request connection closing the test transaction cannot
    survive (as Django's test Client does)."""
    from django.core import signals
    from django.db import close_old_connections

    from leadhub.wsgi import application

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield application
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def generate_client(directory):
    """openapi-python-client over the served document; returns the imported package."""
    document = directory / "openapi.json"
    document.write_text(json.dumps(contract.served_document()))
    config = directory / "config.json"
    config.write_text(json.dumps({"post_hooks": []}))  # no formatter needed to import it
    done = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(document), "--meta", "none",
         "--output-path", str(directory / PACKAGE), "--config", str(config)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # a warning means part of the document could not be turned into client code
    assert "Warning" not in done.stdout, done.stdout
    sys.path.insert(0, str(directory))
    importlib.invalidate_caches()
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]
    return importlib.import_module(PACKAGE)


def contract_hook(response: httpx.Response) -> None:
    response.read()
    request = response.request
    contract.check(
        contract.ApiRequest(request.method, request.url.path, request.url.query.decode(), dict(request.headers),
                            request.content),
        contract.ApiResponse(response.status_code, response.headers, response.content),
    )


@pytest.fixture
def lhc(tmp_path, db):
    package = generate_client(tmp_path)
    yield package
    sys.path.remove(str(tmp_path))


def test_a_generated_client_runs_a_partners_whole_flow(lhc, wsgi_app, partner, campaign, make_lead, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"partner": None, "partner_burst": None}}
    from leadhub_client import AuthenticatedClient
    from leadhub_client.api.campaigns import v1_campaigns_list
    from leadhub_client.api.dnc import v1_dnc_check_retrieve, v1_dnc_create
    from leadhub_client.api.leads import (
        v1_leads_bulk_create,
        v1_leads_cancel_create,
        v1_leads_create,
        v1_leads_list,
        v1_leads_retrieve,
    )
    from leadhub_client.models import (
        BulkItemResultStatusEnum,
        BulkLeadCreateRequest,
        DncAddRequest,
        DncNumberResultStatusEnum,
        Error,
        LeadCreated,
        LeadCreateRequest,
        LeadCreateRequestMetadata,
        LeadFieldsRequest,
        LeadStatusEnum,
        ListedEnum,
        PaginatedLeadList,
        WeekdayEnum,
    )

    raw_key = ApiKey.issue(partner, name="generated client")[1]
    client = AuthenticatedClient(base_url="http://testserver", token=raw_key, raise_on_unexpected_status=True,
                                 httpx_args={"transport": httpx.WSGITransport(app=wsgi_app),
                                             "event_hooks": {"response": [contract_hook]}})
    already = make_lead(campaign, partner=partner, phone="+14155550100")

    # 1. which campaigns, and what they need
    [solar] = v1_campaigns_list.sync(client=client)
    assert solar.slug == "solar-us" and solar.required_fields == ["phone"]
    assert solar.calling_days == [WeekdayEnum.MON, WeekdayEnum.TUE, WeekdayEnum.WED, WeekdayEnum.THU,
                                  WeekdayEnum.FRI]

    # 2. one lead
    created = v1_leads_create.sync(client=client, body=LeadCreateRequest(
        campaign="solar-us", phone="(415) 555-2671", first_name="Ada",
        metadata=LeadCreateRequestMetadata.from_dict({"roof": "tile"})))
    assert isinstance(created, LeadCreated) and isinstance(created.id, int)
    assert created.status == LeadStatusEnum.NEW and created.phone == "+14155552671"
    duplicate = v1_leads_create.sync(client=client, body=LeadCreateRequest(campaign="solar-us", phone="4155552671"))
    assert isinstance(duplicate, Error) and duplicate.code == "duplicate"

    # 3. bulk with bad rows
    bulk = v1_leads_bulk_create.sync(client=client, body=BulkLeadCreateRequest(campaign="solar-us", leads=[
        LeadFieldsRequest(phone="+1 415 555 0101"), LeadFieldsRequest(phone="banana"),
        LeadFieldsRequest(phone="415.555.0100"), LeadFieldsRequest(phone="+14155550102", email="nope"),
        LeadFieldsRequest(phone="+14155550103"),
    ]))
    assert (bulk.summary.accepted, bulk.summary.rejected) == (2, 3)
    outcome = [(r.status, r.error.code if r.error else None, r.phone) for r in bulk.results]
    assert outcome == [
        (BulkItemResultStatusEnum.ACCEPTED, None, "+14155550101"),
        (BulkItemResultStatusEnum.REJECTED, "invalid_phone", None),
        (BulkItemResultStatusEnum.REJECTED, "duplicate", "+14155550100"),
        (BulkItemResultStatusEnum.REJECTED, "invalid_field", "+14155550102"),
        (BulkItemResultStatusEnum.ACCEPTED, None, "+14155550103"),
    ]

    # 4. page to the end with the bare cursor
    page = v1_leads_list.sync(client=client, campaign="solar-us", page_size=2)
    seen = []
    while True:
        assert isinstance(page, PaginatedLeadList)
        seen += [lead.id for lead in page.results]
        if page.next_cursor is None:
            break
        page = v1_leads_list.sync(client=client, cursor=page.next_cursor)
    assert seen == sorted(Lead.objects.values_list("id", flat=True), reverse=True)
    assert len(seen) == 4

    # 5. cancel, then read it back
    cancelled = v1_leads_cancel_create.sync(client=client, id=created.id)
    assert cancelled.cancelled is True and cancelled.status == LeadStatusEnum.CANCELLED
    lead = v1_leads_retrieve.sync(client=client, id=created.id)
    assert lead.status == LeadStatusEnum.CANCELLED and lead.metadata.to_dict() == {"roof": "tile"}
    assert lead.phone_alt == "" and lead.deliveries == []
    assert isinstance(v1_leads_retrieve.sync(client=client, id=10**17), Error)

    # 6. DNC add and check
    added = v1_dnc_create.sync(client=client, body=DncAddRequest(numbers=["(415) 555-0101", "nope"],
                                                                  campaign="solar-us"))
    assert [r.status for r in added.results] == [DncNumberResultStatusEnum.ADDED, DncNumberResultStatusEnum.INVALID]
    assert added.leads_withdrawn == 1
    check = v1_dnc_check_retrieve.sync(client=client, phone="4155550101", campaign="solar-us")
    assert check.callable_ is False and check.listed == ListedEnum.CAMPAIGN
    fine = v1_dnc_check_retrieve.sync(client=client, phone="4155550199", campaign="solar-us")
    assert fine.callable_ is True and fine.listed is None and fine.code is None

    # 7. idempotent replay, then the same key for another request
    body = LeadCreateRequest(campaign="solar-us", phone="+14155550110")
    first = v1_leads_create.sync_detailed(client=client, body=body, idempotency_key="order-77")
    again = v1_leads_create.sync_detailed(client=client, body=body, idempotency_key="order-77")
    assert first.status_code == again.status_code == 201
    assert again.parsed.id == first.parsed.id and again.headers["Idempotent-Replayed"] == "true"
    other = v1_leads_create.sync_detailed(client=client, body=LeadCreateRequest(campaign="solar-us",
                                                                                phone="+14155550111"),
                                          idempotency_key="order-77")
    assert other.status_code == 422 and other.parsed.code == "idempotency_key_reused"
    assert Lead.objects.filter(phone="+14155550110").count() == 1


def test_an_older_generated_client_reads_a_status_added_later(lhc):
    """Item 10: enums in responses are open, so a value added after a client was generated
    parses (as a plain string) instead of failing the whole response."""
    from leadhub_client.models import Delivery, LeadStatusEnum

    delivery = Delivery.from_dict({"vendor": "aktify", "operation": "archive", "status": "queued_at_vendor",
                                   "code": "", "message": "", "updated_at": "2026-12-01T10:00:00Z"})
    assert delivery.status == "queued_at_vendor" and delivery.operation == "archive"
    known = Delivery.from_dict({"vendor": "aktify", "operation": "push", "status": "accepted",
                                "code": "", "message": "", "updated_at": "2026-12-01T10:00:00Z"})
    assert known.status.value == "accepted" and type(known.status).__name__ == "DeliveryStatusEnum"
    assert LeadStatusEnum("new").value == "new"
    # the status filter uses the same enum: no per-operation copy
    assert not hasattr(lhc.models, "V1LeadsListStatus")
