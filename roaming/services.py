"""Writes for roaming: credentials tokens, the credentials exchange both ways, hub clients, the
locations and tariffs we send, the tokens eMSPs send us.

Calls to the partner happen outside any transaction (``ocpi.client``); the state they lead to is
written in one transaction afterwards, so a failed exchange leaves the old credentials in force."""

import json
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from connections.choices import MessageDirection, MessageStatus
from connections.models import Message
from connections.outbox import outbox_enqueue_many, outbox_message
from oscp_platform.crypto import token_digest, token_generate

from .choices import CredentialsTokenKind, RoamingState
from .models import CredentialsToken, Evse, HubClient, Location, RoamingPartner, RoamingPartnerRole, Tariff, Token
from .ocpi import client
from .ocpi.envelope import ocpi_timestamp
from .ocpi.modules import VERSION, our_credentials, our_party
from .ocpi.objects import location_wire, tariff_wire
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
    if token != partner.partner_token:
        _pushes_reseal(partner=partner, token=token)
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


def _pushes_reseal(*, partner: RoamingPartner, token: str) -> int:
    """Pushes still queued for the partner carry its old token (sealed): they go with the new one,
    so a rotation never turns queued changes into 401s. Returns how many were re-sealed."""
    unsent = (MessageStatus.PENDING, MessageStatus.FAILED, MessageStatus.SENDING)
    return Message.objects.filter(
        direction=MessageDirection.OUTBOUND, status__in=unsent, ordering_key__startswith=f"ocpi:{partner.id}:"
    ).update(sealed_headers=json.dumps({"Authorization": client.authorization(token)}))


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


# --- locations and tariffs (we are the sender): stored, then pushed --------------------------------
_LOCATION_KEYS = ("country_code", "party_id", "id", "publish", "evses", "last_updated")
_EVSE_KEYS = ("uid", "status", "last_updated")
_TARIFF_KEYS = ("country_code", "party_id", "id", "currency", "last_updated")


def _receivers(*, owner, module: str) -> list[tuple[RoamingPartner, str]]:
    """Registered, enabled partners of the owner with the module's receiver interface."""
    partners = RoamingPartner.objects.filter(owner=owner, state=RoamingState.REGISTERED, enabled=True)
    partners = partners.prefetch_related("roles")
    found = []
    for partner in partners:
        url = partner.endpoint(module, "RECEIVER")
        if url and partner.partner_token:
            found.append((partner, url.rstrip("/")))
    return found


def _push(*, owner, module: str, path: str, method: str, body: dict, key: str) -> int:
    """Queue the change for every receiver, in the outbox (in the caller's transaction), in order
    per object and partner."""
    messages = []
    for partner, url in _receivers(owner=owner, module=module):
        role = next(iter(partner.roles.all()), None)
        headers = client.request_headers(
            from_party=(body.get("country_code"), body.get("party_id")) if "country_code" in body else our_party(),
            to_party=(role.country_code, role.party_id) if role else None,
        )
        headers.pop("X-Request-ID")
        messages.append(
            outbox_message(
                partner=None,
                message_type=f"ocpi.{module}.{method}",
                body=body,
                url=f"{url}/{path}",
                method=method,
                headers=headers,
                sealed_headers={"Authorization": client.authorization(partner.partner_token)},
                ordering_key=f"ocpi:{partner.id}:{key}",
            )
        )
    if messages:
        outbox_enqueue_many(messages)
    return len(messages)


def _location_path(location: Location) -> str:
    return f"{location.country_code}/{location.party_id}/{location.ocpi_id}"


def _changes(before: dict, after: dict) -> dict:
    return {key: value for key, value in after.items() if key != "last_updated" and before.get(key) != value}


@transaction.atomic
def location_save(*, owner, data: dict, capacity_group=None, location: Location | None = None) -> Location:
    """Create or fully replace a location (``data``: a validated OCPI Location); push a PUT of a new
    one, a PATCH of what changed otherwise."""
    now = timezone.now()
    before = location_wire(location) if location is not None else None
    fields = {
        "country_code": data["country_code"],
        "party_id": data["party_id"],
        "ocpi_id": data["id"],
        "publish": data["publish"],
        "data": {k: v for k, v in data.items() if k not in _LOCATION_KEYS},
        "capacity_group": capacity_group,
        "last_updated": now,
    }
    if location is None:
        location = Location.objects.create(owner=owner, **fields)
    else:
        for name, value in fields.items():
            setattr(location, name, value)
        location.save()
    evses = {evse.uid: evse for evse in location.evses.all()}
    wanted = [e["uid"] for e in data.get("evses", [])]
    location.evses.exclude(uid__in=wanted).delete()
    for evse_data in data.get("evses", []):
        rest = {k: v for k, v in evse_data.items() if k not in _EVSE_KEYS}
        evse = evses.get(evse_data["uid"])
        if evse is None:
            Evse.objects.create(
                location=location, uid=evse_data["uid"], status=evse_data["status"], data=rest, last_updated=now
            )
        elif evse.status != evse_data["status"] or evse.data != rest:
            evse.status, evse.data, evse.last_updated = evse_data["status"], rest, now
            evse.save()
    location = Location.objects.prefetch_related("evses").get(id=location.id)
    after = location_wire(location)
    key = f"location:{location.id}"
    if before is None or before["id"] != after["id"] or before["country_code"] != after["country_code"]:
        _push(owner=owner, module="locations", path=_location_path(location), method="PUT", body=after, key=key)
    else:
        changed = _changes(before, after)
        if changed:
            body = {**changed, "last_updated": after["last_updated"]}
            _push(owner=owner, module="locations", path=_location_path(location), method="PATCH", body=body, key=key)
    return location


@transaction.atomic
def evse_status_set(*, location: Location, uid: str, status: str) -> Evse:
    """An EVSE's status changed: stored, and pushed as a PATCH of that EVSE."""
    evse = location.evses.select_for_update().get(uid=uid)
    if evse.status == status:
        return evse
    now = timezone.now()
    evse.status, evse.last_updated = status, now
    evse.save(update_fields=["status", "last_updated"])
    Location.objects.filter(id=location.id).update(last_updated=now)
    body = {"status": status, "last_updated": ocpi_timestamp(now)}
    path = f"{_location_path(location)}/{uid}"
    _push(owner=location.owner, module="locations", path=path, method="PATCH", body=body, key=f"location:{location.id}")
    return evse


@transaction.atomic
def tariff_save(*, owner, data: dict, tariff: Tariff | None = None) -> Tariff:
    """Create or fully replace a tariff (a validated OCPI Tariff); pushed as a PUT (the tariffs
    receiver takes whole objects)."""
    fields = {
        "country_code": data["country_code"],
        "party_id": data["party_id"],
        "ocpi_id": data["id"],
        "currency": data["currency"],
        "data": {k: v for k, v in data.items() if k not in _TARIFF_KEYS},
        "last_updated": timezone.now(),
    }
    if tariff is None:
        tariff = Tariff.objects.create(owner=owner, **fields)
    else:
        for name, value in fields.items():
            setattr(tariff, name, value)
        tariff.save()
    wire = tariff_wire(tariff)
    path = f"{tariff.country_code}/{tariff.party_id}/{tariff.ocpi_id}"
    _push(owner=owner, module="tariffs", path=path, method="PUT", body=wire, key=f"tariff:{tariff.id}")
    return tariff


# --- tokens (we are the receiver) ------------------------------------------------------------------
_TOKEN_COLUMNS = ("country_code", "party_id", "uid", "type", "contract_id", "valid", "whitelist", "last_updated")


def _token_fields(data: dict) -> dict:
    fields = {name: data[name] for name in _TOKEN_COLUMNS if name in data}
    fields["data"] = {k: v for k, v in data.items() if k not in _TOKEN_COLUMNS}
    return fields


@transaction.atomic
def token_put(*, partner: RoamingPartner, data: dict) -> Token:
    """The eMSP stored a whole token (``data``: a validated OCPI Token): created or replaced."""
    fields = _token_fields(data)
    keys = {name: fields.pop(name) for name in ("country_code", "party_id", "uid", "type")}
    token, _ = Token.objects.update_or_create(partner=partner, **keys, defaults=fields)
    return token


@transaction.atomic
def token_patch(*, token: Token, changes: dict) -> Token:
    """The eMSP changed some fields of a stored token (``changes``: validated, keys unchanged)."""
    token = Token.objects.select_for_update().get(id=token.id)
    fields = _token_fields(changes)
    data = {**token.data, **fields.pop("data")}
    for name, value in {**fields, "data": data}.items():
        setattr(token, name, value)
    token.save()
    return token
