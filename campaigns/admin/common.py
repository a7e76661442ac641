"""What the admin pages share: phone search, bulk-action reports, confirmation pages."""
from django.contrib import admin, messages
from django.db.models import Q
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from .. import bulk, intake
from ..models import BulkAction, Lead
from ..phones import try_normalize_phone


class PhoneSearchMixin:
    """Search by phone in any format the normaliser accepts, as an exact indexed match.

    A term that is a phone number never falls through to ``icontains`` (which
    scans the table); other terms use the admin's ``search_fields``.
    """

    phone_search_fields: tuple[str, ...] = ("phone",)

    def phone_search_region(self, request) -> str | None:
        """The region numbers without a country code are read in (None: DEFAULT_PHONE_REGION)."""
        return None

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term:
            phone = try_normalize_phone(term, self.phone_search_region(request))
            if phone:
                query = Q()
                for name in self.phone_search_fields:
                    query |= Q(**{name: phone})
                return queryset.filter(query), False
        return super().get_search_results(request, queryset, search_term)


def run_bulk(model_admin, request, actions: list[BulkAction]):
    """Report bulk actions just started (campaigns.bulk): the outcome of those that ran in the
    request; for those running in the background, their progress page (or the list of them)."""
    background = []
    for action in actions:
        if action.status == BulkAction.Status.DONE:
            model_admin.message_user(request, action.message, messages.SUCCESS)
        elif action.status == BulkAction.Status.FAILED:
            model_admin.message_user(request, action.message, messages.ERROR)
        else:
            url = reverse("admin:campaigns_bulkaction_change", args=[action.pk])
            model_admin.message_user(request, format_html(
                '{}: running in the background; you can leave this page (<a href="{}">follow it</a>).',
                bulk.headline(action), url))
            background.append(url)
    if len(background) == 1:
        return redirect(background[0])
    return redirect("admin:campaigns_bulkaction_changelist") if background else None


def confirm_page(model_admin, request, queryset, *, title, lines, submit, choices=()):
    """A confirmation page for an admin action: counts first (``lines``), never a list of every
    object; posting it again with ``confirm`` runs the action."""
    opts = model_admin.model._meta
    return TemplateResponse(request, "admin/campaigns/confirm_action.html", {
        **model_admin.admin_site.each_context(request), "title": title, "opts": opts, "lines": lines,
        "submit": submit, "choices": choices, "action": request.POST.get("action", ""),
        "selected": [obj.pk for obj in queryset], "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        "back": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
    })


def _open_leads(**where):
    return Lead.objects.filter(**where).exclude(status__in=intake.WITHDRAWN)


def _import_redirect(model_admin, request, queryset, param):
    """Admin action: open the CSV upload for exactly one selected campaign or list."""
    if queryset.count() != 1:
        model_admin.message_user(request, "Select exactly one to import a CSV file into.", messages.WARNING)
        return None
    return redirect(f"{reverse('admin:campaigns_lead_import')}?{param}={queryset.get().pk}")



class ReadOnlyAdminMixin:
    """Rows the system writes (jobs, erasures, the audit log): staff read them and run their
    actions, never add or edit one by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
