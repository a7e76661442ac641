"""Cost as the work grows (issue 15, item 6): the same figures at BENCH_SCALE million leads.

Opt-in: ``BENCH_SCALE=10 make bench ONLY=scale`` (without BENCH_SCALE this module reports that it
did not run). With BENCH_SCALE set the runner uses a database of its own,
``leadhub_bench_scale<N>`` (tests/benchmarks/__main__.py), so the 1M data set of bench_admin stays
as it is and ``BENCH_SCALE=1`` gives the 1M figures to compare with, measured the same way.

The data look like real data: 9 in 10 leads in one big campaign (the import below goes into it),
4 in 5 of them in one of its lists, 3 in 5 from a partner, all statuses. They are written once
with ``INSERT … SELECT generate_series`` in chunks and reused by later runs of the same scale.

Figures:
- the lead admin: first page, status filter, campaign + status filter, phone search
  (targets as at 1M: < 100, < 150, < 150, < 50 ms);
- the partner API: the lead list of the big campaign (first page, and the page a cursor gives)
  and a single lead fetch;
- an import of BENCH_SCALE x 100,000 rows (1M at 10) into the big campaign, end to end with delivery
  planning (target >= 15,000 rows/s, as for an import into an empty campaign);
- claim latency (``vendors.services.claim``) with BENCH_SCALE x 100,000 due deliveries.
What the import and the claims created is deleted afterwards; the leads stay for the next run.
"""
from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

SCALE = float(os.environ.get("BENCH_SCALE") or 0)
CHUNK = 1_000_000
FIRST_PHONE = 2012000000        # +1 201 200 0000 …, as bench_admin (the search term below is one of them)
SEARCH = ["(201) 201-2345", "+1 201 201 2345"]
CLAIM_SAMPLES = 20


def _leads(scale: float) -> tuple[int, int]:
    total = int(scale * 1_000_000)
    return total - total // 10, total // 10     # the big campaign, the other one


def _campaigns():
    from campaigns.models import Campaign

    return [Campaign.objects.get_or_create(slug=slug, defaults={"name": name, "status": Campaign.Status.ACTIVE,
                                                                 "default_region": "US"})[0]
            for slug, name in (("bench-scale-big", "Bench scale (big)"), ("bench-scale-other", "Bench scale"))]


def _load(campaign, n: int, first: int, bench) -> None:
    """``n`` leads into ``campaign`` with phones from +1<first>, in chunks of a million rows."""
    from django.db import connection

    from .bench_admin import _related

    lists, partners = _related([campaign.pk])
    columns = ("campaign_id, lead_list_id, partner_id, phone, phone_alt, first_name, last_name, search_first, "
               "search_last, email, address, city, region, postal_code, country, timezone, external_id, source, "
               "link, metadata, consent_url, status, created_at, updated_at")
    sql = f"""
        INSERT INTO campaigns_lead ({columns})
        SELECT %(campaign)s,
               CASE WHEN i %% 5 <> 0 THEN (%(lists)s::bigint[])[(i / 3) %% %(n_lists)s + 1] END,
               CASE WHEN i %% 5 < 3 THEN (%(partners)s::bigint[])[i %% %(n_partners)s + 1] END,
               '+1' || (%(first)s::bigint + i), '', 'First', 'Last' || i, 'first', 'last' || i, 'l' || i || '@example.com',
               '', 'City', 'CA', '94103', 'US', 'America/Los_Angeles', 'X' || i, 'bench', '', '{{}}', '',
               (ARRAY['new','new','new','active','completed','cancelled','dnc'])[i %% 7 + 1],
               timestamptz '2026-01-01' + i * interval '1 second', timestamptz '2026-01-01' + i * interval '1 second'
        FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS i"""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for start in range(0, n, CHUNK):
            cursor.execute(sql, {"campaign": campaign.pk, "lists": lists[campaign.pk], "n_lists": len(lists[campaign.pk]),
                                 "partners": partners, "n_partners": len(partners), "first": first,
                                 "start": start, "stop": min(n, start + CHUNK) - 1})
            print(f"  loaded {min(n, start + CHUNK):,} of {n:,} leads into {campaign.slug} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    bench.report(f"load {n:,} leads ({campaign.slug})", n / (time.perf_counter() - started), "rows/s")


def _ensure_leads(bench) -> list:
    from django.db import connection

    from campaigns.models import Lead

    from .bench_admin import _delete

    campaigns = _campaigns()
    wanted = _leads(SCALE)
    first = FIRST_PHONE
    for campaign, n in zip(campaigns, wanted):
        if Lead.objects.filter(campaign=campaign).count() != n:
            _delete([campaign.pk])
            _load(campaign, n, first, bench)
        first += n
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE campaigns_lead")
    return campaigns


def _timed(call, repeat: int = 15) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def _admin(bench, campaigns) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    user, _ = get_user_model().objects.get_or_create(username="bench-admin",
                                                     defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(user)
    url = reverse("admin:campaigns_lead_changelist")
    client.get(url)   # warm caches

    def page(params):
        def get():
            response = client.get(url, params)
            assert response.status_code == 200, response.status_code
            return response
        return get

    ms, _ = _timed(page({}))
    bench.report("admin: first page p50", ms, "ms", "< 100 ms", ms < 100)
    ms, _ = _timed(page({"status__exact": "cancelled"}))
    bench.report("admin: status filter p50", ms, "ms", "< 150 ms", ms < 150)
    ms, _ = _timed(page({"status__exact": "new", "campaign__id__exact": campaigns[0].pk}))
    bench.report("admin: status + campaign filter p50", ms, "ms", "< 150 ms", ms < 150)
    for term in SEARCH:
        ms, response = _timed(page({"q": term}))
        found = "+12012012345" in response.content.decode()
        bench.report(f"admin: phone search {term!r} p50", ms, "ms", "< 50 ms", ms < 50 and found)


def _api(bench, campaigns) -> None:
    from django.conf import settings
    from django.db.models import Max, Min
    from django.test import Client, override_settings

    from campaigns.models import ApiKey, Lead, Partner

    partner = Partner.objects.get(slug="bench-admin-partner-0")   # sends to the big campaign (_related)
    key, raw = ApiKey.issue(partner, name="bench-scale")
    no_throttle = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"partner": None, "partner_burst": None}}
    client = Client(HTTP_X_API_KEY=raw)
    try:
        with override_settings(REST_FRAMEWORK=no_throttle):
            def get(path, params=None):
                def call():
                    response = client.get(path, params or {})
                    assert response.status_code == 200, (path, response.status_code, response.content[:300])
                    return response.json()
                return call

            listing = {"campaign": campaigns[0].slug}
            get("/api/v1/leads/", listing)()   # warm
            ms, body = _timed(get("/api/v1/leads/", listing))
            bench.report("API: lead list, first page p50", ms, "ms")
            cursor = body["next"].split("cursor=")[1].split("&")[0]
            ms, _ = _timed(get("/api/v1/leads/", {"cursor": cursor}))
            bench.report("API: lead list, next page (cursor) p50", ms, "ms")
            ms, _ = _timed(get("/api/v1/leads/", {**listing, "status": "completed"}))
            bench.report("API: lead list, status filter p50", ms, "ms")
            theirs = Lead.objects.filter(campaign=campaigns[0], partner=partner)
            bounds = theirs.aggregate(low=Min("pk"), high=Max("pk"))
            lead = theirs.filter(pk__gte=(bounds["low"] + bounds["high"]) // 2).order_by("pk").first()  # one in the middle
            ms, _ = _timed(get(f"/api/v1/leads/{lead.pk}/"))
            bench.report("API: single lead fetch p50", ms, "ms")
    finally:
        key.delete()


def _import(bench, campaign) -> None:
    from django.conf import settings
    from django.db import connection

    from campaigns.models import ImportJob, Lead
    from vendors.models import Destination, VendorAccount

    from .bench_import import generate, queue_job, run_in_child

    rows = int(SCALE * 100_000)
    account, _ = VendorAccount.objects.get_or_create(name="bench-scale", defaults={"kind": "platform"})
    destination = Destination.objects.create(campaign=campaign, account=account, remote_ref="bench-scale")
    last_before = Lead.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    rel = f"imports/bench/bench-scale-{int(time.time())}.csv"
    path = Path(settings.MEDIA_ROOT) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    generate(path, rows, seed=11)
    job = queue_job(campaign, path, rel)
    try:
        child = run_in_child(bench, job)
        held = Lead.objects.filter(campaign=campaign).count()
        print(f"  job {job.status}: {json.dumps(job.counts)}; the campaign now holds {held:,} leads", flush=True)
        rate = rows / child["seconds"]
        bench.report(f"import {rows:,} rows into a campaign of {held - job.counts.get('accepted', 0):,} leads",
                     rate, "rows/s", ">= 15,000", rate >= 15_000 and job.status == "done")
        bench.report("peak RSS of the importing process", child["maxrss_mb"], "MB", "< 300", child["maxrss_mb"] < 300)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM vendors_delivery WHERE destination_id = %s", [destination.pk])
            cursor.execute("DELETE FROM campaigns_lead WHERE campaign_id = %s AND id > %s", [campaign.pk, last_before])
        ImportJob.objects.filter(pk=job.pk).delete()
        destination.delete()
        path.unlink(missing_ok=True)


def _claims(bench, campaign) -> None:
    """Claim latency with many due deliveries: one destination, its pushes due now (oldest first)."""
    from django.db import connection

    from vendors import services
    from vendors.models import Delivery, Destination, VendorAccount

    due = int(SCALE * 100_000)
    account, _ = VendorAccount.objects.get_or_create(name="bench-scale-claims",
                                                     defaults={"kind": "platform", "max_requests_per_second": 1000})
    destination = Destination.objects.create(campaign=campaign, account=account, remote_ref="bench-scale-claims")
    try:
        with connection.cursor() as cursor:
            cursor.execute("""
                INSERT INTO vendors_delivery (lead_id, destination_id, operation, status, attempts, due_at, remote_ref,
                                              call_ref, subject, code, message, created_at, updated_at)
                SELECT id, %s, 'push', 'pending', 0, now() - interval '1 hour', '', '', '', '', '', now(), now()
                FROM campaigns_lead WHERE campaign_id = %s ORDER BY id LIMIT %s""",
                           [destination.pk, campaign.pk, due])
            cursor.execute("ANALYZE vendors_delivery")
        pending = Delivery.objects.filter(destination=destination, status="pending").count()
        samples = []
        for _ in range(CLAIM_SAMPLES):
            started = time.perf_counter()
            claimed = services.claim()
            samples.append((time.perf_counter() - started) * 1000)
            if claimed is None:   # (a small BENCH_SCALE: all claimed)
                break
        assert samples and Delivery.objects.filter(destination=destination, status="in_flight").exists()
        samples.sort()
        bench.report(f"claim latency p50 ({pending:,} due)", statistics.median(samples), "ms")
        bench.report(f"claim latency p95 ({pending:,} due)", samples[int(len(samples) * 0.95) - 1], "ms")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM vendors_delivery WHERE destination_id = %s", [destination.pk])
        destination.delete()


def run(bench) -> None:
    if not SCALE:
        bench.report("10M leads (issue 15)", "not run: BENCH_SCALE=10 make bench ONLY=scale", "", "opt-in")
        return
    from campaigns.models import Lead

    campaigns = _ensure_leads(bench)
    total = Lead.objects.count()
    bench.report("leads in table", f"{total:,}", "", f">= {int(SCALE * 1_000_000):,}", total >= SCALE * 1_000_000)
    _admin(bench, campaigns)
    _api(bench, campaigns)
    _claims(bench, campaigns[0])
    _import(bench, campaigns[0])
