from django.urls import path, re_path

from .base import SlashOptionalRouter
from .messages import MessageDetailView, MessageListView
from .outbound import (
    MessageRetryView,
    OptimizerHandshakeView,
    OptimizerRegisterView,
    ProviderHandshakeView,
    ProviderRegisterView,
)
from .views import CapacityOptimizerViewSet, CapacityProviderViewSet

router = SlashOptionalRouter()
router.register("capacity-providers", CapacityProviderViewSet, basename="capacity-provider")
router.register("capacity-optimizers", CapacityOptimizerViewSet, basename="capacity-optimizer")

urlpatterns = router.urls

# Lifecycle actions: we register first / start a handshake.
urlpatterns += [
    re_path(r"^capacity-providers/(?P<pk>\d+)/register/?$", ProviderRegisterView.as_view(), name="provider-register"),
    re_path(
        r"^capacity-optimizers/(?P<pk>\d+)/register/?$", OptimizerRegisterView.as_view(), name="optimizer-register"
    ),
    re_path(
        r"^capacity-providers/(?P<pk>\d+)/handshake/?$", ProviderHandshakeView.as_view(), name="provider-handshake"
    ),
    re_path(
        r"^capacity-optimizers/(?P<pk>\d+)/handshake/?$", OptimizerHandshakeView.as_view(), name="optimizer-handshake"
    ),
]

# Message log and outbox.
urlpatterns += [
    path("messages", MessageListView.as_view(), name="oscp-messages"),
    path("messages/<int:pk>", MessageDetailView.as_view(), name="oscp-message"),
    re_path(r"^messages/(?P<pk>\d+)/retry/?$", MessageRetryView.as_view(), name="message-retry"),
]
