"""OSCP 2.0 protocol endpoints, mounted at /oscp/fp/2.0/ (all POST, JSON, 204 on success): each
message at its path and at the other spellings its declaration lists (the log records which), and
their OpenAPI schema at ``schema/`` (no credentials needed)."""

from django.urls import path

from .messages import MESSAGES
from .views import VIEWS, OscpSchemaView

app_name = "oscp"

urlpatterns = (
    [path(spec.path, VIEWS[message_type].as_view(), name=spec.path) for message_type, spec in MESSAGES.items()]
    + [
        path(alias, VIEWS[message_type].as_view(alias=alias), name=alias)
        for message_type, spec in MESSAGES.items()
        for alias in spec.aliases
    ]
    + [path("schema/", OscpSchemaView.as_view(), name="schema")]
)
