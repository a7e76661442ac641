"""Campaigns, their lead lists, and the partners that send leads to them."""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from leadhub.fields import EncryptedTextField

from .validators import validate_calling_days, validate_region, validate_timezone, validate_webhook_url


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        ARCHIVED = "archived", "Archived"

    class VendorRequirementsPolicy(models.TextChoices):
        REJECT = "reject", "Reject the lead"
        SKIP = "skip", "Accept the lead; skip the vendors it does not satisfy"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    timezone = models.CharField(
        max_length=64, default="America/New_York", validators=[validate_timezone],
        help_text="IANA zone used for leads whose own zone cannot be told from their number.",
    )
    calling_days = models.CharField(
        max_length=32, default="mon,tue,wed,thu,fri", validators=[validate_calling_days],
        help_text="Days leads may be called, in the lead's local time: comma-separated mon…sun.",
    )
    calling_start = models.TimeField(default="09:00", help_text="Earliest call time, lead's local time.")
    calling_end = models.TimeField(default="20:00", help_text="Latest call time, lead's local time.")
    default_region = models.CharField(
        max_length=2, blank=True, validators=[validate_region],
        help_text="Region for numbers written without a country code (blank: DEFAULT_PHONE_REGION).",
    )
    vendor_requirements_policy = models.CharField(
        max_length=16, choices=VendorRequirementsPolicy.choices, default=VendorRequirementsPolicy.REJECT,
        help_text="A lead that misses what one of this campaign's vendors needs (e.g. a US state or a "
                  "zip code) is rejected at intake (reason vendor_requirements), or accepted and not sent to "
                  "that vendor (its delivery is stored as skipped, with the reason).",
    )
    watchers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="watched_campaigns",
        limit_choices_to={"is_staff": True, "is_active": True},
        help_text="Staff mailed when one of this campaign's vendors crosses its alert thresholds, and when it "
                  "recovers (each needs an email address).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        old = None
        if self.pk:
            old = Campaign.objects.filter(pk=self.pk).values_list("status", flat=True).first()
        super().save(*args, **kwargs)
        if old is not None and old != self.status:
            from .. import audit
            from ..signals import campaign_status_changed

            verb = {self.Status.PAUSED: "Paused", self.Status.ACTIVE: "Resumed" if old == self.Status.PAUSED
                    else "Activated", self.Status.ARCHIVED: "Archived"}.get(self.status, "Status changed")
            audit.record([self], f"{verb}: status {old} -> {self.status}")

            campaign_status_changed.send(sender=Campaign, campaign=self, old=old, new=self.status)

    def clean(self):
        if self.calling_start and self.calling_end and self.calling_start >= self.calling_end:
            raise ValidationError({"calling_end": "The calling window must end after it starts."})

    @property
    def phone_region(self) -> str:
        return (self.default_region or settings.DEFAULT_PHONE_REGION).upper()


class LeadList(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="lists")
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=200, blank=True)
    import_mapping = models.JSONField(default=dict, blank=True, help_text="Last CSV column mapping used for this list.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["campaign__name", "name"]
        constraints = [models.UniqueConstraint(fields=["campaign", "name"], name="leadlist_unique_name_per_campaign")]

    def __str__(self):
        return f"{self.campaign.name} / {self.name}"


class Partner(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    is_active = models.BooleanField(default=True)
    campaigns = models.ManyToManyField(Campaign, blank=True, related_name="partners")
    webhook_url = models.URLField(
        max_length=500, blank=True, validators=[validate_webhook_url],
        help_text="LeadHub POSTs signed JSON events about this partner's leads here (accepted or refused by a "
                  "vendor, withdrawn, outcome). https:// only. Blank: no events.")
    # generated (campaigns.webhooks.new_secret), shown once in the admin on creation and rotation
    webhook_secret = EncryptedTextField(blank=True, default="", editable=False)
    webhook_disabled_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="The receiver answered 410 Gone: no events are sent until the URL is saved again.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def webhook_active(self) -> bool:
        return bool(self.webhook_url) and self.webhook_disabled_at is None
