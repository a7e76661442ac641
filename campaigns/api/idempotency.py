"""``Idempotency-Key`` on every POST, implemented once for every view.

The first request with a key claims an :class:`IdempotencyRecord` (the unique
``(api_key, key)`` constraint makes the claim atomic across processes), runs,
and stores its status and body. Later requests with that key:

* same method, path, query and canonical JSON body -> the stored response is
  replayed with ``Idempotent-Replayed: true`` (for 24 h);
* a different request -> 422 ``idempotency_key_reused``;
* while the first is still running -> 409 ``idempotency_in_progress`` with
  ``Retry-After: 1`` (no waiting: a web worker is not held for someone else).

Responses with a 5xx status (or an unhandled exception) release the key so the
client can retry. Views opt in by inheriting :class:`IdempotentPostMixin`;
their ``post`` is wrapped automatically.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from urllib.parse import parse_qsl, urlencode

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from campaigns.models import ApiKey, IdempotencyRecord

from .exceptions import ApiError

HEADER = "HTTP_IDEMPOTENCY_KEY"
REPLAYED_HEADER = "Idempotent-Replayed"
TTL = dt.timedelta(hours=24)
MAX_KEY_LENGTH = 255


def request_fingerprint(request) -> str:
    """SHA-256 of method, path, sorted query and canonical JSON body."""
    raw = request._request.body  # cached by Django; DRF parses from the cache afterwards
    try:
        body = json.dumps(json.loads(raw or b"null"), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError, RecursionError):  # the view answers it (400 parse_error)
        body = raw
    query = urlencode(sorted(parse_qsl(request._request.META.get("QUERY_STRING", ""), keep_blank_values=True)))
    digest = hashlib.sha256()
    for part in (request.method.encode(), request._request.path.encode(), query.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _claim(api_key: ApiKey, key: str, fingerprint: str, request) -> IdempotencyRecord | None:
    """Claim the key (returns None) or return the existing record."""
    for _ in range(2):
        try:
            with transaction.atomic():
                IdempotencyRecord.objects.create(
                    api_key=api_key, key=key, request_hash=fingerprint,
                    method=request.method, path=request._request.path[:255],
                )
            return None
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(api_key=api_key, key=key).first()
            if existing is None:
                continue  # released between our insert and read: try again
            if existing.created_at < timezone.now() - TTL:
                IdempotencyRecord.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
                continue
            return existing
    raise ApiError("idempotency_in_progress", "Another request with this Idempotency-Key is being processed; retry shortly.",
                   status_code=409, headers={"Retry-After": "1"})


def _replay_or_refuse(existing: IdempotencyRecord, fingerprint: str) -> Response:
    if existing.request_hash != fingerprint:
        raise ApiError(
            "idempotency_key_reused",
            "This Idempotency-Key was already used with a different request (method, path, query or body). "
            "Use a new key for a new request.",
            {"Idempotency-Key": [{"code": "idempotency_key_reused", "message": "Already used for a different request."}]},
            status_code=422,
        )
    if existing.response_status is None:
        raise ApiError("idempotency_in_progress",
                       "The first request with this Idempotency-Key is still being processed; retry shortly.",
                       status_code=409, headers={"Retry-After": "1"})
    response = Response(existing.response_body, status=existing.response_status)
    response[REPLAYED_HEADER] = "true"
    return response


def idempotent(handler):
    """Wrap a view's ``post``; a no-op when the request has no Idempotency-Key."""

    @functools.wraps(handler)
    def wrapper(self, request, *args, **kwargs):
        key = request.META.get(HEADER)
        api_key = request.auth
        if key is None or not isinstance(api_key, ApiKey):
            return handler(self, request, *args, **kwargs)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ApiError("invalid_field", f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.",
                           {"Idempotency-Key": [{"code": "invalid_field",
                                                 "message": f"Must be 1 to {MAX_KEY_LENGTH} characters."}]})
        fingerprint = request_fingerprint(request)
        existing = _claim(api_key, key, fingerprint, request)
        if existing is not None:
            return _replay_or_refuse(existing, fingerprint)
        try:
            try:
                response = handler(self, request, *args, **kwargs)
            except Exception as exc:  # shape the error exactly as the client will see it, then store it
                response = self.handle_exception(exc)
        except BaseException:
            IdempotencyRecord.objects.filter(api_key=api_key, key=key).delete()
            raise
        if response.status_code >= 500:
            IdempotencyRecord.objects.filter(api_key=api_key, key=key).delete()
            return response
        body = json.loads(JSONRenderer().render(response.data) or b"null")
        IdempotencyRecord.objects.filter(api_key=api_key, key=key).update(
            response_status=response.status_code, response_body=body
        )
        return response

    wrapper.idempotent = True
    return wrapper


class IdempotentPostMixin:
    """Every subclass's ``post`` honours Idempotency-Key (wrapped once, here)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        post = cls.__dict__.get("post")
        if post is not None and not getattr(post, "idempotent", False):
            cls.post = idempotent(post)


def purge_expired(now=None) -> int:
    """Delete records older than 24 h (for a periodic task); returns how many."""
    cutoff = (now or timezone.now()) - TTL
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
