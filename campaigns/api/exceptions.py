"""One error shape for every error the API returns.

    {"code": "dnc", "message": "…", "fields": {"phone": [{"code": "dnc", "message": "…"}]}}

DRF's own errors (authentication, throttling, parse errors, 404, 405, …) go
through :func:`exception_handler` too. Field codes use intake's vocabulary
(``missing_field``, ``invalid_field``, ``invalid_phone``, …) so the API, the
CSV error file and the admin speak the same language.
"""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

# DRF's field error codes -> intake's reason codes
_FIELD_CODES = {
    "required": "missing_field",
    "blank": "missing_field",
    "null": "missing_field",
    "empty": "missing_field",
}
# codes we raise ourselves inside ValidationErrors: kept as they are
_OWN_CODES = {"missing_field", "invalid_field", "invalid_phone", "too_many_items"}
# top-level codes for DRF's own exceptions (kept readable and stable)
_TOP_CODES = {
    "not_authenticated": "not_authenticated",
    "authentication_failed": "authentication_failed",
    "permission_denied": "permission_denied",
    "not_found": "not_found",
    "method_not_allowed": "method_not_allowed",
    "not_acceptable": "not_acceptable",
    "unsupported_media_type": "unsupported_media_type",
    "throttled": "throttled",
    "parse_error": "parse_error",
}

# HTTP status of a single-lead rejection, per intake reason code
REJECTION_STATUS = {
    "missing_field": status.HTTP_400_BAD_REQUEST,
    "invalid_field": status.HTTP_400_BAD_REQUEST,
    "invalid_phone": status.HTTP_400_BAD_REQUEST,
    "duplicate": status.HTTP_409_CONFLICT,
    "duplicate_in_batch": status.HTTP_409_CONFLICT,
    "campaign_closed": status.HTTP_409_CONFLICT,
    "dnc": status.HTTP_422_UNPROCESSABLE_ENTITY,
    "vendor_requirements": status.HTTP_422_UNPROCESSABLE_ENTITY,
}


class ApiError(exceptions.APIException):
    """An error already in the API's shape."""

    def __init__(self, code: str, message: str, fields: dict | None = None, status_code: int = 400, headers=None):
        super().__init__(detail=message, code=code)
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.status_code = status_code
        self.headers = headers or {}

    def as_body(self) -> dict:
        return error_body(self.code, self.message, self.fields)


def body_too_large() -> ApiError:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return ApiError("request_too_large", f"The request body is over the API's limit of {limit:,} bytes "
                                         f"({limit / 1048576:.1f} MiB). Send fewer items per request.", status_code=413)


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"code": code, "message": message, "fields": fields or {}}


def field_error(field: str, code: str, message: str, status_code: int = 400) -> ApiError:
    return ApiError(code, f"{field}: {message}", {field: [{"code": code, "message": message}]}, status_code)


def _flatten(detail, prefix: str, out: dict) -> None:
    """Turn DRF's nested ``get_full_details()`` into ``{"a.0.b": [{code, message}]}``."""
    if isinstance(detail, dict) and "message" in detail and "code" in detail and len(detail) == 2:
        code = detail["code"]
        code = code if code in _OWN_CODES else _FIELD_CODES.get(code, "invalid_field")
        out.setdefault(prefix or "non_field_errors", []).append({"code": code, "message": str(detail["message"])})
    elif isinstance(detail, dict):
        for key, value in detail.items():
            name = "non_field_errors" if key in ("non_field_errors", "__all__") and not prefix else (
                f"{prefix}.{key}" if prefix else str(key))
            _flatten(value, name, out)
    elif isinstance(detail, list):
        # a list of errors for one field, or a list of per-item errors (nested)
        for index, value in enumerate(detail):
            nested = isinstance(value, (dict, list)) and not (
                isinstance(value, dict) and set(value) == {"message", "code"})
            _flatten(value, f"{prefix}.{index}" if nested and prefix else prefix, out)


def validation_body(exc: exceptions.ValidationError) -> dict:
    fields: dict = {}
    _flatten(exc.get_full_details(), "", fields)
    if not fields:
        fields = {"non_field_errors": [{"code": "invalid_field", "message": "The request is invalid."}]}
    code, message = summarize(fields)
    return error_body(code, message, fields)


def summarize(fields: dict) -> tuple[str, str]:
    """The headline code and message for a set of field errors (same rule as intake)."""
    for preferred in ("missing_field", "invalid_phone"):
        for name, items in fields.items():
            for item in items:
                if item["code"] == preferred:
                    return preferred, f"{name}: {item['message']}"
    name, items = next(iter(fields.items()))
    return items[0]["code"], f"{name}: {items[0]['message']}"


def exception_handler(exc, context):
    if isinstance(exc, ApiError):
        response = drf_exception_handler(exc, context)
        response.data = exc.as_body()
        for name, value in exc.headers.items():
            response[name] = value
        return response
    if isinstance(exc, RequestDataTooBig):
        exc = body_too_large()
        return exception_handler(exc, context)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found. Either it does not exist or your API key may not see it.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django answer 500 and log it
    if isinstance(exc, exceptions.ValidationError):
        response.data = validation_body(exc)
        return response
    if isinstance(exc, exceptions.Throttled):
        wait = exc.wait
        message = "Too many requests for this API key."
        if wait is not None:
            message += f" Retry in {max(1, int(round(wait)))} second(s) (see the Retry-After header)."
        response.data = error_body("throttled", message)
        return response
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
    message = str(detail)
    if isinstance(exc, exceptions.NotAuthenticated):
        message = "No API key. Send your key in the X-API-Key header (or 'Authorization: Bearer <key>')."
    if isinstance(exc, exceptions.ParseError):
        code, message = "parse_error", f"The request body is not valid JSON: {detail}"
    response.data = error_body(_TOP_CODES.get(code, code), message)
    return response
