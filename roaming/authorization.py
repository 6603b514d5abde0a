"""Real-time authorization (we are the CPO): may this token charge at this location?

We ask the eMSP that pushed the token (``POST {its tokens sender endpoint}/{uid}/authorize?type=``)
with a short timeout (``OCPI_AUTHORIZE_TIMEOUT_SECONDS``) and answer with its decision. When it does
not answer in time, answers an error or an answer that is not OCPI, the stored token's
``whitelist`` rule decides (OCPI 2.2.1):

- ``ALWAYS``: always allowed, the eMSP is never asked;
- ``ALLOWED`` / ``ALLOWED_OFFLINE``: allowed without the eMSP when it cannot be asked;
- ``NEVER``: only the eMSP may allow it, so refused.

A token the eMSP marked not ``valid`` is never allowed by the whitelist. A token we do not know, or
one of a partner that is unregistered or disabled, is refused without asking anyone. The decision
says which of these it was (``source``) and why (``reason``)."""

import logging
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from django.conf import settings

from .choices import AllowedType, AuthorizationSource, RoamingState, WhitelistType
from .models import Location, Token
from .ocpi import client
from .ocpi.serializers import AuthorizationInfoSerializer
from .selectors import token_for_authorization

logger = logging.getLogger(__name__)


@dataclass
class AuthorizationDecision:
    allowed: str
    source: str
    reason: str
    token: Token | None = None
    authorization_reference: str | None = None
    info: dict | None = None
    evse_uids: list[str] = field(default_factory=list)

    @property
    def authorized(self) -> bool:
        return self.allowed == AllowedType.ALLOWED


def whitelist_decision(*, token: Token, reason: str) -> AuthorizationDecision:
    """What the stored token's whitelist rule allows without the eMSP."""
    if not token.valid:
        allowed = AllowedType.NOT_ALLOWED
        reason += "; the token is not valid"
    elif token.whitelist == WhitelistType.NEVER:
        allowed = AllowedType.NOT_ALLOWED
        reason += "; whitelist NEVER: only the eMSP may allow it"
    else:
        allowed = AllowedType.ALLOWED
        reason += f"; whitelist {token.whitelist}"
    return AuthorizationDecision(allowed=allowed, source=AuthorizationSource.WHITELIST, reason=reason, token=token)


def _authorize_url(token: Token) -> str | None:
    base = token.partner.endpoint("tokens", "SENDER")
    if not base:
        return None
    return f"{base.rstrip('/')}/{quote(token.uid, safe='')}/authorize?{urlencode({'type': token.type})}"


def token_authorize(*, owner, uid: str, token_type: str, location: Location, evse_uids: list[str]):
    """Decide whether the token may charge at ``location`` (the account's own; ``evse_uids`` of it)."""
    token = token_for_authorization(owner=owner, uid=uid, type=token_type)
    if token is None:
        return AuthorizationDecision(
            allowed=AllowedType.NOT_ALLOWED, source=AuthorizationSource.REFUSED, reason="unknown token"
        )
    partner = token.partner
    if partner.state != RoamingState.REGISTERED or not partner.enabled or not partner.partner_token:
        return AuthorizationDecision(
            allowed=AllowedType.NOT_ALLOWED,
            source=AuthorizationSource.REFUSED,
            reason=f"the token's eMSP ({partner.name}) is {'disabled' if not partner.enabled else partner.state}",
            token=token,
        )
    if token.whitelist == WhitelistType.ALWAYS:
        return whitelist_decision(token=token, reason="the eMSP is not asked")
    url = _authorize_url(token)
    if url is None:
        return whitelist_decision(token=token, reason="the eMSP has no tokens sender endpoint")
    body = {"location_id": location.ocpi_id}
    if evse_uids:
        body["evse_uids"] = evse_uids
    seconds = settings.OCPI_AUTHORIZE_TIMEOUT_SECONDS
    try:
        answer = client.ocpi_call(
            method="POST",
            url=url,
            token=partner.partner_token,
            body=body,
            timeout=(seconds, seconds),
            from_party=(location.country_code, location.party_id),
            to_party=(token.country_code, token.party_id),
        )
    except client.OcpiCallError as exc:
        what = f"the eMSP did not answer within {seconds:g} s" if exc.timeout else f"the eMSP erred: {exc}"
        logger.warning("Real-time authorization of token %s fell back to its whitelist: %s", token.id, what)
        return whitelist_decision(token=token, reason=what[:300])
    serializer = AuthorizationInfoSerializer(data=answer)
    if not serializer.is_valid():
        return whitelist_decision(
            token=token, reason=f"the eMSP's answer is not an AuthorizationInfo: {serializer.errors}"[:300]
        )
    info = serializer.validated_data
    return AuthorizationDecision(
        allowed=info["allowed"],
        source=AuthorizationSource.EMSP,
        reason="the eMSP answered",
        token=token,
        authorization_reference=info.get("authorization_reference"),
        info=dict(info["info"]) if info.get("info") else None,
        evse_uids=list(info.get("location", {}).get("evse_uids", []) or evse_uids),
    )
