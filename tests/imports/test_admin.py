"""The admin path end to end: upload → map → preview → import (django-q2 sync) → result."""
import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns.models import DNC, ImportJob, Lead


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    return client


CSV = (b"Cell;Given;surname;E-mail;Favourite\n"
       b"(415) 555-2671;Ada;Lovelace;ada@example.com;tea\n"
       b"415-555-2671;Ada;Again;;\n"
       b"310 555 0123;Dee;Enn;;\n"
       b"not a number;Bad;Row;;\n")


def test_upload_map_preview_import_result(staff_client, campaign, lead_list, settings):
    assert settings.Q_CLUSTER["sync"] is True  # async_task runs the import inline
    DNC.objects.create(phone="+13105550123")
    changelist = staff_client.get(reverse("admin:campaigns_lead_changelist"))
    assert b"Import CSV" in changelist.content

    upload = staff_client.post(reverse("admin:campaigns_lead_import"), {
        "campaign": campaign.pk, "lead_list": lead_list.pk,
        "file": SimpleUploadedFile("october.csv", CSV, content_type="text/csv"),
    })
    job = ImportJob.objects.get()
    assert upload.status_code == 302 and upload.url == reverse("admin:campaigns_lead_import_map", args=[job.pk])
    assert (job.encoding, job.delimiter, job.status) == ("utf-8", ";", "uploaded")

    page = staff_client.get(upload.url)
    assert page.status_code == 200 and b"semicolon" in page.content
    form = page.context["form"]
    assert form.initial == {"col_0": "phone", "col_1": "metadata", "col_2": "last_name", "col_3": "email",
                            "col_4": "metadata"}
    mapped = staff_client.post(upload.url, {"col_0": "phone", "col_1": "first_name", "col_2": "last_name",
                                            "col_3": "email", "col_4": "metadata"})
    assert mapped.url == reverse("admin:campaigns_lead_import_preview", args=[job.pk])

    preview = staff_client.get(mapped.url)
    verdicts = [(r["accepted"], r["code"]) for r in preview.context["rows"]]
    assert verdicts == [(True, ""), (False, "duplicate_in_file"), (False, "dnc"), (False, "invalid_phone")]
    assert b"Import the whole file" in preview.content
    assert not Lead.objects.exists()

    confirmed = staff_client.post(mapped.url)
    assert confirmed.url == reverse("admin:campaigns_lead_import_progress", args=[job.pk])
    job.refresh_from_db()
    assert job.status == "done", job.message
    assert job.counts == {"accepted": 1, "duplicate_in_file": 1, "dnc": 1, "invalid_phone": 1}
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name, str(lead.phone), lead.metadata) == ("Ada", "Lovelace", "+14155552671",
                                                                                 {"Favourite": "tea"})
    assert lead.lead_list == lead_list

    status = staff_client.get(reverse("admin:campaigns_lead_import_status", args=[job.pk])).json()
    assert status["finished"] and status["percent"] == 100 and status["counts"]["accepted"] == 1

    result = staff_client.get(confirmed.url)
    assert b"Duplicate within the file" in result.content and b"Download the rejected rows" in result.content
    download = staff_client.get(reverse("admin:campaigns_lead_import_errors", args=[job.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode("utf-8-sig")), delimiter=";"))
    assert rows[0][-2:] == ["error_code", "error_message"]
    assert [r[0] for r in rows[1:]] == ["415-555-2671", "310 555 0123", "not a number"]

    lead_list.refresh_from_db()
    assert lead_list.import_mapping["Given"] == "first_name"
    # the next upload to the same list is offered the remembered mapping
    staff_client.post(reverse("admin:campaigns_lead_import"), {
        "campaign": campaign.pk, "lead_list": lead_list.pk, "file": SimpleUploadedFile("nov.csv", CSV)})
    assert ImportJob.objects.latest("pk").mapping["Given"] == "first_name"


def test_uploading_a_bad_file_shows_the_reason(staff_client, campaign):
    response = staff_client.post(reverse("admin:campaigns_lead_import"), {
        "campaign": campaign.pk, "file": SimpleUploadedFile("leads.csv", b"PK\x03\x04" + bytes(50))})
    assert response.status_code == 200
    assert "Excel workbook" in str(response.context["form"].errors["file"])
    assert not ImportJob.objects.exists()


def test_a_file_over_the_limit_is_refused(staff_client, campaign, settings):
    settings.IMPORT_MAX_FILE_BYTES = 10
    response = staff_client.post(reverse("admin:campaigns_lead_import"), {
        "campaign": campaign.pk, "file": SimpleUploadedFile("leads.csv", b"phone\n4155552671\n")})
    assert "the limit is" in str(response.context["form"].errors["file"])


def test_mapping_without_a_phone_column_is_refused(staff_client, campaign):
    staff_client.post(reverse("admin:campaigns_lead_import"), {
        "campaign": campaign.pk, "file": SimpleUploadedFile("leads.csv", b"a,b\n4155552671,x\n")})
    job = ImportJob.objects.get()
    response = staff_client.post(reverse("admin:campaigns_lead_import_map", args=[job.pk]),
                                 {"col_0": "metadata", "col_1": "metadata"})
    assert response.status_code == 200 and b"No phone column" in response.content


def test_the_campaign_and_list_actions_open_the_upload(staff_client, campaign, lead_list):
    response = staff_client.post(reverse("admin:campaigns_campaign_changelist"),
                                 {"action": "import_csv", "_selected_action": [campaign.pk]})
    assert response.url == reverse("admin:campaigns_lead_import") + f"?campaign={campaign.pk}"
    response = staff_client.post(reverse("admin:campaigns_leadlist_changelist"),
                                 {"action": "import_csv", "_selected_action": [lead_list.pk]})
    assert response.url == reverse("admin:campaigns_lead_import") + f"?lead_list={lead_list.pk}"
    page = staff_client.get(response.url)
    assert page.context["form"].initial == {"lead_list": lead_list.pk, "campaign": campaign.pk}


def test_the_import_job_admin_lists_progress_and_error_link(staff_client, campaign):
    job = ImportJob.objects.create(campaign=campaign, original_name="x.csv", status="done", processed_rows=3,
                                   total_rows=3, counts={"accepted": 2, "dnc": 1})
    page = staff_client.get(reverse("admin:campaigns_importjob_changelist"))
    assert page.status_code == 200 and b"x.csv" in page.content and b"100%" in page.content
    detail = staff_client.get(reverse("admin:campaigns_importjob_change", args=[job.pk]))
    assert detail.status_code == 200 and b"On the do-not-call list: 1" in detail.content
