from django.urls import re_path

urlpatterns: list = []

# --- Outbound: register, handshake, retry (connections/api/outbound.py) ---------------------------
from .outbound import (  # noqa: E402
    MessageRetryView,
    OptimizerHandshakeView,
    OptimizerRegisterView,
    ProviderHandshakeView,
    ProviderRegisterView,
)

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
    re_path(r"^messages/(?P<pk>\d+)/retry/?$", MessageRetryView.as_view(), name="message-retry"),
]
