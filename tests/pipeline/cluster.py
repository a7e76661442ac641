"""Helpers for tests that run a real django-q2 cluster (``manage.py qcluster``) in a subprocess."""
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

from leadhub import dbtools

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """DATABASE_URL for a child process: the database this test runs on."""
    db = connection.settings_dict
    if not dbtools.postgresql():
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_cluster(**env_overrides) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "leadhub.settings", "DEBUG": "false",
           "SECRET_KEY": settings.SECRET_KEY, "FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEY,
           "DATABASE_URL": database_url(), "Q_WORKERS": "1", "DELIVERY_THREADS": "2", "LOG_LEVEL": "WARNING",
           **env_overrides}
    env.pop("Q_SYNC", None)
    return subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 20) -> float:
    """SIGTERM to the cluster's main process (it stops its workers); SIGKILL to the whole group.
    Returns the seconds the cluster took to exit (SIGKILLed after ``timeout``)."""
    started = time.monotonic()
    try:
        if sig == signal.SIGKILL:
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
    except ProcessLookupError:
        return 0.0
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return time.monotonic() - started


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


# --------------------------------------------------------------------------- clusters on a Redis broker

def redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except (redis.RedisError, OSError):
        return False


@contextmanager
def redis_broker(url: str, queue: str):
    """Point this process's django-q2 at the clusters' Redis queue, as a web process configured with
    REDIS_URL and Q_CLUSTER_NAME would be: intake's wake-ups (and ``enqueue_wakeup``) go there."""
    from django_q.conf import Conf

    changes = {"REDIS": url, "DJANGO_REDIS": None, "ORM": None, "CLUSTER_NAME": queue, "SYNC": False}
    saved = {name: getattr(Conf, name) for name in changes}
    for name, value in changes.items():
        setattr(Conf, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(Conf, name, value)
        import redis

        redis.Redis.from_url(url).delete(f"django_q:{queue}:q")  # tasks no cluster took


def enqueue_wakeup(count: int = 1) -> None:
    """What the one-minute sweep queues: a delivery run, past the coalescing of intake's wake-ups
    (one queued at a time), so that every worker of every cluster gets one."""
    from django_q.tasks import async_task

    for _ in range(count):
        async_task("vendors.tasks.deliver_due", task_name="deliver due", group="deliveries")


def request_rate(times: list[float], window: float = 1.0) -> tuple[float, int]:
    """(requests per second from the first to the last, most requests in any ``window`` seconds)."""
    times = sorted(times)
    if len(times) < 2:
        return 0.0, len(times)
    peak, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        peak = max(peak, end - start + 1)
    return (len(times) - 1) / (times[-1] - times[0]), peak


def clusters_ready(procs: list[subprocess.Popen]) -> bool:
    """Every one of ``procs`` reports itself idle or working on the broker (its workers are up)."""
    from django_q.conf import Conf
    from django_q.status import Stat

    up = {stat.pid for stat in Stat.get_all() if stat.status in (Conf.IDLE, Conf.WORKING)}
    return all(proc.pid in up for proc in procs)
