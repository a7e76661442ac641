"""Do-not-call entries, global or per campaign."""
from django.contrib import admin
from django.db.models import Q
from django.utils.html import format_html

from .. import intake
from ..models import DNC
from ..paginators import EstimatedCountPaginator
from .common import PhoneSearchMixin


class GlobalScopeFilter(admin.SimpleListFilter):
    title = "scope"
    parameter_name = "scope"

    def lookups(self, request, model_admin):
        return [("global", "All campaigns"), ("campaign", "One campaign")]

    def queryset(self, request, queryset):
        if self.value() == "global":
            return queryset.filter(campaign__isnull=True)
        if self.value() == "campaign":
            return queryset.filter(campaign__isnull=False)
        return queryset


@admin.register(DNC)
class DNCAdmin(PhoneSearchMixin, admin.ModelAdmin):
    list_display = ("phone", "scope", "reason", "source", "created_at")
    list_filter = (GlobalScopeFilter, "campaign")
    list_select_related = ("campaign",)
    search_fields = ("reason", "source")
    search_help_text = "A phone number in any format, or words of the reason or source."
    autocomplete_fields = ("campaign",)
    readonly_fields = ("created_at",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    ordering = ("-id",)

    @admin.display(description="Applies to", ordering="campaign__name")
    def scope(self, obj):
        return obj.campaign.name if obj.campaign_id else format_html("<strong>{}</strong>", "All campaigns")

    def save_model(self, request, obj, form, change):
        """Adding a DNC entry in the admin withdraws matching leads like every other path."""
        if change:
            return super().save_model(request, obj, form, change)
        result = intake.add_to_dnc([obj.phone], campaign=obj.campaign, reason=obj.reason,
                                   source=obj.source or f"staff:{request.user.get_username()}")
        scope = Q(campaign__isnull=True) if obj.campaign is None else Q(campaign=obj.campaign)
        saved = DNC.objects.filter(scope, phone=obj.phone).first()
        if saved:
            obj.pk = saved.pk
        if result.leads_withdrawn:
            self.message_user(request, f"{result.leads_withdrawn} lead(s) with this number withdrawn from vendors.")
