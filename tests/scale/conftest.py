"""Tables past PostgreSQL's 65,535 bound parameters, filled set-wise (one INSERT … SELECT each).

Every test here needs PostgreSQL (skipped on SQLite by the hook below, where the
limit does not arise the same way) and builds its rows in the database, not through
the ORM one by one, so the whole module stays within seconds.
"""
import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from vendors.models import Destination, VendorAccount

# More rows than one statement can bind parameters for.
MANY = 70_000


def pytest_collection_modifyitems(config, items):
    needs = pytest.mark.postgresql("65,535 bound parameters per statement")
    for item in items:
        if "tests/scale/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(needs)


def load_leads(campaign, n: int = MANY, *, lead_list=None, status: str = "new", first: int = 2_012_000_000):
    """``n`` leads in ``campaign`` with phones +1<first+1> … in one statement; returns their ids."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO campaigns_lead (campaign_id, lead_list_id, partner_id, phone, phone_alt, first_name, "
            "last_name, email, address, city, region, postal_code, country, timezone, external_id, source, link, "
            "metadata, consent_url, status, created_at, updated_at) "
            "SELECT %s, %s, NULL, '+1' || (%s::bigint + g)::text, '', 'Bulk', 'Lead' || g, '', '', '', '', '', "
            "'US', 'America/New_York', '', 'test', '', '{}', '', %s, now(), now() "
            "FROM generate_series(1, %s) AS g RETURNING id",
            [campaign.pk, lead_list.pk if lead_list else None, first, status, n])
        return sorted(row[0] for row in cursor.fetchall())


def phones(n: int = MANY, first: int = 2_012_000_000) -> list[str]:
    return [f"+1{first + g}" for g in range(1, n + 1)]


def load_accepted_pushes(campaign, destination) -> int:
    """An accepted push to ``destination`` for every lead of ``campaign`` (the vendor holds them)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO vendors_delivery (lead_id, destination_id, operation, status, attempts, due_at, remote_ref, "
            "code, message, created_at, updated_at) "
            "SELECT id, %s, 'push', 'accepted', 1, now(), 'remote-' || id, '', '', now(), now() "
            "FROM campaigns_lead WHERE campaign_id = %s ORDER BY id", [destination.pk, campaign.pk])  # ids in lead order
        return cursor.rowcount


@pytest.fixture
def destination(campaign):
    account = VendorAccount.objects.create(name="Platform", kind="platform", credentials={"api_key": "k"})
    return Destination.objects.create(campaign=campaign, account=account, remote_ref="list-1")


@pytest.fixture
def staff_client(client, db):
    client.force_login(get_user_model().objects.create_superuser("boss", "boss@example.com", "pw"))
    return client
