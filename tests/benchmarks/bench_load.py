"""Partners' load on a real server (issue 18): single-lead POSTs over HTTP from 1, 4 and 16 clients.

Two set-ups, each with one ``qcluster`` and the vendor sandbox as the vendor:

* PostgreSQL (the bench database) behind ``gunicorn leadhub.wsgi --workers 4``;
  targets: >= 250 req/s at 16 clients with p99 < 250 ms, and no errors.
* SQLite (a fresh file) behind ``manage.py runserver``, as ``make run`` serves it;
  target >= 100 req/s at 16 clients with p99 < 1 s (README: where it stops).

Each level posts for LEVEL_SECONDS; the clients are threads with one request per
connection (gunicorn's sync workers close it anyway). Reported per level: req/s,
p50 / p95 / p99, non-2xx; per set-up: the longest django-q queue seen, leads the API
accepted but the database lacks (lost), leads the vendor received more than once,
deliveries done when the traffic stopped, and the seconds until every delivery
was made and the queue was empty after it (target < 10 s). Servers use ports
LOAD_PORT .. LOAD_PORT+2 (default 8101-8103).
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LEVELS = (1, 4, 16)
LEVEL_SECONDS = float(os.environ.get("LOAD_SECONDS", 6))
IDLE_LIMIT = 60.0
PORT = int(os.environ.get("LOAD_PORT", 8101))
HOST = "127.0.0.1"
SECRET_KEY = "bench-load-secret-key-not-for-production"
FERNET_KEY = "p2s2c9Qv3Qm0f1vRr3T3xY8Yk1bqzq8dZ9bq3Yd9rLk="


def _env(database_url: str) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "leadhub.settings", "DEBUG": "false",
           "SECRET_KEY": SECRET_KEY, "FIELD_ENCRYPTION_KEY": FERNET_KEY, "DATABASE_URL": database_url,
           "LOG_LEVEL": "WARNING", "API_RATE_PARTNER": "10000000/min", "API_RATE_PARTNER_BURST": "1000000/s",
           "Q_WORKERS": "1", "DELIVERY_LINGER_SECONDS": "1",
           # plain HTTP on loopback: with DEBUG off the settings expect a TLS proxy in front
           "SECURE_SSL_REDIRECT": "false"}
    for name in ("Q_SYNC", "REDIS_URL"):
        env.pop(name, None)
    return env


def _manage(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True)


def _start(env, *argv) -> subprocess.Popen:
    return subprocess.Popen(list(argv), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_http(port: int, path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"nothing answered on port {port} within {timeout:.0f}s")


SETUP = """
import json
from campaigns.models import ApiKey, Campaign, Partner, WEEKDAYS
from vendors.models import Destination, VendorAccount
c = Campaign.objects.create(name="Load", slug="bench-load", status="active", calling_days=",".join(WEEKDAYS),
                            calling_start="00:00", calling_end="23:59:59")
p = Partner.objects.create(name="Load partner", slug="bench-load-partner"); p.campaigns.add(c)
a = VendorAccount.objects.create(name="Load platform", kind="platform", base_url="{sandbox}/platform/platform-api",
                                 credentials={{"api_key": "pk_load"}}, max_requests_per_second=1000, timeout_seconds=30)
Destination.objects.create(campaign=c, account=a, remote_ref="100", settings={{"bulk_poll_seconds": 0.2}})
key, raw = ApiKey.issue(p, name="load")
print(json.dumps({{"key": raw, "campaign": c.pk}}))
"""

def _counts(database_url: str) -> dict:
    """Leads of the load campaign, their deliveries per status and the django-q queue length,
    read straight from the database (the bench process has its own Django on another one)."""
    sql = {"ids": "SELECT l.id FROM campaigns_lead l JOIN campaigns_campaign c ON c.id = l.campaign_id "
                  "WHERE c.slug = 'bench-load'",
           "deliveries": "SELECT d.status, count(*) FROM vendors_delivery d JOIN campaigns_lead l ON l.id = d.lead_id "
                         "JOIN campaigns_campaign c ON c.id = l.campaign_id WHERE c.slug = 'bench-load' GROUP BY 1",
           "queue": "SELECT count(*) FROM django_q_ormq"}
    if database_url.startswith("sqlite:///"):
        import sqlite3

        conn = sqlite3.connect(database_url[len("sqlite:///"):], timeout=30)
    else:
        import psycopg

        conn = psycopg.connect(database_url, autocommit=True)
    try:
        return {"ids": [r[0] for r in conn.execute(sql["ids"]).fetchall()],
                "deliveries": dict(conn.execute(sql["deliveries"]).fetchall()),
                "queue": conn.execute(sql["queue"]).fetchone()[0]}
    finally:
        conn.close()


CLEANUP = """
from django_q.models import OrmQ, Schedule
from campaigns.models import Campaign, Lead, Partner, WakeUp
from vendors.models import Delivery, DeliveryAttempt, VendorAccount
leads = Lead.objects.filter(campaign__slug="bench-load")
DeliveryAttempt.objects.filter(delivery__lead__in=leads).delete()
Delivery.objects.filter(lead__in=leads).delete()
leads.delete()
Partner.objects.filter(slug="bench-load-partner").delete()
Campaign.objects.filter(slug="bench-load").delete()
VendorAccount.objects.filter(name="Load platform").delete()
OrmQ.objects.all().delete(); WakeUp.objects.all().delete()
"""


def _shell(env, code: str) -> str:
    return _manage(env, "shell", "-c", code).stdout.strip().splitlines()[-1]


class Load:
    """Client threads posting one lead per request until ``stop``."""

    def __init__(self, port: int, key: str, numbers):
        self.port, self.key, self.numbers = port, key, numbers
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.non_2xx = 0
        self.accepted_ids: list[int] = []

    def post(self, phone: str) -> None:
        body = json.dumps({"campaign": "bench-load", "phone": phone, "first_name": "Load"})
        started = time.perf_counter()
        try:
            conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
            conn.request("POST", "/api/v1/leads/", body, {"Content-Type": "application/json", "X-API-Key": self.key})
            response = conn.getresponse()
            data = response.read()
            conn.close()
            status = response.status
        except OSError:
            status, data = 599, b""
        elapsed = time.perf_counter() - started
        with self.lock:
            self.latencies.append(elapsed)
            if 200 <= status < 300:
                self.accepted_ids.append(json.loads(data)["id"])
            else:
                self.non_2xx += 1

    def run(self, clients: int, seconds: float) -> dict:
        self.latencies, self.non_2xx = [], 0
        stop = time.monotonic() + seconds

        def client():
            while time.monotonic() < stop:
                with self.lock:
                    phone = next(self.numbers)
                self.post(phone)

        threads = [threading.Thread(target=client) for _ in range(clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.perf_counter() - started
        lat = sorted(self.latencies)

        def pct(p):
            return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else 0.0

        return {"rps": len(lat) / took, "p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99), "non_2xx": self.non_2xx}


def _numbers():
    for exchange in range(201, 1000):
        for line in range(10000):
            yield f"+1303{exchange}{line:04d}"


def scenario(bench, label: str, database_url: str, server_argv: list[str], targets: tuple[float, float]) -> None:
    env = _env(database_url)
    web_port, sandbox_port = PORT, PORT + 2
    _manage(env, "migrate", "--noinput", "-v0")
    _shell(env, CLEANUP)
    sandbox = _start(env, sys.executable, "manage.py", "vendor_sandbox", "--port", str(sandbox_port))
    procs = [sandbox]
    try:
        _wait_http(sandbox_port, "/_sandbox/state")
        info = json.loads(_shell(env, SETUP.format(sandbox=f"http://{HOST}:{sandbox_port}")))
        web = _start(env, *[a.format(port=web_port) for a in server_argv])
        procs.append(web)
        _wait_http(web_port, "/api/schema/")
        cluster = _start(env, sys.executable, "manage.py", "qcluster")
        procs.append(cluster)
        load = Load(web_port, info["key"], _numbers())
        load.run(2, 2)  # warm every worker up
        queue_max = [0]
        sampling = threading.Event()

        def sampler():
            while not sampling.is_set():
                queue_max[0] = max(queue_max[0], _counts(database_url)["queue"])
                sampling.wait(0.5)

        watcher = threading.Thread(target=sampler)
        watcher.start()
        try:
            for clients in LEVELS:
                figures = load.run(clients, LEVEL_SECONDS)
                rps_target, p99_target = targets
                ok = clients != 16 or (figures["rps"] >= rps_target and figures["p99"] < p99_target
                                       and figures["non_2xx"] == 0)
                bench.report(f"{label}, {clients} clients: single POST", figures["rps"], "req/s",
                             f">= {rps_target:.0f}/s, p99 < {p99_target:.0f} ms" if clients == 16 else "",
                             ok if clients == 16 else None)
                bench.report(f"{label}, {clients} clients: p50 / p95 / p99",
                             f"{figures['p50']:.0f} / {figures['p95']:.0f} / {figures['p99']:.0f}", "ms")
                bench.report(f"{label}, {clients} clients: non-2xx", figures["non_2xx"], "", "0",
                             figures["non_2xx"] == 0)
        finally:
            sampling.set()
            watcher.join()
        traffic_end = time.monotonic()
        counts = _counts(database_url)
        done_at_end = counts["deliveries"].get("accepted", 0)
        total = len(counts["ids"])
        idle_after = None
        while time.monotonic() - traffic_end < IDLE_LIMIT:
            counts = _counts(database_url)
            if counts["deliveries"].get("accepted", 0) == total and counts["queue"] == 0:
                idle_after = time.monotonic() - traffic_end
                break
            time.sleep(0.5)
        stored = set(counts["ids"])
        lost = len([i for i in load.accepted_ids if i not in stored])
        sent = _sandbox_keys(sandbox_port)
        repeated = len(sent) - len(set(sent))
        bench.report(f"{label}: longest django-q queue seen", queue_max[0], "tasks")
        bench.report(f"{label}: leads accepted / lost / sent twice", f"{len(load.accepted_ids)} / {lost} / {repeated}",
                     "", "0 lost, 0 twice", lost == 0 and repeated == 0)
        bench.report(f"{label}: delivered when traffic stopped", f"{done_at_end} of {total}", "")
        bench.report(f"{label}: seconds until all delivered and queue empty",
                     idle_after if idle_after is not None else f"> {IDLE_LIMIT:.0f}", "s", "< 10 s",
                     idle_after is not None and idle_after < 10)
    finally:
        for proc in reversed(procs):
            _stop(proc)
        _shell(env, CLEANUP)


def _sandbox_keys(port: int) -> list[str]:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    conn.request("GET", "/_sandbox/requests?vendor=platform")
    requests = json.loads(conn.getresponse().read())
    return [lead["customerKey"] for r in requests if r["method"] == "POST" and r["path"].endswith("/leads/bulk")
            for lead in r["body"]["leads"]]


def run(bench):
    scenario(bench, "PostgreSQL, gunicorn x4", bench.database_url,
             [sys.executable, "-m", "gunicorn", "leadhub.wsgi", "--workers", "4", "--bind", f"{HOST}:{{port}}",
              "--log-level", "warning"], (250, 250))
    with tempfile.TemporaryDirectory(prefix="leadhub-load-") as tmp:
        scenario(bench, "SQLite, runserver", f"sqlite:///{tmp}/load.sqlite3",
                 [sys.executable, "manage.py", "runserver", "--noreload", f"{HOST}:{{port}}"], (100, 1000))
