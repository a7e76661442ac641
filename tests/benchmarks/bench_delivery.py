"""Delivery pipeline end to end (issue 5): intake → plan → qcluster → sandbox vendor → recorded.

Starts the vendor sandbox (20 ms latency per call) and one ``qcluster`` (Q_WORKERS=2)
as subprocesses against the bench database, then measures:

1. batch vendors (Aimylogic, 8x8; max_batch 100): items/s from the first intake
   submit until every delivery is terminal — target >= 2,000 items/s;
2. a single-item vendor (Aktify) — target >= 300 items/s;
3. 20 % transient faults (10 % 503 with Retry-After 1, 10 % 500) on Aimylogic and
   Aktify at once: 100 % eventually accepted, 0 duplicates at the sandbox;
4. intake-to-accepted latency with the cluster idle, one lead at a time:
   p50 < 2 s (p95 shown too);
5. lost replies (issue 12) on the batch vendors: Aimylogic answers dropped after the
   jobs were created, Platform bulk posts, status polls and errors pages dropped or
   failing: every lead accepted, 0 duplicates at either vendor.

Only rows of the ``bench-delivery-*`` campaigns are ever deleted: other bench
modules share the database. Knobs (environment): BENCH_DELIVERY_THREADS (default 8),
BENCH_DELIVERY_BATCH_N (20000), BENCH_DELIVERY_8X8_N (5000), BENCH_DELIVERY_SINGLE_N
(3000), BENCH_DELIVERY_FAULT_N (2000), BENCH_DELIVERY_LATENCY_SAMPLES (20).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "bench-delivery-"
THREADS = int(os.environ.get("BENCH_DELIVERY_THREADS", 8))
WORKERS = 2
LATENCY_MS = 20
BATCH_N = int(os.environ.get("BENCH_DELIVERY_BATCH_N", 20_000))
EBE_N = int(os.environ.get("BENCH_DELIVERY_8X8_N", 5_000))
SINGLE_N = int(os.environ.get("BENCH_DELIVERY_SINGLE_N", 3_000))
FAULT_N = int(os.environ.get("BENCH_DELIVERY_FAULT_N", 2_000))
LATENCY_SAMPLES = int(os.environ.get("BENCH_DELIVERY_LATENCY_SAMPLES", 20))
SUBMIT_CHUNK = 1_000
POLL = 0.2
FAULT_BOUND = 180.0  # seconds the fault run may take to settle ("eventually": backoff, a circuit pause, a sweep)
FAULTS = {"latency_ms": LATENCY_MS, "error_503_rate": 0.10, "error_500_rate": 0.10, "retry_after": 1, "seed": 5}


# --------------------------------------------------------------------------- processes

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sandbox:
    def __init__(self, base_url: str):
        self.base_url = base_url

    def _call(self, method: str, path: str, body=None, timeout: float = 30):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")

    def url(self, prefix: str) -> str:
        return f"{self.base_url}/{prefix}"

    def reset(self, **faults) -> None:
        self._call("POST", "/_sandbox/reset", {})
        # the default fault set replaces the command line's latency: always restate it
        self._call("POST", "/_sandbox/faults", {"vendor": None, "latency_ms": LATENCY_MS, **faults})

    def state(self, vendor: str) -> dict:
        return self._call("GET", f"/_sandbox/state?vendor={vendor}")[vendor]

    def requests(self, vendor: str) -> list[dict]:
        return self._call("GET", f"/_sandbox/requests?vendor={vendor}")


class Processes:
    """The sandbox and one qcluster, stopped (terminate → wait → kill) whatever happens."""

    def __init__(self, database_url: str):
        from django.conf import settings

        self.dir = Path(tempfile.mkdtemp(prefix="bench-delivery-"))
        self.env = {k: v for k, v in os.environ.items() if k != "Q_SYNC"}
        self.env.update({
            "DJANGO_SETTINGS_MODULE": "leadhub.settings",
            "DATABASE_URL": database_url,
            "DEBUG": "false",
            "SECRET_KEY": settings.SECRET_KEY,
            "FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEY,
            "Q_WORKERS": str(WORKERS),
            "DELIVERY_THREADS": str(THREADS),
            "DELIVERY_BACKOFF_BASE_SECONDS": "0.5",
            "PYTHONUNBUFFERED": "1",
        })
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.dir / f"{name}.log", "wb")
        proc = subprocess.Popen([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs.append((name, proc))
        return proc

    def start_sandbox(self) -> Sandbox:
        """The vendor sandbox on a free port, returned once it answers."""
        port = _free_port()
        self.start("sandbox", "vendor_sandbox", "--port", str(port), "--latency-ms", str(LATENCY_MS))
        sandbox = Sandbox(f"http://127.0.0.1:{port}")
        for _ in range(100):
            try:
                sandbox.reset()
                break
            except OSError:
                self.check_alive()
                time.sleep(0.1)
        return sandbox

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.dir / (name + '.log')}")

    def stop(self, only: list[subprocess.Popen] | None = None) -> None:
        """Stop every process (the cluster first, then the sandbox), or only those of ``only``."""
        for name, proc in reversed(self.procs):
            if only is not None and proc not in only:
                continue
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)  # its own session: the cluster's children too
                    except ProcessLookupError:
                        pass
                    proc.wait(timeout=10)
        self.procs = [(name, proc) for name, proc in self.procs if proc.poll() is None]


# --------------------------------------------------------------------------- data

def _setup(sandbox: Sandbox):
    """Accounts (one per vendor) and one ACTIVE, always-open campaign + destination per scenario."""
    from campaigns.models import WEEKDAYS, Campaign
    from vendors.models import Destination, VendorAccount

    def account(kind, base_url, credentials=None):
        acc, _ = VendorAccount.objects.update_or_create(
            name=f"{PREFIX}{kind}",
            defaults=dict(kind=kind, base_url=base_url, credentials=credentials or {}, is_enabled=True,
                          timeout_seconds=5, max_requests_per_second=5000, max_attempts=8))
        return acc

    accounts = {
        "aimylogic": account("aimylogic", sandbox.url("aimylogic")),
        "aktify": account("aktify", sandbox.url("aktify")),
        "eightbyeight": account("eightbyeight", sandbox.url("eightbyeight") + "/api/tstats/campaigns",
                                {"tenant_id": "bench", "token": "bench-token"}),
        "platform": account("platform", sandbox.url("platform") + "/platform-api", {"api_key": "bench-key"}),
    }
    destinations = {}
    for scenario, kind in [("batch-aimylogic", "aimylogic"), ("batch-8x8", "eightbyeight"),
                           ("single-aktify", "aktify"), ("faults-aimylogic", "aimylogic"),
                           ("faults-aktify", "aktify"), ("latency-aktify", "aktify"),
                           ("lost-aimylogic", "aimylogic"), ("lost-platform", "platform")]:
        campaign, _ = Campaign.objects.update_or_create(
            slug=PREFIX + scenario,
            defaults=dict(name=f"Bench delivery {scenario}", status=Campaign.Status.ACTIVE,
                          timezone="America/Los_Angeles", default_region="US", calling_days=",".join(WEEKDAYS),
                          calling_start=dt.time(0, 0), calling_end=dt.time(23, 59, 59)))
        Destination.objects.filter(campaign=campaign).exclude(account=accounts[kind]).delete()
        dest, _ = Destination.objects.update_or_create(
            campaign=campaign, account=accounts[kind],
            defaults=dict(remote_ref={"eightbyeight": "101", "platform": "100"}.get(kind, ""), is_enabled=True,
                          settings={"bulk_poll_seconds": 0.2} if kind == "platform" else {},
                          secret="" if kind in ("eightbyeight", "platform") else f"{PREFIX}{scenario}-secret"))
        destinations[scenario] = dest
    return destinations


def _clean() -> None:
    """Forget the bench campaigns' leads and deliveries (only theirs) and reset the accounts."""
    from django.db import transaction

    from campaigns.models import Lead
    from vendors.models import Delivery, DeliveryAttempt, VendorAccount

    # a scenario that timed out leaves the cluster working: stop its pending rows and let the
    # in-flight batches record before deleting (bounded)
    ours = Delivery.objects.filter(destination__campaign__slug__startswith=PREFIX)
    end = time.monotonic() + 60
    while ours.filter(status__in=Delivery.OPEN).exists() and time.monotonic() < end:
        with transaction.atomic():  # small batches the claimers do not hold (no deadlock with them)
            ids = list(ours.filter(status=Delivery.Status.PENDING).select_for_update(skip_locked=True, of=("self",))
                       .values_list("id", flat=True)[:1000])
            Delivery.objects.filter(id__in=ids).update(status=Delivery.Status.SKIPPED, code="bench_drained")
        if not ids:
            time.sleep(POLL)
    time.sleep(0.5)
    DeliveryAttempt.objects.filter(delivery__destination__campaign__slug__startswith=PREFIX).delete()
    Delivery.objects.filter(destination__campaign__slug__startswith=PREFIX).delete()
    Lead.objects.filter(campaign__slug__startswith=PREFIX).delete()
    VendorAccount.objects.filter(name__startswith=PREFIX).update(consecutive_failures=0, circuit_open_until=None,
                                                                  next_request_at=None, last_error="")


def _rows(n: int, start: int = 0) -> list[dict]:
    return [{"phone": f"+1415{2000000 + i:07d}", "first_name": "Bench", "last_name": f"L{i}",
             "email": f"b{i}@example.com", "region": "CA", "postal_code": "94103", "external_id": str(100000 + i)}
            for i in range(start, start + n)]


def _submit(dest, rows) -> int:
    from campaigns import intake

    accepted = 0
    for i in range(0, len(rows), SUBMIT_CHUNK):
        accepted += sum(r.accepted for r in intake.submit(rows[i:i + SUBMIT_CHUNK], campaign=dest.campaign))
    return accepted


def _wait_terminal(dests, expected: int, started: float, timeout: float, procs: Processes) -> float | None:
    """Seconds from ``started`` until every delivery of ``dests`` is terminal (None on timeout)."""
    from vendors.models import Delivery

    while True:
        open_ = Delivery.objects.filter(destination__in=dests, status__in=Delivery.OPEN).count()
        total = Delivery.objects.filter(destination__in=dests).count()
        now = time.perf_counter()
        if open_ == 0 and total >= expected:
            return now - started
        if now - started > timeout:
            return None
        procs.check_alive()
        time.sleep(POLL)


def _statuses(dest) -> dict[str, int]:
    from django.db.models import Count

    from vendors.models import Delivery

    return dict(Delivery.objects.filter(destination=dest).values_list("status").annotate(n=Count("id")))


def _wait_idle(timeout: float = 30) -> None:
    """No delivery task queued or running, so the next scenario starts from an idle cluster."""
    from django_q.models import OrmQ

    end = time.monotonic() + timeout
    while time.monotonic() < end and OrmQ.objects.exists():
        time.sleep(POLL)
    time.sleep(1.0)


# --------------------------------------------------------------------------- scenarios

def _throughput(bench, procs, sandbox, dest, n, name, target, count_remote):
    _clean()
    sandbox.reset()
    _wait_idle()
    rows = _rows(n)
    started = time.perf_counter()
    accepted = _submit(dest, rows)
    intake_s = time.perf_counter() - started
    # bounded: four times the time the target allows (at least 30 s) is enough to call a miss
    timeout = max(30.0, 4 * n / target)
    elapsed = _wait_terminal([dest], accepted, started, timeout=timeout, procs=procs)
    statuses = _statuses(dest)
    remote = count_remote()
    if elapsed is None:
        done = sum(v for k, v in statuses.items() if k not in ("pending", "in_flight"))
        bench.report(f"{name}: {n:,} leads NOT all terminal after {timeout:.0f} s ({statuses}); rate so far",
                     done / timeout, "items/s", f">= {target:,} items/s", False)
        return
    rate = n / elapsed
    ok = rate >= target and accepted == n and statuses.get("accepted") == n and remote == n
    bench.report(f"{name}: {n:,} leads end to end ({elapsed:.1f} s; intake alone {intake_s:.1f} s)", rate,
                 "items/s", f">= {target:,} items/s", ok)
    if not (accepted == n and statuses.get("accepted") == n and remote == n):
        bench.report(f"{name}: check", f"intake accepted {accepted}, statuses {statuses}, at vendor {remote}",
                     "", f"all {n:,}", False)


def _faults(bench, procs, sandbox, dests):
    _clean()
    sandbox.reset(**{k: v for k, v in FAULTS.items() if k != "latency_ms"})
    _wait_idle()
    aimy, aktify = dests["faults-aimylogic"], dests["faults-aktify"]
    rows = _rows(FAULT_N)
    started = time.perf_counter()
    for i in range(0, FAULT_N, SUBMIT_CHUNK):  # both vendors at once, interleaved
        _submit(aimy, rows[i:i + SUBMIT_CHUNK])
        _submit(aktify, rows[i:i + SUBMIT_CHUNK])
    elapsed = _wait_terminal([aimy, aktify], 2 * FAULT_N, started, timeout=FAULT_BOUND, procs=procs)
    from django.db.models import Sum

    from vendors.models import Delivery

    # duplicates at the vendor: records created beyond one per lead, and numbers created twice
    state = sandbox.state("aimylogic")
    aimy_phones = [job["phone"] for job in state["jobs"].values()]
    aimy_dups = (state["job_count"] - FAULT_N) if state["job_count"] > FAULT_N else 0
    aimy_dups = max(aimy_dups, len(aimy_phones) - len(set(aimy_phones)))
    log = sandbox.requests("aktify")
    created = [e["body"]["phoneNumber"] for e in log if e["status"] == 201 and e["path"] == "/api/v1/leads"]
    ak_state = sandbox.state("aktify")
    ak_dups = max(ak_state["leads_created"] - FAULT_N, 0, len(created) - len(set(created)))
    injected = sum(1 for e in log if e["outcome"] == "fault injected")
    injected += sum(1 for e in sandbox.requests("aimylogic") if e["outcome"] == "fault injected")
    shown = f"{elapsed:.1f} s" if elapsed is not None else f"NOT all terminal after {FAULT_BOUND:.0f} s"
    bench.report(f"faults 20 %: time until all terminal ({2 * FAULT_N:,} deliveries, {injected} faults injected)",
                 shown, "", f"<= {FAULT_BOUND:.0f} s (bound)", elapsed is not None)
    for label, dest, remote, dups in (("Aimylogic", aimy, state["job_count"], aimy_dups),
                                      ("Aktify", aktify, ak_state["leads_created"], ak_dups)):
        statuses = _statuses(dest)
        attempts = Delivery.objects.filter(destination=dest).aggregate(a=Sum("attempts"))["a"] or 0
        pct = 100.0 * statuses.get("accepted", 0) / FAULT_N
        bench.report(f"faults 20 % {label}: accepted ({attempts - FAULT_N} retries; {statuses})", pct, "%",
                     "100 %", pct == 100.0 and remote == FAULT_N)
        bench.report(f"faults 20 % {label}: duplicates at the sandbox ({remote} created for {FAULT_N})", dups, "",
                     "0", dups == 0)


LOST_REPLY_FAULTS = [  # (vendor, aimed at, faults): answers lost after the vendor acted, and failures
    ("aimylogic", None, {"drop_after_rate": 0.3, "error_503_rate": 0.2}),
    ("platform", (r"/leads/bulk$", "POST"), {"drop_after_rate": 0.3}),
    ("platform", (r"/leads/bulk/[^/]+$", "GET"), {"drop_after_rate": 0.3, "error_503_rate": 0.2}),
    ("platform", (r"/errors$", "GET"), {"drop_after_rate": 0.3, "error_503_rate": 0.2}),
]


def _lost_replies(bench, procs, sandbox, dests):
    _clean()
    sandbox.reset()
    for vendor, aimed, faults in LOST_REPLY_FAULTS:
        path = {"path": aimed[0], "method": aimed[1]} if aimed else {}
        sandbox._call("POST", "/_sandbox/faults", {"vendor": vendor, "latency_ms": LATENCY_MS, "retry_after": 0,
                                                    "seed": 12, **path, **faults})
    _wait_idle()
    aimy, platform = dests["lost-aimylogic"], dests["lost-platform"]
    rows = _rows(FAULT_N)
    started = time.perf_counter()
    for i in range(0, FAULT_N, SUBMIT_CHUNK):
        _submit(aimy, rows[i:i + SUBMIT_CHUNK])
        _submit(platform, rows[i:i + SUBMIT_CHUNK])
    elapsed = _wait_terminal([aimy, platform], 2 * FAULT_N, started, timeout=FAULT_BOUND, procs=procs)
    aimy_state, pf_state = sandbox.state("aimylogic"), sandbox.state("platform")
    phones = [job["phone"] for job in aimy_state["jobs"].values()]
    lost = sum(1 for vendor in ("aimylogic", "platform") for e in sandbox.requests(vendor)
               if e["outcome"] == "handled, answer dropped")
    shown = f"{elapsed:.1f} s" if elapsed is not None else f"NOT all terminal after {FAULT_BOUND:.0f} s"
    bench.report(f"lost replies: time until all terminal ({2 * FAULT_N:,} deliveries, {lost} answers lost "
                 "after the vendor acted)", shown, "", f"<= {FAULT_BOUND:.0f} s (bound), faults hit",
                 elapsed is not None and lost > 0)
    for label, dest, held, dups in (
            ("Aimylogic", aimy, aimy_state["job_count"], len(phones) - len(set(phones))),
            ("Platform", platform, pf_state["leads"], pf_state["duplicate_keys"] + max(0, pf_state["leads"] - FAULT_N))):
        statuses = _statuses(dest)
        pct = 100.0 * statuses.get("accepted", 0) / FAULT_N
        bench.report(f"lost replies {label}: accepted ({statuses})", pct, "%", "100 %", pct == 100.0)
        bench.report(f"lost replies {label}: duplicates at the vendor ({held} held for {FAULT_N})", dups, "", "0",
                     dups == 0 and held == FAULT_N)


def _latency(bench, procs, sandbox, dest):
    from vendors.models import Delivery

    _clean()
    sandbox.reset()
    _wait_idle()
    times = []
    for i in range(LATENCY_SAMPLES):
        [row] = _rows(1, start=50_000 + i)
        wall = time.time()
        _submit(dest, [row])
        end = time.monotonic() + 15
        while time.monotonic() < end:
            d = Delivery.objects.filter(destination=dest, lead__phone=row["phone"]).first()
            if d and d.status not in Delivery.OPEN:
                break
            time.sleep(0.02)
        if d is None or d.status != Delivery.Status.ACCEPTED:
            bench.report("idle latency", f"lead {i} not accepted in 15 s ({d and d.status})", "", "< 2 s", False)
            return
        times.append(d.finished_at.timestamp() - wall)
        time.sleep(0.5)
    times.sort()
    p50 = statistics.median(times)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    bench.report(f"idle intake-to-accepted latency p50 ({len(times)} leads, Aktify)", p50, "s", "< 2 s", p50 < 2)
    bench.report("idle intake-to-accepted latency p95", p95, "s", "", None)


def run(bench):
    from django.db.models import Q
    from django_q.conf import Conf

    from vendors.models import Delivery

    # The runner's test settings make django-q synchronous (the bench process would deliver
    # in-line); here wake() must enqueue for the real cluster.
    was_sync, Conf.SYNC = Conf.SYNC, False
    procs = Processes(bench.database_url)
    try:
        sandbox = procs.start_sandbox()
        dests = _setup(sandbox)
        _clean()
        others = Delivery.objects.filter(status__in=Delivery.OPEN).exclude(
            Q(destination__campaign__slug__startswith=PREFIX)).count()
        procs.start("qcluster", "qcluster")
        print(f"  settings: Q_WORKERS={WORKERS}, DELIVERY_THREADS={THREADS}, sandbox latency {LATENCY_MS} ms, "
              f"DELIVERY_BACKOFF_BASE_SECONDS=0.5, max_requests_per_second=5000; logs in {procs.dir}"
              + (f"; WARNING: {others} open deliveries of other campaigns in the database" if others else ""),
              flush=True)
        bench.report("settings", f"Q_WORKERS={WORKERS} DELIVERY_THREADS={THREADS}", "", "", None)
        # warm-up doubles as the readiness check: the cluster has started and delivers
        _submit(dests["latency-aktify"], _rows(1, start=90_000))
        if _wait_terminal([dests["latency-aktify"]], 1, time.perf_counter(), timeout=60, procs=procs) is None:
            raise RuntimeError(f"the cluster delivered nothing within 60 s; see {procs.dir}")

        _throughput(bench, procs, sandbox, dests["batch-aimylogic"], BATCH_N, "batch Aimylogic", 2000,
                    lambda: sandbox.state("aimylogic")["job_count"])
        if EBE_N:
            _throughput(bench, procs, sandbox, dests["batch-8x8"], EBE_N, "batch 8x8", 2000,
                        lambda: sum(len(c["customers"]) for c in sandbox.state("eightbyeight")["campaigns"].values()))
        _throughput(bench, procs, sandbox, dests["single-aktify"], SINGLE_N, "single-item Aktify", 300,
                    lambda: sandbox.state("aktify")["leads_created"])
        _faults(bench, procs, sandbox, dests)
        _lost_replies(bench, procs, sandbox, dests)
        _latency(bench, procs, sandbox, dests["latency-aktify"])
        _clean()  # leave no leads behind (the admin benchmark counts the whole table)
    finally:
        try:
            procs.stop()
        finally:
            Conf.SYNC = was_sync
