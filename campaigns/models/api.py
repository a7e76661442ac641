"""What the partner API and its webhooks keep: API keys, idempotent responses, partner events."""
from __future__ import annotations

import hashlib
import secrets
import uuid

from django.db import models
from django.db.models import Q

from .campaigns import Campaign, Partner


class ApiKey(models.Model):
    """A partner's API key. The secret is shown once; only its SHA-256 is stored.

    Keys are 32 random bytes, so a fast hash is safe (no dictionary to attack);
    the visible ``prefix`` tells keys apart and finds the row in one lookup.
    """

    PREFIX = "lh_"

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    campaigns = models.ManyToManyField(
        Campaign, blank=True, related_name="api_keys",
        help_text="Narrow the key to some of the partner's campaigns (none: all of them).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self):
        return f"{self.prefix}… ({self.partner.name}{': ' + self.name if self.name else ''})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def issue(cls, partner: Partner, *, name: str = "", campaigns=()) -> tuple["ApiKey", str]:
        """Create a key; returns (key, raw secret). The secret is not stored."""
        key = cls(partner=partner, name=name)
        return key, key.save_with_new_secret(campaigns)

    def save_with_new_secret(self, campaigns=()) -> str:
        """Save this new key with a fresh prefix and secret; returns the raw secret, which is
        shown once and not stored (only its hash is)."""
        self.prefix = self.PREFIX + secrets.token_hex(4)
        raw = f"{self.prefix}.{secrets.token_urlsafe(32)}"
        self.key_hash = self.hash(raw)
        self.save()
        if campaigns:
            self.campaigns.set(campaigns)
        from .. import audit

        audit.record([self], f"API key {self.prefix} issued to partner {self.partner.slug}", added=True)
        return raw

    def matches(self, raw: str) -> bool:
        return secrets.compare_digest(self.key_hash, self.hash(raw))


class IdempotencyRecord(models.Model):
    """The first response to a POST sent with an Idempotency-Key (kept 24 h)."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="idempotency_records")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=255)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_unique_key")]


class PartnerEvent(models.Model):
    """A webhook event for a partner (the outbox of ``campaigns.webhooks``): written in the
    transaction that made the change it reports, sent by a worker, in order per lead (``id``
    is the sequence), retried with the deliveries' backoff until ``WEBHOOK_MAX_ATTEMPTS``."""

    class Type(models.TextChoices):
        ACCEPTED = "lead.accepted", "lead.accepted"
        REFUSED = "lead.refused", "lead.refused"
        WITHDRAWN = "lead.withdrawn", "lead.withdrawn"
        OUTCOME = "lead.outcome", "lead.outcome"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_FLIGHT = "in_flight", "In flight"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False,
                                help_text="The receiver's de-duplication key: the same on every retry and replay.")
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="events", db_index=False)
    lead_id = models.BigIntegerField(help_text="The lead's id (no foreign key: the outbox never holds up deleting a lead).")
    type = models.CharField(max_length=32, choices=Type.choices)
    payload = models.JSONField(help_text="The event as sent (the body's JSON).")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    due_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True, help_text="The receiver's last answer.")
    message = models.TextField(blank=True, help_text="What the last attempt gave (an excerpt, or the error).")
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # the claim: due rows in due order, and "an older open event of the same lead"
            models.Index(fields=["due_at"], name="partnerevent_due_idx",
                         condition=Q(status="pending")),
            models.Index(fields=["lead_id", "id"], name="partnerevent_lead_idx"),
            models.Index(fields=["partner", "-id"], name="partnerevent_partner_idx"),
        ]

    def __str__(self):
        return f"{self.type} {self.event_id} ({self.status})"
