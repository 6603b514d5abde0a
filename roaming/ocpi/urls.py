"""OCPI endpoints under ``/ocpi/``: ``versions``, the 2.2.1 details and one route per module
(``modules.MODULES``). Trailing slashes are optional."""

from django.urls import re_path

from . import views

urlpatterns = [
    re_path(r"^versions/?$", views.VersionsView.as_view(), name="ocpi-versions"),
    re_path(r"^2\.2\.1/?$", views.VersionDetailsView.as_view(), name="ocpi-details"),
    re_path(r"^2\.2\.1/credentials/?$", views.CredentialsView.as_view(), name="ocpi-credentials"),
    re_path(
        r"^2\.2\.1/hubclientinfo/(?P<country_code>[^/]+)/(?P<party_id>[^/]+)/?$",
        views.HubClientInfoView.as_view(),
        name="ocpi-hubclientinfo",
    ),
    re_path(
        r"^2\.2\.1/locations(?:/(?P<location_id>[^/]+)(?:/(?P<evse_uid>[^/]+)(?:/(?P<connector_id>[^/]+))?)?)?/?$",
        views.LocationsView.as_view(),
        name="ocpi-locations",
    ),
    re_path(r"^2\.2\.1/tariffs/?$", views.TariffsView.as_view(), name="ocpi-tariffs"),
    re_path(
        r"^2\.2\.1/tokens/(?P<country_code>[^/]+)/(?P<party_id>[^/]+)/(?P<uid>[^/]+)/?$",
        views.TokensView.as_view(),
        name="ocpi-tokens",
    ),
]
