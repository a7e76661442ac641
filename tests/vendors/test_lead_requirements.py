"""What each vendor client says a lead needs (``lead_requirements``), read from its seed, and that
the sandbox vendors agree: what meets the declaration is taken, what misses it is refused."""
from __future__ import annotations

import pytest

from campaigns.models import Lead
from vendors.integrations.aimylogic import AimylogicClient
from vendors.integrations.aktify import AktifyClient
from vendors.integrations.base import ACCEPTED, REJECTED, Item, VendorClient
from vendors.integrations.comunik8 import Comunik8Client
from vendors.integrations.eightbyeight import EightByEightClient
from vendors.integrations.platform import PlatformClient
from vendors.models import Destination, VendorAccount

FULL = dict(phone="+14155552671", first_name="Ada", last_name="Lovelace", email="ada@example.com", region="CA",
            postal_code="94103", external_id="1000777", metadata={"acct": "555"})


def unmet(cls, settings=None, **changes) -> dict[tuple[str, ...], str]:
    """{fields: message} of the requirements a lead with FULL + changes does not meet."""
    lead = Lead(**{**FULL, **changes})
    return {r.fields: r.message for r in cls.lead_requirements(settings or {}) if not r.met(lead)}


def test_the_base_client_needs_only_a_phone_number():
    assert [r.fields for r in VendorClient.lead_requirements({})] == [("phone",)]
    assert unmet(VendorClient, first_name="", email="", region="", postal_code="", external_id="") == {}
    assert unmet(VendorClient, phone="") == {("phone",): "a phone number (phone)"}


# Seed 000, CreateLead: region "Required if zipCode is not provided. Restricted to US state codes.";
# zipCode "Required if region is not provided."
@pytest.mark.parametrize("region, postal_code, ok", [
    ("CA", "", True),           # a state code alone
    ("ca", "", True),           # sent upper-cased
    ("", "90210", True),        # a zip code alone
    ("Ontario", "90210", True),  # the zip code carries it (the region is left out of the request)
    ("Ontario", "", False),     # not a US state code, no zip code
    ("", "", False),
])
def test_aktify_needs_a_us_state_code_or_a_zip_code(region, postal_code, ok):
    missing = unmet(AktifyClient, region=region, postal_code=postal_code, first_name="", last_name="", email="")
    assert missing == ({} if ok else {
        ("region", "postal_code"): "a US state code in region (e.g. CA) or a zip code in postal_code"})


# Seed 002, FIELDS: email "valid e-mail address" yes; first_name yes; surname yes; mobile yes; type yes
# (the type is the destination's remote_ref, not the lead's).
def test_comunik8_needs_email_first_name_and_surname():
    assert unmet(Comunik8Client) == {}
    assert unmet(Comunik8Client, email="", first_name="", last_name="", region="", postal_code="") == {
        ("email",): "an email address (email)",
        ("first_name",): "a first name (first_name)",
        ("last_name",): "a surname (last_name)",
    }


# Seed 003, CustomerItem: required ["customer-id"], "format": "int32"; the Local CRM account number.
@pytest.mark.parametrize("settings, changes, missing_field", [
    ({}, {}, None),
    ({}, {"external_id": ""}, "external_id"),
    ({}, {"external_id": "AB-77"}, "external_id"),                         # not a number
    ({"customer_id_field": "metadata.acct"}, {"external_id": ""}, None),
    ({"customer_id_field": "metadata.acct"}, {"metadata": {}}, "metadata.acct"),
    ({"customer_id_field": "id"}, {"external_id": "", "metadata": {}}, None),  # LeadHub's id: always there
])
def test_8x8_needs_a_numeric_customer_id_where_the_destination_reads_it(settings, changes, missing_field):
    missing = unmet(EightByEightClient, settings, **changes)
    if missing_field is None:
        assert missing == {}
    else:
        [(fields, message)] = missing.items()
        assert fields == (missing_field,)
        assert "numeric 8x8 Local CRM account number (customer-id)" in message and missing_field in message


# Seed 001, RequestCreateLead: only listId is required (the destination's); customerKey is our key.
def test_platform_needs_what_it_sends_as_customer_key():
    assert unmet(PlatformClient, email="", external_id="", first_name="", region="", postal_code="") == {}
    assert unmet(PlatformClient, {"customer_key_field": "external_id"}, external_id="") == {
        ("external_id",): "external_id, which this destination sends as customerKey (the key it finds the lead by)"}


# Seed 004: "phone | Customer phone number. Required field."; every other field is optional.
def test_aimylogic_needs_only_the_phone_number():
    assert unmet(AimylogicClient, first_name="", last_name="", email="", region="", postal_code="",
                 external_id="") == {}


# ---- the sandbox vendors agree with the declarations -------------------------------------------------

@pytest.fixture
def destination(db, sandbox, campaign):
    def make(kind, path, **fields):
        account = VendorAccount.objects.create(name=kind, kind=kind, base_url=sandbox.url(path),
                                               credentials=fields.pop("credentials", {}), max_requests_per_second=1000)
        return Destination.objects.create(campaign=campaign, account=account, **fields)
    return make


def test_aktify_takes_a_lead_with_only_a_zip_code(destination, campaign, make_lead, sandbox):
    dest = destination("aktify", "aktify", secret="ak-key")
    client = AktifyClient(dest.account, dest)
    lead = make_lead(campaign, region="", postal_code="90210")
    assert not unmet(AktifyClient, region="", postal_code="90210")
    [result] = client.push([Item(id=1, lead=lead)])
    assert result.status == ACCEPTED, result
    [received] = sandbox.requests("aktify")
    assert received["body"]["zipCode"] == "90210" and "region" not in received["body"]


def test_comunik8_refuses_what_its_requirements_say_a_lead_needs(destination, campaign, make_lead, sandbox):
    dest = destination("comunik8", "comunik8", remote_ref="solar", credentials={"api_key": "c8-key-555"})
    client = Comunik8Client(dest.account, dest)
    good = make_lead(campaign, phone="+447840258823")
    nameless = make_lead(campaign, phone="+447840258824", email="", last_name="")
    assert unmet(Comunik8Client, email="", last_name="")  # LeadHub would not have sent it
    results = client.push([Item(id=1, lead=good), Item(id=2, lead=nameless)])
    assert [r.status for r in results] == [ACCEPTED, REJECTED]
    assert "Email cannot be blank." in results[1].message and "Surname cannot be blank." in results[1].message
