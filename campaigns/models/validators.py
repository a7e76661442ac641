"""What the lead domain's fields accept (referenced by migrations as ``campaigns.models.validate_*``)."""
from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from ..zones import zone_error

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def validate_timezone(value: str) -> None:
    message = zone_error(value) if value else ""
    if message:
        raise ValidationError(message, code="invalid_timezone")


def validate_calling_days(value: str) -> None:
    days = [d.strip() for d in value.split(",") if d.strip()]
    unknown = [d for d in days if d not in WEEKDAYS]
    if unknown or not days:
        raise ValidationError(
            f"Calling days must be a comma-separated list of {', '.join(WEEKDAYS)}; got {value!r}.",
            code="invalid_calling_days",
        )


def validate_region(value: str) -> None:
    import phonenumbers

    if value and value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(f"{value!r} is not a two-letter region code such as US or AU.", code="invalid_region")


def validate_string_values(value) -> None:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValidationError("Metadata must be an object whose values are all strings.", code="invalid_metadata")


def search_key(text: str) -> str:
    """``text`` as the lead list's name search compares it: accents dropped and case folded
    ("Zoë" -> "zoe", "MÜLLER" -> "muller"), the same on SQLite and PostgreSQL."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))[:100]


LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def validate_webhook_url(value: str) -> None:
    """https, except with DEBUG on or for a receiver on this machine (127.0.0.1 / localhost)."""
    parts = urlsplit(value)
    if parts.scheme == "https" or (parts.scheme == "http" and (settings.DEBUG or parts.hostname in LOCAL_HOSTS)):
        return
    raise ValidationError("A webhook URL must use https:// (http:// only for 127.0.0.1 or localhost, or with DEBUG on).",
                          code="insecure_webhook_url")
