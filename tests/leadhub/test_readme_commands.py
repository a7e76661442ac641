"""Issue 15, item 3: the README's commands work as written outside `make run`."""
import os
import re
import subprocess
import sys

from .conftest import ROOT, clean_env, manage


def _readme_commands() -> list[str]:
    """The management commands the README's table names (`python manage.py NAME ...`)."""
    readme = (ROOT / "README.md").read_text()
    return sorted(set(re.findall(r"^\| `python manage\.py (\w+)", readme, flags=re.MULTILINE)))


def test_the_readme_lists_the_commands_this_test_runs():
    assert {"import_leads", "create_api_key", "deliver", "vendor_sandbox", "setup_schedules", "prune_attempts",
            "check"} <= set(_readme_commands())


def test_each_readme_command_answers_help_in_a_fresh_checkout_after_make_writes_its_env(checkout):
    made = subprocess.run(["make", f"PYTHON={sys.executable}"], cwd=checkout, capture_output=True, text=True,
                          timeout=60)  # plain `make`: writes .env, prints the targets
    assert made.returncode == 0, made.stderr
    assert "Wrote .env" in made.stdout and "make dev" in made.stdout
    env_file = (checkout / ".env").read_text()
    assert "DEBUG=true" in env_file and re.search(r"^SECRET_KEY=\S{50,}$", env_file, re.MULTILINE)
    assert re.search(r"^FIELD_ENCRYPTION_KEY=[\w-]{43}=$", env_file, re.MULTILINE)
    assert (checkout / ".env").stat().st_mode & 0o077 == 0  # keys: readable by the owner only

    env = clean_env()  # no DEBUG, no keys: only what the .env gives
    running = {name: subprocess.Popen([sys.executable, "manage.py", name, "--help"], cwd=checkout, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for name in _readme_commands()}
    for name, proc in running.items():
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, f"manage.py {name} --help: {err}"
        assert out.startswith(f"usage: manage.py {name}"), out[:200]

    # a second `make` leaves the keys alone (vendor credentials stay readable)
    subprocess.run(["make", f"PYTHON={sys.executable}"], cwd=checkout, check=True, capture_output=True)
    assert (checkout / ".env").read_text() == env_file


def test_make_reuses_keys_an_earlier_make_run_generated(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    (var / "secret_key").write_text("k" * 50)
    (var / "field_encryption_key").write_text("p2s2c9Qv3Qm0f1vRr3T3xY8Yk1bqzq8dZ9bq3Yd9rLk=")
    subprocess.run([sys.executable, str(ROOT / "leadhub" / "devenv.py"), str(tmp_path / ".env")], check=True,
                   env=clean_env(), capture_output=True)
    text = (tmp_path / ".env").read_text()
    assert f"SECRET_KEY={'k' * 50}\n" in text
    assert "FIELD_ENCRYPTION_KEY=p2s2c9Qv3Qm0f1vRr3T3xY8Yk1bqzq8dZ9bq3Yd9rLk=\n" in text


def test_a_missing_setting_in_production_is_one_clear_line(tmp_path):
    env = clean_env(DEBUG="false", LEADHUB_ENV_FILE=str(tmp_path / "none.env"), LEADHUB_VAR_DIR=str(tmp_path),
                    FIELD_ENCRYPTION_KEY="p2s2c9Qv3Qm0f1vRr3T3xY8Yk1bqzq8dZ9bq3Yd9rLk=")
    result = manage(ROOT, "create_api_key", "--help", env=env)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "LeadHub is not configured: SECRET_KEY is not set. With DEBUG off LeadHub refuses to start without it; "
        "set SECRET_KEY in the environment (README.md, Configuration), or run `make dev` once for development."]
    assert "Traceback" not in result.stderr


def test_a_missing_setting_stops_the_wsgi_entry_point_with_one_line(tmp_path):
    env = clean_env(DEBUG="false", LEADHUB_ENV_FILE=str(tmp_path / "none.env"), LEADHUB_VAR_DIR=str(tmp_path),
                    SECRET_KEY="s" * 50)
    result = subprocess.run([sys.executable, "-c", "import leadhub.wsgi"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 3 and "Traceback" not in result.stderr  # gunicorn: "worker failed to boot"
    assert result.stderr.startswith("LeadHub is not configured: FIELD_ENCRYPTION_KEY is not set.")

    # the Procfile's web process stops with that line instead of restarting its worker forever
    web = (ROOT / "Procfile").read_text().split("\nweb: ", 1)[1].splitlines()[0]
    env.update(PORT="8731", WEB_CONCURRENCY="1", PATH=os.path.dirname(sys.executable) + os.pathsep + env["PATH"])
    gunicorn = subprocess.run(["bash", "-c", "exec " + web], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=120)
    assert gunicorn.returncode != 0 and "Traceback" not in gunicorn.stderr
    assert "LeadHub is not configured: FIELD_ENCRYPTION_KEY is not set." in gunicorn.stderr
