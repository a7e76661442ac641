"""``GET /health/``: can this process serve, and is delivery keeping up?

For load balancers and monitoring, without authentication; it shows no data, only:

- ``database``: a ``SELECT 1`` on the default database;
- ``broker``: the django-q2 broker answers (Redis ``PING`` with a 2 s timeout; the ORM
  broker is the database);
- ``oldest_due_delivery``: how long the oldest pending delivery has been due (one
  probe of the pending-by-due-time index). It grows when no ``qcluster`` is running
  or the workers fall behind; its ``ok`` turns false past ``HEALTH_MAX_DELIVERY_LAG_SECONDS``.

The answer is 200 when the database and the broker answer, else 503, so a load
balancer takes a web process out only for what the web process needs; a delivery
backlog is for monitoring to alert on (``ok`` false), not a reason to stop serving.
"""
from __future__ import annotations

import time

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _database() -> dict:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - reported, never raised: this page must answer
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _broker() -> dict:
    url = settings.Q_CLUSTER.get("redis")
    if not url:
        return {"ok": True, "kind": "database"}  # the ORM broker: its health is the database's
    import redis

    started = time.perf_counter()
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        return {"ok": False, "kind": "redis", "error": type(exc).__name__}
    finally:
        client.close()
    return {"ok": True, "kind": "redis", "ms": round((time.perf_counter() - started) * 1000, 1)}


def _oldest_due_delivery() -> dict:
    from vendors.models import Destination
    from vendors.queue import oldest_due, with_oldest_due

    now = timezone.now()
    limit = settings.HEALTH_MAX_DELIVERY_LAG_SECONDS
    try:
        oldest = min(filter(None, map(oldest_due, with_oldest_due(Destination.objects.only("pk"), now))),
                     default=None)
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": type(exc).__name__}
    if oldest is None:
        return {"ok": True, "due_since": None, "lag_seconds": 0, "limit_seconds": limit}
    lag = max(0, int((now - oldest).total_seconds()))
    return {"ok": lag <= limit, "due_since": oldest.isoformat(), "lag_seconds": lag, "limit_seconds": limit}


@never_cache
@require_GET
def health(request):
    database = _database()
    report = {"database": database, "broker": _broker(),
              "oldest_due_delivery": _oldest_due_delivery() if database["ok"] else {"ok": False}}
    serving = database["ok"] and report["broker"]["ok"]
    report["ok"] = serving and report["oldest_due_delivery"]["ok"]
    return JsonResponse(report, status=200 if serving else 503)
