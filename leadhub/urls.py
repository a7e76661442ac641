from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "LeadHub"
admin.site.site_title = "LeadHub admin"
admin.site.index_title = "Leads, campaigns and vendor sync"

urlpatterns = [
    path("admin/", admin.site.urls),
]

try:  # the partner API lands in campaigns/api (issue 6)
    from campaigns.api import urls as api_urls  # noqa: F401
except ImportError:  # pragma: no cover - until the API exists
    pass
else:
    urlpatterns.append(path("api/", include("campaigns.api.urls")))
