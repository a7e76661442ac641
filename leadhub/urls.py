from django.contrib import admin
from django.urls import include, path

from leadhub.health import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("campaigns.api.urls")),
    path("health/", health, name="health"),
]
