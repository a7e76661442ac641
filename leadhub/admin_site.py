"""LeadHub's admin site: the dashboard is the staff landing page, the business models come
first, and "View site" is gone (LeadHub has no public site; the partner API docs are linked
from the dashboard instead)."""
from __future__ import annotations

from django.contrib import admin
from django.shortcuts import get_object_or_404

# app order on the index and in the sidebar: the business first, Django's internals last
APP_ORDER = ["campaigns", "vendors"]


class LeadHubAdminSite(admin.AdminSite):
    site_header = "LeadHub"
    site_title = "LeadHub admin"
    index_title = "Dashboard"
    site_url = None

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        rank = {label: i for i, label in enumerate(APP_ORDER)}
        return sorted(apps, key=lambda app: (rank.get(app["app_label"], len(rank)), app["name"]))

    def index(self, request, extra_context=None):
        from campaigns.models import Campaign
        from vendors import dashboard

        campaign = None
        if request.GET.get("campaign"):
            pk = request.GET["campaign"]
            campaign = get_object_or_404(Campaign, pk=pk) if pk.isdigit() else None
        context = {"dashboard": dashboard.build(request.GET.get("period", "today"), campaign),
                   "campaigns": Campaign.objects.exclude(status=Campaign.Status.ARCHIVED).only("pk", "name"),
                   **(extra_context or {})}
        if campaign:
            context["title"] = f"Dashboard: {campaign.name}"
        return super().index(request, context)
