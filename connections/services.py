"""Writes on partners and their credentials (the outbox is ``connections.outbox``)."""

import json
from datetime import timedelta
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import get_application_model

from oscp_platform.crypto import token_digest, token_generate
from oscp_platform.history import history_by as _history_by

from .choices import ConnectionState, RegistrationMode, RegistrationStatus, TokenKind
from .lifecycle import (
    partner_enabled_apply,
    partner_lock,
    partner_transition,
)
from .models import InboundToken, Partner
from .presets import PRESET_FIELDS, preset_fill

OAUTH_CLIENT_SECRET = "oauth-client-secret"


def inbound_token_issue(*, partner: Partner, kind: str = TokenKind.INITIAL) -> str:
    """Create a token the partner will present to us; return the plaintext (shown once)."""
    token = token_generate()
    record = InboundToken.objects.create(partner=partner, digest=token_digest(token), last4=token[-4:], kind=kind)
    if partner.flexibility_provider_id is None:
        partner.flexibility_provider_id = record.id
        partner.save(update_fields=["flexibility_provider_id", "modified"])
    return token


# How stale the partner's last forecast time may be: its forecasts a second apart write it once, so
# a provider sending a fleet's forecasts at once does not queue them all on its partner row's lock.
FORECAST_RECEIVED_RESOLUTION = timedelta(seconds=1)


def partner_forecast_received(*, partner: Partner, at) -> None:
    """Bookkeeping: the partner sent a capacity forecast (one UPDATE, no history row; none when the
    time it last did, as loaded with ``partner``, is less than a second before ``at``)."""
    last = partner.last_forecast_received_at
    if last is not None and timedelta(0) <= at - last < FORECAST_RECEIVED_RESOLUTION:
        return
    Partner.objects.filter(pk=partner.pk).update(last_forecast_received_at=at)
    partner.last_forecast_received_at = at


@transaction.atomic
def partner_token_rotate(*, partner: Partner) -> str:
    """Retire every live inbound token of the partner and issue a new one (shown once)."""
    partner.inbound_tokens.filter(retired_at__isnull=True).update(retired_at=timezone.now())
    return inbound_token_issue(partner=partner, kind=TokenKind.ROTATED)


# --- Partner configuration (management API and admin) -------------------------------------------

# Configuration a Capacity Provider / Optimizer record holds, by model field name. Connection state,
# registration outcome and negotiated settings are written by the lifecycle, not here.
# ``profile`` and the settings it fills (``connections.presets.PRESET_FIELDS``) are configuration too.
PARTNER_CONFIG_FIELDS = tuple(
    dict.fromkeys(
        (
            "name",
            "base_url",
            "oscp_version",
            "enabled",
            "registration_status",
            "service_props",
            "oauth_client_secret",
            "partner_token",
            "static_headers",
            "profile",
            *PRESET_FIELDS,
            "combined_asset_id",
            "required_measurement_styles",
        )
    )
)


class PartnerInUse(Exception):
    """The partner is still the provider or optimizer of capacity groups."""


def _concrete(partner: Partner) -> Partner:
    """History is tracked on ``Partner``; the role proxies (admin) are re-read as plain partners."""
    if type(partner) is Partner:
        return partner
    return Partner.objects.get(pk=partner.pk)


def _partner_assign(partner: Partner, values: dict[str, Any]) -> None:
    unknown = set(values) - set(PARTNER_CONFIG_FIELDS)
    if unknown:
        raise TypeError(f"Not partner configuration: {', '.join(sorted(unknown))}")
    for field, value in values.items():
        if field == "static_headers":
            value = json.dumps(value, sort_keys=True) if value else ""
        elif field == "service_props":
            # The client secret is kept encrypted in its own column, never among the properties.
            value = {k: v for k, v in (value or {}).items() if k != OAUTH_CLIENT_SECRET}
        setattr(partner, field, value)


def _preset_apply(partner: Partner, config: dict[str, Any], *, refill: bool) -> dict[str, Any]:
    """``config`` with the partner's preset filled in: settings given explicitly win; with
    ``refill`` (create, full replace, a new profile) the others take the preset's values."""
    if not refill:
        return config
    profile = config.get("profile", partner.profile)
    return {**config, **preset_fill(profile=profile, explicit=config), "profile": profile}


def partner_has_credentials(partner: Partner) -> bool:
    """What an out-of-band partner needs before it counts as registered: its URL and a way to call it."""
    props = partner.service_props or {}
    oauth = bool(props.get("oauth-token-url") and props.get("oauth-client-id") and partner.oauth_client_secret)
    return bool(partner.base_url) and (oauth or bool(partner.partner_token))


def _out_of_band_apply(partner: Partner) -> None:
    """A partner registered out of band (Vector DERMS: no register message at all) counts as
    registered once staff have entered its URL and credentials: its handshake is accepted and it
    gets heartbeats like any registered partner."""
    if partner.registration_mode != RegistrationMode.OUT_OF_BAND:
        return
    if partner.registration_status == RegistrationStatus.REGISTERED or not partner_has_credentials(partner):
        return
    partner.registration_status = RegistrationStatus.REGISTERED
    if partner.connection_state in (ConnectionState.NEW, ConnectionState.FAILED):
        partner_transition(
            partner=partner,
            to=ConnectionState.REGISTERED,
            reason="registered out of band: URL and credentials set",
            save=False,
        )


def _enabled_apply(partner: Partner, actor, reason: str) -> None:
    """``enabled`` decides between ``disabled`` and a live connection state (lifecycle)."""
    by = actor.get_username() if getattr(actor, "is_authenticated", False) else ""
    if partner_enabled_apply(partner=partner, by=by, save=False):
        partner._change_reason = f"{reason}; {partner.connection_state_reason}"


@transaction.atomic
def partner_create(
    *,
    owner: AbstractBaseUser,
    role: str,
    name: str,
    base_url: str,
    actor: AbstractBaseUser | None = None,
    **config: Any,
) -> tuple[Partner, str]:
    """Create a Capacity Provider or Optimizer and issue the token it will present to us.

    Returns the partner and the token's plaintext, which is shown once and never stored."""
    partner = Partner(owner=owner, role=role)
    config = _preset_apply(partner, {"name": name, "base_url": base_url, **config}, refill=True)
    _partner_assign(partner, config)
    _out_of_band_apply(partner)
    _history_by(partner, actor, "created")
    _enabled_apply(partner, actor, "created")
    partner.save()
    _history_by(partner, actor, "initial token issued")
    token = inbound_token_issue(partner=partner, kind=TokenKind.INITIAL)
    return partner, token


@transaction.atomic
def partner_update(
    *, partner: Partner, actor: AbstractBaseUser | None = None, refill: bool | None = None, **changes: Any
) -> Partner:
    """Set the given configuration fields (the management API passes all of them: full replace).
    When ``profile`` is given (or ``refill``), preset settings not given take the preset's values.
    Turning ``enabled`` off disables the connection (nothing is sent, calls are refused); turning
    it on again restores it and sends what the outbox held meanwhile."""
    partner = _concrete(partner)
    changes = _preset_apply(partner, changes, refill="profile" in changes if refill is None else refill)
    _partner_assign(partner, changes)
    _out_of_band_apply(partner)
    _history_by(partner, actor, "updated")
    _enabled_apply(partner, actor, "updated")
    partner.save()
    return partner


@transaction.atomic
def partner_delete(*, partner: Partner, actor: AbstractBaseUser | None = None) -> None:
    """Delete a partner, its tokens and its connection profile; groups must be moved off it first."""
    # Locked first, as every other change of the partner (e.g. revoking its OAuth client) does:
    # deleting its OAuth application before taking the lock deadlocked against a concurrent revoke.
    partner = partner_lock(partner)
    in_use = [
        *partner.provider_groups.values_list("identifier", flat=True)[:6],
        *partner.optimizer_groups.values_list("identifier", flat=True)[:6],
    ]
    if in_use:
        names = ", ".join(in_use[:5]) + (", ..." if len(in_use) > 5 else "")
        raise PartnerInUse(f"{partner.name} is still used by capacity groups: {names}.")
    _history_by(partner, actor, "deleted")
    # Its OAuth client (and the access tokens issued with it) is not a child row: delete it too.
    get_application_model().objects.filter(oscp_client__partner=partner).delete()
    partner.delete()
