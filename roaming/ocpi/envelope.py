"""The OCPI 2.2.1 response envelope and status codes: every OCPI answer is built here.

``{"data": ..., "status_code": 1000, "status_message": "Success", "timestamp": "...Z"}``; errors
raise ``OcpiError`` (or DRF's exceptions) and ``exception_handler`` turns them into the envelope
with the OCPI status code: 2001 naming each bad field, 2003 unknown location, 2004 unknown token,
3xxx when we or the partner's platform failed."""

from datetime import UTC, datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from oscp_platform.errors import errors_message

SUCCESS = 1000
CLIENT_ERROR = 2000
INVALID_PARAMETERS = 2001
NOT_ENOUGH_INFORMATION = 2002
UNKNOWN_LOCATION = 2003
UNKNOWN_TOKEN = 2004
SERVER_ERROR = 3000
UNABLE_TO_USE_CLIENT_API = 3001
UNSUPPORTED_VERSION = 3002
NO_MATCHING_ENDPOINTS = 3003
UNKNOWN_RECEIVER = 4001


def ocpi_timestamp(value: datetime | None = None) -> str:
    """OCPI DateTime: UTC, ``Z``, at most millisecond precision (``2015-06-29T20:39:09.123Z``)."""
    value = (value or datetime.now(UTC)).astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    return text + "Z"


def ocpi_response(
    data=None,
    *,
    status_code: int = SUCCESS,
    message: str = "Success",
    http_status: int = status.HTTP_200_OK,
    headers: dict | None = None,
) -> Response:
    body = {"status_code": status_code, "status_message": message, "timestamp": ocpi_timestamp()}
    if data is not None:
        body = {"data": data, **body}
    return Response(body, status=http_status, headers=headers)


class OcpiError(exceptions.APIException):
    """An OCPI error answer: HTTP status plus OCPI status code."""

    status_code = status.HTTP_400_BAD_REQUEST
    ocpi_status = CLIENT_ERROR
    default_detail = "Client error"

    def __init__(self, detail: str | None = None, *, ocpi_status: int | None = None, http_status: int | None = None):
        super().__init__(detail)
        if ocpi_status is not None:
            self.ocpi_status = ocpi_status
        if http_status is not None:
            self.status_code = http_status


class InvalidParameters(OcpiError):
    ocpi_status = INVALID_PARAMETERS
    default_detail = "Invalid or missing parameters"


class UnknownLocation(OcpiError):
    status_code = status.HTTP_404_NOT_FOUND
    ocpi_status = UNKNOWN_LOCATION
    default_detail = "Unknown location"


class UnknownToken(OcpiError):
    status_code = status.HTTP_404_NOT_FOUND
    ocpi_status = UNKNOWN_TOKEN
    default_detail = "Unknown token"


class UnknownObject(OcpiError):
    status_code = status.HTTP_404_NOT_FOUND
    ocpi_status = CLIENT_ERROR
    default_detail = "Unknown object"


class ClientApiUnusable(OcpiError):
    """We could not use the partner's platform (its versions, details or credentials endpoint)."""

    status_code = status.HTTP_200_OK
    ocpi_status = UNABLE_TO_USE_CLIENT_API
    default_detail = "Unable to use the client's API"


class UnsupportedVersion(OcpiError):
    status_code = status.HTTP_200_OK
    ocpi_status = UNSUPPORTED_VERSION
    default_detail = "Unsupported version"


class NoMatchingEndpoints(OcpiError):
    status_code = status.HTTP_200_OK
    ocpi_status = NO_MATCHING_ENDPOINTS
    default_detail = "No matching endpoints"


class MethodNotAllowed(OcpiError):
    status_code = status.HTTP_405_METHOD_NOT_ALLOWED
    ocpi_status = CLIENT_ERROR


def exception_handler(exc, context):
    """Any exception in an OCPI view as the OCPI envelope; unexpected ones as 3000 (no details)."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, OcpiError):
        ocpi_status, http_status, message = exc.ocpi_status, exc.status_code, str(exc.detail)
    elif isinstance(exc, exceptions.ValidationError | exceptions.ParseError | exceptions.UnsupportedMediaType):
        ocpi_status, http_status = INVALID_PARAMETERS, status.HTTP_400_BAD_REQUEST
        message = errors_message(exc.detail) if isinstance(exc, exceptions.ValidationError) else str(exc.detail)
    elif isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        ocpi_status, http_status, message = CLIENT_ERROR, status.HTTP_401_UNAUTHORIZED, str(exc.detail)
    elif isinstance(exc, exceptions.PermissionDenied):
        ocpi_status, http_status, message = CLIENT_ERROR, status.HTTP_403_FORBIDDEN, str(exc.detail)
    elif isinstance(exc, Http404 | exceptions.NotFound):
        ocpi_status, http_status, message = CLIENT_ERROR, status.HTTP_404_NOT_FOUND, "Not found"
    elif isinstance(exc, exceptions.MethodNotAllowed):
        ocpi_status, http_status, message = CLIENT_ERROR, status.HTTP_405_METHOD_NOT_ALLOWED, str(exc.detail)
    elif isinstance(exc, exceptions.APIException):
        ocpi_status, http_status, message = SERVER_ERROR, exc.status_code, str(exc.detail)
    else:
        return None  # Django's 500; the middleware-free view wrapper answers 3000 (OcpiView)
    return ocpi_response(status_code=ocpi_status, message=message or "Error", http_status=http_status)
