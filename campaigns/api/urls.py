"""Partner API URLs, mounted at /api/ by leadhub.urls."""
from django.urls import path, re_path, register_converter
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.exceptions import NotFound

from . import views


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def unknown_endpoint(request, *args, **kwargs):
    raise NotFound(f"No API endpoint at {request.path}. See /api/docs/ for the endpoints.")


class LeadIdConverter:
    """A lead id in a path: digits that fit a 64-bit integer (documented as an integer; see
    SPECTACULAR_SETTINGS["PATH_CONVERTER_OVERRIDES"]). Anything else is a JSON 404."""

    regex = "[0-9]{1,18}"
    to_python = staticmethod(int)
    to_url = staticmethod(str)


register_converter(LeadIdConverter, "lead_id")

app_name = "api"
urlpatterns = [
    path("v1/campaigns/", views.CampaignListView.as_view(), name="campaigns"),
    path("v1/leads/", views.LeadListCreateView.as_view(), name="leads"),
    path("v1/leads/bulk/", views.LeadBulkCreateView.as_view(), name="leads-bulk"),
    path("v1/leads/cancel/", views.LeadBulkCancelView.as_view(), name="leads-cancel"),
    path("v1/bulk-actions/<lead_id:pk>/", views.BulkActionDetailView.as_view(), name="bulk-action-detail"),
    path("v1/leads/<lead_id:pk>/", views.LeadDetailView.as_view(), name="lead-detail"),
    path("v1/leads/<lead_id:pk>/cancel/", views.LeadCancelView.as_view(), name="lead-cancel"),
    path("v1/leads/<lead_id:pk>/erase/", views.LeadEraseView.as_view(), name="lead-erase"),
    path("v1/dnc/", views.DncAddView.as_view(), name="dnc"),
    path("v1/dnc/check/", views.DncCheckView.as_view(), name="dnc-check"),
    re_path(r"^v1/", unknown_endpoint),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
