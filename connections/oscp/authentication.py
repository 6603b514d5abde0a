"""Who is calling: the partner behind ``Authorization: Token <t>`` (or ``Bearer <t>``).

``<t>`` is a token we issued to the partner, or (``Bearer`` only) an OAuth2 access token from our
token URL fetched with the partner's client credentials (``connections.oauth``).

No header, or one in another scheme → 401; a token that is unknown, retired, expired or revoked,
or a disabled partner → 403. Tokens are looked up by digest, never compared in plain text."""

from dataclasses import dataclass

from django.conf import settings

from connections.choices import ConnectionState
from connections.models import InboundOAuthClient, Partner
from connections.selectors import oauth_access_token_find, partner_for_token
from oscp_platform.crypto import mask

SCHEMES = ("token", "bearer")


class OscpError(Exception):
    """A request we refuse: HTTP status and the message for ``{"message": ...}``."""

    def __init__(self, status: int, message: str, *, partner: Partner | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.partner = partner


@dataclass
class Caller:
    partner: Partner
    token: str
    request_seen: bool | None = None  # already accepted this X-Request-ID (None: not asked)


def authorization_split(header: str) -> tuple[str, str] | None:
    """``("token", "<t>")`` from ``Token <t>`` / ``bearer <t>`` (scheme case-insensitive)."""
    parts = header.strip().split()
    if len(parts) != 2 or parts[0].lower() not in SCHEMES:
        return None
    return parts[0].lower(), parts[1]


def authorization_mask(header: str) -> str:
    split = authorization_split(header)
    if split is None:
        return mask(header) if header else ""
    scheme, token = split
    return f"{scheme.capitalize()} {mask(token)}"


def partner_authenticate(*, authorization: str, request_id: str = "") -> Caller:
    """The caller; with ``request_id``, ``request_seen`` tells in the same query whether the
    partner already had a message with that X-Request-ID accepted (tokens we issued)."""
    if not authorization.strip():
        raise OscpError(401, "Authorization header missing: send 'Authorization: Token <token>'.")
    split = authorization_split(authorization)
    if split is None:
        raise OscpError(401, "Authorization header must be 'Token <token>' or 'Bearer <token>'.")
    scheme, token = split
    partner = partner_for_token(token=token, request_id=request_id)
    request_seen = partner.request_seen if partner is not None and request_id else None
    if partner is None and scheme == "bearer":
        partner = _partner_for_access_token(token)
    if partner is None:
        raise OscpError(403, "Token unknown or no longer valid.")
    if not partner.enabled or partner.connection_state == ConnectionState.DISABLED:
        raise OscpError(403, "This partner is disabled.", partner=partner)
    return Caller(partner=partner, token=token, request_seen=request_seen)


def _partner_for_access_token(token: str) -> Partner | None:
    """The partner whose OAuth client was issued this access token; None if unknown or not a
    partner's. Expired or lacking the OSCP scope → 403 saying so."""
    access_token = oauth_access_token_find(token=token)
    if access_token is None or access_token.application is None:
        return None
    try:
        partner = access_token.application.oscp_client.partner
    except InboundOAuthClient.DoesNotExist:
        return None
    if access_token.is_expired():
        raise OscpError(
            403, f"Access token expired: fetch a new one at {settings.OSCP_OAUTH_TOKEN_URL}.", partner=partner
        )
    if not access_token.allow_scopes([settings.OSCP_OAUTH_SCOPE]):
        raise OscpError(403, f"Access token lacks the {settings.OSCP_OAUTH_SCOPE!r} scope.", partner=partner)
    return partner
