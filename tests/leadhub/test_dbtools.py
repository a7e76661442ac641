"""leadhub.dbtools: each function's PostgreSQL variant and its SQLite fallback."""
import pytest
from django.db import connection, transaction

from campaigns.models import Lead
from leadhub import dbtools


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_commit_without_waiting_for_disk_runs_in_any_transaction():
    with transaction.atomic():
        dbtools.commit_without_waiting_for_disk()  # SQLite: nothing to change, and no error
        assert Lead.objects.count() == 0  # the transaction goes on


@pytest.mark.django_db(transaction=True)  # a real transaction: SET LOCAL ends with its commit
@pytest.mark.postgresql("synchronous_commit")
def test_a_commit_without_waiting_for_disk_is_this_transactions_only():
    before = _synchronous_commit()
    assert before != "off"
    with transaction.atomic():
        dbtools.commit_without_waiting_for_disk()
        assert _synchronous_commit() == "off"
    assert _synchronous_commit() == before

