"""CSV import at scale: rows/s end to end (with delivery planning), peak RSS, and django-import-export.

BENCH_IMPORT_ROWS (default 1,000,000) sets the file size. The file mixes number
formats and has about 5 % invalid rows, 3 % repeats of earlier numbers and 2 %
numbers on the DNC list. The import runs in a subprocess through
``campaigns.tasks.run_import`` (the django-q2 task) so its ``ru_maxrss`` is the
importing process alone.
"""
from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "1000000"))
DIE_SAMPLE = 20_000
AREAS = [201, 212, 213, 305, 312, 415, 617, 646, 702, 718, 512, 303, 404, 206]
FIRST = ["Ada", "Bob", "Chloé", "Dmitri", "Eve", "Fatima", "Grace", "Hiro", "Ines", "José"]
LAST = ["Lovelace", "Smith", "Müller", "O'Brien", "Nguyen", "García", "Kowalski", "Okafor"]
STATES = ["CA", "NY", "TX", "FL", "IL", "WA", "MA", "GA"]


def _number(i: int) -> tuple[int, int, int]:
    area = AREAS[i % len(AREAS)]
    j = i // len(AREAS)
    return area, 200 + (j // 10000) % 700 + (1 if (200 + (j // 10000) % 700) % 100 == 11 else 0), j % 10000


def _format(n: tuple[int, int, int], style: int) -> str:
    a, e, s = n
    return [f"({a}) {e}-{s:04d}", f"{a}-{e}-{s:04d}", f"+1 {a} {e} {s:04d}", f"{a}{e}{s:04d}",
            f"1-{a}-{e}-{s:04d}", f"{a}.{e}.{s:04d}"][style % 6]


def generate(path: Path, rows: int, seed: int = 7) -> list[str]:
    """Write the file; returns the E.164 numbers to put on the DNC list."""
    rnd = random.Random(seed)
    dnc: list[str] = []
    issued = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Phone Number", "First Name", "Last Name", "E-mail", "State", "Zip", "Lead Source Note"])
        for i in range(rows):
            r = rnd.random()
            if r < 0.05:
                phone = rnd.choice(["12345", "555-CALL-NOW", "n/a", "+1 (000) 000-0000", "99999999999999"])
            elif r < 0.08 and issued:
                phone = _format(_number(rnd.randrange(issued)), rnd.randrange(6))
            else:
                n = _number(issued)
                issued += 1
                phone = _format(n, i)
                if rnd.random() < 0.02:
                    dnc.append(f"+1{n[0]}{n[1]}{n[2]:04d}")
            fn, ln = rnd.choice(FIRST), rnd.choice(LAST)
            w.writerow([phone, fn, ln, f"lead.{i}@example.com", rnd.choice(STATES),
                        f"{rnd.randrange(10000, 99999)}", f"batch {i // 1000}"])
    return dnc


CHILD = r"""
import json, resource, sys, time
import django
django.setup()
from campaigns.tasks import run_import
started = time.perf_counter()
status = run_import(int(sys.argv[1]))
elapsed = time.perf_counter() - started
print(json.dumps({"status": status, "seconds": elapsed,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _cleanup(campaign) -> None:
    from django.db import connection

    with connection.cursor() as cur:
        # fresh statistics first: planned with the pre-import ones (the campaign "empty"),
        # the delete below joined a million deliveries by nested loop for many minutes
        cur.execute("ANALYZE campaigns_lead")
        cur.execute("ANALYZE vendors_delivery")
        cur.execute("DELETE FROM vendors_delivery WHERE lead_id IN (SELECT id FROM campaigns_lead WHERE campaign_id = %s)",
                    [campaign.pk])
        cur.execute("DELETE FROM campaigns_lead WHERE campaign_id = %s", [campaign.pk])
    campaign.delete()


def _destination(campaign) -> str:
    """One destination for the campaign so the receiver plans a delivery per lead."""
    from campaigns.signals import leads_accepted

    if not leads_accepted.receivers:
        return "not included (no leads_accepted receiver yet)"
    try:
        from vendors.models import Destination, VendorAccount
        from vendors.registry import kinds

        kind = kinds()[0]
        account, _ = VendorAccount.objects.get_or_create(name="bench-import", defaults={"kind": kind})
        Destination.objects.create(campaign=campaign, account=account, remote_ref="bench")
        return f"included (one {kind} destination)"
    except Exception as exc:  # noqa: BLE001
        return f"not included ({type(exc).__name__}: {exc})"


def _django_import_export(sample: Path, campaign) -> float:
    """Rows/s of django-import-export's ModelResource on the same rows (row by row, its default)."""
    import tablib
    from import_export import fields, resources

    from campaigns.models import Lead

    class LeadResource(resources.ModelResource):
        phone = fields.Field(attribute="phone", column_name="Phone Number")
        first_name = fields.Field(attribute="first_name", column_name="First Name")
        last_name = fields.Field(attribute="last_name", column_name="Last Name")
        email = fields.Field(attribute="email", column_name="E-mail")
        region = fields.Field(attribute="region", column_name="State")
        postal_code = fields.Field(attribute="postal_code", column_name="Zip")

        class Meta:
            model = Lead
            fields = ("phone", "first_name", "last_name", "email", "region", "postal_code")
            # the same job as ours: find the campaign's existing lead by phone (dedupe),
            # and validate each instance so bad rows are reported, not crashed on
            import_id_fields = ("phone",)
            clean_model_instances = True

        def get_queryset(self):
            return Lead.objects.filter(campaign=campaign)

        def before_save_instance(self, instance, row, **kwargs):
            instance.campaign_id = campaign.pk

        def import_instance(self, instance, row, **kwargs):
            instance.campaign_id = campaign.pk  # before full_clean, which needs the campaign
            super().import_instance(instance, row, **kwargs)

    dataset = tablib.Dataset().load(sample.read_text(encoding="utf-8"), format="csv")
    started = time.perf_counter()
    LeadResource().import_data(dataset, dry_run=False, raise_errors=False, use_transactions=False,
                               collect_failed_rows=True)
    return len(dataset) / (time.perf_counter() - started)


def queue_job(campaign, path: Path, rel: str):
    """A queued import of the generated file ``path`` (``rel`` below MEDIA_ROOT), mapped as generate() writes it."""
    from campaigns.models import ImportJob

    return ImportJob.objects.create(
        campaign=campaign, original_name=path.name, file=rel, encoding="utf-8", delimiter=",",
        status=ImportJob.Status.QUEUED,
        mapping={"Phone Number": "phone", "First Name": "first_name", "Last Name": "last_name", "E-mail": "email",
                 "State": "region", "Zip": "postal_code", "Lead Source Note": "metadata"},
    )


def run_in_child(bench, job) -> dict:
    """Run ``job`` through the django-q2 task in a subprocess (its own ru_maxrss) with the product's settings,
    not the tests' sync django-q: the wake-ups go to the broker. Returns the child's seconds and peak RSS;
    ``job`` is refreshed."""
    from django.conf import settings

    env = dict(os.environ, LEADHUB_VAR_DIR=str(settings.VAR_DIR), DATABASE_URL=bench.database_url,
               DJANGO_SETTINGS_MODULE="leadhub.settings", DEBUG="false", SECRET_KEY=settings.SECRET_KEY,
               FIELD_ENCRYPTION_KEY=settings.FIELD_ENCRYPTION_KEY, Q_TIMEOUT="3000", Q_RETRY="3600")
    env.pop("Q_SYNC", None)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(job.pk)], env=env, capture_output=True, text=True,
                          cwd=str(Path(__file__).resolve().parents[2]))
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    job.refresh_from_db()
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(bench) -> None:
    from django.conf import settings
    from django.db import connection

    from campaigns.models import DNC, Campaign, Lead

    stamp = int(time.time())
    campaign = Campaign.objects.create(name=f"Bench import {stamp}", slug=f"bench-import-{stamp}",
                                       status=Campaign.Status.ACTIVE, default_region="US")
    planning = _destination(campaign)
    media = Path(settings.MEDIA_ROOT)
    rel = f"imports/bench/bench-{stamp}.csv"
    path = media / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    dnc = generate(path, ROWS)
    print(f"  generated {ROWS:,} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f}s",
          flush=True)
    DNC.objects.bulk_create([DNC(phone=p, campaign=campaign, source="bench") for p in dnc], batch_size=5000)
    job = queue_job(campaign, path, rel)
    child = run_in_child(bench, job)
    rate = ROWS / child["seconds"]
    counts = job.counts
    try:
        from vendors.models import Delivery

        deliveries = Delivery.objects.filter(lead__campaign=campaign).count()
    except Exception:  # noqa: BLE001
        deliveries = 0
    print(f"  job {job.status}: {json.dumps(counts)}; {deliveries:,} deliveries planned; {job.message}", flush=True)
    bench.report("import status", job.status, "", "done", job.status == "done")
    bench.report(f"rows/s end to end ({ROWS:,} rows; planning {planning})", rate, "rows/s", ">= 15,000",
                 rate >= 15_000)
    target_s = 70 * ROWS / 1_000_000
    bench.report("total import time", child["seconds"], "s", f"< {target_s:.0f}", child["seconds"] < target_s)
    bench.report("peak RSS of the importing process", child["maxrss_mb"], "MB", "< 300", child["maxrss_mb"] < 300)
    accepted_ok = counts.get("accepted", 0) == Lead.objects.filter(campaign=campaign).count()
    bench.report("accepted count matches leads in the table", str(accepted_ok), "", "True", accepted_ok)

    # django-import-export on a 20,000-row sample of the same file, same database
    sample = Path(tempfile.mkdtemp()) / "sample.csv"
    with path.open(encoding="utf-8") as src, sample.open("w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i > min(DIE_SAMPLE, ROWS):
                break
            dst.write(line)
    other = Campaign.objects.create(name=f"Bench die {stamp}", slug=f"bench-die-{stamp}", status="active",
                                    default_region="US")
    try:
        die_rate = _django_import_export(sample, other)
        bench.report("django-import-export rows/s (20k sample)", die_rate, "rows/s")
        bench.report("ratio to django-import-export", rate / die_rate, "x", ">= 50", rate / die_rate >= 50)
    except ImportError:
        bench.report("ratio to django-import-export", "django-import-export not installed (pip install .[bench])",
                     ok=False)
    finally:
        _cleanup(other)
        _cleanup(campaign)
        path.unlink(missing_ok=True)
        with connection.cursor() as cur:
            cur.execute("DELETE FROM campaigns_dnc WHERE source = 'bench'")
