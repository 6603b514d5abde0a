from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from connections.oscp.token import TokenView
from oscp_platform.metrics import metrics
from oscp_platform.views import health, health_live, health_ready, not_found

MANAGEMENT = "solaruser/api/v1/sec/user/oscp/"

urlpatterns = [
    # The platform has no public site: its home is the support console.
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
    path("favicon.ico", RedirectView.as_view(url=static("oscp_platform/favicon.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("health/live", health_live, name="health-live"),
    path("health/ready", health_ready, name="health-ready"),
    path("metrics", metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    # OSCP 2.0 protocol endpoints, called by Capacity Providers and Optimizers.
    path("oscp/fp/2.0/", include("connections.oscp.urls")),
    # OAuth2 token URL for partners with client credentials (client credentials grant only).
    re_path(r"^oscp/oauth/token/?$", TokenView.as_view(), name="oscp-oauth-token"),
    # OCPI 2.2.1 endpoints (we are the CPO), called by roaming partners (eMSPs, hubs).
    path("ocpi/", include("roaming.ocpi.urls")),
    # Management API (SolarUser OSCP API shape), called by internal tools.
    path(MANAGEMENT, include("connections.api.urls")),
    path(MANAGEMENT, include("groups.api.urls")),
    path(MANAGEMENT, include("forecasts.api.urls")),
    path(MANAGEMENT, include("measurements.api.urls")),
    path(MANAGEMENT, include("roaming.api.urls")),
    # SolarUser instruction API: OSCP messages an internal tool asks us to send (topic OSCP_v20).
    path("solaruser/api/v1/sec/instr/", include("forecasts.api.instruction_urls")),
]

handler404 = not_found
