"""CSV import, its preview and the admin, with a campaign whose vendors need more than a phone (issue 12,
item 7): the same verdicts as the API, counted."""
from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from campaigns.imports import importer
from campaigns.imports.mapping import guess_mapping
from campaigns.imports.sniffing import sniff
from campaigns.imports.writing import NOT_SENT_EVERYWHERE, rejected_rows
from campaigns.models import Campaign, ImportJob, Lead
from vendors.models import Delivery, Destination, VendorAccount

AKTIFY = "Aktify needs a US state code in region (e.g. CA) or a zip code in postal_code."
CSV = (b"phone,first_name,last_name,email,region,postal_code\n"
       b"(415) 555-2671,Ada,Lovelace,ada@example.com,CA,\n"
       b"(415) 555-2672,Bob,Ng,bob@example.com,,\n"             # neither state nor zip: Aktify refuses
       b"(415) 555-2673,Cy,Ode,cy@example.com,Ontario,\n"      # not a US state, no zip: Aktify refuses
       b"(415) 555-2674,Di,Ray,di@example.com,,10001\n")


@pytest.fixture
def aktify(campaign):
    account = VendorAccount.objects.create(name="Aktify", kind="aktify")
    return Destination.objects.create(campaign=campaign, account=account, secret="ak-key")


def skip_policy(campaign):
    campaign.vendor_requirements_policy = Campaign.VendorRequirementsPolicy.SKIP
    campaign.save()


def preview(campaign):
    sniffed = sniff(io.BytesIO(CSV))
    _, rows = importer.preview(io.BytesIO(CSV), campaign=campaign, mapping=guess_mapping(sniffed.header),
                               encoding=sniffed.encoding, delimiter=sniffed.delimiter)
    return [(r["accepted"], r["code"], r["message"]) for r in rows]


def test_the_import_rejects_and_counts_rows_a_vendor_would_refuse(run_csv, aktify, campaign):
    importer, errors = run_csv(CSV)
    assert importer.counts == {"accepted": 2, "vendor_requirements": 2}
    assert sorted(str(p) for p in Lead.objects.values_list("phone", flat=True)) == ["+14155552671", "+14155552674"]
    rows = list(csv.reader(io.StringIO(errors)))
    assert [(r[0], r[-2], r[-1]) for r in rows[1:]] == [("(415) 555-2672", "vendor_requirements", AKTIFY),
                                                       ("(415) 555-2673", "vendor_requirements", AKTIFY)]


def test_with_the_skip_policy_the_import_takes_them_counts_them_and_skips_the_vendor(run_csv, aktify, campaign):
    skip_policy(campaign)
    importer, errors = run_csv(CSV)
    assert importer.counts == {"accepted": 4, NOT_SENT_EVERYWHERE: 2}
    assert rejected_rows(importer.counts) == 0
    assert set(Delivery.objects.values_list("lead__phone", "status", "code")) == {
        ("+14155552671", "pending", ""), ("+14155552672", "skipped", "vendor_requirements"),
        ("+14155552673", "skipped", "vendor_requirements"), ("+14155552674", "pending", "")}


def test_the_preview_shows_the_same_verdicts(aktify, campaign):
    assert preview(campaign) == [(True, "", ""), (False, "vendor_requirements", AKTIFY),
                                 (False, "vendor_requirements", AKTIFY), (True, "", "")]
    skip_policy(campaign)
    assert preview(campaign) == [(True, "", ""), (True, "", f"Not sent to Aktify: {AKTIFY}"),
                                 (True, "", f"Not sent to Aktify: {AKTIFY}"), (True, "", "")]
    assert not Lead.objects.exists()


# ---- admin -------------------------------------------------------------------------------------------

@pytest.fixture
def staff_client(client, db):
    client.force_login(get_user_model().objects.create_superuser("boss", "boss@example.com", "pw"))
    return client


def test_the_campaign_page_shows_what_its_vendors_need_and_sets_the_policy(staff_client, aktify, campaign):
    page = staff_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert "<strong>region or postal_code</strong>: " + AKTIFY in page
    assert 'name="vendor_requirements_policy"' in page


def test_the_import_result_page_counts_the_leads_not_sent_everywhere(staff_client, aktify, campaign):
    job = ImportJob.objects.create(campaign=campaign, original_name="x.csv", status=ImportJob.Status.DONE,
                                   counts={"accepted": 4, NOT_SENT_EVERYWHERE: 2, "vendor_requirements": 1})
    page = staff_client.get(reverse("admin:campaigns_lead_import_progress", args=[job.pk])).content.decode()
    assert "Imported, but not sent to a vendor whose needs it misses" in page
    assert "Misses what a vendor of the campaign needs" in page


def _add_form(campaign, **values):
    data = {"campaign": campaign.pk, "lead_list": "", "partner": "", "phone": "(415) 555-2671", "phone_alt": "",
            "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "address": "", "city": "",
            "region": "", "postal_code": "", "country": "", "timezone": "", "external_id": "", "source": "",
            "link": "", "metadata": "{}", "consent_at_0": "", "consent_at_1": "", "consent_url": "",
            "scheduled_at_0": "", "scheduled_at_1": "", "deliveries-TOTAL_FORMS": "0",
            "deliveries-INITIAL_FORMS": "0", "vendor_outcomes-TOTAL_FORMS": "0", "vendor_outcomes-INITIAL_FORMS": "0"}
    data.update(values)
    return data


def test_adding_a_lead_in_the_admin_shows_the_vendors_needs_as_field_errors(staff_client, aktify, campaign):
    response = staff_client.post(reverse("admin:campaigns_lead_add"), _add_form(campaign))
    form = response.context["adminform"].form
    assert form.errors == {"region": [AKTIFY], "postal_code": [AKTIFY]}
    assert not Lead.objects.exists()


def test_with_the_skip_policy_the_admin_adds_the_lead_and_warns_which_vendor_it_skips(staff_client, aktify,
                                                                                      campaign):
    skip_policy(campaign)
    response = staff_client.post(reverse("admin:campaigns_lead_add"), _add_form(campaign), follow=True)
    assert Lead.objects.count() == 1
    assert f"Not sent to Aktify: {AKTIFY}" in [str(m) for m in response.context["messages"]]
    assert Delivery.objects.get().status == "skipped"
