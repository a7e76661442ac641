"""Vendor accounts, destinations (campaign → account) and the delivery records."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from campaigns.models import Campaign
from leadhub.fields import EncryptedJSONField, EncryptedTextField

from .registry import KIND_CHOICES, client_class


class VendorAccount(models.Model):
    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=32, choices=KIND_CHOICES)
    base_url = models.URLField(
        max_length=300, blank=True,
        help_text="The vendor's API root for this account (8x8: the regional server). Blank: the vendor's default.",
    )
    credentials = EncryptedJSONField(
        blank=True, default=dict,
        help_text="Encrypted at rest; never shown again after saving.",
    )
    is_enabled = models.BooleanField(default=True)
    timeout_seconds = models.PositiveSmallIntegerField(default=15, validators=[MinValueValidator(1), MaxValueValidator(120)])
    max_requests_per_second = models.FloatField(
        default=10, validators=[MinValueValidator(0.1)],
        help_text="Shared by every worker that talks to this account.",
    )
    max_attempts = models.PositiveSmallIntegerField(default=8, validators=[MinValueValidator(1)])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.get_kind_display()})"

    def clean(self):
        missing = [k for k in client_class(self.kind).required_credentials if not (self.credentials or {}).get(k)]
        if self.kind and missing:
            raise ValidationError({"credentials": f"{self.get_kind_display()} needs: {', '.join(missing)}."})


class Destination(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="destinations")
    account = models.ForeignKey(VendorAccount, on_delete=models.PROTECT, related_name="destinations")
    remote_ref = models.CharField(
        max_length=300, blank=True,
        help_text="The vendor-side campaign / list / lead type / token this campaign's leads go to.",
    )
    settings = models.JSONField(default=dict, blank=True, help_text="Vendor-specific options, checked per vendor.")
    secret = EncryptedTextField(
        blank=True, default="",
        help_text="For vendors whose key names one campaign (Aktify API key, Aimylogic token). Encrypted; never shown again.",
    )
    is_enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "account", "remote_ref"], name="destination_unique")]

    def __str__(self):
        return f"{self.campaign} → {self.account.name}"

    @property
    def kind(self) -> str:
        return self.account.kind

    def clean(self):
        if not self.account_id:
            return
        errors = client_class(self.account.kind).validate_settings(self.settings or {})
        if errors:
            raise ValidationError({"settings": [f"{k}: {v}" for k, v in errors.items()]})
