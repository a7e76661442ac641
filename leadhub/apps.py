from django.contrib.admin.apps import AdminConfig


class LeadHubAdminConfig(AdminConfig):
    """django.contrib.admin with LeadHub's site (dashboard landing page, business models first)."""

    default_site = "leadhub.admin_site.LeadHubAdminSite"
