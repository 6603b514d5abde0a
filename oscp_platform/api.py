"""What every management API endpoint shares: the SolarUser response envelope
(``{"success": true, "data": ...}``), error bodies that name each bad field, timestamps in the
``2022-09-08 22:54:31.746647Z`` form, and paging."""

from datetime import UTC, datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.dateparse import parse_datetime
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import exceptions, serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

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


class EnvelopePagination(LimitOffsetPagination):
    """``?offset=&max=`` as SolarUser pages; ``data`` stays the plain list, the total is in the
    ``X-Total-Count`` header."""

    limit_query_param = "max"
    offset_query_param = "offset"
    max_limit = 1000

    def get_paginated_response(self, data):
        response = Response(data)
        response["X-Total-Count"] = str(self.count)
        return response

    def get_paginated_response_schema(self, schema):
        return schema


def success(data=None, status=200, headers=None) -> Response:
    return Response({"success": True, "data": data}, status=status, headers=headers)


def _flatten(detail, prefix="") -> list[tuple[str, str]]:
    if isinstance(detail, dict):
        items = []
        for key, value in detail.items():
            if isinstance(key, int):  # a list's errors keyed by the index of each bad item
                items += _flatten(value, f"{prefix}[{key}]")
                continue
            name = key if key != "non_field_errors" else ""
            items += _flatten(value, f"{prefix}.{name}" if prefix and name else (name or prefix))
        return items
    if isinstance(detail, list):
        if all(not isinstance(d, (dict, list)) for d in detail):
            return [(prefix, str(d)) for d in detail]
        items = []
        for index, value in enumerate(detail):
            items += _flatten(value, f"{prefix}[{index}]")
        return items
    return [(prefix, str(detail))]


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
        problems = _flatten(exc.detail)
        body["message"] = "; ".join(f"{field}: {text}" if field else text for field, text in problems)
        body["errors"] = exc.detail
    else:
        body["message"] = str(exc.detail) if hasattr(exc, "detail") else str(exc)
        if hasattr(exc, "get_codes"):
            body["code"] = exc.get_codes() if isinstance(exc.get_codes(), str) else None
    response.data = body
    return response
