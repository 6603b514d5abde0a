from django.urls import path, re_path

from oscp_platform.viewsets import SlashOptionalRouter

from ..choices import PartnerRole
from ..outbound import partner_handshake_start, partner_register
from .messages import MessageDetailView, MessageListView
from .oauth import PartnerOAuthClientView
from .outbound import MessageRetryView, PartnerActionView
from .views import CapacityOptimizerViewSet, CapacityProviderViewSet

router = SlashOptionalRouter()
router.register("capacity-providers", CapacityProviderViewSet, basename="capacity-provider")
router.register("capacity-optimizers", CapacityOptimizerViewSet, basename="capacity-optimizer")

urlpatterns = router.urls

# Lifecycle actions: we register first / start a handshake (one view, the service per URL).
CP, CO = PartnerRole.CAPACITY_PROVIDER, PartnerRole.CAPACITY_OPTIMIZER
urlpatterns += [
    re_path(
        r"^capacity-providers/(?P<pk>\d+)/register/?$",
        PartnerActionView.as_view(role=CP, service=partner_register),
        name="provider-register",
    ),
    re_path(
        r"^capacity-optimizers/(?P<pk>\d+)/register/?$",
        PartnerActionView.as_view(role=CO, service=partner_register),
        name="optimizer-register",
    ),
    re_path(
        r"^capacity-providers/(?P<pk>\d+)/handshake/?$",
        PartnerActionView.as_view(role=CP, service=partner_handshake_start),
        name="provider-handshake",
    ),
    re_path(
        r"^capacity-optimizers/(?P<pk>\d+)/handshake/?$",
        PartnerActionView.as_view(role=CO, service=partner_handshake_start),
        name="optimizer-handshake",
    ),
]

# OAuth client credentials the partner uses to call us (shown once when issued).
urlpatterns += [
    re_path(
        r"^capacity-providers/(?P<pk>\d+)/oauth-client/?$",
        PartnerOAuthClientView.as_view(role=CP),
        name="provider-oauth-client",
    ),
    re_path(
        r"^capacity-optimizers/(?P<pk>\d+)/oauth-client/?$",
        PartnerOAuthClientView.as_view(role=CO),
        name="optimizer-oauth-client",
    ),
]

# Message log and outbox.
urlpatterns += [
    path("messages", MessageListView.as_view(), name="oscp-messages"),
    path("messages/<int:pk>", MessageDetailView.as_view(), name="oscp-message"),
    re_path(r"^messages/(?P<pk>\d+)/retry/?$", MessageRetryView.as_view(), name="message-retry"),
]
