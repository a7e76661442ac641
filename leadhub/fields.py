"""Encrypted model fields.

Values are encrypted with Fernet (the ``cryptography`` package) under
``settings.FIELD_ENCRYPTION_KEY``: a comma-separated list of keys where the
first encrypts and every key decrypts, so keys can be rotated by prepending a
new one. The key is separate from SECRET_KEY on purpose: rotating the session
secret must not make stored vendor credentials unreadable.
"""
from __future__ import annotations

import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@lru_cache(maxsize=4)
def _fernet(keys: str) -> MultiFernet:
    try:
        return MultiFernet([Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY must be one or more comma-separated Fernet keys "
            "(generate one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')"
        ) from exc


def fernet() -> MultiFernet:
    return _fernet(settings.FIELD_ENCRYPTION_KEY)


def _encrypt(text: str) -> str:
    return fernet().encrypt(text.encode()).decode()


def _decrypt(token: str, field) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            f"Cannot decrypt {field.model.__name__}.{field.name}: FIELD_ENCRYPTION_KEY "
            "does not hold the key it was encrypted with."
        ) from exc


class EncryptedTextField(models.TextField):
    """A text value stored as a Fernet token."""

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return _encrypt(str(value))

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return _decrypt(value, self)


class EncryptedJSONField(models.TextField):
    """A JSON object stored encrypted; reads back as a dict."""

    def get_prep_value(self, value):
        if value in (None, "", {}):
            return ""
        if not isinstance(value, str):
            value = json.dumps(value, sort_keys=True)
        return _encrypt(value)

    def from_db_value(self, value, expression, connection):
        if not value:
            return {}
        return json.loads(_decrypt(value, self))

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        if value in (None, ""):
            return {}
        try:
            return json.loads(value)
        except ValueError:
            from django.core.exceptions import ValidationError

            raise ValidationError("Enter a valid JSON object.")
