"""The lead domain: campaigns, lists, partners, leads and the do-not-call list."""
from __future__ import annotations

import hashlib
import secrets
import unicodedata
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from leadhub.fields import EncryptedTextField

from .fields import E164Field
from .zones import iana_zone, zone_error  # noqa: F401 (iana_zone: vendors.windows imports it from here)

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
            from . import audit
            from .signals import campaign_status_changed

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

    @property
    def weekdays(self) -> set[int]:
        """Calling days as ``date.weekday()`` numbers (Monday is 0)."""
        return {WEEKDAYS.index(d.strip()) for d in self.calling_days.split(",") if d.strip() in WEEKDAYS}


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


LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def validate_webhook_url(value: str) -> None:
    """https, except with DEBUG on or for a receiver on this machine (127.0.0.1 / localhost)."""
    parts = urlsplit(value)
    if parts.scheme == "https" or (parts.scheme == "http" and (settings.DEBUG or parts.hostname in LOCAL_HOSTS)):
        return
    raise ValidationError("A webhook URL must use https:// (http:// only for 127.0.0.1 or localhost, or with DEBUG on).",
                          code="insecure_webhook_url")


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
        prefix = cls.PREFIX + secrets.token_hex(4)
        raw = f"{prefix}.{secrets.token_urlsafe(32)}"
        key = cls.objects.create(partner=partner, name=name, prefix=prefix, key_hash=cls.hash(raw))
        if campaigns:
            key.campaigns.set(campaigns)
        from . import audit

        audit.record([key], f"API key {prefix} issued to partner {partner.slug}", added=True)
        return key, raw

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


class ImportJob(models.Model):
    """One CSV upload: its mapping, progress and outcome."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded (mapping)"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="imports")
    lead_list = models.ForeignKey(LeadList, on_delete=models.SET_NULL, null=True, blank=True, related_name="imports")
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255)
    encoding = models.CharField(max_length=32, blank=True)
    delimiter = models.CharField(max_length=4, blank=True)
    mapping = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UPLOADED, db_index=True)
    total_rows = models.PositiveIntegerField(null=True, blank=True)
    processed_rows = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True, help_text="Rows per outcome: accepted, duplicate, dnc, …")
    error_file = models.FileField(upload_to="imports/errors/%Y/%m/", blank=True)
    message = models.TextField(blank=True)
    error_bytes = models.PositiveBigIntegerField(
        default=0, editable=False, help_text="Size of the error CSV at the last committed batch (resume point).")
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Last committed batch; a running job silent for long has stalled.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Import {self.pk}: {self.original_name}"


class BulkAction(models.Model):
    """A staff action over many leads (cancel, DNC, …): the selection is kept as rows of
    :class:`BulkActionChunk` and worked a chunk per transaction, in the request when small,
    in the background otherwise (``campaigns.bulk``). A chunk's leads leave the selection
    in the transaction that changes them, so a crashed run resumes exactly where it stopped."""

    class Kind(models.TextChoices):
        CANCEL = "cancel", "Cancel leads"
        CAMPAIGN_DNC = "campaign_dnc", "Add numbers to their campaign's DNC list"
        GLOBAL_DNC = "global_dnc", "Add numbers to the global DNC list"
        REDELIVER = "redeliver", "Re-deliver leads to their vendors"  # implemented by vendors (bulk.register)
        ERASE = "erase", "Erase personal data"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    params = models.JSONField(default=dict, blank=True, help_text="The action's options (DNC reason, source).")
    total = models.PositiveIntegerField(default=0, help_text="Leads selected.")
    processed = models.PositiveIntegerField(default=0, help_text="Selected leads worked through.")
    changed = models.PositiveIntegerField(default=0, help_text="Leads changed (the others were already withdrawn).")
    deliveries_planned = models.PositiveIntegerField(
        default=0, help_text="Deliveries planned at vendors: withdrawals (end_contact, dnc), or pushes sent again.")
    message = models.TextField(blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    api_key = models.ForeignKey("ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                help_text="The partner API key that asked (partner API bulk operations).")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.total:,} leads)"


class BulkActionChunk(models.Model):
    """A run of a bulk action's selected leads not yet worked: their ids, ascending, comma-separated
    (no foreign key to the leads: the selection is a snapshot of what staff selected). One row per
    chunk of :data:`campaigns.intake.CHUNK` leads, not one per lead: writing, then deleting, a row
    per lead was a third of a large cancel's time."""

    pk = models.CompositePrimaryKey("action", "first_lead_id")
    action = models.ForeignKey(BulkAction, on_delete=models.CASCADE, related_name="+")
    first_lead_id = models.BigIntegerField()
    lead_ids = models.TextField()
    size = models.PositiveIntegerField()


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


class WakeUp(models.Model):
    """A background run queued on the broker and not started yet, one row per kind of work
    (``campaigns.wakeups``: deliveries, partner events).

    The row's existence is the flag: whoever inserts it (unique primary key, so one
    process wins whatever the database) queues the task; the task deletes it when it
    starts. A burst of commits therefore queues one task, not one per commit.
    """
    name = models.CharField(max_length=64, primary_key=True)
    queued_at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} queued at {self.queued_at:%Y-%m-%d %H:%M:%S}"
