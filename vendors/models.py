"""Vendor accounts, destinations (campaign → account) and the delivery records."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from campaigns.models import Campaign
from leadhub.fields import EncryptedJSONField, EncryptedTextField

from . import registry
from .registry import client_class


class VendorAccount(models.Model):
    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=32, choices=registry.kind_choices)  # a callable: no migration per vendor
    base_url = models.URLField(
        max_length=300, blank=True,
        help_text="The vendor's API root for this account. Blank: the vendor's default.",
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
    # circuit breaker: after repeated transient failures the account pauses until circuit_open_until
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    circuit_open_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    # shared rate limit: the next moment a request may start (reserved atomically by workers)
    next_request_at = models.DateTimeField(null=True, blank=True, editable=False)
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
        help_text="For vendors whose key names one campaign. Encrypted; never shown again.",
    )
    is_enabled = models.BooleanField(default=True)
    remote_status = models.CharField(
        max_length=32, blank=True, editable=False,
        help_text="Last campaign status set at the vendor (vendors with campaign control).")
    remote_status_message = models.TextField(blank=True, editable=False)
    # alerts (vendors.alerts, checked every minute): the campaign's watchers are mailed once when one is crossed
    alert_refusal_percent = models.PositiveSmallIntegerField(
        "alert at refusal rate (%)", default=50,
        validators=[MinValueValidator(1, "A refusal rate is at least %(limit_value)s %%."),
                    MaxValueValidator(100, "A refusal rate is at most %(limit_value)s %%.")],
        help_text="Alert when, of the pushes this vendor answered (accepted or refused) in the last hour, at least "
                  "this percentage were refused, counting only hours with at least the minimum volume below.",
    )
    alert_min_answers = models.PositiveIntegerField(
        "minimum pushes answered in the hour", default=20,
        validators=[MinValueValidator(1, "The minimum volume is at least 1 push.")],
        help_text="Below this many accepted + refused pushes in the last hour the refusal rate raises no alert "
                  "(two refusals out of three are not an outage).",
    )
    alert_failure_streak = models.PositiveSmallIntegerField(
        "alert after consecutive failed calls", default=5,
        validators=[MinValueValidator(1, "A failure streak is at least 1 call."),
                    MaxValueValidator(100, "A failure streak is at most 100 calls.")],
        help_text="Alert when this many of the destination's most recent calls to the vendor in a row failed: no "
                  "answer (timeout, connection), HTTP 401, 403, 429 or 5xx. Any other answer ends the streak.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "account", "remote_ref"], name="destination_unique")]

    def __str__(self):
        return f"{self.campaign} → {self.account.name}"

    @property
    def kind(self) -> str:
        return self.account.kind

    def supports(self, operation: str) -> bool:
        """Whether this destination's vendor has a call for a withdrawal operation
        (end_contact, dnc, erase); ``campaigns`` asks through the model, never importing us."""
        return client_class(self.account.kind).supports(operation)

    def unsupported_message(self, operation: str) -> str:
        return client_class(self.account.kind).unsupported_message(operation)

    def clean(self):
        if not self.account_id:
            return
        errors = client_class(self.account.kind).validate_settings(self.settings or {})
        if errors:
            raise ValidationError({"settings": [f"{k}: {v}" for k, v in errors.items()]})


class DestinationAlert(models.Model):
    """A destination's alert state (``vendors.alerts``): open from ``raised_at`` until ``cleared_at``.

    One row per destination, so a destination that keeps failing alerts once: raising only turns
    a closed row open, clearing only turns an open row closed. ``samples`` holds the destination's
    answered-push totals per UTC day as read from ``DeliveryCount`` at each check of the last hour
    (``[[iso time, {day: [accepted, refused]}], …]``): the refusal rate over the last hour is the
    difference between the newest and the oldest, so no check counts the delivery table."""

    destination = models.OneToOneField(Destination, on_delete=models.CASCADE, primary_key=True,
                                       related_name="alert")
    raised_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    samples = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [models.Index(fields=["raised_at"], name="alert_open_idx", condition=models.Q(cleared_at=None))]

    @property
    def is_open(self) -> bool:
        return self.raised_at is not None and self.cleared_at is None

    def __str__(self):
        state = f"open since {self.raised_at:%Y-%m-%d %H:%M}" if self.is_open else "clear"
        return f"Alert on destination {self.destination_id}: {state}"


class Delivery(models.Model):
    """One lead × destination × operation: the outbox row and its outcome."""

    class Operation(models.TextChoices):
        PUSH = "push", "Push lead"
        END_CONTACT = "end_contact", "End contact"
        DNC = "dnc", "Push DNC"
        ERASE = "erase", "Erase person"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_FLIGHT = "in_flight", "In flight"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        FAILED = "failed", "Failed (gave up)"
        SKIPPED = "skipped", "Skipped"
        UNSUPPORTED = "unsupported", "Unsupported by vendor"

    OPEN = (Status.PENDING, Status.IN_FLIGHT)

    # no single-column FK indexes: the unique (lead, destination, operation) and the
    # (destination, status) indexes serve those lookups, and every index costs each update
    lead = models.ForeignKey("campaigns.Lead", on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="deliveries",
                                    db_index=False)
    operation = models.CharField(max_length=16, choices=Operation.choices, default=Operation.PUSH)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    due_at = models.DateTimeField(help_text="When the next attempt may be made.")
    lease_until = models.DateTimeField(null=True, blank=True, help_text="A worker holds this row until then.")
    remote_ref = models.CharField(max_length=200, blank=True, help_text="The vendor's id for this lead.")
    # What the vendor knows this item's request by (an idempotency key header, a bulk import's uuid),
    # fixed at the first send and stored before the vendor can act on it, with the item's place in that
    # request: a retry, however the pipeline regroups it, is the same request to the vendor.
    call_ref = models.CharField(max_length=100, blank=True, default="", db_default="",
                                help_text="The vendor's handle on the request that first carried this item "
                                          "(idempotency key or bulk id).")
    call_index = models.PositiveIntegerField(null=True, blank=True, help_text="The item's position in that request.")
    call_size = models.PositiveIntegerField(null=True, blank=True, help_text="How many items that request carried.")
    code = models.CharField(max_length=64, blank=True)
    message = models.TextField(blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # An erased lead keeps no personal data, but the vendors still holding the person
    # must be found by it: each withdrawal row of an erase carries the details the lead
    # had (encrypted), and they are wiped once the vendor has answered for good.
    # db_default: the push COPY (planning._insert_pushes) names no such column.
    subject = EncryptedJSONField(
        blank=True, default=dict, db_default="", editable=False,
        help_text="Erase: the person's details until the vendor has answered (encrypted).",
    )

    outcome_checked_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="Accepted pushes: when the vendor's call outcome was last read (vendors.outcomes).")

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["lead", "destination", "operation"], name="delivery_one_per_operation"),
        ]
        indexes = [
            # expired leases
            models.Index(fields=["lease_until"], name="delivery_lease_idx", condition=models.Q(status="in_flight")),
            # the admin's filters and the campaign summary
            models.Index(fields=["status", "-id"], name="delivery_status_idx"),
            # a claim's rows, in due order, and every question about what is due (vendors.queue:
            # no index on due_at alone, see there); the destination's deliveries by status
            models.Index(fields=["destination", "status", "operation", "due_at"], name="delivery_claim_idx"),
            models.Index(fields=["code"], name="delivery_code_idx", condition=~models.Q(code="")),
            # accepted pushes whose call outcome is read next (least recently read first)
            models.Index(fields=["destination", "outcome_checked_at"], name="delivery_outcome_idx",
                         condition=models.Q(status="accepted", operation="push")),
        ]

    def __str__(self):
        return f"{self.get_operation_display()} lead {self.lead_id} → {self.destination_id}: {self.status}"

    @property
    def idempotency_key(self) -> str:
        """Stable across every retry of this delivery."""
        return f"leadhub-delivery-{self.pk}"


class DeliveryCount(models.Model):
    """Delivery events per UTC day and destination: the dashboard's figures, kept by the pipeline.

    ``status`` is the outcome reached that day (accepted, rejected, failed, skipped, unsupported),
    ``planned`` for rows planned that day, or ``open``: +n when rows are planned or re-opened and
    -n when they finish, so the rows open now are the sum of ``open`` over all days. Accepted
    pushes carry ``latency_bucket``: the index in ``vendors.counts.LATENCY_BOUNDS`` of the time
    from the lead's intake to the vendor's acceptance. Deltas, folded by ``leadhub.rollup.compact``.
    """

    KEY = ("day", "destination", "operation", "status", "code", "latency_bucket")

    day = models.DateField()
    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="+", db_index=False)
    operation = models.CharField(max_length=16, choices=Delivery.Operation.choices)
    status = models.CharField(max_length=16)
    code = models.CharField(max_length=64, blank=True, default="")
    latency_bucket = models.PositiveSmallIntegerField(null=True, blank=True)
    count = models.IntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["day", "destination"], name="deliverycount_day_idx"),
            models.Index(fields=["destination"], name="deliverycount_open_idx", condition=models.Q(status="open")),
        ]

    def __str__(self):
        return f"{self.day} destination {self.destination_id} {self.operation} {self.status} {self.code}: {self.count}"


class VendorExchange(models.Model):
    """One HTTP request to a vendor and the start of its answer (secrets removed). A batch's
    items share the exchanges that carried and decided them: the POST of a bulk import, then
    the status poll or errors page that gave each lead its result."""

    destination = models.ForeignKey(Destination, on_delete=models.CASCADE, related_name="+", db_index=False)
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    request = models.CharField(max_length=500, help_text="Method and URL, secrets removed.")
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    excerpt = models.TextField(blank=True, help_text="Start of the vendor's answer, secrets removed.")
    error = models.CharField(max_length=300, blank=True, help_text="Why no answer came (timeout, connection).")

    class Meta:
        indexes = [
            models.Index(fields=["started_at"], name="exchange_started_idx"),
            # the health strip: a destination's last success and its last hour (also serves the FK)
            models.Index(fields=["destination", "started_at"], name="exchange_destination_idx"),
        ]

    def __str__(self):
        status = self.http_status or self.error or "no answer"
        return f"{self.request} at {self.started_at:%Y-%m-%d %H:%M:%S}: {status}"


class DeliveryAttempt(models.Model):
    """One try of one delivery: what was sent where, and what came back (secrets removed).

    ``request``/``http_status``/``excerpt`` summarise the exchange that decided the item;
    ``sent_in`` and ``decided_by`` point at the exchanges themselves (pruned by age like the
    attempts, so the links carry no database constraint)."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    request = models.CharField(max_length=500, blank=True, help_text="Method and URL, secrets removed.")
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=16)
    code = models.CharField(max_length=64, blank=True)
    message = models.TextField(blank=True)
    excerpt = models.TextField(blank=True, help_text="Start of the vendor's answer, secrets removed.")
    sent_in = models.ForeignKey(VendorExchange, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False,
                                null=True, blank=True, related_name="+", help_text="The request that carried the item.")
    decided_by = models.ForeignKey(VendorExchange, on_delete=models.DO_NOTHING, db_constraint=False,
                                   db_index=False, null=True, blank=True, related_name="+",
                                   help_text="The exchange whose answer gave the item its result (a bulk's "
                                             "status poll or errors page).")

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["started_at"], name="attempt_started_idx")]

    def __str__(self):
        return f"Attempt on delivery {self.delivery_id} at {self.started_at:%Y-%m-%d %H:%M:%S}: {self.outcome}"


class DeliveryOutcome(models.Model):
    """What a vendor's dialler did with a lead it accepted, read back on a schedule
    (``vendors.outcomes``): a row each time it changes, newest first."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="outcomes")
    lead = models.ForeignKey("campaigns.Lead", on_delete=models.CASCADE, related_name="vendor_outcomes")
    read_at = models.DateTimeField(default=timezone.now)
    completed = models.BooleanField(null=True, help_text="The vendor will not call the lead again.")
    status_code = models.CharField(max_length=32, blank=True)
    status_description = models.CharField(max_length=200, blank=True)
    outcome_type = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-read_at", "-id"]
        verbose_name = "vendor outcome"

    def __str__(self):
        return f"{self.status_description or self.status_code or 'no status'} ({self.read_at:%Y-%m-%d %H:%M})"

    COMPARED = ("completed", "status_code", "status_description", "outcome_type")  # what a change is

    def same_as(self, other: "DeliveryOutcome | None") -> bool:
        return other is not None and all(getattr(self, f) == getattr(other, f) for f in self.COMPARED)
