"""CSV edge cases (issue 15, item 2): ragged rows, formula rules, refusals at upload,
abandoned uploads, phone extensions, one size limit, phones in the export."""
import csv
import datetime as dt
import io
import os

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from campaigns import tasks
from campaigns.imports.formulas import protect
from campaigns.imports.importer import CsvImporter
from campaigns.imports.sniffing import MAX_LINE_BYTES, format_bytes, scan_lines
from campaigns.models import ImportJob, Lead
from vendors.schedules import SCHEDULES


@pytest.fixture
def staff_client(client, db):
    client.force_login(get_user_model().objects.create_superuser("boss", "boss@example.com", "pw"))
    return client


def _rows(text: str, delimiter=","):
    return list(csv.reader(io.StringIO(text), delimiter=delimiter))


# --- ragged rows -------------------------------------------------------------------


def test_a_short_row_is_padded_so_error_code_lands_under_its_header(run_csv):
    importer, errors = run_csv(b"phone,first_name,last_name,email\n4155552671,Ada\n")
    assert importer.counts == {"ragged_row": 1}
    header, row = _rows(errors)
    assert header == ["phone", "first_name", "last_name", "email", "error_code", "error_message"]
    assert row[:5] == ["4155552671", "Ada", "", "", "ragged_row"]
    assert dict(zip(header, row))["error_code"] == "ragged_row"
    assert "2 cells; the header has 4" in dict(zip(header, row))["error_message"]


# --- formula rules -------------------------------------------------------------------


@pytest.mark.parametrize("cell,written", [
    ("=SUM(A1)", "'=SUM(A1)"),             # a formula: neutralised
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3+cmd", "'-2+3+cmd"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("+14155552671", "+14155552671"),     # a plain signed number is no formula
    ("-2", "-2"),
    ("'=SUM(A1)", "'=SUM(A1)"),           # already escaped: never a second apostrophe
    ("'hello", "'hello"),
    ("plain", "plain"),
])
def test_error_file_cells_get_an_apostrophe_only_where_a_spreadsheet_would_run_a_formula(cell, written):
    assert protect(cell) == written


def test_error_file_keeps_uploaded_apostrophes_and_protects_messages_only_when_they_are_formulas(
        run_csv, monkeypatch):
    # a message is text: it starts with "+" when it echoes a number, and is protected only if it is a formula
    messages = iter(["+14155552670 is not valid", "+14155552671"])
    real = CsvImporter._reject
    monkeypatch.setattr(CsvImporter, "_reject",
                        lambda self, cells, code, message: real(self, cells, code, next(messages)))
    _, errors = run_csv(b"phone,note\nnot a number,'=x\n'bad,=1+1\n")
    rows = _rows(errors)
    assert rows[1] == ["not a number", "'=x", "invalid_phone", "'+14155552670 is not valid"]
    assert rows[2] == ["'bad", "'=1+1", "invalid_phone", "+14155552671"]


def test_export_does_not_prefix_e164_phones_and_still_imports_back(staff_client, campaign, make_campaign, run_csv):
    Lead.objects.create(campaign=campaign, phone="+14155552671", phone_alt="+12125550147", first_name="'=x",
                        country="US", timezone="America/Los_Angeles")
    response = staff_client.post(reverse("admin:campaigns_lead_changelist"), {
        "action": "export_csv", "_selected_action": list(Lead.objects.values_list("pk", flat=True))})
    data = b"".join(response.streaming_content)
    header, row = _rows(data.decode("utf-8-sig"))
    exported = dict(zip(header, row))
    assert (exported["phone"], exported["phone_alt"]) == ("+14155552671", "+12125550147")
    # a stored value that starts with an escaped formula keeps its apostrophe through a round trip
    assert exported["first_name"] == "''=x"
    other = make_campaign(default_region="US")
    importer, _ = run_csv(data, target=other)
    assert importer.counts == {"accepted": 1}
    assert Lead.objects.get(campaign=other).first_name == "'=x"


# --- refused at upload -------------------------------------------------------------


def test_a_header_only_file_is_refused_at_upload(staff_client, campaign):
    response = staff_client.post(reverse("admin:campaigns_lead_import"), {
        "campaign": campaign.pk, "file": SimpleUploadedFile("leads.csv", b"phone,first_name\r\n\r\n")})
    assert response.status_code == 200
    assert "no leads: there are no rows to import" in str(response.context["form"].errors["file"])
    assert not ImportJob.objects.exists()


def test_a_file_of_one_huge_line_is_refused_at_upload(staff_client, campaign):
    line = b"phone," + b"x" * (MAX_LINE_BYTES + 10)
    response = staff_client.post(reverse("admin:campaigns_lead_import"), {
        "campaign": campaign.pk, "file": SimpleUploadedFile("leads.csv", line)})
    errors = str(response.context["form"].errors["file"])
    assert "without a line break" in errors and "the limit is 1 MB" in errors
    assert not ImportJob.objects.exists()


def test_the_line_scan_measures_lines_across_chunks_and_any_line_break():
    long_run = b"a" * (MAX_LINE_BYTES - 5)
    assert scan_lines(io.BytesIO(b"phone\n1\n" + long_run + b"\n2\n")) == (4, len(long_run))
    assert scan_lines(io.BytesIO(b"ab\rcd\r" * 400_000))[1] == 2   # old Mac line breaks
    over = b"phone\n" + b"b" * (MAX_LINE_BYTES + 1) + b"\n"
    assert scan_lines(io.BytesIO(over))[1] == MAX_LINE_BYTES + 1


# --- one size limit ------------------------------------------------------------------


def test_the_size_limit_is_one_number_in_one_unit(staff_client, campaign, settings):
    assert settings.IMPORT_MAX_FILE_BYTES == 200_000_000
    page = staff_client.get(reverse("admin:campaigns_lead_import"))
    assert b'<span id="import-size-limit">200 MB</span>' in page.content
    readme = (settings.BASE_DIR / "README.md").read_text()
    assert "| `IMPORT_MAX_FILE_BYTES` | `200000000` | CSV upload limit in bytes: 200 MB" in readme
    settings.IMPORT_MAX_FILE_BYTES = 10
    response = staff_client.post(reverse("admin:campaigns_lead_import"), {
        "campaign": campaign.pk, "file": SimpleUploadedFile("leads.csv", b"phone\n4155552671\n")})
    assert "the limit is 10 bytes" in str(response.context["form"].errors["file"])
    assert format_bytes(209_715_200) == "209.7 MB" and format_bytes(200_000_000) == "200 MB"


# --- abandoned uploads -------------------------------------------------------------


def _uploaded(campaign, user=None, hours_ago=0):
    job = ImportJob(campaign=campaign, original_name="old.csv", created_by=user)
    job.file.save("old.csv", ContentFile(b"phone\n4155552671\n"), save=False)
    job.save()
    ImportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - dt.timedelta(hours=hours_ago))
    return job


def test_an_unfinished_upload_has_a_continue_link(staff_client, campaign):
    user = get_user_model().objects.get(username="boss")
    job = _uploaded(campaign, user)
    mapping_url = reverse("admin:campaigns_lead_import_map", args=[job.pk])
    page = staff_client.get(reverse("admin:campaigns_lead_import"))
    assert f'<a href="{mapping_url}">continue</a>'.encode() in page.content
    assert b"deleted with their files" in page.content
    jobs = staff_client.get(reverse("admin:campaigns_importjob_changelist"))
    assert f'<a href="{mapping_url}">Continue: map the columns</a>'.encode() in jobs.content
    progress = staff_client.get(reverse("admin:campaigns_lead_import_progress", args=[job.pk]))
    assert progress.status_code == 302 and progress.url == mapping_url


def test_abandoned_uploads_are_deleted_with_their_files_after_the_documented_age(campaign, settings):
    assert settings.IMPORT_ABANDONED_HOURS == 24
    old = _uploaded(campaign, hours_ago=25)
    recent = _uploaded(campaign, hours_ago=23)
    started = _uploaded(campaign, hours_ago=48)
    ImportJob.objects.filter(pk=started.pk).update(status=ImportJob.Status.DONE)
    old_path = old.file.path

    assert tasks.delete_abandoned_uploads() == 1
    assert set(ImportJob.objects.values_list("pk", flat=True)) == {recent.pk, started.pk}
    assert not os.path.exists(old_path) and os.path.exists(recent.file.path)
    readme = (settings.BASE_DIR / "README.md").read_text()
    assert "| `IMPORT_ABANDONED_HOURS` | `24` |" in readme


def test_the_clean_up_is_a_periodic_schedule_installed_by_migrate(db):
    from django_q.models import Schedule

    spec = next(s for s in SCHEDULES if s["func"] == "campaigns.tasks.delete_abandoned_uploads")
    Schedule.objects.filter(name=spec["name"]).delete()
    call_command("migrate", verbosity=0)  # nothing to migrate; post_migrate installs the schedules
    schedule = Schedule.objects.get(name=spec["name"])
    assert (schedule.func, schedule.schedule_type, schedule.repeats) == (
        "campaigns.tasks.delete_abandoned_uploads", Schedule.HOURLY, -1)


# --- phone extensions ----------------------------------------------------------------


def test_a_phone_extension_is_kept_in_the_leads_metadata(run_csv):
    importer, _ = run_csv(b"phone,phone_alt,first_name\n(415) 555-2671 ext 12,212-555-0147 x7,Ada\n"
                          b"3105550123 #45,,Bo\n6505550111,,Cy\n")
    assert importer.counts == {"accepted": 3}
    leads = {lead.first_name: lead for lead in Lead.objects.all()}
    assert leads["Ada"].phone == "+14155552671"
    assert leads["Ada"].metadata == {"phone_extension": "12", "phone_alt_extension": "7"}
    assert leads["Bo"].metadata == {"phone_extension": "45"}
    assert leads["Cy"].metadata == {}


def test_an_upload_the_new_checks_refuse_says_why_at_the_mapping_step(staff_client, campaign):
    job = ImportJob(campaign=campaign, original_name="old.csv")
    job.file.save("old.csv", ContentFile(b"phone,first_name\n"), save=False)  # uploaded before the check
    job.save()
    response = staff_client.get(reverse("admin:campaigns_lead_import_map", args=[job.pk]), follow=True)
    assert response.redirect_chain == [(reverse("admin:campaigns_lead_import"), 302)]
    assert [str(m) for m in response.context["messages"]] == [
        "old.csv: The file has a header row and no leads: there are no rows to import under phone, first_name."]
