"""The OpenAPI schema, the offline docs page, and property-based tests against the schema.

Schemathesis generates requests for every operation from /api/schema/ and sends
them through the Django WSGI app with a real API key: no response may be a 500,
and every response (status, content type, headers, body) must match the schema.
"""
from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from campaigns.models import DNC, ApiKey

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


def test_the_schema_describes_every_endpoint_error_and_header(client):
    r = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert r.status_code == 200
    doc = r.json()
    paths = doc["paths"]
    assert set(paths) == {"/api/v1/campaigns/", "/api/v1/leads/", "/api/v1/leads/bulk/", "/api/v1/leads/{id}/",
                          "/api/v1/leads/{id}/cancel/", "/api/v1/leads/{id}/erase/", "/api/v1/dnc/",
                          "/api/v1/dnc/check/"}
    schemes = doc["components"]["securitySchemes"]
    assert schemes["ApiKeyAuth"] == {**schemes["ApiKeyAuth"], "type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert set(doc["components"]["schemas"]["Error"]["properties"]) == {"code", "message", "fields"}
    for path, operations in paths.items():
        for method, op in operations.items():
            assert op["security"] == [{"ApiKeyAuth": []}, {"BearerAuth": []}]
            assert "401" in op["responses"] and "429" in op["responses"], (path, method)
            assert "Retry-After" in op["responses"]["429"]["headers"]
            if method == "post":
                names = {p["name"] for p in op.get("parameters", [])}
                assert "Idempotency-Key" in names, path
                assert {"409", "422"} <= set(op["responses"])
    for path in ("/api/v1/leads/", "/api/v1/leads/bulk/"):
        assert "dry_run" in {p["name"] for p in paths[path]["post"]["parameters"]}
    assert "207" in paths["/api/v1/leads/bulk/"]["post"]["responses"]
    assert {"201", "400", "409", "422"} <= set(paths["/api/v1/leads/"]["post"]["responses"])


def test_the_docs_page_works_offline(client):
    r = client.get("/api/docs/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "swagger-ui" in html
    # no asset from elsewhere (a bare "cdn" also matched the page's random CSRF token now and then)
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", html, re.I), html
    assert not re.search(r"//[\w.-]*(cdn|unpkg|jsdelivr)", html, re.I), html
    assert "/static/drf_spectacular_sidecar/" in html


@pytest.fixture
def wsgi_app():
    """The real WSGI app, minus the per-request connection closing the test transaction cannot survive
    (Django's test Client does the same)."""
    from django.core import signals
    from django.db import close_old_connections

    from leadhub.wsgi import application

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield application
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(db, partner, campaign, make_lead, wsgi_app):
    application = wsgi_app

    # Something to find: leads of the key's partner and a DNC entry.
    for _ in range(3):
        make_lead(campaign, partner=partner)
    DNC.objects.create(phone="+14155550199", campaign=campaign)
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
    return schema


@pytest.fixture
def raw_key(db, partner, campaign, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"partner": None, "partner_burst": None}}
    return ApiKey.issue(partner, name="schemathesis")[1]


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=50, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_every_response_matches_the_schema(case, raw_key):
    case.call_and_validate(headers={"X-API-Key": raw_key}, checks=CHECKS)
