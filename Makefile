# LeadHub: `make run` to try it, `make test` to check it, `make bench` to measure it.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
SANDBOX_PORT ?= 8765
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
PYTEST_ARGS ?=

.PHONY: run dev test test-sqlite test-postgres bench clean help

help: | .env
	@echo "make run    - set up .venv, migrate, load demo data, start web + worker + vendor sandbox"
	@echo "make dev    - set up .venv and .env and migrate, so 'python manage.py ...' works as the README prints it"
	@echo "make test   - run the suite on SQLite, then on PostgreSQL ($(TEST_DATABASE_URL))"
	@echo "make bench  - run tests/benchmarks on PostgreSQL and print figures against targets"

# The development settings (DEBUG on, generated keys), written once and never overwritten.
.env:
	@$(PYTHON) leadhub/devenv.py $@

$(PY): | .env
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.deps-run: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.deps-test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $@ $(VENV)/.deps-run

$(VENV)/.deps-bench: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[test,bench]"
	@touch $@ $(VENV)/.deps-test $(VENV)/.deps-run

dev: $(VENV)/.deps-run .env
	DEBUG=$${DEBUG:-true} $(PY) manage.py migrate --noinput -v0

run: $(VENV)/.deps-run .env
	@export DEBUG=$${DEBUG:-true} OUTCOME_POLL_SECONDS=$${OUTCOME_POLL_SECONDS:-60}; \
	$(PY) manage.py migrate --noinput -v0 && \
	SANDBOX_URL=http://$(HOST):$(SANDBOX_PORT) $(PY) manage.py seed_demo && \
	$(PY) manage.py setup_schedules -v0 2>/dev/null; \
	set -m; pids=""; \
	cleanup() { trap '' INT TERM PIPE; kill -TERM $$pids 2>/dev/null; echo; echo "Stopping LeadHub..." || true; \
		wait $$pids 2>/dev/null; echo "Stopped." || true; }; \
	trap 'cleanup; exit 0' INT TERM HUP; \
	$(PY) manage.py vendor_sandbox --host $(HOST) --port $(SANDBOX_PORT) --calls-after 60 & pids="$$pids $$!"; \
	$(PY) manage.py qcluster & pids="$$pids $$!"; \
	$(PY) manage.py runserver --noreload $(HOST):$(PORT) & pids="$$pids $$!"; \
	for i in $$(seq 1 60); do curl -fs -o /dev/null http://$(HOST):$(PORT)/admin/login/ && break; sleep 0.5; done; \
	echo; echo "LeadHub is running."; \
	echo "  Admin:   http://$(HOST):$(PORT)/admin/   (login printed above by seed_demo)"; \
	echo "  API:     http://$(HOST):$(PORT)/api/docs/"; \
	echo "  Sandbox: http://$(HOST):$(SANDBOX_PORT)/_sandbox/requests"; \
	echo "Press Ctrl-C to stop."; \
	wait

# Both databases at once: a suite spends much of its time waiting (on subprocesses, HTTP, the
# database), so two of them on two cores take about the longer one's time, not the sum. Each run has
# its own test database, var dir and queue names. The SQLite run's output follows the PostgreSQL one's.
test: $(VENV)/.deps-test
	@mkdir -p var; \
	if $(PY) -c "import psycopg,sys; psycopg.connect('$(TEST_DATABASE_URL)', connect_timeout=3).close()" 2>/dev/null; then \
		pg=1; \
	elif [ -n "$$CI" ]; then \
		echo "PostgreSQL at $(TEST_DATABASE_URL) is unreachable and CI is set: failing."; exit 1; \
	else \
		pg=0; echo "SKIPPED: PostgreSQL at $(TEST_DATABASE_URL) is unreachable (set TEST_DATABASE_URL, or CI=1 to make this fatal)."; \
	fi; \
	if [ $$pg = 0 ]; then echo "== SQLite"; exec $(PY) -m pytest -q $(PYTEST_ARGS); fi; \
	echo "== SQLite and PostgreSQL ($(TEST_DATABASE_URL)) side by side; the SQLite output follows"; \
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) > var/test-sqlite.log 2>&1 & sqlite=$$!; \
	echo "== PostgreSQL ($(TEST_DATABASE_URL))"; \
	DATABASE_URL='$(TEST_DATABASE_URL)' $(PY) -m pytest -q $(PYTEST_ARGS); pg_rc=$$?; \
	wait $$sqlite; sqlite_rc=$$?; \
	echo "== SQLite"; cat var/test-sqlite.log; \
	echo "== PostgreSQL: exit $$pg_rc, SQLite: exit $$sqlite_rc"; \
	[ $$pg_rc = 0 ] && [ $$sqlite_rc = 0 ]

bench: $(VENV)/.deps-bench
	$(PY) -m tests.benchmarks $(ONLY)

clean:
	rm -rf $(VENV) var .pytest_cache
