"""Who is calling: the ``Authorization: Token …`` header of OCPI 2.2.1 (the token Base64-encoded),
a plain token accepted too (the OCPI 2.1.1 habit, recorded on the partner)."""

import base64
import binascii

from rest_framework import authentication, exceptions, permissions

from ..choices import CredentialsTokenKind
from ..selectors import credentials_token_find
from ..services import credentials_token_used


def token_candidates(header: str) -> list[tuple[str, bool]]:
    """(token, was plain) to try, Base64 first."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "token" or not value:
        return []
    candidates = []
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if decoded and decoded.isprintable():
        candidates.append((decoded, False))
    candidates.append((value, True))
    return candidates


class OcpiTokenAuthentication(authentication.BaseAuthentication):
    """``request.user`` is the roaming partner, ``request.auth`` the credentials token it used."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        for token, plain in token_candidates(header):
            found = credentials_token_find(token=token)
            if found is not None:
                credentials_token_used(token=found, plain=plain)
                return found.partner, found
        raise exceptions.AuthenticationFailed("Unknown or revoked token")

    def authenticate_header(self, request):
        return "Token"


class RegisteredPartner(permissions.BasePermission):
    """A registered partner with its credentials token (C). Views open to the registration token
    (A: versions, details, credentials) set ``token_a_allowed``."""

    message = "Not registered: use the credentials module first"

    def has_permission(self, request, view):
        token = request.auth
        if token is None or not request.user.enabled:
            return False
        if token.kind == CredentialsTokenKind.A:
            return getattr(view, "token_a_allowed", False)
        return True
