"""Export: streamed, formula-neutralised, and importable back to the same leads."""
import csv
import datetime as dt
import io

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from campaigns.imports.export import stream_csv
from campaigns.imports.formulas import neutralise, unneutralise
from campaigns.models import Lead

FIELDS = ["phone", "phone_alt", "first_name", "last_name", "email", "address", "city", "region", "postal_code",
          "country", "timezone", "external_id", "source", "link", "consent_at", "consent_url", "scheduled_at",
          "metadata"]


@pytest.mark.parametrize("value,expected", [
    ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"), ("+14155552671", "+14155552671"), ("-2", "-2"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("'=x", "''=x"), ("plain", "plain"),
    ("it's", "it's"), ("", ""),
])
def test_formula_cells_are_neutralised_and_the_importer_undoes_exactly_that(value, expected):
    assert neutralise(value) == expected
    assert unneutralise(neutralise(value)) == value


def test_stream_csv_is_streamed_and_neutralised():
    response = stream_csv(["a", "b"], iter([["=1+1", 2], [None, "ok"]]), "x.csv")
    assert response.streaming and response["Content-Disposition"] == 'attachment; filename="x.csv"'
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(body))) == [["a", "b"], ["'=1+1", "2"], ["", "ok"]]


@pytest.fixture
def staff_client(client, db):
    client.force_login(get_user_model().objects.create_superuser("boss", "boss@example.com", "pw"))
    return client


def test_export_then_import_gives_the_same_leads(staff_client, campaign, make_campaign, lead_list, run_csv):
    Lead.objects.create(
        campaign=campaign, lead_list=lead_list, phone="+14155552671", phone_alt="+12125550147", first_name="=cmd|' /C calc'!A0",
        last_name="-Dash", email="ada@example.com", address="@home", city="Zürich", region="CA", postal_code="94103",
        country="US", timezone="America/Los_Angeles", external_id="+42", source="web", link="https://example.com/a",
        consent_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc), consent_url="https://example.com/c",
        scheduled_at=dt.datetime(2026, 5, 1, 14, 30, tzinfo=dt.timezone.utc),
        metadata={"colour": "=red", "note": "a,b \"q\""},
    )
    Lead.objects.create(campaign=campaign, phone="+13105550123", first_name="Bo", country="US",
                        timezone="America/Los_Angeles")
    response = staff_client.post(reverse("admin:campaigns_lead_changelist"), {
        "action": "export_csv", "_selected_action": list(Lead.objects.values_list("pk", flat=True))})
    assert response.status_code == 200 and response.streaming
    data = b"".join(response.streaming_content)
    text = data.decode("utf-8-sig")
    assert "'=cmd|" in text and "'-Dash" in text and "'@home" in text
    # only plain numbers (E.164 phones, +42) start with a formula character: no spreadsheet runs them
    starting = {cell for row in csv.reader(io.StringIO(text)) for cell in row if cell and cell[0] in "=+-@"}
    assert starting == {"+14155552671", "+12125550147", "+13105550123", "+42"}

    other = make_campaign(default_region="US")
    importer, _ = run_csv(data, target=other)
    assert importer.counts == {"accepted": 2}
    for original in Lead.objects.filter(campaign=campaign):
        copy = Lead.objects.get(campaign=other, phone=original.phone)
        assert {f: getattr(copy, f) for f in FIELDS} == {f: getattr(original, f) for f in FIELDS}
