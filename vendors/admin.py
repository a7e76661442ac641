"""Staff UI for vendor accounts and destinations. Secrets are write-only."""
import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, Exists, OuterRef
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from campaigns import bulk
from campaigns.imports import export
from campaigns.admin import AdminExtension, extend, run_bulk
from campaigns.models import BulkAction
from campaigns.paginators import EstimatedCountPaginator
from leadhub.deletion import CountedDeleteMixin

from . import admin_help, counts, lead_states, planning, registry
from .integrations.base import VendorError
from .models import (
    Delivery, DeliveryAttempt, DeliveryOutcome, Destination, DestinationAlert, VendorAccount, VendorExchange,
)


class SecretJSONWidget(forms.Textarea):
    """Never renders the stored value back into the page."""

    def format_value(self, value):
        return ""


class VendorAccountForm(forms.ModelForm):
    credentials = forms.CharField(
        required=False, widget=SecretJSONWidget(attrs={"rows": 4, "autocomplete": "off"}),
        help_text=admin_help.CREDENTIALS,
    )

    class Meta:
        model = VendorAccount
        fields = "__all__"
        help_texts = {"base_url": admin_help.BASE_URL}

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
        help_text=admin_help.SECRET,
    )

    class Meta:
        model = Destination
        fields = "__all__"
        help_texts = {"remote_ref": admin_help.REMOTE_REF, "settings": admin_help.SETTINGS}

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
class VendorAccountAdmin(CountedDeleteMixin, admin.ModelAdmin):
    form = VendorAccountForm
    list_display = ("name", "kind", "base_url", "is_enabled", "circuit", "timeout_seconds", "max_requests_per_second",
                    "credential_keys")
    list_filter = ("kind", "is_enabled")
    search_fields = ("name", "base_url")
    readonly_fields = ("credential_keys", "circuit", "last_error", "created_at", "updated_at")
    actions = ["test_connection", "close_circuit"]
    inlines = [DestinationInline]
    fieldsets = (
        (None, {"fields": ("name", "kind", "base_url", "is_enabled")}),
        ("Credentials", {"fields": ("credential_keys", "credentials")}),
        ("Limits", {"fields": ("timeout_seconds", "max_requests_per_second", "max_attempts")}),
        ("Health", {"fields": ("circuit", "last_error")}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="Saved credentials")
    def credential_keys(self, obj):
        keys = sorted((obj.credentials or {}).keys()) if obj and obj.pk else []
        return ", ".join(f"{k} (set)" for k in keys) or "none"

    @admin.display(description="Circuit")
    def circuit(self, obj):
        if obj.circuit_open_until and obj.circuit_open_until > timezone.now():
            return format_html('<strong style="color:#ba2121">paused until {} UTC</strong> ({} failures)',
                               f"{obj.circuit_open_until:%H:%M:%S}", obj.consecutive_failures)
        if obj.consecutive_failures:
            return f"closed ({obj.consecutive_failures} recent failures)"
        return "closed"

    @admin.action(description="Test connection")
    def test_connection(self, request, queryset):
        for account in queryset:
            client = registry.client_for_account(account)
            try:
                report = client.check_connection()
            except VendorError as exc:
                self.message_user(request, f"{account.name}: failed: {exc.message}", messages.ERROR)
                continue
            level = messages.SUCCESS if report.ok else messages.ERROR
            call = f" ({report.checked_call})" if report.checked_call else ""
            self.message_user(request, f"{account.name}{call}: {client.redact(report.message)}", level)

    @admin.action(description="Resume now (close the circuit breaker)")
    def close_circuit(self, request, queryset):
        n = queryset.update(consecutive_failures=0, circuit_open_until=None)
        planning.wake()
        self.message_user(request, f"{n} account(s) resumed.")


@admin.register(Destination)
class DestinationAdmin(CountedDeleteMixin, admin.ModelAdmin):
    form = DestinationForm
    list_display = ("__str__", "campaign", "account", "kind", "remote_ref", "is_enabled", "has_secret", "remote_status")
    list_filter = ("is_enabled", "account__kind", "account", "campaign")
    list_select_related = ("campaign", "account")
    search_fields = ("campaign__name", "account__name", "remote_ref")
    autocomplete_fields = ("campaign", "account")
    readonly_fields = ("remote_status", "remote_status_message", "alert_state", "delivery_counts", "created_at",
                       "updated_at")
    fieldsets = (
        (None, {"fields": ("campaign", "account", "remote_ref", "settings", "secret", "is_enabled")}),
        ("Alerts (checked every minute; the campaign's watchers are mailed)", {"fields": (
            "alert_state", "alert_refusal_percent", "alert_min_answers", "alert_failure_streak")}),
        ("At the vendor", {"fields": ("remote_status", "remote_status_message", "delivery_counts")}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="Alert")
    def alert_state(self, obj):
        alert = DestinationAlert.objects.filter(pk=obj.pk).first() if obj and obj.pk else None
        if alert is None or alert.raised_at is None:
            return "none raised"
        if alert.is_open:
            return format_html('<strong style="color:#ba2121">open since {} UTC</strong>: {}',
                               f"{alert.raised_at:%Y-%m-%d %H:%M}", alert.reason)
        return f"clear (the last one, raised {alert.raised_at:%Y-%m-%d %H:%M} UTC, cleared " \
               f"{alert.cleared_at:%Y-%m-%d %H:%M} UTC: {alert.reason})"

    @admin.display(description="Deliveries")
    def delivery_counts(self, obj):
        return _counts_html(obj)

    @admin.display(description="Vendor")
    def kind(self, obj):
        return obj.account.get_kind_display()

    @admin.display(boolean=True, description="Secret set")
    def has_secret(self, obj):
        return bool(obj.secret)


def _counts_html(destination) -> str:
    if not destination.pk:
        return "—"
    rows = (Delivery.objects.filter(destination=destination).values("operation", "status")
            .annotate(n=Count("id")).order_by("operation", "status"))
    if not rows:
        return "none yet"
    base = reverse("admin:vendors_delivery_changelist")
    return format_html_join(
        ", ", '<a href="{}?destination__id__exact={}&amp;operation__exact={}&amp;status__exact={}">{} {}: {}</a>',
        ((base, destination.pk, r["operation"], r["status"], r["operation"], r["status"], r["n"]) for r in rows))


class CampaignDestinationInline(admin.TabularInline):
    """Each campaign page lists its vendors with delivery counts per status."""

    model = Destination
    form = DestinationForm
    extra = 0
    fields = ("account", "remote_ref", "is_enabled", "remote_status", "counts")
    readonly_fields = ("remote_status", "counts")
    autocomplete_fields = ("account",)
    show_change_link = True
    verbose_name_plural = "Vendors (destinations) and delivery counts"

    @admin.display(description="Deliveries by status")
    def counts(self, obj):
        return _counts_html(obj)


class DeliveryInline(admin.TabularInline):
    """A lead's page: what each vendor answered, and the last attempts."""

    model = Delivery
    extra = 0
    can_delete = False
    fields = ("destination", "operation", "status", "attempts", "code", "message", "remote_ref", "due_at",
              "updated_at", "recent_attempts")
    readonly_fields = fields
    show_change_link = True
    verbose_name_plural = "Deliveries to vendors"

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("destination__account", "destination__campaign")

    @admin.display(description="Recent attempts")
    def recent_attempts(self, obj):
        attempts = obj.attempt_log.all()[:3]
        return format_html_join(
            format_html("<br>"), "{} · HTTP {} · {} {}",
            ((f"{a.started_at:%Y-%m-%d %H:%M:%S}", a.http_status or "—", a.outcome, a.code) for a in attempts),
        ) or "—"


class OutcomeInline(admin.TabularInline):
    """A lead's page: what the vendors' diallers did with it (vendors.outcomes), newest first, and
    which of its campaign's vendors report nothing of the kind."""

    model = DeliveryOutcome
    fk_name = "lead"
    extra = 0
    can_delete = False
    fields = ("read_at", "vendor", "completed", "status_code", "status_description", "outcome_type")
    readonly_fields = fields
    verbose_name_plural = "Call outcomes from the vendors"

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("delivery__destination__account")

    def get_formset(self, request, obj=None, **kwargs):
        self.verbose_name_plural = format_html("{} <small>({})</small>", type(self).verbose_name_plural,
                                               outcome_note(obj.campaign_id) if obj else "")
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description="Vendor")
    def vendor(self, obj):
        return obj.delivery.destination.account.name


def outcome_note(campaign_id: int) -> str:
    """Which of a campaign's vendors report call outcomes, and which cannot."""
    reads, silent = [], []
    for destination in Destination.objects.filter(campaign_id=campaign_id).select_related("account"):
        (reads if registry.client_class(destination.account.kind).reads_outcomes() else silent).append(
            destination.account.name)
    every = f"read back every {settings.OUTCOME_POLL_SECONDS // 60} min"
    parts = [f"{', '.join(reads)}: {every}"] if reads else []
    if silent:
        parts.append(f"{', '.join(silent)}: {'its contract offers' if len(silent) == 1 else 'their contracts offer'} "
                     "no call outcomes")
    return "; ".join(parts) or "no vendor destinations"


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ("started_at", "duration_ms", "request", "http_status", "outcome", "code", "message", "excerpt",
              "sent_in_link", "decided_by_link")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("sent_in", "decided_by")

    @admin.display(description="Sent in")
    def sent_in_link(self, obj):
        return _exchange_link(obj.sent_in)

    @admin.display(description="Decided by")
    def decided_by_link(self, obj):
        return _exchange_link(obj.decided_by)


def _exchange_link(exchange) -> str:
    if exchange is None:
        return "—"
    return format_html('<a href="{}">{} · {}</a>', reverse("admin:vendors_vendorexchange_change", args=[exchange.pk]),
                       exchange.request, exchange.http_status or exchange.error or "no answer")


@admin.register(VendorExchange)
class VendorExchangeAdmin(admin.ModelAdmin):
    """Every HTTP exchange that carried or decided a delivery (read-only; pruned with the attempts)."""

    list_display = ("id", "started_at", "destination", "request", "http_status", "duration_ms", "error")
    list_filter = ("destination__account__kind", "http_status")
    list_select_related = ("destination__account", "destination__campaign")
    readonly_fields = [f.name for f in VendorExchange._meta.fields]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    ordering = ("-id",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.action(description="Re-deliver selected leads (push again where it failed, was rejected or skipped)")
def redeliver_leads(modeladmin, request, queryset):
    return run_bulk(modeladmin, request, [bulk.start(BulkAction.Kind.REDELIVER, queryset, user=request.user)])


@admin.action(description="Export selected leads as CSV, with each vendor's state and outcome")
def export_csv_with_vendor_states(modeladmin, request, queryset):
    """The lead export (campaigns.imports) plus a state and an outcome column per destination of
    the selected leads' campaigns; streamed, one delivery query per chunk of rows."""
    destinations = list(Destination.objects.filter(Exists(queryset.filter(campaign_id=OuterRef("campaign_id"))))
                        .select_related("account", "campaign").order_by("campaign__name", "pk"))
    rows = lead_states.with_states(export.lead_export_rows(queryset), destinations)
    return export.stream_csv(export.LEAD_EXPORT_COLUMNS + lead_states.export_columns(destinations), rows,
                              "leads-with-vendor-states.csv")


# the lead page shows its deliveries; the lead list each lead's state per destination, as a
# column and as filters (vendors.lead_states); a campaign's page its destinations
extend(AdminExtension(
    lead_inlines=[DeliveryInline, OutcomeInline], lead_actions=[redeliver_leads, export_csv_with_vendor_states],
    lead_columns=[lead_states.state_column], lead_page_steps=[lead_states.annotate_page],
    lead_filters=lead_states.list_filters, campaign_inlines=[CampaignDestinationInline]))


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "lead_link", "vendor", "campaign", "operation", "status", "attempts", "code",
                    "short_message", "due_at", "updated_at")
    list_filter = ("status", "operation", "destination__account__kind", "destination__campaign", "code")
    list_select_related = ("lead", "destination__account", "destination__campaign")
    search_fields = ("=lead__phone", "=remote_ref", "=code")
    search_help_text = "Exact phone (E.164), vendor id or code."
    raw_id_fields = ("lead", "destination")
    # never the erase subject: the person's details are not shown again, even to staff
    readonly_fields = [f.name for f in Delivery._meta.fields if f.name != "subject"]
    exclude = ("subject",)
    inlines = [DeliveryAttemptInline]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    ordering = ("-id",)
    actions = ["retry_now", "cancel"]

    def has_add_permission(self, request):
        return False

    def get_search_results(self, request, queryset, search_term):
        from campaigns.phones import try_normalize_phone

        phone = try_normalize_phone(search_term.strip()) if search_term.strip() else None
        if phone:
            return queryset.filter(lead__phone=phone), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="Lead", ordering="lead_id")
    def lead_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:campaigns_lead_change", args=[obj.lead_id]),
                           obj.lead.phone)

    @admin.display(description="Vendor", ordering="destination__account__kind")
    def vendor(self, obj):
        return obj.destination.account.name

    @admin.display(description="Campaign")
    def campaign(self, obj):
        return obj.destination.campaign.name

    @admin.display(description="Message")
    def short_message(self, obj):
        return (obj.message[:80] + "…") if len(obj.message) > 80 else obj.message

    @admin.action(description="Retry now")
    def retry_now(self, request, queryset):
        now = timezone.now()
        with transaction.atomic():
            reopened = list(queryset.exclude(status__in=[Delivery.Status.ACCEPTED, *Delivery.OPEN])
                            .values_list("destination_id", "operation"))
            n = queryset.exclude(status__in=[Delivery.Status.ACCEPTED, Delivery.Status.IN_FLIGHT]).update(
                status=Delivery.Status.PENDING, due_at=now, attempts=0, finished_at=None, updated_at=now)
            counts.planned(reopened, now)
        planning.wake()
        self.message_user(request, f"{n} delivery(ies) queued to retry now (accepted and in-flight ones left alone).")

    @admin.action(description="Cancel (do not send)")
    def cancel(self, request, queryset):
        now = timezone.now()
        with transaction.atomic():
            pending = list(queryset.filter(status=Delivery.Status.PENDING).select_for_update()
                           .values_list("id", "destination_id", "operation"))
            n = Delivery.objects.filter(pk__in=[pk for pk, _, _ in pending]).update(
                status=Delivery.Status.SKIPPED, code="cancelled_by_staff",
                message=f"Cancelled by {request.user.get_username()}.", finished_at=now, updated_at=now)
            counts.finished([Delivery(destination_id=dest_id, operation=op, status=Delivery.Status.SKIPPED,
                                      code="cancelled_by_staff") for _, dest_id, op in pending], now)
        self.message_user(request, f"{n} pending delivery(ies) cancelled.")
