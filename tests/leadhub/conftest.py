"""A fresh checkout of this working tree, and subprocess runs of manage.py in it."""
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# what a shell outside `make run` has: no DEBUG, no keys, no settings module, no .env
SCRUBBED = ("DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL",
            "LEADHUB_VAR_DIR", "LEADHUB_ENV_FILE", "Q_SYNC", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS")


@pytest.fixture(scope="session")
def checkout(tmp_path_factory) -> Path:
    """The tracked and new (not ignored) files of this tree, as a fresh clone has them:
    no .env, no var/, no .venv (the interpreter is this suite's)."""
    target = tmp_path_factory.mktemp("checkout")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(extra)
    return env


def manage(cwd: Path, *args, env: dict, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def production_env(tmp_path: Path, **extra) -> dict:
    """What a server sets (README "Production"): DEBUG off, real keys, its host, HTTPS."""
    return clean_env(**{
        "DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEY": "p2s2c9Qv3Qm0f1vRr3T3xY8Yk1bqzq8dZ9bq3Yd9rLk=",
        "ALLOWED_HOSTS": "leads.example.com", "CSRF_TRUSTED_ORIGINS": "https://leads.example.com",
        "LEADHUB_VAR_DIR": str(tmp_path / "var"), "LEADHUB_ENV_FILE": str(tmp_path / "no.env"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}", **extra,
    })
