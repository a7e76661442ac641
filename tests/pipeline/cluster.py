"""Helpers for tests that run a real django-q2 cluster (``manage.py qcluster``) in a subprocess."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
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
