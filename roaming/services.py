"""Writes for roaming: credentials tokens, the credentials exchange both ways, hub clients.

Calls to the partner happen outside any transaction (``ocpi.client``); the state they lead to is
written in one transaction afterwards, so a failed exchange leaves the old credentials in force."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from oscp_platform.crypto import token_digest, token_generate

from .choices import CredentialsTokenKind, RoamingState
from .models import CredentialsToken, HubClient, RoamingPartner, RoamingPartnerRole
from .ocpi import client
from .ocpi.modules import VERSION, our_credentials
from .ocpi.serializers import CredentialsSerializer, VersionDetailsSerializer, VersionSerializer


class RoamingError(Exception):
    """The exchange with the partner failed; ``kind`` says how (OCPI 3001, 3002 or 3003)."""

    UNUSABLE = "unusable"
    UNSUPPORTED_VERSION = "unsupported_version"
    NO_ENDPOINTS = "no_endpoints"

    def __init__(self, message: str, kind: str = UNUSABLE):
        super().__init__(message)
        self.kind = kind


# --- tokens the partner presents to us ----------------------------------------------------------
def credentials_token_issue(*, partner: RoamingPartner, kind: str) -> str:
    """Create a token for the partner to call us with; return the plaintext (shown once)."""
    token = token_generate()
    CredentialsToken.objects.create(partner=partner, digest=token_digest(token), last4=token[-4:], kind=kind)
    return token


@transaction.atomic
def token_a_issue(*, partner: RoamingPartner) -> str:
    """Staff issue the registration token A (any earlier unused A is retired). Shown once."""
    partner.credentials_tokens.filter(kind=CredentialsTokenKind.A, retired_at__isnull=True).update(
        retired_at=timezone.now()
    )
    return credentials_token_issue(partner=partner, kind=CredentialsTokenKind.A)


def credentials_token_used(*, token: CredentialsToken, plain: bool) -> None:
    """Bookkeeping when a partner calls with a token: a plain (not Base64) token is recorded; the
    first use of a new token C completes its exchange and retires the partner's older tokens."""
    now = timezone.now()
    if plain:
        RoamingPartner.objects.filter(id=token.partner_id).update(plain_token_seen_at=now)
        token.partner.plain_token_seen_at = now
    if token.kind == CredentialsTokenKind.C and token.confirmed_at is None:
        with transaction.atomic():
            CredentialsToken.objects.filter(id=token.id).update(confirmed_at=now)
            CredentialsToken.objects.filter(partner_id=token.partner_id, retired_at__isnull=True).exclude(
                id=token.id
            ).update(retired_at=now)
        token.confirmed_at = now


# --- the partner's platform ---------------------------------------------------------------------
@dataclass
class PartnerPlatform:
    versions_url: str
    version: str
    endpoints: list[dict]


def _valid(serializer_class, data, what: str, **kwargs):
    serializer = serializer_class(data=data, **kwargs)
    if not serializer.is_valid():
        raise RoamingError(f"the partner's {what} are not valid OCPI: {serializer.errors}")
    return serializer.validated_data


def partner_platform_fetch(*, versions_url: str, token: str) -> PartnerPlatform:
    """The partner's versions and its 2.2.1 details, fetched with its token."""
    try:
        answer = client.ocpi_call(method="GET", url=versions_url, token=token)
        versions = _valid(VersionSerializer, answer, "versions", many=True)
    except client.OcpiCallError as exc:
        raise RoamingError(f"versions: {exc}") from None
    chosen = next((v for v in versions if v["version"] == VERSION), None)
    if chosen is None:
        raise RoamingError(f"the partner offers no OCPI {VERSION}", RoamingError.UNSUPPORTED_VERSION)
    try:
        answer = client.ocpi_call(method="GET", url=chosen["url"], token=token)
        details = _valid(VersionDetailsSerializer, answer, "details")
    except client.OcpiCallError as exc:
        raise RoamingError(f"version details: {exc}") from None
    endpoints = [dict(e) for e in details["endpoints"]]
    if not any(e["identifier"] == "credentials" for e in endpoints):
        raise RoamingError("the partner has no credentials endpoint", RoamingError.NO_ENDPOINTS)
    return PartnerPlatform(versions_url=versions_url, version=VERSION, endpoints=endpoints)


def _apply(
    *, partner: RoamingPartner, platform: PartnerPlatform, token: str, roles: list[dict], reason: str
) -> RoamingPartner:
    partner.versions_url = platform.versions_url
    partner.version = platform.version
    partner.endpoints = platform.endpoints
    partner.partner_token = token
    partner.state = RoamingState.REGISTERED
    partner.state_reason = reason
    partner.state_changed_at = timezone.now()
    partner._change_reason = reason
    partner.save()
    partner.roles.all().delete()
    RoamingPartnerRole.objects.bulk_create(
        RoamingPartnerRole(
            partner=partner,
            role=r["role"],
            country_code=r["country_code"],
            party_id=r["party_id"],
            business_details=dict(r.get("business_details") or {}),
        )
        for r in roles
    )
    return partner


# --- the partner registers with us (POST / PUT credentials) --------------------------------------
def credentials_receive(*, partner: RoamingPartner, used: CredentialsToken, credentials: dict, update: bool) -> dict:
    """The partner sent its credentials (``credentials`` validated): fetch its platform with its
    token, issue our token C, keep its token. Answers our credentials. On failure nothing changes."""
    platform = partner_platform_fetch(versions_url=credentials["url"], token=credentials["token"])
    with transaction.atomic():
        locked = RoamingPartner.objects.select_for_update().get(id=partner.id)
        token_c = credentials_token_issue(partner=locked, kind=CredentialsTokenKind.C)
        reason = "credentials updated by the partner" if update else "registered by the partner"
        _apply(partner=locked, platform=platform, token=credentials["token"], roles=credentials["roles"], reason=reason)
        if used.kind == CredentialsTokenKind.A:
            CredentialsToken.objects.filter(id=used.id).update(retired_at=timezone.now())
    return our_credentials(token_c)


@transaction.atomic
def credentials_delete(*, partner: RoamingPartner, reason: str) -> RoamingPartner:
    """Unregistered: every token of the partner is refused from now on; we stop calling it."""
    partner = RoamingPartner.objects.select_for_update().get(id=partner.id)
    partner.credentials_tokens.filter(retired_at__isnull=True).update(retired_at=timezone.now())
    partner.partner_token = ""
    partner.state = RoamingState.UNREGISTERED
    partner.state_reason = reason
    partner.state_changed_at = timezone.now()
    partner._change_reason = reason
    partner.save()
    return partner


# --- we register with the partner (staff: admin action) ------------------------------------------
def _exchange(*, partner: RoamingPartner, method: str, url: str, reason: str) -> RoamingPartner:
    """Send our credentials with a new token C; store the partner's answer. If the call fails the
    new token is withdrawn and the partner's record stays as it was."""
    token_c = credentials_token_issue(partner=partner, kind=CredentialsTokenKind.C)
    try:
        answer = client.ocpi_call(method=method, url=url, token=partner.partner_token, body=our_credentials(token_c))
        credentials = _valid(CredentialsSerializer, answer, "credentials")
        platform = partner_platform_fetch(versions_url=credentials["url"], token=credentials["token"])
    except (client.OcpiCallError, RoamingError) as exc:
        CredentialsToken.objects.filter(digest=token_digest(token_c)).delete()
        raise RoamingError(str(exc)) from None
    with transaction.atomic():
        locked = RoamingPartner.objects.select_for_update().get(id=partner.id)
        return _apply(
            partner=locked, platform=platform, token=credentials["token"], roles=credentials["roles"], reason=reason
        )


def partner_register(*, partner: RoamingPartner, versions_url: str | None = None, token_a: str | None = None):
    """Staff entered the partner's versions URL and its token A: register with it."""
    if versions_url or token_a:
        with transaction.atomic():
            partner = RoamingPartner.objects.select_for_update().get(id=partner.id)
            partner.versions_url = versions_url or partner.versions_url
            partner.partner_token = token_a or partner.partner_token
            partner.save(update_fields=["versions_url", "partner_token", "modified"])
    if not partner.versions_url or not partner.partner_token:
        raise RoamingError("the partner's versions URL and token A are needed to register")
    platform = partner_platform_fetch(versions_url=partner.versions_url, token=partner.partner_token)
    url = next(e["url"] for e in platform.endpoints if e["identifier"] == "credentials")
    return _exchange(partner=partner, method="POST", url=url, reason="registered with the partner")


def partner_rotate(*, partner: RoamingPartner) -> RoamingPartner:
    """Give the partner a new token C (PUT credentials); ours keeps working until it uses the new one."""
    url = _credentials_url(partner)
    return _exchange(partner=partner, method="PUT", url=url, reason="credentials rotated by us")


def partner_unregister(*, partner: RoamingPartner) -> RoamingPartner:
    """DELETE our credentials at the partner (if it answers), then refuse its tokens."""
    note = "unregistered by us"
    if partner.partner_token and partner.state == RoamingState.REGISTERED:
        try:
            client.ocpi_call(method="DELETE", url=_credentials_url(partner), token=partner.partner_token)
        except (client.OcpiCallError, RoamingError) as exc:
            note = f"unregistered by us (the partner did not confirm: {str(exc)[:150]})"
    return credentials_delete(partner=partner, reason=note)


def _credentials_url(partner: RoamingPartner) -> str:
    for entry in partner.endpoints or []:
        if entry.get("identifier") == "credentials":
            return entry["url"]
    raise RoamingError("the partner has no credentials endpoint on record", RoamingError.NO_ENDPOINTS)


# --- hubs -----------------------------------------------------------------------------------------
@transaction.atomic
def hub_client_store(*, partner: RoamingPartner, info: dict) -> HubClient:
    client_row, _ = HubClient.objects.update_or_create(
        partner=partner,
        country_code=info["country_code"],
        party_id=info["party_id"],
        defaults={"role": info["role"], "status": info["status"], "last_updated": info["last_updated"]},
    )
    return client_row
