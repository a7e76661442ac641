"""Staff UI for vendor accounts and destinations. Secrets are write-only."""
import json

from django import forms
from django.contrib import admin

from .models import Destination, VendorAccount


class SecretJSONWidget(forms.Textarea):
    """Never renders the stored value back into the page."""

    def format_value(self, value):
        return ""


class VendorAccountForm(forms.ModelForm):
    credentials = forms.CharField(
        required=False, widget=SecretJSONWidget(attrs={"rows": 4, "autocomplete": "off"}),
        help_text='A JSON object, e.g. {"tenant_id": "…", "token": "…"}. Stored encrypted; never shown again. '
                  "Leave blank to keep the saved credentials.",
    )

    class Meta:
        model = VendorAccount
        fields = "__all__"

    def clean_credentials(self):
        text = self.cleaned_data.get("credentials", "").strip()
        if not text:
            return self.instance.credentials if self.instance.pk else {}
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"Credentials must be a JSON object: {exc.msg} at character {exc.pos}.")
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise forms.ValidationError("Credentials must be a JSON object whose values are strings.")
        return value


class DestinationForm(forms.ModelForm):
    secret = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Aktify: the campaign's x-api-key. Aimylogic: the campaign token. Encrypted; never shown again. "
                  "Leave blank to keep the saved one.",
    )

    class Meta:
        model = Destination
        fields = "__all__"

    def clean_secret(self):
        value = self.cleaned_data.get("secret", "").strip()
        if not value and self.instance.pk:
            return self.instance.secret
        return value


class DestinationInline(admin.TabularInline):
    model = Destination
    form = DestinationForm
    extra = 0
    fields = ("campaign", "remote_ref", "is_enabled")
    autocomplete_fields = ("campaign",)
    show_change_link = True


@admin.register(VendorAccount)
class VendorAccountAdmin(admin.ModelAdmin):
    form = VendorAccountForm
    list_display = ("name", "kind", "base_url", "is_enabled", "timeout_seconds", "max_requests_per_second", "credential_keys")
    list_filter = ("kind", "is_enabled")
    search_fields = ("name", "base_url")
    readonly_fields = ("credential_keys", "created_at", "updated_at")
    inlines = [DestinationInline]
    fieldsets = (
        (None, {"fields": ("name", "kind", "base_url", "is_enabled")}),
        ("Credentials", {"fields": ("credential_keys", "credentials")}),
        ("Limits", {"fields": ("timeout_seconds", "max_requests_per_second", "max_attempts")}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="Saved credentials")
    def credential_keys(self, obj):
        keys = sorted((obj.credentials or {}).keys()) if obj and obj.pk else []
        return ", ".join(f"{k} (set)" for k in keys) or "none"


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin):
    form = DestinationForm
    list_display = ("__str__", "campaign", "account", "kind", "remote_ref", "is_enabled", "has_secret")
    list_filter = ("is_enabled", "account__kind", "account", "campaign")
    list_select_related = ("campaign", "account")
    search_fields = ("campaign__name", "account__name", "remote_ref")
    autocomplete_fields = ("campaign", "account")
    readonly_fields = ("created_at", "updated_at")

    @admin.display(description="Vendor")
    def kind(self, obj):
        return obj.account.get_kind_display()

    @admin.display(boolean=True, description="Secret set")
    def has_secret(self, obj):
        return bool(obj.secret)
