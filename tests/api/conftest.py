"""Fixtures for the partner API: keys, authenticated clients, a second partner."""
from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from campaigns.models import ApiKey, Partner


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()  # throttle counters are per key id, and ids repeat between tests
    yield
    cache.clear()


class KeyClient(APIClient):
    def __init__(self, key: ApiKey, raw: str, **kwargs):
        super().__init__(**kwargs)
        self.key, self.raw = key, raw
        self.credentials(HTTP_X_API_KEY=raw)


@pytest.fixture
def issue_key(db):
    def issue(partner, campaigns=(), name=""):
        key, raw = ApiKey.issue(partner, name=name, campaigns=campaigns)
        return KeyClient(key, raw)
    return issue


@pytest.fixture
def api(issue_key, partner):
    """A client with an unrestricted key of ``partner`` (campaign: solar-us)."""
    return issue_key(partner)


@pytest.fixture
def other_partner(db, make_campaign):
    p = Partner.objects.create(name="Rival Leads", slug="rival")
    p.campaigns.add(make_campaign(slug="rival-camp", name="Rival campaign"))
    return p


@pytest.fixture
def anon():
    return APIClient()
