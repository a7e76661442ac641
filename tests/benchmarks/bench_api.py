"""Partner API throughput on PostgreSQL.

* single-lead POST /api/v1/leads/ as a ratio to a bare ``Lead.objects.create``
  of the same lead behind a plain Django view (target >= 0.5x, issue 18): what
  the whole path costs (key auth, throttles, DRF parsing, scoping, intake's
  normalisation, dedupe and DNC checks, the insert, the outbox rows, the
  wake-up, rendering) against the one INSERT it ends in. A second ratio, to a
  plain view calling ``intake.submit`` (informational), is the API layer's share.
* bulk intake through POST /api/v1/leads/bulk/ in leads/s (target >= 5,000/s).

Requests go through Django's test Client (the full middleware stack, no
sockets). Every row the benchmark creates is deleted at the end.
"""
from __future__ import annotations

import json
import time

from django.http import JsonResponse
from django.test import Client, override_settings
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

SINGLE_N = 600
BULK_REQUESTS = 12
BULK_SIZE = 1000
_state: dict = {}


def _numbers():
    """Distinct valid US numbers (phonenumbers-valid area codes and exchanges)."""
    for area in (415, 212, 312, 617, 206, 303, 512, 702, 305, 404):
        for exchange in range(201, 1000):
            if exchange % 100 == 11:
                continue
            for line in range(0, 10000, 97):
                yield f"+1{area}{exchange}{line:04d}"


@csrf_exempt
def plain_intake_view(request):
    from campaigns import intake

    row = json.loads(request.body)
    row.pop("campaign", None)
    [result] = intake.submit([row], campaign=_state["campaign"], partner=_state["partner"], source="bench")
    if not result.accepted:
        return JsonResponse({"code": result.code}, status=400)
    return JsonResponse({"id": result.lead.pk, "status": result.lead.status, "phone": str(result.lead.phone)}, status=201)


@csrf_exempt
def plain_orm_view(request):
    from campaigns.models import Lead
    from campaigns.phones import parse_phone

    row = json.loads(request.body)
    lead = Lead.objects.create(campaign=_state["campaign"], partner=_state["partner"],
                               phone=parse_phone(row["phone"]).e164, first_name=row.get("first_name", ""))
    return JsonResponse({"id": lead.pk, "status": lead.status, "phone": str(lead.phone)}, status=201)


urlpatterns = [
    path("plain/intake/", plain_intake_view),
    path("plain/orm/", plain_orm_view),
    path("api/", include("campaigns.api.urls")),
]


def _timed_posts(client, url, bodies, **headers) -> float:
    started = time.perf_counter()
    for body in bodies:
        r = client.post(url, json.dumps(body), content_type="application/json", **headers)
        assert r.status_code in (200, 201, 207), (url, r.status_code, r.content[:300])
    return time.perf_counter() - started


def run(bench):
    from campaigns.models import ApiKey, Campaign, Lead, Partner

    numbers = _numbers()
    campaign = Campaign.objects.create(name="Bench API", slug="bench-api", status=Campaign.Status.ACTIVE,
                                       default_region="US")
    partner = Partner.objects.create(name="Bench partner", slug="bench-api-partner")
    partner.campaigns.add(campaign)
    key, raw = ApiKey.issue(partner, name="bench")
    _state.update(campaign=campaign, partner=partner)
    from django.conf import settings
    from django_q.conf import Conf

    from vendors.models import Destination, VendorAccount

    # a destination, so each accepted lead plans its outbox row and wakes a worker, as in production;
    # wake-ups go to the broker (none runs here) instead of delivering inline as the test settings do
    account = VendorAccount.objects.create(name="Bench API platform", kind="platform",
                                           base_url="http://127.0.0.1:9/platform-api", credentials={"api_key": "k"})
    Destination.objects.create(campaign=campaign, account=account, remote_ref="100")
    sync, Conf.SYNC = Conf.SYNC, False

    no_throttle = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"partner": None, "partner_burst": None}}
    try:
        with override_settings(ROOT_URLCONF=__name__, REST_FRAMEWORK=no_throttle, DEBUG=False):
            client = Client()
            auth = {"HTTP_X_API_KEY": raw}

            def lead_bodies(n):
                return [{"campaign": "bench-api", "phone": next(numbers), "first_name": "Bench"} for _ in range(n)]

            # warm up every path (imports, phone metadata, query plans)
            _timed_posts(client, "/api/v1/leads/", lead_bodies(50), **auth)
            _timed_posts(client, "/plain/intake/", lead_bodies(50))
            _timed_posts(client, "/plain/orm/", lead_bodies(50))

            api_s = plain_s = orm_s = 0.0
            for _ in range(3):  # interleave rounds so drift hits both sides alike
                api_s += _timed_posts(client, "/api/v1/leads/", lead_bodies(SINGLE_N // 3), **auth)
                plain_s += _timed_posts(client, "/plain/intake/", lead_bodies(SINGLE_N // 3))
                orm_s += _timed_posts(client, "/plain/orm/", lead_bodies(SINGLE_N // 3))
            api_rate, plain_rate, orm_rate = SINGLE_N / api_s, SINGLE_N / plain_s, SINGLE_N / orm_s
            bench.report("single POST /api/v1/leads/", api_rate, "req/s")
            bench.report("plain Django view, same intake insert", plain_rate, "req/s")
            bench.report("bare ORM create, same lead", orm_rate, "req/s")
            ratio = api_rate / orm_rate
            bench.report("single-lead API / bare ORM create", ratio, "x", ">= 0.5x", ratio >= 0.5)
            bench.report("single-lead API / plain intake view (info)", api_rate / plain_rate, "x")

            with_key = dict(auth)
            idem_s = 0.0
            bodies = lead_bodies(SINGLE_N // 3)
            started = time.perf_counter()
            for i, body in enumerate(bodies):
                r = client.post("/api/v1/leads/", json.dumps(body), content_type="application/json",
                                HTTP_IDEMPOTENCY_KEY=f"bench-{i}", **with_key)
                assert r.status_code == 201
            idem_s = time.perf_counter() - started
            bench.report("single POST with Idempotency-Key", len(bodies) / idem_s, "req/s")

            bulk_bodies = [{"campaign": "bench-api", "leads": [{"phone": next(numbers), "first_name": "Bulk",
                                                                  "last_name": f"L{j}", "email": f"b{j}@example.com"}
                                                                 for j in range(BULK_SIZE)]}
                           for _ in range(BULK_REQUESTS + 1)]
            _timed_posts(client, "/api/v1/leads/bulk/", bulk_bodies[:1], **auth)  # warm-up
            before = Lead.objects.filter(campaign=campaign).count()
            seconds = _timed_posts(client, "/api/v1/leads/bulk/", bulk_bodies[1:], **auth)
            created = Lead.objects.filter(campaign=campaign).count() - before
            assert created == BULK_REQUESTS * BULK_SIZE, created
            rate = created / seconds
            bench.report("bulk intake /api/v1/leads/bulk/", rate, "leads/s", ">= 5,000/s", rate >= 5000)
            bench.report("bulk request of 1,000 leads", seconds / BULK_REQUESTS * 1000, "ms")
    finally:
        Conf.SYNC = sync
        _cleanup(campaign, partner)


def _cleanup(campaign, partner):
    from django.apps import apps

    from campaigns.models import DNC, IdempotencyRecord, Lead

    try:
        Delivery = apps.get_model("vendors", "Delivery")
        Delivery.objects.filter(lead__campaign=campaign).delete()
    except LookupError:
        pass
    Lead.objects.filter(campaign=campaign).delete()
    DNC.objects.filter(campaign=campaign).delete()
    IdempotencyRecord.objects.filter(api_key__partner=partner).delete()
    partner.delete()  # its keys go with it
    campaign.delete()  # its destination goes with it
    apps.get_model("vendors", "VendorAccount").objects.filter(name="Bench API platform").delete()
    from django_q.models import OrmQ

    OrmQ.objects.filter(payload__isnull=False).delete()  # the wake-ups nobody ran
    try:
        apps.get_model("campaigns", "WakeUp").objects.all().delete()
    except LookupError:
        pass
