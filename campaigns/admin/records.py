"""What the system records of staff work: bulk actions, erasures, the audit log (read-only)."""
from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from .. import bulk
from ..models import BulkAction, Erasure
from .common import ReadOnlyAdminMixin


@admin.register(BulkAction)
class BulkActionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Staff actions over many leads, with their progress ("Cancelling 333,333 leads — 41 %")."""

    list_display = ("id", "progress", "status", "created_by", "created_at", "finished_at")
    list_filter = ("status", "kind")
    list_select_related = ("created_by",)
    fields = ("kind", "status", "progress", "total", "processed", "changed", "deliveries_planned", "params",
              "created_by", "created_at", "started_at", "heartbeat_at", "finished_at")
    readonly_fields = fields
    actions = ["resume"]

    @admin.display(description="Progress")
    def progress(self, obj):
        return bulk.headline(obj)

    @admin.action(description="Resume selected bulk actions that stopped")
    def resume(self, request, queryset):
        from ..tasks import enqueue_bulk_action

        ids = list(queryset.filter(status__in=[BulkAction.Status.FAILED, BulkAction.Status.RUNNING])
                   .values_list("pk", flat=True))
        # failed ones go back to the queue and resume after their last chunk; running ones only if stalled
        BulkAction.objects.filter(pk__in=ids, status=BulkAction.Status.FAILED).update(
            status=BulkAction.Status.QUEUED, finished_at=None, message="")
        for action_id in ids:
            enqueue_bulk_action(action_id)
        self.message_user(request, f"{len(ids)} bulk action(s) resumed from where they stopped.", messages.SUCCESS)


@admin.register(Erasure)
class ErasureAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Who erased which leads' personal data, and when: read-only, kept as the record."""

    list_display = ("created_at", "requested_by", "via", "lead_count", "reason")
    list_filter = ("via",)
    search_fields = ("requested_by", "reason")
    ordering = ("-created_at",)
    fields = ("created_at", "via", "requested_by", "user", "api_key", "reason", "lead_count", "lead_links")
    readonly_fields = fields

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Leads")
    def lead_links(self, obj):
        ids = list(obj.leads.values_list("pk", flat=True).order_by("pk")[:200])
        more = f" … and {obj.lead_count - len(ids)} more" if obj.lead_count > len(ids) else ""
        links = format_html_join(", ", '<a href="{}">{}</a>',
                                 ((reverse("admin:campaigns_lead_change", args=[pk]), pk) for pk in ids))
        return format_html("{}{}", links, more)


@admin.register(LogEntry)
class AuditLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The audit log: who did what, from the admin, the API, commands and the pipeline
    (``campaigns.audit``), plus the admin's own add/change/delete entries. Read-only."""

    list_display = ("action_time", "user", "content_type", "object_link", "message")
    list_filter = ("action_flag", "content_type")
    list_select_related = ("user", "content_type")
    search_fields = ("object_repr", "change_message", "=object_id", "user__username")
    search_help_text = "Words of the message (e.g. DNC, api:acme, staff:alice), the object's name, or its id."
    ordering = ("-action_time",)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Object")
    def object_link(self, obj):
        url = obj.get_admin_url()
        return format_html('<a href="{}">{}</a>', url, obj.object_repr) if url else obj.object_repr

    @admin.display(description="What happened")
    def message(self, obj):
        flags = {1: "Added", 2: "Changed", 3: "Deleted"}
        return obj.get_change_message() or flags.get(obj.action_flag, "")
