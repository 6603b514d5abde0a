"""The OSCP 2.0 message endpoints: one per message in the registry (``messages.MESSAGES``), each the
shared pipeline (``pipeline.py``) driven by the message's declaration. What a message does is its
registered ``receive`` handler, in the app whose data it changes.

``OscpSchemaView`` serves the OpenAPI schema of these endpoints alone, without credentials, so
partners and their tools can read what we accept."""

from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny

from .messages import MESSAGES
from .pipeline import OscpView, oscp_view

VIEWS = {message_type: oscp_view(spec) for message_type, spec in MESSAGES.items()}


def oscp_endpoints_only(endpoints, **kwargs):
    """drf-spectacular preprocessing hook: keep the OSCP message endpoints, wherever mounted."""
    return [
        (path, path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
        if issubclass(getattr(callback, "cls", object), OscpView)
    ]


# drf-spectacular settings of the partners' schema (also ``spectacular --custom-settings``).
SCHEMA_SETTINGS = {
    "TITLE": "oscp-platform OSCP 2.0 endpoints (Flexibility Provider)",
    "DESCRIPTION": (
        "The OSCP 2.0 messages partners send us: all POST JSON, 204 on success, errors as "
        '{"message": "..."}. Authenticate with Authorization: Token <token> (or Bearer).'
    ),
    "PREPROCESSING_HOOKS": ["connections.oscp.views.oscp_endpoints_only"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums"],
}


class OscpSchemaView(SpectacularAPIView):
    """``GET /oscp/fp/2.0/schema/``: every OSCP message we accept, its headers and answers (YAML;
    JSON with ``?format=json`` or ``Accept: application/vnd.oai.openapi+json``)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    serve_public = True
    custom_settings = SCHEMA_SETTINGS
