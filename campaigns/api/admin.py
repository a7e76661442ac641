"""Admin for partner API keys (imported by the campaigns.admin package)."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html

from campaigns import audit
from campaigns.models import ApiKey, Campaign


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["partner", "name", "campaigns", "revoked_at"]

    def clean(self):
        data = super().clean()
        partner, campaigns = data.get("partner"), data.get("campaigns")
        if partner and campaigns:
            foreign = [c for c in campaigns if not partner.campaigns.filter(pk=c.pk).exists()]
            if foreign:
                self.add_error("campaigns", f"{partner.name} may not send to: {', '.join(c.name for c in foreign)}. "
                                            "Add the campaign to the partner first, or pick another.")
        return data


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ("prefix", "partner", "name", "created_at", "last_used_at", "state")
    list_filter = ("partner", ("revoked_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("prefix", "name", "partner__name", "partner__slug")
    list_select_related = ("partner",)
    autocomplete_fields = ("partner",)
    filter_horizontal = ("campaigns",)
    readonly_fields = ("prefix", "created_at", "last_used_at")
    actions = ["revoke_selected"]
    ordering = ("-created_at",)

    @admin.display(description="State", ordering="revoked_at")
    def state(self, obj):
        if obj.revoked_at:
            return format_html('<span style="color:#ba2121">revoked {}</span>', obj.revoked_at.strftime("%Y-%m-%d"))
        return "active"

    def get_fields(self, request, obj=None):
        if obj is None:  # the secret is generated on save; nothing to type
            return ["partner", "name", "campaigns"]
        return ["prefix", "partner", "name", "campaigns", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("prefix", "partner", "created_at", "last_used_at")  # a key never changes hands

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "campaigns":
            kwargs["queryset"] = Campaign.objects.order_by("name")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        raw = obj.save_with_new_secret()  # the form's campaigns follow in save_related
        # Shown once, in this message only: only the hash is stored.
        self.message_user(
            request,
            format_html("New API key for {}: <code>{}</code> — copy it now; it will not be shown again.",
                        obj.partner.name, raw),
            messages.WARNING,
        )

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke_selected(self, request, queryset):
        keys = list(queryset.filter(revoked_at__isnull=True))
        count = ApiKey.objects.filter(pk__in=[k.pk for k in keys]).update(revoked_at=timezone.now())
        audit.record(keys, "API key revoked")
        self.message_user(request, f"Revoked {count} key(s); they stop working on their next request.")
