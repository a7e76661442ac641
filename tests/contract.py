"""The OpenAPI document as a contract: every API response a test sees is checked against it.

``check(...)`` validates one response with openapi-core (OpenAPI 3.0 semantics, so a
``null`` is only valid where ``nullable: true`` sits beside a ``type``) against a
*strict* copy of the served document: every object schema that does not say
otherwise gets ``additionalProperties: false``, so an undeclared field fails just
like an undeclared status code, a wrong type or an undeclared null. (The served
document stays open so that generated clients tolerate fields added later.)

tests/conftest.py runs it on every response the suite's test clients get from
``/api/v1/``; the generated-client test runs it on every exchange of its flow.
"""
from __future__ import annotations

import copy
import json
from urllib.parse import parse_qsl

from werkzeug.datastructures import Headers, ImmutableMultiDict

from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound

API_PREFIX = "/api/v1/"
_document: dict | None = None
_openapi: OpenAPI | None = None


def served_document() -> dict:
    """The document /api/schema/ serves (as JSON), built the way its view builds it, without a
    request (so no test client, which would reconnect Django's per-request connection closing)."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer
    from drf_spectacular.settings import spectacular_settings

    schema = SchemaGenerator().get_schema(request=None, public=spectacular_settings.SERVE_PUBLIC)
    return json.loads(OpenApiJsonRenderer().render(schema, renderer_context={}))


def strict(document: dict) -> dict:
    """A copy where every object schema with properties and no additionalProperties is closed."""
    document = copy.deepcopy(document)

    def close(node):
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(document.get("components", {}).get("schemas", {}))
    close(document.get("paths", {}))
    return document


def strict_document() -> dict:
    """The strict copy of the served document, built once per test run."""
    global _document
    if _document is None:
        _document = strict(served_document())
    return _document


def openapi() -> OpenAPI:
    global _openapi
    if _openapi is None:
        _openapi = OpenAPI.from_dict(strict_document())
    return _openapi


class ApiRequest:
    """openapi-core's Request protocol for any request we saw (Django test client, WSGI, httpx)."""

    host_url = "http://testserver"

    def __init__(self, method: str, path: str, query: str = "", headers=None, body: bytes | None = None):
        self.method = method.lower()
        self.path = path
        self.body = body or None
        headers = Headers(list((headers or {}).items()))
        self.content_type = headers.get("Content-Type", "application/json")
        self.parameters = RequestParameters(query=ImmutableMultiDict(parse_qsl(query, keep_blank_values=True)),
                                            header=headers, cookie=ImmutableMultiDict(), path={})


class ApiResponse:
    def __init__(self, status_code: int, headers, data: bytes):
        self.status_code = status_code
        self.headers = Headers(list(headers.items()))
        self.content_type = self.headers.get("Content-Type", "")
        self.data = data


def check(request: ApiRequest, response: ApiResponse) -> None:
    """Raise AssertionError when the response is not what the document promises for the request.

    A method or path the document does not have (405, the 404 of an unknown endpoint)
    is outside the contract's operations; its answer must still be a 404/405 in the
    document's ``Error`` shape."""
    try:
        openapi().validate_response(request, response)
    except (PathNotFound, OperationNotFound):
        _check_outside_operations(request, response)
    except Exception as exc:  # openapi-core's errors say what; the cause says where
        _fail(request, response, exc)


def _check_outside_operations(request: ApiRequest, response: ApiResponse) -> None:
    from openapi_schema_validator import OAS30Validator

    if response.status_code not in (404, 405):
        _fail(request, response, AssertionError("an undocumented operation answered neither 404 nor 405"))
    document = strict_document()
    error = {**document["components"]["schemas"]["Error"], "components": document["components"]}
    problems = [f"{e.message} at {list(e.absolute_path)}"
                for e in OAS30Validator(error).iter_errors(json.loads(response.data or b"null"))]
    if problems:
        _fail(request, response, AssertionError("not the Error shape: " + "; ".join(problems)))


def _fail(request: ApiRequest, response: ApiResponse, exc: BaseException):
    lines, seen, cause = [], set(), exc
    while cause is not None and len(lines) < 12:
        line = f"{type(cause).__name__}: {cause}"
        if line not in seen:
            seen.add(line)
            lines.append(line[:1000])
        details = getattr(cause, "schema_errors", None) or ()
        lines.extend(f"  - {e.message} at {list(e.absolute_path)}" for e in list(details)[:10])
        cause = cause.__cause__ or cause.__context__
    body = response.data[:2000].decode(errors="replace") if response.data else ""
    raise AssertionError(
        f"Response breaks the OpenAPI contract: {request.method.upper()} {request.path} -> "
        f"{response.status_code}\n" + "\n".join(lines) + f"\nbody: {body}"
    ) from None


def check_django(response) -> None:
    """Check a response from Django's (or DRF's) test client."""
    request = response.wsgi_request
    headers = {key[5:].replace("_", "-").title(): value for key, value in request.META.items()
               if key.startswith("HTTP_")}
    if request.META.get("CONTENT_TYPE"):
        headers["Content-Type"] = request.META["CONTENT_TYPE"]
    check(
        ApiRequest(request.method, request.path, request.META.get("QUERY_STRING", ""), headers),
        ApiResponse(response.status_code, response.headers, response.content),
    )


def json_body(data) -> bytes:
    return json.dumps(data).encode()
