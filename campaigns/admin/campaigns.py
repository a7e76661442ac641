"""Campaigns, their lead lists and the partners that send to them."""
from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from leadhub.deletion import CountedDeleteMixin

from .. import bulk, requirements
from ..models import WEEKDAYS, BulkAction, Campaign, LeadList, Partner
from ..webhooks.admin import PartnerWebhookMixin
from .common import _import_redirect, _open_leads, confirm_page, run_bulk
from .extensions import _extended


class CampaignForm(forms.ModelForm):
    calling_days = forms.MultipleChoiceField(
        choices=[(d, d.capitalize()) for d in WEEKDAYS], widget=forms.CheckboxSelectMultiple,
        help_text="Days leads may be called, in the lead's local time.",
    )

    class Meta:
        model = Campaign
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance and self.instance.calling_days:
            self.initial["calling_days"] = [d.strip() for d in self.instance.calling_days.split(",")]

    def clean_calling_days(self):
        return ",".join(d for d in WEEKDAYS if d in self.cleaned_data["calling_days"])


class LeadListInline(admin.TabularInline):
    model = LeadList
    extra = 0
    fields = ("name", "source", "created_at")
    readonly_fields = ("created_at",)
    show_change_link = True


@admin.register(Campaign)
class CampaignAdmin(CountedDeleteMixin, admin.ModelAdmin):
    form = CampaignForm
    list_display = ("name", "slug", "status", "timezone", "calling_window", "default_region", "updated_at")
    list_filter = ("status",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at", "updated_at", "lead_requirements", "dashboard")
    filter_horizontal = ("watchers",)
    inlines = [LeadListInline]
    actions = ["import_csv", "cancel_open_leads", "archive"]

    def get_inlines(self, request, obj):
        return [*self.inlines, *_extended("campaign_inlines")]

    @admin.action(description="Import leads from CSV", permissions=["import"])
    def import_csv(self, request, queryset):
        return _import_redirect(self, request, queryset, "campaign")

    def _counts(self, queryset) -> list[str]:
        return [f"{c.name}: {_open_leads(campaign=c).count():,} open lead(s) of {c.leads.count():,}"
                for c in queryset]

    @admin.action(description="Cancel all open leads of the campaign (stop contact at vendors)",
                  permissions=["change"])
    def cancel_open_leads(self, request, queryset):
        if not request.POST.get("confirm"):
            return confirm_page(self, request, queryset, title="Cancel all open leads?", lines=self._counts(queryset),
                                submit="Yes, cancel them and tell their vendors to stop")
        return run_bulk(self, request, [bulk.start(BulkAction.Kind.CANCEL, _open_leads(campaign=c), user=request.user)
                                        for c in queryset])

    @admin.action(description="Archive campaign (stop intake, withdraw its leads everywhere, keep the history)",
                  permissions=["change"])
    def archive(self, request, queryset):
        if not request.POST.get("confirm"):
            return confirm_page(self, request, queryset, title="Archive these campaigns?",
                                lines=self._counts(queryset) + [
                                    "Intake stops (new leads are rejected as campaign_closed); open leads are "
                                    "cancelled and withdrawn at every vendor; leads and deliveries are kept."],
                                submit="Yes, archive")
        started = []
        for campaign in queryset:
            if campaign.status != Campaign.Status.ARCHIVED:
                campaign.status = Campaign.Status.ARCHIVED
                campaign.save(update_fields=["status", "updated_at"])  # intake closes; vendors follow the status
            started.append(bulk.start(BulkAction.Kind.CANCEL, _open_leads(campaign=campaign), user=request.user))
        return run_bulk(self, request, started)

    def has_import_permission(self, request):
        return request.user.has_perm("campaigns.add_lead")
    fieldsets = (
        (None, {"fields": ("name", "slug", "status", "dashboard")}),
        ("Calling window (lead's local time)", {"fields": ("timezone", "calling_days", "calling_start", "calling_end", "default_region")}),
        ("What a lead needs", {"fields": ("lead_requirements", "vendor_requirements_policy")}),
        ("Alerts", {"fields": ("watchers",), "description": "Thresholds are set on each destination (vendor)."}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="Requirements of its enabled vendors")
    def lead_requirements(self, obj):
        if not obj.pk:
            return "A phone number; add destinations to see what their vendors need."
        return format_html_join(mark_safe("<br>"), "<strong>{}</strong>: {}", (
            (" or ".join(entry["fields"]), entry["message"]) for entry in requirements.for_campaign(obj).describe()))

    @admin.display(description="Dashboard")
    def dashboard(self, obj):
        if not obj.pk:
            return "—"
        return format_html('<a href="{}?campaign={}">What happened today, per vendor</a>', reverse("admin:index"),
                           obj.pk)

    @admin.display(description="Calling window")
    def calling_window(self, obj):
        return f"{obj.calling_days} {obj.calling_start:%H:%M}–{obj.calling_end:%H:%M}"


@admin.register(LeadList)
class LeadListAdmin(CountedDeleteMixin, admin.ModelAdmin):
    list_display = ("name", "campaign", "source", "created_at")
    list_filter = ("campaign",)
    list_select_related = ("campaign",)
    search_fields = ("name", "campaign__name", "source")
    autocomplete_fields = ("campaign",)
    readonly_fields = ("created_at",)
    actions = ["import_csv", "delete_lists"]
    LIST_LEADS = [("keep", "Keep the leads; they lose the list"),
                  ("cancel", "Cancel the open leads (vendors are told to stop), then delete the list")]

    @admin.action(description="Import leads from CSV", permissions=["import"])
    def import_csv(self, request, queryset):
        return _import_redirect(self, request, queryset, "lead_list")

    @admin.action(description="Delete lead lists (keep or cancel their leads)", permissions=["delete"])
    def delete_lists(self, request, queryset):
        choice = request.POST.get("choice")
        if not request.POST.get("confirm") or choice not in dict(self.LIST_LEADS):
            lines = [f"{lst}: {lst.leads.count():,} lead(s), {_open_leads(lead_list=lst).count():,} open"
                     for lst in queryset]
            return confirm_page(self, request, queryset, title="Delete these lead lists?", lines=lines,
                                submit="Delete", choices=self.LIST_LEADS)
        started = []
        for lead_list in queryset:
            if choice == "cancel":  # the selection is recorded before the list goes
                started.append(bulk.start(BulkAction.Kind.CANCEL, _open_leads(lead_list=lead_list), user=request.user))
            lead_list.delete()
        self.message_user(request, f"{len(queryset) if not started else len(started)} lead list(s) deleted.",
                          messages.SUCCESS)
        return run_bulk(self, request, started)

    def has_import_permission(self, request):
        return request.user.has_perm("campaigns.add_lead")


@admin.register(Partner)
class PartnerAdmin(PartnerWebhookMixin, CountedDeleteMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "is_active", "campaign_list", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("campaigns",)
    fields = ("name", "slug", "is_active", "campaigns", *PartnerWebhookMixin.webhook_fields, "created_at")
    readonly_fields = ("created_at", "webhook_state")
    actions = ["rotate_webhook_secret"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("campaigns")

    @admin.display(description="Campaigns")
    def campaign_list(self, obj):
        return ", ".join(c.name for c in obj.campaigns.all()) or "—"
