"""Issue 15, item 4: `check --deploy` is clean by configuration, HTTPS settings from the environment."""
import json

import pytest

from .conftest import ROOT, manage, production_env

HTTPS_SETTINGS = ["SECURE_PROXY_SSL_HEADER", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS",
                  "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"]


def _settings(env) -> dict:
    code = ("import json; from django.conf import settings; "
            f"print(json.dumps({{n: getattr(settings, n) for n in {HTTPS_SETTINGS!r}}}))")
    result = manage(ROOT, "shell", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])  # after anything the shell says first


def test_check_deploy_finds_nothing_in_a_production_like_environment(tmp_path):
    # HSTS preload is the one the owner opts into (hard to undo); everything else is the default
    result = manage(ROOT, "check", "--deploy", "--fail-level", "WARNING", "--database", "default",
                    env=production_env(tmp_path, SECURE_HSTS_PRELOAD="true"))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_with_debug_off_https_settings_default_to_safe_values(tmp_path):
    assert _settings(production_env(tmp_path)) == {
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"], "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000, "SECURE_HSTS_INCLUDE_SUBDOMAINS": True, "SECURE_HSTS_PRELOAD": False,
        "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True,
    }


def test_each_https_setting_comes_from_the_environment(tmp_path):
    env = production_env(tmp_path, SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_SSL,on", SECURE_SSL_REDIRECT="false",
                         SECURE_HSTS_SECONDS="3600", SECURE_HSTS_INCLUDE_SUBDOMAINS="false",
                         SECURE_HSTS_PRELOAD="true", SESSION_COOKIE_SECURE="false", CSRF_COOKIE_SECURE="false")
    assert _settings(env) == {
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_SSL", "on"], "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 3600, "SECURE_HSTS_INCLUDE_SUBDOMAINS": False, "SECURE_HSTS_PRELOAD": True,
        "SESSION_COOKIE_SECURE": False, "CSRF_COOKIE_SECURE": False,
    }
    # and check --deploy says what such a choice gives up
    result = manage(ROOT, "check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 1
    assert {"security.W005", "security.W008", "security.W012", "security.W016"} <= set(
        word.strip("():") for word in result.stderr.split() if word.startswith("(security."))


def test_without_a_proxy_the_header_can_be_turned_off_and_a_bad_one_is_one_line(tmp_path):
    assert _settings(production_env(tmp_path, SECURE_PROXY_SSL_HEADER=""))["SECURE_PROXY_SSL_HEADER"] is None
    result = manage(ROOT, "check", env=production_env(tmp_path, SECURE_PROXY_SSL_HEADER="https"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "SECURE_PROXY_SSL_HEADER must be 'HEADER,value'" in result.stderr


def test_development_keeps_plain_http(tmp_path):
    env = production_env(tmp_path, DEBUG="true")
    assert _settings(env) == {
        "SECURE_PROXY_SSL_HEADER": None, "SECURE_SSL_REDIRECT": False, "SECURE_HSTS_SECONDS": 0,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False, "SECURE_HSTS_PRELOAD": False,
        "SESSION_COOKIE_SECURE": False, "CSRF_COOKIE_SECURE": False,
    }


@pytest.mark.parametrize("name", HTTPS_SETTINGS)
def test_the_readme_production_section_lists_each_https_setting(name):
    readme = (ROOT / "README.md").read_text()
    assert f"| `{name}` |" in readme.split("## Production", 1)[1].split("## Architecture map", 1)[0]
