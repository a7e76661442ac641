"""Outcomes, batching, the error CSV, re-import, jobs and the command."""
import csv
import io

import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command

from campaigns.imports.jobs import run_job
from campaigns.models import DNC, ImportJob, Lead


def test_each_outcome_is_counted_and_rejected_rows_go_to_the_error_csv_as_uploaded(run_csv, campaign, make_lead):
    make_lead(campaign, phone="+12125550147")
    DNC.objects.create(phone="+13105550123")
    data = (
        "phone;first_name;email;Notes\n"
        "(415) 555-2671;Ada;ada@example.com;vip\n"      # accepted
        "415.555.2671;Ada again;;\n"                     # duplicate in file
        "212-555-0147;Bob;;\n"                           # duplicate of an existing lead
        "310 555 0123;Carl;;\n"                          # DNC
        "12345;Dora;;\n"                                 # invalid phone
        ";Eve;;\n"                                       # missing phone
        "6505550111;Fay;not-an-email;\n"                 # invalid field
        "6505550112;Gus;;x;extra\n"                      # ragged
    ).encode()
    importer, errors = run_csv(data)
    assert dict(importer.counts) == {
        "accepted": 1, "duplicate_in_file": 1, "duplicate": 1, "dnc": 1, "invalid_phone": 1, "missing_field": 1,
        "invalid_field": 1, "ragged_row": 1,
    }
    rows = list(csv.reader(io.StringIO(errors), delimiter=";"))
    assert rows[0] == ["phone", "first_name", "email", "Notes", "error_code", "error_message"]
    assert [r[:-1] for r in rows[1:]] == [
        ["415.555.2671", "Ada again", "", "", "duplicate_in_file"],
        ["212-555-0147", "Bob", "", "", "duplicate"],
        ["310 555 0123", "Carl", "", "", "dnc"],
        ["12345", "Dora", "", "", "invalid_phone"],
        ["", "Eve", "", "", "missing_field"],
        ["6505550111", "Fay", "not-an-email", "", "invalid_field"],
        ["6505550112", "Gus", "", "x", "ragged_row", rows[7][5]],
    ]
    assert rows[7][-1] == "extra"  # a long row's extra cells come after the message
    assert "+14155552671 appears in an earlier row" in rows[1][-1]
    assert "5 cells; the header has 4" in rows[7][5] and "extra cell(s) follow error_message" in rows[7][5]
    assert "not an email" in rows[6][-1]


def test_duplicates_are_caught_across_batches(run_csv):
    lines = ["phone"] + [f"41555526{i:02d}" for i in range(10)] + ["(415) 555-2600", "415 555 2609"]
    importer, _ = run_csv("\n".join(lines).encode(), batch_size=3)
    assert importer.counts == {"accepted": 10, "duplicate_in_file": 2}
    assert Lead.objects.count() == 10


def test_reimporting_the_same_file_creates_no_duplicates(run_csv):
    data = b"phone,first_name\n4155552671,Ada\n2125550147,Bob\n4155552671,Ada\n"
    first, _ = run_csv(data)
    second, _ = run_csv(data)
    assert first.counts == {"accepted": 2, "duplicate_in_file": 1}
    assert second.counts == {"duplicate": 2, "duplicate_in_file": 1}
    assert Lead.objects.count() == 2


def test_a_dry_run_writes_nothing_but_counts_like_the_real_run(run_csv):
    data = b"phone\n4155552671\n4155552671\nnope\n"
    importer, _ = run_csv(data, dry_run=True, batch_size=1)
    assert importer.counts == {"accepted": 1, "duplicate_in_file": 1, "invalid_phone": 1}
    assert not Lead.objects.exists()


def _job(campaign, lead_list, data: bytes, **kwargs):
    job = ImportJob(campaign=campaign, lead_list=lead_list, original_name="leads.csv", encoding="utf-8",
                    delimiter=",", mapping={"phone": "phone", "first_name": "first_name"},
                    status=ImportJob.Status.QUEUED, **kwargs)
    job.file.save("leads.csv", ContentFile(data), save=False)
    job.save()
    return job


def test_a_job_runs_to_done_with_counts_and_remembers_the_mapping(campaign, lead_list):
    job = _job(campaign, lead_list, b"phone,first_name\n4155552671,Ada\nbad,Bob\n")
    assert run_job(job.pk, batch_size=1) == "done"
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.total_rows) == ("done", 2, 2)
    assert job.counts == {"accepted": 1, "invalid_phone": 1}
    assert job.error_file and "bad,Bob,invalid_phone" in job.error_file.open("rb").read().decode("utf-8-sig")
    lead_list.refresh_from_db()
    assert lead_list.import_mapping == job.mapping
    assert Lead.objects.get().lead_list == lead_list


def test_an_interrupted_job_resumes_where_it_stopped(campaign, lead_list):
    data = b"phone,first_name\n4155552671,Ada\n2125550147,Bob\n4155552671,Ada\nxx,Bad\n"
    job = _job(campaign, lead_list, data)
    # simulate a worker that died after committing the first two rows (and their error bytes)
    run_job(job.pk, batch_size=2)
    job.refresh_from_db()
    done_counts = job.counts
    ImportJob.objects.filter(pk=job.pk).update(
        status="running", processed_rows=2, counts={"accepted": 2}, heartbeat_at=None, finished_at=None,
        error_bytes=len("\ufeffphone,first_name,error_code,error_message\r\n".encode()))
    Lead.objects.all()  # the two leads stay
    assert run_job(job.pk, batch_size=2) == "done"
    job.refresh_from_db()
    assert {k: v for k, v in job.counts.items() if k != "resumes"} == done_counts
    assert job.counts["resumes"] == 1
    errors = job.error_file.open("rb").read().decode("utf-8-sig").splitlines()
    assert len(errors) == 3  # header + the in-file duplicate + the bad number, once each


def test_a_running_job_with_a_live_heartbeat_is_not_taken_twice(campaign, lead_list):
    from django.utils import timezone

    job = _job(campaign, lead_list, b"phone\n4155552671\n")
    ImportJob.objects.filter(pk=job.pk).update(status="running", heartbeat_at=timezone.now())
    assert run_job(job.pk) == "running"
    assert not Lead.objects.exists()


def test_an_import_that_breaks_mid_way_fails_with_what_was_imported(campaign, lead_list, monkeypatch):
    from campaigns import intake

    real_admit, calls = intake.admit, []

    def failing_admit(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real_admit(*args, **kwargs)

    monkeypatch.setattr(intake, "admit", failing_admit)
    job = _job(campaign, lead_list, b"phone,first_name\n4155552671,Ada\n2125550147,Bob\n")
    assert run_job(job.pk, batch_size=1) == "failed"
    job.refresh_from_db()
    assert "1 lead(s) were imported" in job.message and "import the same file again" in job.message
    assert job.counts == {"accepted": 1} and job.processed_rows == 1
    assert "database went away" in job.message
    assert Lead.objects.count() == 1  # the first batch committed, the second left nothing half-done
    monkeypatch.setattr(intake, "admit", real_admit)
    ImportJob.objects.filter(pk=job.pk).update(status="queued")  # what "Resume" in the admin does
    assert run_job(job.pk, batch_size=1) == "done"
    assert Lead.objects.count() == 2


def test_the_command_dry_run_reports_counts_and_writes_nothing(campaign, tmp_path, capsys):
    path = tmp_path / "leads.csv"
    path.write_bytes(b"Mobile;Given;Colour\n4155552671;Ada;red\n4155552671;Ada;red\nnope;X;y\n")
    mapping = tmp_path / "m.json"
    mapping.write_text('{"Given": "first_name"}')
    out = io.StringIO()
    call_command("import_leads", str(path), "--campaign", campaign.slug, "--dry-run", "--mapping", str(mapping),
                 "--no-progress", stdout=out)
    text = out.getvalue()
    assert "Dry run: 1 of 3 rows would be imported; 2 rejected." in text
    assert "Given → first_name" in text and "Colour → metadata" in text and "semicolon" in text
    assert not Lead.objects.exists()
    assert "invalid_phone" in (tmp_path / "leads.csv.errors.csv").read_text(encoding="utf-8-sig")


def test_the_command_imports_with_a_progress_bar_and_remembers_the_list_mapping(campaign, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_bytes(b"Phone,Notes\n4155552671,a\n")
    call_command("import_leads", str(path), "--campaign", campaign.slug, "--list", "Web", stdout=io.StringIO(),
                 stderr=io.StringIO())
    lead = Lead.objects.get()
    assert lead.lead_list.name == "Web" and lead.metadata == {"Notes": "a"}
    assert lead.lead_list.import_mapping == {"Phone": "phone", "Notes": "metadata"}


def test_the_command_explains_bad_input(campaign, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_bytes(b"name,city\nAda,London\n")
    with pytest.raises(CommandError, match="No phone column"):
        call_command("import_leads", str(path), "--campaign", campaign.slug)
    with pytest.raises(CommandError, match="No campaign with slug 'nope'"):
        call_command("import_leads", str(path), "--campaign", "nope")


def test_the_import_keeps_the_cyclic_gc_on_collecting_less_often_and_always_restores_it(run_csv, monkeypatch):
    import gc

    from campaigns import intake
    from campaigns.imports.importer import SPARSE_GC_ALLOCATIONS

    states = []
    real_admit = intake.admit
    thresholds = gc.get_threshold()

    def admit(*args, **kwargs):
        states.append((gc.isenabled(), gc.get_threshold()[0]))
        return real_admit(*args, **kwargs)

    monkeypatch.setattr(intake, "admit", admit)
    assert gc.isenabled()
    run_csv(b"phone\n4155552671\n2125550147\n", batch_size=1)
    assert states == [(True, SPARSE_GC_ALLOCATIONS)] * 2
    assert gc.isenabled() and gc.get_threshold() == thresholds

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(intake, "admit", broken)
    with pytest.raises(RuntimeError):
        run_csv(b"phone\n3125550100\n", batch_size=1)
    assert gc.isenabled() and gc.get_threshold() == thresholds
