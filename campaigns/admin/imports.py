"""CSV import jobs: their progress, counts and error file."""
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from ..imports import jobs, writing
from ..models import ImportJob
from .common import ReadOnlyAdminMixin


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only history of CSV imports with their progress, counts and error file."""

    list_display = ("id", "original_name", "campaign", "lead_list", "status", "progress", "accepted", "rejected",
                    "created_by", "created_at")
    list_filter = ("status", "campaign")
    # a list's name reads its campaign's (LeadList.__str__)
    list_select_related = ("campaign", "lead_list__campaign", "created_by")
    search_fields = ("original_name",)
    ordering = ("-id",)
    fields = ("original_name", "campaign", "lead_list", "status", "progress", "counts_table", "message",
              "error_download", "encoding", "delimiter", "mapping", "created_by", "created_at", "started_at",
              "heartbeat_at", "finished_at")
    readonly_fields = fields
    actions = ["resume_imports"]

    @admin.display(description="Progress")
    def progress(self, obj):
        if obj.status == ImportJob.Status.UPLOADED:
            return format_html('<a href="{}">Continue: map the columns</a>',
                               reverse("admin:campaigns_lead_import_map", args=[obj.pk]))
        p = jobs.job_progress(obj)
        url = reverse("admin:campaigns_lead_import_progress", args=[obj.pk])
        return format_html('<a href="{}">{}% ({} / {} rows)</a>', url, p["percent"], obj.processed_rows,
                           obj.total_rows if obj.total_rows is not None else "?")

    @admin.display(description="Imported")
    def accepted(self, obj):
        return (obj.counts or {}).get("accepted", 0)

    @admin.display(description="Rejected")
    def rejected(self, obj):
        return sum(v for k, v in (obj.counts or {}).items() if k not in ("accepted", "resumes"))

    @admin.display(description="Counts")
    def counts_table(self, obj):
        labels = dict(writing.OUTCOMES)
        items = [(labels.get(k, k), v) for k, v in (obj.counts or {}).items() if k != "resumes"]
        return format_html("<br>".join(["{}: {}"] * len(items)), *[x for pair in items for x in pair]) if items else "—"

    @admin.display(description="Error file")
    def error_download(self, obj):
        if not obj.error_file:
            return "—"
        return format_html('<a href="{}">Download rejected rows (CSV)</a>',
                           reverse("admin:campaigns_lead_import_errors", args=[obj.pk]))

    @admin.action(description="Resume selected imports that stopped")
    def resume_imports(self, request, queryset):
        from ..tasks import enqueue_import

        stopped = queryset.filter(status__in=[ImportJob.Status.FAILED, ImportJob.Status.RUNNING])
        ids = list(stopped.values_list("pk", flat=True))
        # failed jobs go back to the queue and resume at processed_rows; running ones only if stalled
        ImportJob.objects.filter(pk__in=ids, status=ImportJob.Status.FAILED).update(
            status=ImportJob.Status.QUEUED, finished_at=None)
        for job_id in ids:
            enqueue_import(job_id, resumed=True)
        self.message_user(request, f"{len(ids)} import(s) resumed from where they stopped.", messages.SUCCESS)
