"""API-key authentication: ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``.

A key is ``<prefix>.<secret>``; the prefix finds the row with one indexed
lookup and the SHA-256 of the whole key is compared in constant time. Key
validity is read from the database on every request (no cache), so a
revocation takes effect on the next request.
"""
from __future__ import annotations

import datetime as dt
import secrets

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from django.db import connection

from campaigns import audit
from campaigns.models import ApiKey, Partner
from leadhub import dbtools

_KEY_FIELDS = [f.attname for f in ApiKey._meta.concrete_fields]
_PARTNER_FIELDS = [f.attname for f in Partner._meta.concrete_fields]
_KEY_SQL = (
    "SELECT " + ", ".join([f"k.{c}" for c in _KEY_FIELDS] + [f"p.{c}" for c in _PARTNER_FIELDS])
    + f" FROM {ApiKey._meta.db_table} k JOIN {Partner._meta.db_table} p ON p.id = k.partner_id WHERE k.prefix = %s"
)


def key_by_prefix(prefix: str) -> ApiKey | None:
    """The key and its partner in one precomposed query (it runs on every request;
    building the equivalent select_related query cost more than running it).
    PostgreSQL returns typed values; elsewhere (SQLite) the ORM converts them."""
    if not dbtools.postgresql():
        return ApiKey.objects.select_related("partner").filter(prefix=prefix).first()
    with connection.cursor() as cursor:
        cursor.execute(_KEY_SQL, [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    key = ApiKey.from_db(connection.alias, _KEY_FIELDS, row[:len(_KEY_FIELDS)])
    key._state.fields_cache["partner"] = Partner.from_db(connection.alias, _PARTNER_FIELDS, row[len(_KEY_FIELDS):])
    return key

HEADER = "HTTP_X_API_KEY"
# last_used_at is written at most this often per key: one UPDATE a minute, not one per request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
_DUMMY_HASH = ApiKey.hash("lh_00000000.dummy")


class ApiClient:
    """``request.user`` for a request made with an API key (``request.auth`` is the key)."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    def __init__(self, key: ApiKey):
        self.key = key
        self.partner = key.partner

    @property
    def pk(self):  # something stable for logs and throttles
        return f"apikey:{self.key.pk}"

    def __str__(self):
        return f"{self.partner.slug} ({self.key.prefix})"


def raw_key_from(request) -> str | None:
    raw = request.META.get(HEADER)
    if raw:
        return raw.strip()
    auth = get_authorization_header(request).split()
    if auth and auth[0].lower() == b"bearer":
        if len(auth) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: use 'Authorization: Bearer <key>' with the key and no spaces.",
                code="authentication_failed",
            )
        try:
            return auth[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The API key contains characters that cannot be in a key.")
    return None


class ApiKeyAuthentication(BaseAuthentication):
    keyword = "ApiKey"

    def authenticate(self, request):
        raw = raw_key_from(request)
        if raw is None:
            return None  # -> NotAuthenticated (401) from the permission check
        prefix = raw.split(".", 1)[0]
        key = None
        if prefix.startswith(ApiKey.PREFIX) and len(prefix) <= 16:
            key = key_by_prefix(prefix)
        if key is None:
            secrets.compare_digest(_DUMMY_HASH, ApiKey.hash(raw))  # same work as a real miss
            raise exceptions.AuthenticationFailed(
                "Invalid API key. Send the full key you were given (it looks like lh_xxxxxxxx.<secret>).",
            )
        if not key.matches(raw):
            raise exceptions.AuthenticationFailed(
                "Invalid API key. Send the full key you were given (it looks like lh_xxxxxxxx.<secret>).",
            )
        if key.revoked_at is not None:
            raise exceptions.AuthenticationFailed(
                f"API key {key.prefix} was revoked on {key.revoked_at:%Y-%m-%d}. Ask LeadHub for a new key.",
                code="key_revoked",
            )
        if not key.partner.is_active:
            raise exceptions.AuthenticationFailed(
                "The partner account for this API key is inactive. Contact LeadHub to reactivate it.",
                code="partner_inactive",
            )
        self._touch(key)
        audit.set_actor(f"api:{key.partner.slug} (key {key.prefix})")   # reset when the request ends
        return ApiClient(key), key

    @staticmethod
    def _touch(key: ApiKey) -> None:
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
            # A conditional UPDATE: concurrent requests write at most once per minute.
            threshold = now - LAST_USED_RESOLUTION
            from django.db.models import Q

            ApiKey.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=threshold), pk=key.pk).update(
                last_used_at=now
            )
            key.last_used_at = now

    def authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) and tells clients how to authenticate.
        return 'ApiKey header="X-API-Key", Bearer realm="LeadHub API"'
