"""Start-up configuration errors, checked in a fresh interpreter per case."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _start(env_overrides: dict, tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DEBUG")}
    env.update({"DJANGO_SETTINGS_MODULE": "leadhub.settings", "LEADHUB_VAR_DIR": str(tmp_path / "var"),
                "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
                "LEADHUB_ENV_FILE": str(tmp_path / "none.env")})  # not the developer's .env
    env.update(env_overrides)
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY[:4])"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEY"])
def test_production_refuses_to_start_without_a_secret(missing, tmp_path):
    env = {"DEBUG": "false", "SECRET_KEY": "s" * 50, "FIELD_ENCRYPTION_KEY": "p2s2c9Qv3Qm0f1vRr3T3xY8Yk1bqzq8dZ9bq3Yd9rLk="}
    del env[missing]
    result = _start(env, tmp_path)
    assert result.returncode != 0
    assert f"{missing} is not set" in result.stderr
    assert "leadhub.ConfigurationError" in result.stderr  # an ImproperlyConfigured; manage.py prints it as one line


def test_development_generates_keys_once_and_reuses_them(tmp_path):
    first = _start({"DEBUG": "true"}, tmp_path)
    second = _start({"DEBUG": "true"}, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert (tmp_path / "var" / "secret_key").exists()
    assert (tmp_path / "var" / "field_encryption_key").exists()


def test_sqlite_is_configured_for_concurrent_web_and_workers(tmp_path):
    env = {"DEBUG": "true"}
    code = ("import django; django.setup(); from django.db import connection; c = connection.cursor(); "
            "print(c.execute('PRAGMA journal_mode').fetchone()[0], connection.settings_dict['OPTIONS']['transaction_mode'],"
            " connection.settings_dict['OPTIONS']['timeout'])")
    base = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FIELD_ENCRYPTION_KEY")}
    base.update({"DJANGO_SETTINGS_MODULE": "leadhub.settings", "LEADHUB_VAR_DIR": str(tmp_path / "var"),
                 "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "LEADHUB_ENV_FILE": str(tmp_path / "none.env"),
                 **env})
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", "IMMEDIATE", "30"]


def test_a_bad_encryption_key_is_a_clear_error(settings):
    from django.core.exceptions import ImproperlyConfigured

    from leadhub.fields import _fernet

    with pytest.raises(ImproperlyConfigured, match="Fernet keys"):
        _fernet("not-a-key")


def test_vendor_credentials_are_encrypted_at_rest_and_read_back(db):
    from django.db import connection

    from vendors.models import Destination, VendorAccount
    from campaigns.models import Campaign

    account = VendorAccount.objects.create(name="x", kind="comunik8", credentials={"api_key": "s3cr3t-value"})
    dest = Destination.objects.create(campaign=Campaign.objects.create(name="c", slug="c"), account=account,
                                      secret="dest-s3cr3t")
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM vendors_vendoraccount")
        stored_credentials = cursor.fetchone()[0]
        cursor.execute("SELECT secret FROM vendors_destination")
        stored_secret = cursor.fetchone()[0]
    assert "s3cr3t" not in stored_credentials and "s3cr3t" not in stored_secret
    assert VendorAccount.objects.get().credentials == {"api_key": "s3cr3t-value"}
    assert Destination.objects.get(pk=dest.pk).secret == "dest-s3cr3t"


def test_secrets_under_another_key_are_a_system_check_error_not_a_crash(db, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    from campaigns.models import Campaign
    from leadhub.fields import _fernet
    from vendors.models import Destination, VendorAccount

    account = VendorAccount.objects.create(name="x", kind="aktify")
    Destination.objects.create(campaign=Campaign.objects.create(name="c", slug="c"), account=account, secret="k1234")
    settings.FIELD_ENCRYPTION_KEY = Fernet.generate_key().decode()
    _fernet.cache_clear()
    with pytest.raises(SystemCheckError, match="vendors.E004"):
        call_command("check", databases=["default"])
