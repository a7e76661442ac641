"""manage.py erase_leads: find a person by phone or email, show what happens, erase, record."""
import io

import pytest
from django.core.management import CommandError, call_command

from campaigns.models import Erasure, Lead
from tests.pipeline.conftest import aimylogic, open_campaign, row  # noqa: F401  (fixtures)
from tests.pipeline.test_erase import platform  # noqa: F401  (fixture)


def run(*args):
    out = io.StringIO()
    call_command("erase_leads", *args, stdout=out)
    return out.getvalue()


def test_help_teaches_both_ways_to_find_a_person(capsys):
    with pytest.raises(SystemExit):
        call_command("erase_leads", "--help")
    text = capsys.readouterr().out
    for words in ("--phone NUMBER", "--email ADDRESS", "--dry-run", "--no-input", "manage.py erase_leads --phone",
                  "unsupported", "DNC list first"):
        assert words in text


def test_it_needs_a_phone_or_an_email_not_both(db):
    with pytest.raises(CommandError, match="one of the arguments --phone --email is required"):
        call_command("erase_leads")
    with pytest.raises(CommandError, match="not allowed with argument"):
        call_command("erase_leads", "--phone", "+14155550001", "--email", "a@example.com")


def test_a_bad_number_or_campaign_is_a_clear_error(db):
    with pytest.raises(CommandError, match="--phone '12': "):
        run("--phone", "12", "--no-input")
    with pytest.raises(CommandError, match="No campaign with slug 'nope'"):
        run("--phone", "+14155550001", "--campaign", "nope")


def test_a_dry_run_shows_the_leads_and_vendors_and_changes_nothing(make_campaign, make_lead, open_campaign, platform,
                                                                   aimylogic, sandbox):
    from campaigns import intake
    from vendors import services

    intake.submit([row(1)], campaign=open_campaign)
    services.deliver_due(threads=1, time_budget=30)
    other = make_lead(make_campaign(), phone="+14155559999", phone_alt="+14155550001")
    out = run("--phone", "(415) 555-0001", "--dry-run")
    assert "2 lead(s) match +14155550001." in out
    assert "Platform sandbox (ipSCAPE Platform API) / Solar US: 1 lead(s): asked to erase the person" in out
    assert "Aimylogic sandbox (Aimylogic) / Solar US: 1 lead(s): CANNOT erase (Aimylogic has no API for erasing" in out
    assert "Dry run: nothing erased." in out
    assert set(Lead.objects.values_list("status", flat=True)) == {"new"} and not Erasure.objects.exists()
    out = run("--phone", "4155550001", "--no-input", "--reason", "DSAR 7")
    assert "Erased the personal data of 2 lead(s)" in out
    assert "Aimylogic sandbox could not be told for 1 lead(s): Aimylogic has no API for erasing a person." in out
    other.refresh_from_db()
    assert (other.status, other.phone, other.phone_alt) == ("erased", f"erased{other.pk}", "")
    [erasure] = Erasure.objects.all()
    assert (erasure.via, erasure.reason, erasure.lead_count) == ("command", "DSAR 7", 2)
    assert erasure.requested_by.startswith("command:")


def test_it_finds_by_email_in_any_case_and_asks_first(monkeypatch, open_campaign, make_lead):
    lead = make_lead(open_campaign, email="Ada@Example.com")
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    with pytest.raises(CommandError, match="Nothing erased"):
        run("--email", "ada@example.COM")
    lead.refresh_from_db()
    assert lead.status == "new"
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    assert "Erased the personal data of 1 lead(s)" in run("--email", "ada@example.COM")
    # the address is gone with the lead: nothing is left to find it by
    assert run("--email", "ada@example.com") == "No lead to erase matches ada@example.com.\n"


def test_campaign_narrows_the_search(make_campaign, make_lead):
    a, b = make_campaign(slug="one"), make_campaign(slug="two")
    in_a, in_b = make_lead(a, phone="+14155550001"), make_lead(b, phone="+14155550001")
    run("--phone", "+14155550001", "--campaign", "two", "--no-input")
    in_a.refresh_from_db(), in_b.refresh_from_db()
    assert (in_a.status, in_b.status) == ("new", "erased")
