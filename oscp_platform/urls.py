from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from oscp_platform.views import health

MANAGEMENT = "solaruser/api/v1/sec/user/oscp/"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path(MANAGEMENT, include("connections.api.urls")),
    path(MANAGEMENT, include("groups.api.urls")),
]
