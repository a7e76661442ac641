"""The lead list and the lead page."""
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import Q
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.dateformat import format as date_format
from django.utils.timezone import localtime

from .. import bulk, intake, pipeline, withdrawals
from ..imports import export
from ..models import BulkAction, Campaign, Lead, LeadList, search_key
from ..paginators import EstimatedCountPaginator
from ..phones import try_normalize_phone
from .common import PhoneSearchMixin, run_bulk
from .extensions import EXTENSIONS, _extended


class LeadForm(forms.ModelForm):
    """The admin's lead form: a new lead goes through intake, an edited one is checked like one.

    Adding: the row goes through ``intake.submit`` (DNC, duplicates, the campaign's
    region for the number, delivery planned); :meth:`clean` runs it as a dry run so
    its reasons become form errors, and ``LeadAdmin.save_model`` runs it for real.
    Editing: values are normalised as intake does (``intake.revise``: E.164 with the
    campaign's region, a new number checked against the DNC list and the campaign's
    leads). Once a vendor has (or may have) the lead, the values it was sent are
    refused: few vendors have an update call, so an edit would leave the other
    vendors calling with the old details while LeadHub shows the new ones; a wrong
    number is another person, who needs a new lead (DNC check, dedupe, delivery).
    """

    # Numbers are parsed by intake with the campaign's region, not by the model field's
    # form field (which knows no campaign): the raw text goes through.
    phone = forms.CharField(max_length=64, help_text="Any format; stored as E.164. Numbers without a country code "
                                                     "are read with the campaign's region.")
    phone_alt = forms.CharField(max_length=64, required=False, label="Phone alt",
                                help_text="Optional second number, any format; stored as E.164.")

    class Meta:
        model = Lead
        fields = "__all__"

    def clean(self):
        data = super().clean()
        campaign = data.get("campaign") if self.instance.pk is None else self.instance.campaign
        if campaign is None:
            return data
        self._check_list_and_partner(campaign, data.get("lead_list"), data.get("partner"))
        raw = {name: data[name] for name in intake.ACCEPTED_FIELDS if name in self.fields and name in data}
        values = self._new_values(campaign, raw, data) if self.instance.pk is None else self._edited_values(raw)
        if values is not None:
            data.update((name, values[name]) for name in raw)
        return data

    def _check_list_and_partner(self, campaign, lead_list, partner) -> None:
        if lead_list is not None and lead_list.campaign_id != campaign.pk:
            self.add_error("lead_list", f"List {lead_list.name!r} belongs to campaign {lead_list.campaign.name!r}, "
                                        f"not {campaign.name!r}.")
        # the partner API would show the partner a lead of a campaign it may not send to
        if (partner is not None and partner.pk != self.instance.partner_id
                and not partner.campaigns.filter(pk=campaign.pk).exists()):
            self.add_error("partner", f"{partner.name} does not send to campaign {campaign.name!r}; add the campaign "
                                      "to the partner first, or pick another.")

    def _new_values(self, campaign, raw, data) -> dict | None:
        """Intake's verdict on a new lead, as a dry run; its values, or None with form errors."""
        [result] = intake.submit([raw], campaign=campaign, lead_list=data.get("lead_list"),
                                 partner=data.get("partner"), dry_run=True)
        if not result.accepted:
            self._intake_errors(result.fields, result.message)
            return None
        self.intake_row = raw  # LeadAdmin.save_model submits it for real
        return {name: getattr(result.lead, name) for name in intake.VALUE_KEYS}

    def _edited_values(self, raw) -> dict | None:
        """An edit checked like intake; its values, or None with form errors (what a vendor was sent is refused)."""
        try:
            values = intake.revise(self.instance, raw)
        except intake.RowInvalid as exc:
            self._intake_errors(exc.errors, "")
            return None
        stored = {name: getattr(self.instance, name) for name in raw}
        # a blank left blank is no change, though intake would fill it in (zone, country from the number)
        changed = sorted(name for name in raw if values[name] != stored[name] and (raw[name] or stored[name]))
        if not changed:
            return stored  # as saved, and as the vendors were sent it
        holders = pipeline.vendors_holding(self.instance)
        if holders:
            self.add_error(None, (
                f"Not saved: {', '.join(holders)} already {'has' if len(holders) == 1 else 'have'} this lead, "
                f"and vendors keep the details they were sent, so its {', '.join(changed)} cannot change here. "
                "Correct them at the vendor; for a wrong number, cancel this lead and add one with the right number."))
            return None
        return values

    def _intake_errors(self, fields: dict, message: str) -> None:
        """Intake's reasons as form errors: on their field when the form has it, else on the form."""
        for name, items in fields.items():
            errors = [forms.ValidationError(item["message"], code=item["code"]) for item in items]
            if name in self.fields:
                if name not in self._errors:
                    self.add_error(name, errors)
            else:
                self.add_error(None, [forms.ValidationError(f"{name}: {e.message}", code=e.code) for e in errors])
        if not fields and message:
            self.add_error(None, message)


class IntakeRefused(Exception):
    """Intake refused at save what the form's dry run accepted (a concurrent add or DNC entry)."""


class CampaignScopedFilter(admin.RelatedFieldListFilter):
    """A lead list's or partner's filter offering those of the campaign the list is filtered
    to (all of them otherwise), so the choices stay short on a busy install."""

    def field_choices(self, field, request, model_admin):
        campaign = request.GET.get("campaign__id__exact", "")
        model = field.related_model
        rows = model.objects.all()
        if campaign.isdigit():
            rows = rows.filter(**{"campaign" if model is LeadList else "campaigns": campaign})
        if model is LeadList and not campaign.isdigit():
            rows = rows.select_related("campaign")  # a list's name reads its campaign's
            return [(row.pk, str(row)) for row in rows]
        return [(row.pk, row.name) for row in rows]


class LeadChangeList(ChangeList):
    def get_results(self, request):
        """The page's leads, given what the admin extensions' page steps add for the whole page
        at once (a query per page, not per row)."""
        super().get_results(request)
        self.result_list = list(self.result_list)
        for step in _extended("lead_page_steps"):
            step(self.result_list)


class DncScopeForm(admin.helpers.ActionForm):
    reason = forms.CharField(required=False, help_text="Reason recorded with DNC entries.")


@admin.register(Lead)
class LeadAdmin(PhoneSearchMixin, admin.ModelAdmin):
    form = LeadForm
    phone_search_fields = ("phone", "phone_alt")
    # narrow cells (the extensions' columns, the vendors' states, come last): the table fits 1366 px
    list_display = ("id", "phone", "full_name", "campaign", "list_name", "status", "partner", "created")
    list_display_links = ("id", "phone")
    # each served by an index of the lead table, with the default ordering (-id)
    list_filter = ("status", "campaign", ("partner", CampaignScopedFilter), ("lead_list", CampaignScopedFilter),
                   ("created_at", admin.DateFieldListFilter))
    # a list's name reads its campaign's (LeadList.__str__)
    list_select_related = ("campaign", "lead_list__campaign", "partner")
    search_fields = ("=external_id", "=email")  # and names, phones: get_search_results
    search_help_text = ("A phone number in any format (without a country code: the chosen campaign's region), "
                        "an exact email or external id, or names: the start of a first or last name, accents "
                        "ignored (Zoe finds Zoë).")
    raw_id_fields = ("lead_list",)
    autocomplete_fields = ("campaign", "partner")
    # status changes go through the actions, which tell the vendors (intake.cancel_leads, add_to_dnc)
    readonly_fields = ("status", "created_at", "updated_at")
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    ordering = ("-id",)
    action_form = DncScopeForm
    own_actions = ["cancel_leads", "add_to_campaign_dnc", "add_to_global_dnc", "erase_personal_data", "export_csv"]
    change_list_template = "admin/campaigns/lead/change_list.html"

    @property
    def actions(self):
        return [*self.own_actions, *_extended("lead_actions")]

    def get_inlines(self, request, obj):
        return [*self.inlines, *_extended("lead_inlines")]

    def get_list_display(self, request):
        return [*self.list_display, *_extended("lead_columns")]

    def get_list_filter(self, request):
        extra = [f for extension in EXTENSIONS if extension.lead_filters for f in extension.lead_filters(request)]
        return [*self.list_filter, *extra]

    def get_changelist(self, request, **kwargs):
        return LeadChangeList

    def phone_search_region(self, request) -> str | None:
        """The campaign's own region when the list is filtered to one: its staff type numbers
        as they are written there (an Australian campaign's 0489 639 358)."""
        if not hasattr(request, "_lead_search_region"):  # asked for the phone and for the names
            campaign_id = request.GET.get("campaign__id__exact", "")
            campaign = Campaign.objects.filter(pk=campaign_id).first() if campaign_id.isdigit() else None
            request._lead_search_region = campaign.phone_region if campaign else None
        return request._lead_search_region

    def get_search_results(self, request, queryset, search_term):
        """A phone number (PhoneSearchMixin, on the phone index); a term with an @, an email
        (any case); else names or an external id: every word the start of the first or the last
        name, without accents or case (Lead.search_first/search_last), or the exact external id,
        each on an index, so no term scans the lead table but an email."""
        term = search_term.strip()
        if not term or try_normalize_phone(term, self.phone_search_region(request)):
            return super().get_search_results(request, queryset, search_term)
        if "@" in term:
            return queryset.filter(email__iexact=term), False
        names = Q()
        for word in search_key(term).split():
            names &= Q(search_first__startswith=word) | Q(search_last__startswith=word)
        return queryset.filter(names | Q(external_id=term)), False

    def get_urls(self):
        from ..import_views import ImportViews

        views = ImportViews(self)
        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(views.upload), name="campaigns_lead_import"),
            path("import/<int:job_id>/map/", wrap(views.mapping), name="campaigns_lead_import_map"),
            path("import/<int:job_id>/preview/", wrap(views.preview), name="campaigns_lead_import_preview"),
            path("import/<int:job_id>/", wrap(views.progress), name="campaigns_lead_import_progress"),
            path("import/<int:job_id>/status.json", wrap(views.status), name="campaigns_lead_import_status"),
            path("import/<int:job_id>/errors.csv", wrap(views.errors), name="campaigns_lead_import_errors"),
        ] + super().get_urls()

    @admin.action(description="Export selected leads as CSV")
    def export_csv(self, request, queryset):
        return export.stream_leads_csv(queryset, "leads.csv")
    fieldsets = (
        (None, {"fields": ("campaign", "lead_list", "partner", "status")}),
        ("Contact", {"fields": ("phone", "phone_alt", "first_name", "last_name", "email")}),
        ("Address", {"fields": ("address", "city", "region", "postal_code", "country", "timezone")}),
        ("Source", {"fields": ("external_id", "source", "link", "metadata", "consent_at", "consent_url", "scheduled_at")}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )

    def get_readonly_fields(self, request, obj=None):
        # a lead never moves: its vendors and its DNC and duplicate checks belong to its campaign
        return (*self.readonly_fields, "campaign") if obj else self.readonly_fields

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.fieldsets
        (name, options), *rest = self.fieldsets
        return ((name, {**options, "description": (
            "A lead stays in its campaign. To move it, cancel it here (its vendors are told to stop) and add "
            "it to the other campaign.")}), *rest)

    def save_model(self, request, obj, form, change):
        """A new lead goes through intake (the form ran it as a dry run for its errors)."""
        if change:
            return super().save_model(request, obj, form, change)
        [result] = intake.submit([form.intake_row], campaign=obj.campaign, lead_list=obj.lead_list,
                                 partner=obj.partner, source=f"staff:{request.user.get_username()}",
                                 channel=Lead.Channel.ADMIN)
        if not result.accepted:
            raise IntakeRefused(result.message)
        obj.pk = result.lead.pk
        obj.refresh_from_db()  # the form's object becomes the saved lead for the pages that follow
        for warning in result.warnings:  # the campaign's "skip" policy: vendors it will not go to
            self.message_user(request, warning["message"], messages.WARNING)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        lead = self.get_object(request, object_id) if request.method == "GET" else None
        holders = pipeline.vendors_holding(lead)
        if holders:  # say so before anyone types a change the form will refuse
            self.message_user(request, f"{', '.join(holders)} already {'has' if len(holders) == 1 else 'have'} "
                              "this lead: the details vendors were sent can no longer be changed here.",
                              messages.WARNING)
        return super().change_view(request, object_id, form_url, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except IntakeRefused as exc:  # its transaction is rolled back: nothing was saved
            self.message_user(request, f"The lead was not added: {exc}", messages.ERROR)
            return redirect(request.get_full_path())

    @admin.display(description="Name", ordering="last_name")
    def full_name(self, obj):
        return obj.full_name or "—"

    @admin.display(description="List", ordering="lead_list__name")
    def list_name(self, obj):
        return obj.lead_list.name if obj.lead_list_id else "—"  # its campaign has its own column

    @admin.display(description="Created", ordering="created_at")
    def created(self, obj):
        return date_format(localtime(obj.created_at), "Y-m-d H:i")

    @admin.action(description="Cancel selected leads (stop contact at vendors)")
    def cancel_leads(self, request, queryset):
        return self._bulk(request, queryset, BulkAction.Kind.CANCEL)

    def _withdrawal_messages(self, request, leads, operation):
        """Say which vendors are being told, and which could not be (no API for it) or failed."""
        levels = {"info": messages.INFO, "warning": messages.WARNING, "error": messages.ERROR}
        for level, text in withdrawals.admin_messages(leads, operation):
            self.message_user(request, text, levels[level])

    @admin.action(description="Erase personal data (GDPR) here and at vendors…", permissions=["erase"])
    def erase_personal_data(self, request, queryset):
        """Ask first, on a page with the count and the vendors concerned (like Django's delete)."""
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request), "title": "Erase personal data?", "opts": self.model._meta,
                "queryset": queryset, "preview": withdrawals.erase_preview(queryset),
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "select_across": request.POST.get("select_across") == "1",
                "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            }
            return TemplateResponse(request, "admin/campaigns/lead/erase_confirmation.html", context)
        user = request.user
        reason = request.POST.get("erase_reason", "")
        if queryset.count() > settings.BULK_INLINE_MAX:  # more than a request holds: a job, with its progress
            return self._bulk(request, queryset, BulkAction.Kind.ERASE, {"reason": reason, "via": "admin"})
        outcome = intake.erase_leads(queryset, via="admin", requested_by=f"staff:{user.get_username()}", user=user,
                                     reason=reason)
        skipped = f" ({len(outcome.already_erased)} already erased)" if outcome.already_erased else ""
        self.message_user(request, f"Erased the personal data of {len(outcome.erased)} lead(s){skipped}.",
                          messages.SUCCESS)
        if outcome.erased:
            self._withdrawal_messages(request, outcome.erased, "erase")

    def has_change_permission(self, request, obj=None):
        # an erased lead is a record that someone was erased: nothing to edit back in
        if obj is not None and obj.status == Lead.Status.ERASED:
            return False
        return super().has_change_permission(request, obj)

    def has_erase_permission(self, request):
        # erasing destroys data as deleting does, so it asks for the same permission
        return request.user.has_perm("campaigns.delete_lead")

    def _bulk(self, request, queryset, kind, params=None):
        """Run a bulk action over the selection (campaigns.bulk); when it ran in the request, also
        say which vendors are being told."""
        action = bulk.start(kind, queryset, user=request.user, params=params)
        response = run_bulk(self, request, [action])
        if action.status == BulkAction.Status.DONE and action.changed and kind != BulkAction.Kind.REDELIVER:
            self._withdrawal_messages(request, queryset, "end_contact")
        return response

    def _dnc(self, request, queryset, kind):
        reason = request.POST.get("reason", "") or "Added from the lead admin"
        return self._bulk(request, queryset, kind,
                          {"reason": reason, "source": f"staff:{request.user.get_username()}"})

    @admin.action(description="Add numbers to their campaign's DNC list")
    def add_to_campaign_dnc(self, request, queryset):
        return self._dnc(request, queryset, BulkAction.Kind.CAMPAIGN_DNC)

    @admin.action(description="Add numbers to the global DNC list (all campaigns)")
    def add_to_global_dnc(self, request, queryset):
        return self._dnc(request, queryset, BulkAction.Kind.GLOBAL_DNC)
