"""What every management API endpoint shares: the SolarUser response envelope
(``{"success": true, "data": ...}``, built only by ``response_envelope``; not to be confused with
operating envelopes), paging with ``?offset=&max=``, error bodies that name each bad field,
timestamps in the ``2022-09-08 22:54:31.746647Z`` form, and the schema of all of these.

The viewset and router are in ``oscp_platform.viewsets``: DRF's generic views import the paginator
from this module, so this module imports none of them."""

from datetime import UTC, datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.dateparse import parse_datetime
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import exceptions, serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import errors_message
from .parsing import utc

TIMESTAMP_HELP = "UTC timestamp, e.g. 2022-09-08 22:54:31.746647Z"


def timestamp_format(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def timestamp_parse(text: str) -> datetime | None:
    """Accept ``2020-03-01 10:30:49Z`` (fractions optional) and RFC 3339; require a zone."""
    try:
        value = parse_datetime(text.strip()) if isinstance(text, str) else None
    except ValueError:  # well formed but impossible, e.g. 2020-02-30
        return None
    if value is None or value.tzinfo is None:
        return None
    return utc(value)


class TimestampField(serializers.Field):
    default_error_messages = {"invalid": "Expected a UTC timestamp like 2022-09-08 22:54:31Z."}

    def to_representation(self, value):
        return timestamp_format(value)

    def to_internal_value(self, data):
        value = timestamp_parse(data)
        if value is None:
            self.fail("invalid")
        return value


class TimestampFieldSchema(OpenApiSerializerFieldExtension):
    """``TimestampField`` in the OpenAPI schema: a string like 2022-09-08 22:54:31.746647Z."""

    target_class = TimestampField

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "description": TIMESTAMP_HELP, "example": "2022-09-08 22:54:31.746647Z"}


# --- The response envelope: {"success": true, "data": ...} -------------------------------------


def response_envelope(data=None, *, status: int = 200, headers: dict | None = None) -> Response:
    """A management API success response: ``data`` in the SolarUser response envelope. Every
    success body is built here (``schema_postprocess`` shows it in the schema)."""
    return Response({"success": True, "data": data}, status=status, headers=headers)


class ResponseEnvelopePagination(LimitOffsetPagination):
    """``?offset=&max=`` as SolarUser pages; ``data`` stays the plain list, the total is in the
    ``X-Total-Count`` header."""

    limit_query_param = "max"
    offset_query_param = "offset"
    max_limit = 1000

    def get_paginated_response(self, data):
        return response_envelope(data, headers={"X-Total-Count": str(self.count)})

    def get_paginated_response_schema(self, schema):
        return schema


# ``list`` (paged) and ``retrieve`` of DRF's generic views, answered in the response envelope (no
# docstring: it would become the description of every view using it in the schema).
class ResponseEnvelopeMixin:
    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        if page is None:
            return response_envelope(self.get_serializer(queryset, many=True).data)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        return response_envelope(self.get_serializer(self.get_object()).data)


# --- Errors: {"success": false, "message": ...} -------------------------------------------------


def exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    body = {"success": False}
    if isinstance(exc, exceptions.ValidationError):
        body["message"] = errors_message(exc.detail)
        body["errors"] = exc.detail
    else:
        body["message"] = str(exc.detail) if hasattr(exc, "detail") else str(exc)
        if hasattr(exc, "get_codes"):
            body["code"] = exc.get_codes() if isinstance(exc.get_codes(), str) else None
    response.data = body
    return response


# --- Schema: what every management API response really looks like ------------------------------

MANAGEMENT_PREFIX = "/solaruser/"
_ERROR_SCHEMA = {
    "type": "object",
    "description": "An error: message names each bad field and the problem.",
    "properties": {
        "success": {"type": "boolean", "enum": [False]},
        "message": {"type": "string"},
        "errors": {"description": "Per-field problems (validation errors only)."},
        "code": {"type": "string", "nullable": True},
    },
    "required": ["success", "message"],
}
_ERROR_CODES = {
    "400": "Bad input: the message names the field and the problem; nothing was written.",
    "401": "No or bad credentials.",
    "403": "Not allowed.",
    "404": "Not found (or another account's).",
}


def schema_postprocess(result, generator, request, public):
    """Every management API response is wrapped in ``{"success": true, "data": ...}`` and every
    error is ``{"success": false, "message", ...}`` (``response_envelope``, ``exception_handler``):
    say so in the schema, where views declare only what ``data`` holds."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("ApiError", _ERROR_SCHEMA)
    error_ref = {"$ref": "#/components/schemas/ApiError"}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith(MANAGEMENT_PREFIX):
            continue
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code, response in responses.items():
                content = response.get("content", {}).get("application/json")
                if code.startswith("2") and content:  # views declare what data holds
                    content["schema"] = {
                        "type": "object",
                        "properties": {"success": {"type": "boolean"}, "data": content.get("schema", {})},
                        "required": ["success", "data"],
                    }
            codes = dict(_ERROR_CODES)
            if "requestBody" in operation:
                codes["415"] = "Unsupported content type: send JSON."
            if method == "delete":
                codes["409"] = "In use: cannot be deleted."
            for code, description in codes.items():
                existing = responses.setdefault(code, {"description": description})
                existing.setdefault("content", {"application/json": {"schema": error_ref}})
    return result
