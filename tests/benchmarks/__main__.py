"""`make bench`: run every tests/benchmarks/bench_*.py and print one table.

Each module defines ``run(bench) -> None`` and reports figures with
``bench.report(name, value, unit, target, ok)``. The runner points Django at a
dedicated PostgreSQL database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/leadhub_bench), creates and migrates it,
then runs the modules in name order. ``python -m tests.benchmarks admin``
runs only modules whose name contains "admin".
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

# BENCH_SCALE (bench_scale.py, opt-in) loads millions of leads: a database of its own per scale, so
# the other modules' data set stays at its size
_SCALE = os.environ.get("BENCH_SCALE", "").replace(".", "_")
BENCH_DB = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/leadhub_bench"
                          + (f"_scale{_SCALE}" if _SCALE else ""))


@dataclass
class Row:
    module: str
    name: str
    value: float | str
    unit: str
    target: str
    ok: bool | None


@dataclass
class Bench:
    rows: list[Row] = field(default_factory=list)
    module: str = ""
    database_url: str = BENCH_DB

    def report(self, name: str, value, unit: str = "", target: str = "", ok: bool | None = None) -> None:
        self.rows.append(Row(self.module, name, value, unit, target, ok))
        shown = f"{value:,.1f}" if isinstance(value, float) else str(value)
        print(f"  {name}: {shown} {unit}  (target {target or '-'}) {'' if ok is None else ('OK' if ok else 'MISSED')}",
              flush=True)


def _ensure_database(url: str) -> None:
    import psycopg
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


BUSY_TABLES = ["campaigns_lead", "vendors_delivery", "vendors_deliveryattempt", "campaigns_dnc",
               "campaigns_idempotencyrecord", "django_q_task", "django_q_ormq", "vendors_vendoraccount"]


def _tidy(reindex: bool = False) -> None:
    """Each module deletes what it created; without (auto)vacuum the dead rows and bloated
    indexes slow the next module several-fold (measured: 2,647 vs 785 items/s). The
    PostgreSQL here runs with autovacuum off, so the runner vacuums between modules."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in BUSY_TABLES:
            if reindex:
                cursor.execute(f'REINDEX TABLE "{table}"')
            cursor.execute(f'VACUUM ANALYZE "{table}"')


def main(argv: list[str]) -> int:
    only = argv[0] if argv else ""
    os.environ["DATABASE_URL"] = BENCH_DB
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadhub.test_settings")
    os.environ["Q_SYNC"] = "false"
    _ensure_database(BENCH_DB)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    _tidy(reindex=True)
    here = Path(__file__).parent
    bench = Bench()
    failed = []
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if not info.name.startswith("bench_") or only not in info.name:
            continue
        bench.module = info.name.removeprefix("bench_")
        print(f"\n== {bench.module}", flush=True)
        started = time.perf_counter()
        try:
            importlib.import_module(f"tests.benchmarks.{info.name}").run(bench)
        except Exception:
            traceback.print_exc()
            failed.append(info.name)
            bench.report("(benchmark crashed)", "error", ok=False)
        print(f"  ({time.perf_counter() - started:.1f}s)")
        _tidy()
    print("\n| benchmark | figure | value | target | |")
    print("|---|---|---|---|---|")
    for r in bench.rows:
        shown = f"{r.value:,.1f}" if isinstance(r.value, float) else str(r.value)
        verdict = "" if r.ok is None else ("OK" if r.ok else "MISSED")
        print(f"| {r.module} | {r.name} | {shown} {r.unit} | {r.target} | {verdict} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
