"""Background work: CSV import jobs, bulk actions over many leads, and the wake-up flags."""
from __future__ import annotations

from django.conf import settings
from django.db import models

from .campaigns import Campaign, LeadList


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
    chunk of :data:`campaigns.intake.CHUNK` leads, not one per lead: a row written and deleted
    per lead would be a large share of a big action's time."""

    pk = models.CompositePrimaryKey("action", "first_lead_id")
    action = models.ForeignKey(BulkAction, on_delete=models.CASCADE, related_name="+")
    first_lead_id = models.BigIntegerField()
    lead_ids = models.TextField()
    size = models.PositiveIntegerField()


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
