"""Admin for partner webhook events (imported by the campaigns.admin package), and the
Partner page's webhook part (``PartnerWebhookMixin``, used by campaigns.admin.campaigns.PartnerAdmin)."""
from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from ..models import Partner, PartnerEvent
from . import sending
from .signing import new_secret


class PartnerWebhookMixin:
    """The webhook URL on the Partner page; a signing secret generated when a URL is first saved
    and by "Rotate webhook signing secret", shown once in the admin's message, never again."""

    webhook_fields = ("webhook_url", "webhook_state")

    @admin.display(description="Webhook")
    def webhook_state(self, obj):
        if not obj or not obj.webhook_url:
            return "No URL: no events are sent."
        if obj.webhook_disabled_at:
            return format_html('<span style="color:#ba2121">Disabled at {} (the receiver answered 410 Gone). Save '
                               'the URL again to re-enable.</span>', obj.webhook_disabled_at.strftime("%Y-%m-%d %H:%M"))
        return "Active. Signing secret set (shown once, when created or rotated: use the action \"Rotate webhook " \
               "signing secret\" on the partner list for a new one)."

    def save_model(self, request, obj, form, change):
        if "webhook_url" in form.changed_data:
            obj.webhook_disabled_at = None  # saved again: a receiver that said 410 is back
        fresh = bool(obj.webhook_url and not obj.webhook_secret)
        if fresh:
            obj.webhook_secret = new_secret()
        super().save_model(request, obj, form, change)
        if fresh:
            self._show_secrets(request, [obj])

    def _show_secrets(self, request, partners):
        # Shown once, in this message only (stored encrypted; never in a log or an API answer).
        self.message_user(request, format_html(
            "Webhook signing secret — copy it now; it will not be shown again: {}",
            format_html_join("; ", "{}: <code>{}</code>", ((p.name, p.webhook_secret) for p in partners))),
            messages.WARNING)

    @admin.action(description="Rotate webhook signing secret", permissions=["change"])
    def rotate_webhook_secret(self, request, queryset):
        partners = list(queryset.exclude(webhook_url=""))
        for partner in partners:
            partner.webhook_secret = new_secret()
            Partner.objects.filter(pk=partner.pk).update(webhook_secret=partner.webhook_secret)
        if partners:
            self._show_secrets(request, partners)
        skipped = queryset.count() - len(partners)
        if skipped:
            self.message_user(request, f"{skipped} partner(s) without a webhook URL left as they were.")


@admin.register(PartnerEvent)
class PartnerEventAdmin(admin.ModelAdmin):
    """What was sent to each partner's webhook, and its answer; read-only, with a replay."""

    list_display = ("event_id", "type", "partner", "lead_id", "status", "attempts", "http_status", "created_at",
                    "delivered_at")
    list_filter = ("status", "type", "partner")
    list_select_related = ("partner",)
    search_fields = ("=lead_id", "=event_id")
    ordering = ("-id",)
    fields = ("event_id", "type", "partner", "lead_id", "status", "attempts", "due_at", "http_status", "message",
              "created_at", "delivered_at", "payload")
    readonly_fields = fields
    actions = ["replay_events"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isdigit():
            return queryset.filter(lead_id=int(term)), False
        import uuid

        try:
            return queryset.filter(event_id=uuid.UUID(term)), False
        except ValueError:
            return queryset.none(), False

    def has_replay_permission(self, request):
        # the rows stay read-only; sending them again is a change to the queue
        return request.user.has_perm("campaigns.change_partnerevent")

    @admin.action(description="Replay selected events", permissions=["replay"])
    def replay_events(self, request, queryset):
        count = sending.replay(queryset)
        self.message_user(request, f"Queued {count} event(s) again, with their ids (receivers de-duplicate on "
                                   "them); events in flight were left to their sender.")
