"""The signature a receiver checks: ``LeadHub-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``
of ``"<t>.<raw body>"`` under the partner's secret (the scheme Stripe and others use: the
timestamp is signed too, so a captured request cannot be replayed later than the receiver's
tolerance)."""
from __future__ import annotations

import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"
