"""The OpenAPI schema, the offline docs page, and property-based tests against the schema.

Schemathesis generates requests for every operation from /api/schema/ and sends
them through the Django WSGI app with a real API key: no response may be a 500,
and every response (status, content type, headers, body) must match the schema.
"""
from __future__ import annotations

import json
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
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
                          "/api/v1/leads/{id}/cancel/", "/api/v1/leads/{id}/erase/", "/api/v1/leads/cancel/",
                          "/api/v1/bulk-actions/{id}/", "/api/v1/dnc/", "/api/v1/dnc/check/"}
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


# --- hostile input (issue 15): no server error, whatever is sent ------------------------------------

# Text a partner (or an attacker) might send: NUL, lone surrogates, bad cursors (cD14 decodes to p=x),
# path tricks, numbers out of range, and huge strings (past the 2.5 MiB body limit too).
HOSTILE_TEXT = st.one_of(
    st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfffy", "cD14", "cD0xMjM=", "e30", "eyJvIjotMX0", "",
                     " ", "%", "%00", "../..", "0", "-1", "1e309", "99999999999999999999", "\u202e", "\ufeff"]),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=40),
    st.integers(1_000, 3_000_000).map(lambda n: "x" * n),
)
URL_SAFE_TEXT = HOSTILE_TEXT.filter(lambda s: not any("\ud800" <= c <= "\udfff" for c in s) and len(s) < 10_000)
HOSTILE_VALUE = st.one_of(
    HOSTILE_TEXT, st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.none(), st.booleans(),
    st.lists(st.text(max_size=5), max_size=3), st.dictionaries(HOSTILE_TEXT, HOSTILE_TEXT, max_size=3),
    st.integers(1, 300).map(lambda d: json.loads("[" * d + "]" * d)),  # nesting json.dumps can still write
)
RAW_BODIES = st.one_of(
    st.integers(500, 6000).map(lambda d: ('{"campaign": "solar-us", "phone": "+14155550100", "numbers": ["1"], '
                                          '"metadata": {"x": ' + "[" * d + "]" * d + "}}").encode()),
    st.sampled_from([b"\xff\xfe{", b'{"phone": "\xed\xa0\x80"}', b"", b"null", b"[]", b'"x"', b"{" * 3000]),
)


def _with_hostile(case, data):
    """Put one hostile value where this operation takes input: a query or path parameter, a body
    field (a bulk item's too), or the whole raw body. Returns extra keyword arguments for call()."""
    places = ["query"] + (["path"] if case.path_parameters else [])
    if case.method == "POST":
        places += ["field", "raw"]
    place = data.draw(st.sampled_from(places), label="place")
    if place == "query":
        names = [p.name for p in case.operation.query] + ["cursor", "page_size", "dry_run"]
        case.query = {**(case.query or {}), data.draw(st.sampled_from(names)): data.draw(URL_SAFE_TEXT)}
    elif place == "path":
        # (not "", "." or "..", and no / ? #: the client would send those to another URL)
        hostile_id = URL_SAFE_TEXT.filter(lambda s: not set("/?#") & set(s) and s.strip(".") != "")
        case.path_parameters = {**case.path_parameters, "id": data.draw(hostile_id)}
    elif place == "raw":
        return {"data": data.draw(RAW_BODIES, label="raw body")}
    else:
        body = case.body if isinstance(case.body, dict) else {}
        target = body["leads"][0] if isinstance(body.get("leads"), list) and body["leads"] and \
            isinstance(body["leads"][0], dict) else body
        names = sorted(set(target) | {"metadata", "phone", "first_name", "campaign", "numbers"})
        target[data.draw(st.sampled_from(names), label="field")] = data.draw(HOSTILE_VALUE, label="value")
        # our own encoding: JSON escapes lone surrogates (\ud800), which is how a partner would send them
        return {"data": json.dumps(body).encode()}
    return {}


@schema.parametrize()
@schema.given(data=st.data())
@settings(max_examples=60, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_hostile_input_never_gives_a_server_error(case, data, raw_key):
    """Deep nesting, huge strings, bad cursors and bad unicode on every operation: never a 5xx,
    and every answer is one the document declares."""
    extra = _with_hostile(case, data)
    case.call_and_validate(headers={"X-API-Key": raw_key}, checks=CHECKS, **extra)
