"""Scaling proof (issue 15, item 5): N ``qcluster`` processes on one Redis broker and one PostgreSQL.

Each cluster is a separate ``manage.py qcluster`` (as on separate machines: BENCH_SCALING_WORKERS
worker processes of DELIVERY_THREADS threads each) on Redis (BENCH_REDIS_URL, default db 12) with a
queue of its own (Q_CLUSTER_NAME), delivering to the sandbox's Aimylogic (batches of 100, 20 ms
latency as in bench_delivery). Reported:

1. items/s for N = 1, 2, 4 clusters draining BENCH_SCALING_LEADS (100,000) due deliveries, with the
   duplicates at the vendor (0) and the CPU seconds per 1,000 items of the clusters, PostgreSQL and
   the sandbox (where a 2-core machine stops scaling);
2. one of two clusters SIGKILLed (its whole process group) mid-run, with DELIVERY_LEASE_SECONDS
   small: every lead accepted, each held once at the vendor;
3. an Aktify account limited to BENCH_SCALING_RATE_LIMIT (20) requests/s, fed by all clusters at
   once: the request rate the sandbox saw, over the run and at its busiest second.

The leads are submitted once, before any cluster starts (intake is not what is measured: see
bench_delivery and bench_load), into a paused campaign, with every scenario's deliveries held a day
ahead; a scenario makes its own rows due at once and queues one delivery run per worker (what the
one-minute sweep does for a backlog: intake's wake-ups are coalesced to one queued at a time).
Only rows of the ``bench-scaling-*`` campaigns are deleted. Knobs (environment):
BENCH_SCALING_LEADS, BENCH_SCALING_CLUSTERS ("1,2,4"), BENCH_SCALING_WORKERS (1),
BENCH_SCALING_THREADS (8), BENCH_SCALING_KILL_LEADS (20000), BENCH_SCALING_RATE_LIMIT (20),
BENCH_SCALING_BOUND (seconds a scenario may take, 300), BENCH_SCALING_PROFILE (seconds of
``py-spy record`` on one worker in the largest run, written beside the logs; 0 = off).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.benchmarks.bench_delivery import LATENCY_MS, Processes, Sandbox, _rows
from tests.pipeline.cluster import clusters_ready, enqueue_wakeup, redis_broker, redis_reachable, request_rate

PREFIX = "bench-scaling-"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
LEADS = int(os.environ.get("BENCH_SCALING_LEADS", 100_000))
CLUSTERS = [int(n) for n in os.environ.get("BENCH_SCALING_CLUSTERS", "1,2,4").split(",")]
WORKERS = int(os.environ.get("BENCH_SCALING_WORKERS", 1))
THREADS = int(os.environ.get("BENCH_SCALING_THREADS", 8))
KILL_LEADS = int(os.environ.get("BENCH_SCALING_KILL_LEADS", 20_000))
RATE_LIMIT = int(os.environ.get("BENCH_SCALING_RATE_LIMIT", 20))
RATE_SECONDS = 10
BOUND = float(os.environ.get("BENCH_SCALING_BOUND", 300))
PROFILE_SECONDS = int(os.environ.get("BENCH_SCALING_PROFILE", 0))
LEASE_SECONDS = 5  # the kill run's lease: the dead cluster's batches come back this soon
SWEEP_SECONDS = 10  # nothing delivered this long with rows pending: queue delivery runs (the sweep's job)
HELD = dt.timedelta(days=1)
POLL = 0.5


# --------------------------------------------------------------------------- data

def _setup(sandbox: Sandbox) -> dict:
    """Paused campaigns (one for the throughput runs, one per other scenario); an account and a
    destination per scenario, so each run has its own rows and its own rate limiter."""
    from campaigns.models import WEEKDAYS, Campaign
    from vendors.models import Destination, VendorAccount

    dests = {}
    for scenario in [f"n{n}" for n in CLUSTERS] + ["kill", "rate"]:
        kind, rate = ("aktify", RATE_LIMIT) if scenario == "rate" else ("aimylogic", 5000)
        acc, _ = VendorAccount.objects.update_or_create(
            name=f"{PREFIX}{scenario}", defaults=dict(kind=kind, base_url=sandbox.url(kind), is_enabled=True,
                                                       timeout_seconds=10, max_requests_per_second=rate,
                                                       max_attempts=8, next_request_at=None))
        campaign, _ = Campaign.objects.update_or_create(
            slug=PREFIX + ("batch" if scenario.startswith("n") else scenario),
            defaults=dict(name=f"Bench scaling {scenario}", status=Campaign.Status.PAUSED,
                          timezone="America/Los_Angeles", default_region="US", calling_days=",".join(WEEKDAYS),
                          calling_start=dt.time(0, 0), calling_end=dt.time(23, 59, 59)))
        dests[scenario], _ = Destination.objects.update_or_create(
            campaign=campaign, account=acc, defaults=dict(is_enabled=True, secret=f"{PREFIX}{scenario}"))
    # what an earlier version of this module (or a crashed run) set up would be delivered to as well
    ours = [d.pk for d in dests.values()]
    Destination.objects.filter(campaign__slug__startswith=PREFIX).exclude(pk__in=ours).delete()
    VendorAccount.objects.filter(name__startswith=PREFIX).exclude(destinations__in=ours).delete()
    return dests


def _clean() -> None:
    from campaigns.models import Lead
    from vendors.models import Delivery, DeliveryAttempt, VendorAccount

    DeliveryAttempt.objects.filter(delivery__destination__campaign__slug__startswith=PREFIX).delete()
    Delivery.objects.filter(destination__campaign__slug__startswith=PREFIX).delete()
    Lead.objects.filter(campaign__slug__startswith=PREFIX).delete()
    VendorAccount.objects.filter(name__startswith=PREFIX).update(consecutive_failures=0, circuit_open_until=None,
                                                                  next_request_at=None, last_error="")


def _submit_held(dests: dict) -> float:
    """Every scenario's leads, planned into paused campaigns and held a day ahead; returns leads/s."""
    from django.utils import timezone

    from campaigns import intake
    from campaigns.models import Campaign
    from vendors.models import Delivery

    started, total = time.perf_counter(), 0
    first = 0
    for campaign_of, n in ((dests[f"n{CLUSTERS[0]}"], LEADS), (dests["kill"], KILL_LEADS),
                           (dests["rate"], RATE_LIMIT * RATE_SECONDS)):
        rows = _rows(n, start=first)
        first += n
        for i in range(0, n, 1000):
            total += sum(r.accepted for r in intake.submit(rows[i:i + 1000], campaign=campaign_of.campaign))
    rate = total / (time.perf_counter() - started)
    Delivery.objects.filter(destination__in=dests.values()).update(due_at=timezone.now() + HELD)
    Campaign.objects.filter(slug__startswith=PREFIX).update(status=Campaign.Status.ACTIVE)
    return rate


# --------------------------------------------------------------------------- measuring

def _cpu_seconds(database: str, sessions: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far per group: each subprocess's session (a cluster with its workers, the
    sandbox) and the PostgreSQL backends of ``database``."""
    tick = os.sysconf("SC_CLK_TCK")
    by_session = {sid: name for name, sid in sessions.items()}
    used: dict[str, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            fields = text[text.rindex(")") + 2:].split()
            group = by_session.get(int(fields[3]))
            if group is None and text.split(" (", 1)[1].startswith("postgres"):
                cmdline = (stat.parent / "cmdline").read_bytes()
                group = "postgres" if f" {database} ".encode() in cmdline else None
        except (OSError, ValueError):
            continue
        if group:
            used[group] = used.get(group, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return used


def _open(dest) -> int:
    from vendors.models import Delivery

    return Delivery.objects.filter(destination=dest, status__in=Delivery.OPEN).count()


def _release(dest) -> None:
    from django.utils import timezone

    from vendors.models import Delivery

    Delivery.objects.filter(destination=dest, status=Delivery.Status.PENDING).update(due_at=timezone.now())


def _sweep_until_done(dest, clusters: int, started: float, kill_at: int | None = None, on_kill=None):
    """Poll until every delivery of ``dest`` is terminal (seconds, or None past BOUND). Stranded rows of
    a dead cluster come back after their lease, at the next delivery run: queue one (the sweep's job)
    each lease period while only in-flight rows are left, and whenever nothing moved for a while.
    A named cluster (Q_CLUSTER_NAME) runs no schedule of the default cluster, so no sweep of its own."""
    from vendors.models import Delivery

    last_sweep = last_progress = time.perf_counter()
    left_before = None
    while True:
        now = time.perf_counter()
        left = _open(dest)
        if left == 0:
            return now - started
        if left != left_before:
            left_before, last_progress = left, now
        if now - started > BOUND:
            return None
        if kill_at is not None and Delivery.objects.filter(destination=dest, status="accepted").count() >= kill_at:
            on_kill()
            kill_at = None
        pending = Delivery.objects.filter(destination=dest, status=Delivery.Status.PENDING).exists()
        stalled = now - last_progress > SWEEP_SECONDS and now - last_sweep > SWEEP_SECONDS
        if (not pending and now - last_sweep > LEASE_SECONDS) or stalled:
            enqueue_wakeup(clusters * WORKERS)
            last_sweep = now
        time.sleep(POLL)


def _vendor_duplicates(sandbox: Sandbox, expected: int) -> tuple[int, int]:
    """(leads the vendor holds, duplicates among them)."""
    state = sandbox.state("aimylogic")
    phones = [job["phone"] for job in state["jobs"].values()]
    return state["job_count"], max(len(phones) - len(set(phones)), state["job_count"] - expected, 0)


class Clusters:
    """N qcluster processes on the bench's Redis queue, started and waited for; stopped by the caller."""

    def __init__(self, procs: Processes, n: int, label: str, **env):
        self.procs, self.names = procs, [f"{label}-cluster{i}" for i in range(n)]
        saved = dict(procs.env)
        procs.env.update({k: str(v) for k, v in env.items()})
        self.popens = [procs.start(name, "qcluster") for name in self.names]
        procs.env.clear()
        procs.env.update(saved)
        end = time.monotonic() + 120
        while not clusters_ready(self.popens):
            procs.check_alive()
            if time.monotonic() > end:
                raise RuntimeError(f"{n} clusters not up within 120 s; see {procs.dir}")
            time.sleep(POLL)

    def kill(self, index: int) -> None:
        proc = self.popens[index]
        os.killpg(proc.pid, signal.SIGKILL)  # the cluster, its sentinel and its workers: no clean-up
        proc.wait()
        self.procs.procs = [(name, p) for name, p in self.procs.procs if p is not proc]

    def stop(self) -> None:
        self.procs.stop(only=self.popens)


def _profile(clusters: Clusters, out: Path) -> subprocess.Popen | None:
    """py-spy on the first worker of the first cluster (every thread, native frames off)."""
    from django_q.status import Stat

    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    workers = [w for s in Stat.get_all() if s.pid == clusters.popens[0].pid for w in s.workers]
    if not PROFILE_SECONDS or not workers or not Path(py_spy).exists():
        return None
    return subprocess.Popen([py_spy, "record", "--pid", str(workers[0]), "--duration", str(PROFILE_SECONDS),
                             "--format", "raw", "--output", str(out), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def _summarise_profile(path: Path, top: int = 8) -> None:
    """Print where the sampled worker spent its CPU: the functions on top of the stack (self time)
    and LeadHub's own functions anywhere on it (inclusive), in % of the samples."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames, samples = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")], int(count)  # per function
        total += samples
        leaf = frames[-1]
        own[leaf] = own.get(leaf, 0) + samples
        for frame in {f for f in frames if f.split("(", 1)[-1].startswith(("vendors/", "campaigns/", "leadhub/"))}:
            inclusive[frame] = inclusive.get(frame, 0) + samples
    if not total:
        return
    print(f"  profile of one worker ({total} samples, {path}):")
    for title, table in (("self", own), ("inclusive, LeadHub code", inclusive)):
        print(f"    {title}:")
        for frame, samples in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            print(f"      {100 * samples / total:5.1f} %  {frame}")


# --------------------------------------------------------------------------- scenarios

def _throughput(bench, procs, sandbox, dest, n: int, database: str) -> None:
    sandbox.reset()
    clusters = Clusters(procs, n, f"n{n}", Q_WORKERS=WORKERS)
    try:
        sessions = {f"cluster{i}": p.pid for i, p in enumerate(clusters.popens)} | {"sandbox": procs.procs[0][1].pid}
        before = _cpu_seconds(database, sessions)
        _release(dest)
        started = time.perf_counter()
        enqueue_wakeup(n * WORKERS)
        spy = _profile(clusters, procs.dir / f"profile-n{n}.txt") if n == max(CLUSTERS) else None
        elapsed = _sweep_until_done(dest, n, started)
        after = _cpu_seconds(database, sessions)
        if spy:
            spy.wait(timeout=PROFILE_SECONDS + 30)
            _summarise_profile(procs.dir / f"profile-n{n}.txt")
    finally:
        clusters.stop()
    statuses = _statuses(dest)
    held, dups = _vendor_duplicates(sandbox, LEADS)
    load = os.getloadavg()[0]
    if elapsed is None:
        done = LEADS - _open(dest)
        bench.report(f"N={n}: NOT all terminal after {BOUND:.0f} s ({statuses}); rate so far", done / BOUND,
                     "items/s", "grows with N until the CPU", False)
        return
    cpu = {k: (after.get(k, 0.0) - before.get(k, 0.0)) for k in after}
    clusters_cpu = sum(v for k, v in cpu.items() if k.startswith("cluster"))
    per_k = 1000 / LEADS
    bench.report(f"N={n} clusters x {WORKERS} worker x {THREADS} threads: {LEADS:,} leads delivered in "
                 f"{elapsed:.1f} s (load average {load:.1f})", LEADS / elapsed, "items/s",
                 "grows with N until the CPU", statuses.get("accepted") == LEADS)
    bench.report(f"N={n}: duplicates at the vendor ({held:,} held for {LEADS:,})", dups, "", "0",
                 dups == 0 and held == LEADS)
    bench.report(f"N={n}: CPU s per 1,000 items: clusters {clusters_cpu * per_k:.2f}, PostgreSQL "
                 f"{cpu.get('postgres', 0) * per_k:.2f}, sandbox {cpu.get('sandbox', 0) * per_k:.2f}; "
                 f"all of it over the wall time", sum(cpu.values()) / elapsed, "cores", "<= 2 (2 cores)", None)


def _statuses(dest) -> dict[str, int]:
    from django.db.models import Count

    from vendors.models import Delivery

    return dict(Delivery.objects.filter(destination=dest).values_list("status").annotate(n=Count("id")))


def _killed(bench, procs, sandbox, dest) -> None:
    from vendors.models import Delivery

    sandbox.reset()
    clusters = Clusters(procs, 2, "kill", Q_WORKERS=WORKERS, DELIVERY_LEASE_SECONDS=LEASE_SECONDS)
    stranded = []

    def kill():
        clusters.kill(0)
        time.sleep(1)  # the survivor's batches in hand record; what stays in flight was the dead one's
        stranded.append(Delivery.objects.filter(destination=dest, status=Delivery.Status.IN_FLIGHT).count())

    try:
        _release(dest)
        started = time.perf_counter()
        enqueue_wakeup(2 * WORKERS)
        elapsed = _sweep_until_done(dest, 1, started, kill_at=KILL_LEADS // 3, on_kill=kill)
    finally:
        clusters.stop()
    statuses = _statuses(dest)
    held, dups = _vendor_duplicates(sandbox, KILL_LEADS)
    lost = KILL_LEADS - statuses.get("accepted", 0)
    shown = f"{elapsed:.1f} s" if elapsed is not None else f"NOT all terminal after {BOUND:.0f} s"
    bench.report(f"1 of 2 clusters SIGKILLed at a third of {KILL_LEADS:,} leads (lease {LEASE_SECONDS} s, "
                 f"{stranded[0] if stranded else '?'} in flight 1 s after it, the dead one's and the survivor's; "
                 f"all terminal after {shown}): lost",
                 lost, "", "0", lost == 0 and elapsed is not None and bool(stranded))
    bench.report(f"SIGKILL run: duplicates at the vendor ({held:,} held for {KILL_LEADS:,})", dups, "", "0",
                 dups == 0 and held == KILL_LEADS)


def _rate_limited(bench, procs, sandbox, dest) -> None:
    n = max(CLUSTERS)
    sandbox.reset()
    clusters = Clusters(procs, n, "rate", Q_WORKERS=WORKERS)
    try:
        _release(dest)
        started = time.perf_counter()
        enqueue_wakeup(n * WORKERS)
        elapsed = _sweep_until_done(dest, n, started)
    finally:
        clusters.stop()
    log = sandbox.requests("aktify")
    created = sum(1 for r in log if r["status"] == 201 and r["path"] == "/api/v1/leads")
    rate, peak = request_rate([r["at"] for r in log])
    leads = RATE_LIMIT * RATE_SECONDS
    bench.report(f"rate limit {RATE_LIMIT}/s on one Aktify account, {n} clusters x {WORKERS * THREADS} threads: "
                 f"{len(log)} requests ({created} created of {leads}) in "
                 f"{elapsed if elapsed is None else round(elapsed, 1)} s", rate, "requests/s",
                 f"<= {RATE_LIMIT * 1.1:.0f}", rate <= RATE_LIMIT * 1.1 and created == leads)
    bench.report("rate limit: the busiest second at the vendor", peak, "requests", f"<= {RATE_LIMIT + 2}",
                 peak <= RATE_LIMIT + 2)


def run(bench):
    from urllib.parse import urlsplit

    from vendors import planning

    if not redis_reachable(REDIS_URL):
        bench.report(f"Redis at {REDIS_URL} unreachable (BENCH_REDIS_URL)", "skipped", "", "", None)
        return
    database = urlsplit(bench.database_url).path.lstrip("/")
    procs = Processes(bench.database_url)
    procs.env.update({"REDIS_URL": REDIS_URL, "Q_CLUSTER_NAME": f"{PREFIX}{os.getpid()}", "Q_WORKERS": str(WORKERS),
                      "DELIVERY_THREADS": str(THREADS), "LOG_LEVEL": "WARNING",
                      # a delivery run ends by 80 % of Q_TIMEOUT; the default (4 min) cut slow runs short
                      "Q_TIMEOUT": str(int(BOUND) + 60), "Q_RETRY": str(int(BOUND) + 120)})
    logging.getLogger("django-q").setLevel(logging.WARNING)  # a line per queued delivery run otherwise
    with redis_broker(REDIS_URL, f"{PREFIX}{os.getpid()}"):
        try:
            sandbox = procs.start_sandbox()
            _clean()
            dests = _setup(sandbox)
            print(f"  {LEADS:,} leads, clusters {CLUSTERS} of Q_WORKERS={WORKERS} x DELIVERY_THREADS={THREADS}, "
                  f"sandbox latency {LATENCY_MS} ms, Redis {REDIS_URL}; logs in {procs.dir}", flush=True)
            intake_rate = _submit_held(dests)
            bench.report("intake of the held backlog (not part of the figures below)", intake_rate, "leads/s", "",
                         None)
            for n in CLUSTERS:
                # one destination per run, on the one campaign: each run draws the same leads afresh
                _throughput(bench, procs, sandbox, dests[f"n{n}"], n, database)
            _killed(bench, procs, sandbox, dests["kill"])
            _rate_limited(bench, procs, sandbox, dests["rate"])
        finally:
            try:
                procs.stop()
            finally:
                planning.woken()  # a wake-up row left by the held intake would silence later wake-ups
                _clean()
