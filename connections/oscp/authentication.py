"""Who is calling: the partner behind ``Authorization: Token <t>`` (or ``Bearer <t>``).

No header, or one in another scheme → 401; a token that is unknown or retired, or a disabled
partner → 403. The token is looked up by its keyed digest, never compared in plain text."""

from dataclasses import dataclass

from connections.choices import ConnectionState
from connections.models import Partner
from connections.selectors import partner_for_token
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


def partner_authenticate(*, authorization: str) -> Caller:
    if not authorization.strip():
        raise OscpError(401, "Authorization header missing: send 'Authorization: Token <token>'.")
    split = authorization_split(authorization)
    if split is None:
        raise OscpError(401, "Authorization header must be 'Token <token>' or 'Bearer <token>'.")
    token = split[1]
    partner = partner_for_token(token=token)
    if partner is None:
        raise OscpError(403, "Token unknown or no longer valid.")
    if not partner.enabled or partner.connection_state == ConnectionState.DISABLED:
        raise OscpError(403, "This partner is disabled.", partner=partner)
    return Caller(partner=partner, token=token)
