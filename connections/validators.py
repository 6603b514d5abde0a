"""Checks on partner configuration shared by the management API and the admin."""

import re

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from .choices import MessageType

# The OSCP message paths a partner may serve somewhere else (connection profile).
OSCP_MESSAGE_PATHS = tuple(MessageType.values)
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

http_url = URLValidator(schemes=["http", "https"], message="Enter an absolute http(s) URL.")


def validate_static_headers(headers) -> None:
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ValidationError("Enter an object of header names and string values.")
    for name, value in headers.items():
        if not HEADER_NAME.match(name):
            raise ValidationError(f"Invalid header name {name!r}.")
        if "\r" in value or "\n" in value:
            raise ValidationError(f"Header {name} must not contain line breaks.")


def validate_path_overrides(overrides) -> None:
    if not isinstance(overrides, dict) or not all(isinstance(v, str) for v in overrides.values()):
        raise ValidationError("Enter an object of message names and paths.")
    unknown = sorted(set(overrides) - set(OSCP_MESSAGE_PATHS))
    if unknown:
        raise ValidationError(f"Unknown message path(s): {', '.join(unknown)}. Known: {', '.join(OSCP_MESSAGE_PATHS)}.")
    for path in overrides.values():
        if not path.strip("/") or any(c.isspace() for c in path):
            raise ValidationError(f"Invalid path override {path!r}.")
