"""Shared fixtures: factories for the domain and a real-HTTP vendor sandbox."""
from __future__ import annotations

import itertools
import json
import urllib.request

import pytest

from campaigns.models import Campaign, Lead, LeadList, Partner
from leadhub import dbtools

_seq = itertools.count(1)


def pytest_runtest_setup(item):
    """``@pytest.mark.postgresql("why")``: the one place a test asks which database it runs on."""
    marker = item.get_closest_marker("postgresql")
    if marker and not dbtools.postgresql():
        pytest.skip(f"needs PostgreSQL: {marker.args[0] if marker.args else 'PostgreSQL-only behaviour'}")


@pytest.fixture(autouse=True)
def _api_contract(request, monkeypatch):
    """Every response a test client gets from /api/v1/ must match the OpenAPI document
    (tests/contract.py). A test that breaks the API on purpose opts out with
    ``@pytest.mark.no_contract("why")``."""
    if request.node.get_closest_marker("no_contract"):
        return
    from django.test.client import Client

    from tests import contract

    original = Client.request

    def request_and_check(self, **kwargs):
        response = original(self, **kwargs)
        if kwargs.get("PATH_INFO", "").startswith(contract.API_PREFIX):
            contract.check_django(response)
        return response

    monkeypatch.setattr(Client, "request", request_and_check)


@pytest.fixture
def campaign(db):
    return Campaign.objects.create(name="Solar US", slug="solar-us", status=Campaign.Status.ACTIVE,
                                   timezone="America/New_York", default_region="US")


@pytest.fixture
def make_campaign(db):
    def make(**kwargs):
        n = next(_seq)
        kwargs.setdefault("name", f"Campaign {n}")
        kwargs.setdefault("slug", f"campaign-{n}")
        kwargs.setdefault("status", Campaign.Status.ACTIVE)
        return Campaign.objects.create(**kwargs)
    return make


@pytest.fixture
def make_lead(db):
    """Create a lead directly (bypassing intake) with plausible defaults."""
    def make(campaign, **kwargs):
        n = next(_seq)
        kwargs.setdefault("phone", f"+1415555{n % 10000:04d}")
        kwargs.setdefault("first_name", "Ada")
        kwargs.setdefault("last_name", f"Lovelace{n}")
        kwargs.setdefault("email", f"ada{n}@example.com")
        kwargs.setdefault("region", "CA")
        kwargs.setdefault("postal_code", "94103")
        kwargs.setdefault("country", "US")
        kwargs.setdefault("timezone", "America/Los_Angeles")
        return Lead.objects.create(campaign=campaign, **kwargs)
    return make


@pytest.fixture
def partner(db, campaign):
    p = Partner.objects.create(name="Acme Leads", slug="acme")
    p.campaigns.add(campaign)
    return p


@pytest.fixture
def lead_list(db, campaign):
    return LeadList.objects.create(campaign=campaign, name="October", source="web")


class SandboxHandle:
    """Talks to a running sandbox over its /_sandbox/ control endpoints."""

    def __init__(self, server):
        self.server = server
        self.base_url = server.base_url

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def url(self, prefix: str) -> str:
        """Base URL for an account of vendor ``prefix`` (aktify, platform, ...)."""
        return f"{self.base_url}/{prefix}"

    def requests(self, vendor: str | None = None) -> list[dict]:
        return self._call("GET", "/_sandbox/requests" + (f"?vendor={vendor}" if vendor else ""))

    def state(self, vendor: str | None = None) -> dict:
        return self._call("GET", "/_sandbox/state" + (f"?vendor={vendor}" if vendor else ""))

    def faults(self, vendor: str | None = None, **settings) -> None:
        self._call("POST", "/_sandbox/faults", {"vendor": vendor, **settings})

    def reset(self) -> None:
        self._call("POST", "/_sandbox/reset", {})

    def act(self, vendor: str, action: str, **params) -> dict:
        return self._call("POST", f"/_sandbox/act?vendor={vendor}", {"action": action, **params})


@pytest.fixture(scope="session")
def _sandbox_server():
    from vendors.sandbox.server import start_in_thread

    server = start_in_thread()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def sandbox(_sandbox_server):
    """A real HTTP vendor sandbox, reset before each test."""
    handle = SandboxHandle(_sandbox_server)
    handle.reset()
    return handle
