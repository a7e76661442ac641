"""On PostgreSQL an import outside a transaction writes its batches in several database lanes
(one batch commits while the next is written); nothing about the outcome may change."""
import io
import threading
import time

import pytest
from django.db import connection, transaction

from campaigns import intake
from campaigns.imports.importer import CsvImporter
from campaigns.imports.jobs import run_job
from campaigns.imports.mapping import guess_mapping
from campaigns.imports.parallel import Lanes
from campaigns.imports.sniffing import sniff
from campaigns.imports.writing import ErrorSink
from campaigns.models import DNC, ImportJob, Lead

from .test_import import _job

pytestmark = [pytest.mark.django_db(transaction=True),  # the lanes' connections must see the data
              pytest.mark.postgresql("lanes (SQLite has one writer at a time)")]
ADMIT = intake.admit


def _file(n: int) -> bytes:
    lines = ["phone,first_name"]
    for i in range(n):
        if i % 9 == 4:
            lines.append(f"nope-{i},Bad{i}")                          # invalid
        elif i % 11 == 6:
            lines.append(f"(415) 555-{1000 + i - 3:04d},Again{i}")     # repeats an earlier row (or is new)
        else:
            lines.append(f"(415) 555-{1000 + i:04d},Row{i}")
    return ("\n".join(lines) + "\n").encode()


def _run(campaign, data: bytes, lanes: int, monkeypatch, tmp_path, settings, parallel=True):
    settings.IMPORT_PARALLEL, settings.IMPORT_DB_LANES = parallel, lanes
    admitted_in = []

    def admit(*args, **kwargs):
        admitted_in.append(threading.current_thread().name)
        return ADMIT(*args, **kwargs)

    monkeypatch.setattr(intake, "admit", admit)
    sniffed = sniff(io.BytesIO(data))
    path = tmp_path / f"errors-{lanes}.csv"
    sink = ErrorSink(str(path), sniffed.header, sniffed.delimiter)
    importer = CsvImporter(campaign=campaign, mapping=guess_mapping(sniffed.header),
                                   encoding=sniffed.encoding, delimiter=sniffed.delimiter, batch_size=7, errors=sink)
    progress = []
    importer.run(io.BytesIO(data),
                 on_batch=lambda p: progress.append((p.processed, sum(p.counts.values()), p.error_bytes)))
    sink.close()
    leads = sorted(Lead.objects.values_list("phone", "first_name"))
    Lead.objects.all().delete()
    return dict(importer.counts), path.read_bytes(), progress, leads, admitted_in


def test_lanes_give_the_outcome_error_file_and_progress_of_one_batch_after_another(campaign, monkeypatch, tmp_path,
                                                                                   settings):
    DNC.objects.create(phone="+14155551010")
    data = _file(120)
    inline = _run(campaign, data, 1, monkeypatch, tmp_path, settings)
    laned = _run(campaign, data, 3, monkeypatch, tmp_path, settings)
    sequential = _run(campaign, data, 3, monkeypatch, tmp_path, settings, parallel=False)
    assert sequential[:4] == inline[:4] and set(sequential[4]) == {"MainThread"}
    assert set(inline[4]) == {"MainThread"}
    assert {name.rsplit("_", 1)[0] for name in laned[4]} == {"import-lane-0", "import-lane-1", "import-lane-2"}
    counts, errors, progress, leads, _ = laned
    assert counts == inline[0] and counts["dnc"] == 1 and counts["duplicate_in_file"] > 0
    assert errors == inline[1]  # the same rejected rows, in file order
    assert leads == inline[3] and len(leads) == counts["accepted"]
    # each batch reports after the one before: rows, outcomes and error bytes only grow
    assert [p for p, _, _ in progress] == list(range(7, 120, 7)) + [120]
    assert all(rows == counted for rows, counted, _ in progress)
    assert [b for _, _, b in progress] == sorted(b for _, _, b in progress)
    assert progress == inline[2]


def test_a_failing_batch_keeps_the_batches_before_and_none_after(campaign, lead_list, monkeypatch, settings):
    settings.IMPORT_DB_LANES = 3
    real_admit = intake.admit

    def failing_admit(results, **kwargs):  # the third batch (rows 14-20), whichever lane has it
        if any(r.lead is not None and r.lead.first_name == "Row14" for r in results):
            raise RuntimeError("database went away")
        return real_admit(results, **kwargs)

    monkeypatch.setattr(intake, "admit", failing_admit)
    rows = "".join(f"(212) 555-{1000 + i:04d},Row{i}\n" for i in range(40))
    job = _job(campaign, lead_list, ("phone,first_name\n" + rows).encode())
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        sessions = cursor.fetchone()[0]

    assert run_job(job.pk, batch_size=7) == "failed"

    job.refresh_from_db()
    assert "database went away" in job.message
    assert job.processed_rows == 14 and job.counts == {"accepted": 14}
    assert sorted(Lead.objects.values_list("first_name", flat=True)) == sorted(f"Row{i}" for i in range(14))
    for _ in range(50):  # the lanes closed their connections (a backend may take a moment to go)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            now = cursor.fetchone()[0]
        if now == sessions:
            break
        time.sleep(0.05)
    assert now == sessions
    # resuming (what "Resume" in the admin does) imports the rest once
    monkeypatch.setattr(intake, "admit", real_admit)
    ImportJob.objects.filter(pk=job.pk).update(status="queued")
    assert run_job(job.pk, batch_size=7) == "done"
    assert Lead.objects.count() == 40


def test_inside_a_transaction_batches_are_flushed_in_this_thread(campaign):
    assert Lanes.usable()
    with transaction.atomic():
        assert not Lanes.usable()  # a lane's connection could not see this transaction


def test_a_time_slice_ends_on_a_committed_batch_and_the_next_run_goes_on_from_there(campaign, lead_list,
                                                                                    settings):
    settings.IMPORT_DB_LANES = 3
    rows = "".join(f"(212) 555-{1000 + i:04d},Row{i}\n" for i in range(40))
    job = _job(campaign, lead_list, ("phone,first_name\n" + rows).encode())
    assert run_job(job.pk, batch_size=7, deadline=time.monotonic() - 1) == "continue"
    job.refresh_from_db()
    assert job.status == ImportJob.Status.QUEUED
    assert 0 < job.processed_rows < 40 and job.processed_rows % 7 == 0
    assert Lead.objects.count() == job.counts["accepted"] == job.processed_rows  # progress = what is committed
    assert run_job(job.pk, batch_size=7) == "done"
    job.refresh_from_db()
    assert job.counts == {"accepted": 40} and Lead.objects.count() == 40
