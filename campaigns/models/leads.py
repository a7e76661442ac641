"""Leads, the do-not-call list, erasures and the intake counts."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from ..fields import E164Field
from .campaigns import Campaign, LeadList, Partner
from .validators import search_key, validate_string_values, validate_timezone


class Lead(models.Model):
    class Channel(models.TextChoices):
        API = "api", "API"
        CSV = "csv", "CSV import"
        ADMIN = "admin", "Admin"
        OTHER = "", "Other (demo, command)"

    class Status(models.TextChoices):
        NEW = "new", "New"
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"
        DNC = "dnc", "Do not call"
        ERASED = "erased", "Erased (personal data removed)"

    # Every index costs every insert of a large import, so: campaign has no single-column
    # index ((campaign, status, id) leads with it); lead list and partner are indexed only
    # where set (partial indexes below), the phone only once (the unique index leads with it).
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="leads", db_index=False)
    lead_list = models.ForeignKey(LeadList, on_delete=models.SET_NULL, null=True, blank=True, related_name="leads",
                                  db_index=False)
    partner = models.ForeignKey(Partner, on_delete=models.SET_NULL, null=True, blank=True, related_name="leads",
                                db_index=False)
    phone = E164Field(help_text="E.164")
    phone_alt = E164Field(blank=True, help_text="Optional second number, E.164.")
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True)
    address = models.CharField(max_length=255, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True, help_text="State / province (US: two-letter code).")
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166 alpha-2; from the number when not given.")
    timezone = models.CharField(
        max_length=64, blank=True, validators=[validate_timezone],
        help_text="The lead's IANA zone; derived from the number when not given.",
    )
    external_id = models.CharField(max_length=100, blank=True, help_text="The partner's or CRM's id for this person.")
    source = models.CharField(max_length=200, blank=True)
    link = models.URLField(max_length=500, blank=True)
    metadata = models.JSONField(default=dict, blank=True, validators=[validate_string_values])
    consent_at = models.DateTimeField(null=True, blank=True)
    consent_url = models.URLField(max_length=500, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True, help_text="Do not contact before this time.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    channel = models.CharField(max_length=8, choices=Channel.choices, blank=True, default="", db_default="",
                               editable=False, help_text="How the lead came in (set by intake).")
    # The names as the admin's search compares them (search_key), kept by intake (new_lead) and
    # save(): a prefix match on an index, without accents, on both engines (no unaccent()).
    search_first = models.CharField(max_length=100, blank=True, default="", db_default="", editable=False)
    search_last = models.CharField(max_length=100, blank=True, default="", db_default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # phone first: it also serves phone lookups across campaigns (admin search,
            # DNC withdrawal) and an import's existing-number probe (intake.existing_leads)
            models.UniqueConstraint(fields=["phone", "campaign"], name="lead_unique_phone_campaign"),
        ]
        indexes = [
            models.Index(fields=["phone_alt"], name="lead_phone_alt_idx", condition=~Q(phone_alt="")),
            # the admin's filters, each with the default ordering (-id)
            models.Index(fields=["status", "-id"], name="lead_status_idx"),
            models.Index(fields=["campaign", "status", "-id"], name="lead_campaign_status_idx"),
            models.Index(fields=["created_at"], name="lead_created_idx"),
            models.Index(fields=["partner", "external_id"], name="lead_partner_external_idx",
                         condition=Q(partner__isnull=False)),
            models.Index(fields=["lead_list"], name="lead_list_idx", condition=Q(lead_list__isnull=False)),
            # the partner API's lead list, newest first. campaign last: a campaign filter skips the
            # partner's newer leads in its other campaigns in the index, not row by row in the table.
            # (An exact (partner, campaign, -id) index beside (partner, -id) was costed alike by the
            # planner, which kept walking (partner, -id); so one index serves both listings.)
            models.Index(fields=["partner", "-id", "campaign"], name="lead_partner_list_idx",
                         condition=Q(partner__isnull=False)),
            # the admin's search: an external id; names as LIKE 'zoe%' (varchar_pattern_ops: any collation;
            # ignored by SQLite)
            models.Index(fields=["external_id"], name="lead_external_id_idx", condition=~Q(external_id="")),
            models.Index(fields=["search_first"], name="lead_search_first_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["search_last"], name="lead_search_last_idx", opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self):
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name or 'Lead'} {self.phone}"

    def save(self, *args, **kwargs):
        self.search_first, self.search_last = search_key(self.first_name), search_key(self.last_name)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"first_name", "last_name"} & set(update_fields):
            kwargs["update_fields"] = {*update_fields, "search_first", "search_last"}
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Erasure(models.Model):
    """Who erased which leads' personal data, and when. Holds no personal data itself:
    the leads are kept (anonymised) and linked; how they were found (a phone, an email)
    is not recorded."""

    class Via(models.TextChoices):
        ADMIN = "admin", "Admin"
        API = "api", "Partner API"
        COMMAND = "command", "Command line"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    via = models.CharField(max_length=16, choices=Via.choices)
    requested_by = models.CharField(
        max_length=200, help_text="staff:<username>, api:<partner> (key <prefix>…) or command:<OS user>.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="+")
    api_key = models.ForeignKey("ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    reason = models.CharField(max_length=255, blank=True, help_text="e.g. the request's ticket reference.")
    lead_count = models.PositiveIntegerField()
    leads = models.ManyToManyField(Lead, related_name="erasures")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Erasure {self.pk}: {self.lead_count} lead(s) by {self.requested_by}"


class IntakeCount(models.Model):
    """Leads accepted per day, campaign, partner and channel: the dashboard's intake figures.
    Deltas appended by intake in the transaction that inserted the leads, folded per key by
    ``leadhub.rollup.compact`` (see there)."""

    KEY = ("day", "campaign", "partner", "channel")

    day = models.DateField(help_text="UTC day the leads were accepted.")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+", db_index=False)
    partner = models.ForeignKey(Partner, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                db_index=False)
    channel = models.CharField(max_length=8, choices=Lead.Channel.choices, blank=True, default="")
    count = models.IntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["day", "campaign"], name="intakecount_day_idx")]

    def __str__(self):
        return f"{self.day} campaign {self.campaign_id} partner {self.partner_id} {self.channel or 'other'}: {self.count}"


class DNC(models.Model):
    phone = E164Field(help_text="E.164")
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, null=True, blank=True, related_name="dnc_entries",
        help_text="Blank: never call this number in any campaign.",
    )
    reason = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=100, blank=True, help_text="Who asked: staff, partner slug, import…")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "DNC entry"
        verbose_name_plural = "DNC list"
        constraints = [
            # NULL is distinct in a plain unique constraint, so the global row
            # needs its own partial index (works on SQLite and PostgreSQL).
            models.UniqueConstraint(fields=["phone"], condition=Q(campaign__isnull=True), name="dnc_one_global_per_phone"),
            models.UniqueConstraint(fields=["phone", "campaign"], condition=Q(campaign__isnull=False), name="dnc_one_per_phone_campaign"),
        ]
        indexes = [models.Index(fields=["created_at"], name="dnc_created_idx")]

    def __str__(self):
        scope = self.campaign.name if self.campaign_id else "all campaigns"
        return f"{self.phone} ({scope})"
