"""leadhub.dbtools: each function's PostgreSQL variant and its SQLite fallback."""
import pytest
from django.db import connection, transaction

from leadhub import dbtools


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)  # a real transaction: SET LOCAL ends with its commit
def test_a_commit_without_waiting_for_disk_is_this_transactions_only():
    if connection.vendor != "postgresql":
        with transaction.atomic():
            dbtools.commit_without_waiting_for_disk()  # SQLite: nothing to change, and no error
        return
    before = _synchronous_commit()
    assert before != "off"
    with transaction.atomic():
        dbtools.commit_without_waiting_for_disk()
        assert _synchronous_commit() == "off"
    assert _synchronous_commit() == before

