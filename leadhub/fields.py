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


class EncryptedTextField(models.TextField):
    """A text value stored as a Fernet token."""

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return fernet().encrypt(str(value).encode()).decode()

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        try:
            return fernet().decrypt(value.encode()).decode()
        except InvalidToken as exc:
            raise ImproperlyConfigured(
                f"Cannot decrypt {self.model.__name__}.{self.name}: FIELD_ENCRYPTION_KEY "
                "does not hold the key it was encrypted with."
            ) from exc


class EncryptedJSONField(EncryptedTextField):
    """A JSON object stored encrypted; reads back as a dict."""

    def get_prep_value(self, value):
        if value in (None, "", {}):
            return "" if self.blank else value
        if not isinstance(value, str):
            value = json.dumps(value, sort_keys=True)
        return super().get_prep_value(value)

    def from_db_value(self, value, expression, connection):
        text = super().from_db_value(value, expression, connection)
        if not text:
            return {}
        return json.loads(text)

    def to_python(self, value):
        if isinstance(value, dict) or value is None:
            return value or {}
        if value == "":
            return {}
        try:
            return json.loads(value)
        except ValueError:
            from django.core.exceptions import ValidationError

            raise ValidationError("Enter a valid JSON object.")
