"""Issue 15, item 5: /health/ (database, broker, oldest due delivery) and the Procfile's web process."""
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import redis
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from vendors.models import Delivery, Destination, VendorAccount

from tests.pipeline.cluster import database_url

from .conftest import ROOT, production_env

CLOSED_PORT = 8712  # in this suite's port range, nothing listens there


def _pending(campaign, make_lead, due_minutes_ago: float) -> Delivery:
    account = VendorAccount.objects.get_or_create(name="Aktify", kind="aktify")[0]
    destination = Destination.objects.get_or_create(campaign=campaign, account=account, defaults={"secret": "k1"})[0]
    return Delivery.objects.create(lead=make_lead(campaign), destination=destination, operation="push",
                                   due_at=timezone.now() - dt.timedelta(minutes=due_minutes_ago))


def test_it_reports_database_broker_and_no_delivery_backlog(client, db):
    response = client.get(reverse("health"))
    assert response.status_code == 200 and response["Cache-Control"].startswith("max-age=0")
    body = response.json()
    assert body["ok"] is True and body["database"]["ok"] is True
    assert body["broker"] == {"ok": True, "kind": "database"}  # the ORM broker is the database
    assert body["oldest_due_delivery"] == {"ok": True, "due_since": None, "lag_seconds": 0, "limit_seconds": 900}


def test_it_reports_how_long_the_oldest_due_delivery_has_waited(client, campaign, make_lead, settings):
    settings.HEALTH_MAX_DELIVERY_LAG_SECONDS = 600
    oldest = _pending(campaign, make_lead, due_minutes_ago=20)
    _pending(campaign, make_lead, due_minutes_ago=5)
    Delivery.objects.filter(pk=_pending(campaign, make_lead, due_minutes_ago=60).pk).update(status="accepted")
    _pending(campaign, make_lead, due_minutes_ago=-30)  # not due yet
    response = client.get(reverse("health"))
    body = response.json()["oldest_due_delivery"]
    assert 1195 <= body["lag_seconds"] <= 1230 and body["due_since"] == oldest.due_at.isoformat()
    # a backlog is for monitoring (ok: false), not a reason for the load balancer to stop sending traffic
    assert body["ok"] is False and response.json()["ok"] is False and response.status_code == 200
    settings.HEALTH_MAX_DELIVERY_LAG_SECONDS = 1800
    assert client.get(reverse("health")).json()["ok"] is True


def test_an_unreachable_redis_broker_is_a_503(client, db, settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "redis": f"redis://127.0.0.1:{CLOSED_PORT}/0"}
    response = client.get(reverse("health"))
    assert response.status_code == 503
    assert response.json()["broker"] == {"ok": False, "kind": "redis", "error": "ConnectionError"}


def test_a_reachable_redis_broker_is_pinged(client, db, settings):
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {url}")
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "redis": url}
    response = client.get(reverse("health"))
    assert response.status_code == 200 and response.json()["broker"]["ok"] is True
    assert response.json()["broker"]["kind"] == "redis"


def test_a_database_that_does_not_answer_is_a_503(client, db, monkeypatch):
    class Down:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr("leadhub.health.connection", Down())
    response = client.get(reverse("health"))
    assert response.status_code == 503
    assert response.json()["database"] == {"ok": False, "error": "OperationalError"}


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def test_the_procfile_names_web_worker_and_release():
    processes = _procfile()
    assert processes["worker"] == "python manage.py qcluster"  # its scheduler included (django-q2)
    assert processes["web"].startswith("gunicorn leadhub.wsgi ")
    assert processes["release"].startswith("python manage.py migrate --noinput")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_procfiles_web_process_serves_health_over_plain_http_and_redirects_the_rest(tmp_path):
    url = database_url()
    with socket.socket() as probe:  # a free port: other test runs on this machine may hold any fixed one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = production_env(tmp_path, DATABASE_URL=url, PORT=str(port), WEB_CONCURRENCY="1",
                         PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    web = subprocess.Popen(["bash", "-c", "exec " + _procfile()["web"]], cwd=ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)

    def get(path):
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": "leads.example.com"})
        try:
            with opener.open(request, timeout=60) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, exc.read()

    try:
        for _ in range(120):
            try:
                status, _, body = get("/health/")
                break
            except (urllib.error.URLError, ConnectionError):
                assert web.poll() is None, web.stderr.read().decode()
                time.sleep(0.5)
        else:
            pytest.fail("gunicorn did not answer")
        assert status == 200, body
        assert b'"database": {"ok": true' in body
        status, headers, _ = get("/admin/login/")
        assert status == 301 and headers["Location"] == "https://leads.example.com/admin/login/"
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=30)
