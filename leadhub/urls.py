from django.contrib import admin
from django.urls import include, path

from leadhub.health import health

admin.site.site_header = "LeadHub"
admin.site.site_title = "LeadHub admin"
admin.site.index_title = "Leads, campaigns and vendor sync"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("campaigns.api.urls")),
    path("health/", health, name="health"),
]
