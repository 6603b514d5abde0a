"""Partner presets: the connection settings of each dialect the platform speaks, as data.

A partner has a ``profile``; picking one fills every setting below, and a setting given explicitly
(management API, admin) overrides the preset for that partner. The partner row holds the effective
values, so the edge (client, pipeline, serializers, lifecycle) reads plain fields and domain code
never looks at the profile. ``preset_differences`` tells which settings a partner overrides.

Adding a dialect is adding a ``Profile`` and an entry in ``PRESETS``, with a comment saying where
its rules come from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .choices import (
    HandshakeInitiator,
    MeasurementMessage,
    Profile,
    RegistrationMode,
    RequestIdHeaderPolicy,
    TimeFormat,
)

# Every setting a preset fills (partner model field names), with the standard's values.
OSCP_20_SETTINGS: dict[str, Any] = {
    "registration_mode": RegistrationMode.STANDARD,
    "handshake_initiator": HandshakeInitiator.EITHER,
    "acknowledge_with_behaviour": False,  # acknowledgement body: {} (the reference)
    "path_overrides": {},
    "time_format": TimeFormat.RFC3339,
    "naive_times_as_utc": False,
    "request_id_header_policy": RequestIdHeaderPolicy.OURS,
    "required_heartbeat_seconds": None,
    "measurement_message": MeasurementMessage.GROUP,
    "one_asset_per_group": False,
    "instantaneous_units": [],  # empty: any OSCP unit
    "energy_units": [],
    "send_energy_type": True,
    "send_initial_measure_time": True,
    "send_empty_measurements": False,
    "group_identifier_pattern": "",
    "forecast_cadence_minutes": None,
    "forecast_horizon_hours": None,
}
PRESET_FIELDS: tuple[str, ...] = tuple(OSCP_20_SETTINGS)


@dataclass(frozen=True)
class Preset:
    profile: Profile
    settings: dict[str, Any]

    @property
    def label(self) -> str:
        return self.profile.label


def _preset(profile: Profile, **settings: Any) -> Preset:
    unknown = set(settings) - set(PRESET_FIELDS)
    if unknown:
        raise TypeError(f"{profile}: not preset settings: {', '.join(sorted(unknown))}")
    return Preset(profile, {**OSCP_20_SETTINGS, **settings})


PRESETS: dict[str, Preset] = {
    preset.profile.value: preset
    for preset in (
        # The OSCP 2.0 reference as published by the Open Charge Alliance: register either way,
        # handshake either way, `{}` acknowledgement, RFC 3339 times, group measurements.
        _preset(Profile.OSCP_20),
        # Vector DERMS integration deltas (seed 001, ../shared/partners.md): no register flow (URLs,
        # OAuth credentials and static headers exchanged out of band), either side starts the
        # handshake, one asset per site sent to Vector as CP with update_asset_measurements
        # (update_group_measurements not supported), W/kW only, group ids alphanumeric without
        # spaces, forecasts every 15 minutes for 24 hours.
        _preset(
            Profile.VECTOR_DERMS,
            registration_mode=RegistrationMode.OUT_OF_BAND,
            required_heartbeat_seconds=60,
            measurement_message=MeasurementMessage.ASSET,
            one_asset_per_group=True,
            instantaneous_units=["W", "KW"],
            group_identifier_pattern=r"^[A-Za-z0-9]+$",
            forecast_cadence_minutes=15,
            forecast_horizon_hours=24,
        ),
        # Taipower ELMO CP guide (../shared/partners.md): the CP hands out the initial token and the
        # FP registers first; the CP starts the handshake (flat measurement_configuration, accepted
        # by the wire serializer) and gets `{}`; day-ahead forecasts (24 hourly blocks before 10:00);
        # update_group_measurements every minute in KWH.
        _preset(
            Profile.ELMO,
            registration_mode=RegistrationMode.WE_REGISTER_FIRST,
            handshake_initiator=HandshakeInitiator.THEY,
            energy_units=["KWH"],
            forecast_cadence_minutes=24 * 60,
            forecast_horizon_hours=24,
        ),
        # SolarNetwork's OSCP FP (seeds 002, 004): the reference paths (acknowledgement at
        # handshake_acknowledge), register either way, group measurements; its per-partner options
        # (OAuth, static headers, path overrides, asset messages, combined asset) stay overridable.
        _preset(Profile.SOLARNETWORK),
        # pyoscp 0.1.0 as measured (../shared/partners.md): acknowledgement served at
        # handshake_acknowledgment, every acknowledgement it reads needs required_behaviour (a `{}`
        # makes it answer 500) and it heartbeats only at the interval given there; it parses
        # times with strptime('%Y-%m-%d %H:%M:%S') and sends them that way, zone-less (UTC).
        _preset(
            Profile.PYOSCP,
            acknowledge_with_behaviour=True,
            path_overrides={"handshake_acknowledge": "handshake_acknowledgment"},
            time_format=TimeFormat.SPACE_UTC,
            naive_times_as_utc=True,
            required_heartbeat_seconds=30,
        ),
    )
}


def preset_of(profile: str) -> Preset:
    return PRESETS.get(profile) or PRESETS[Profile.OSCP_20]


def preset_fill(*, profile: str, explicit: dict[str, Any]) -> dict[str, Any]:
    """The effective settings: the preset's, with the explicitly given ones over them."""
    return {**preset_of(profile).settings, **{k: v for k, v in explicit.items() if k in PRESET_FIELDS}}


def _same(field: str, a: Any, b: Any) -> bool:
    if field in ("instantaneous_units", "energy_units"):
        return sorted(a or []) == sorted(b or [])
    return a == b


def preset_differences(partner) -> list[str]:
    """The settings (model field names) where ``partner`` differs from its preset."""
    preset = preset_of(partner.profile).settings
    return [field for field in PRESET_FIELDS if not _same(field, getattr(partner, field), preset[field])]


def preset_overrides_keep(*, partner, profile: str, values: dict[str, Any]) -> dict[str, Any]:
    """For a form that submits every field (the admin): keep as explicit only the settings that
    differ from the partner's current preset (its overrides) or that the submitter changed; the
    rest follow ``profile``. ``values`` maps field → submitted value; returns the explicit ones."""
    old = preset_of(partner.profile if partner.pk else Profile.OSCP_20).settings
    current = {field: getattr(partner, field) for field in PRESET_FIELDS} if partner.pk else dict(old)
    explicit = {}
    for field, value in values.items():
        if field not in PRESET_FIELDS:
            continue
        changed = not _same(field, value, current[field])
        overridden = not _same(field, current[field], old[field])
        if changed or overridden:
            explicit[field] = value
    return explicit


# --- Dialect rules checked when groups and assets are saved --------------------------------------


def _who(partner) -> str:
    return f"{partner.name} ({partner.profile})"


def group_identifier_problem(*, partner, identifier: str) -> str | None:
    """Why ``identifier`` is not a group id ``partner`` accepts, or None."""
    pattern = partner.group_identifier_pattern if partner is not None else ""
    if pattern and not re.fullmatch(pattern, identifier or ""):
        return f"{_who(partner)} requires group identifiers matching {pattern}; {identifier!r} does not."
    return None


def unit_problems(*, partner, instantaneous_unit: str | None, energy_unit: str | None) -> dict[str, str]:
    """Units ``partner`` does not accept, by setting (``instantaneous``, ``energy``)."""
    problems = {}
    if partner is None:
        return problems
    for key, unit, allowed in (
        ("instantaneous", instantaneous_unit, partner.instantaneous_units),
        ("energy", energy_unit, partner.energy_units),
    ):
        if unit and allowed and unit.upper() not in allowed:
            problems[key] = f"{_who(partner)} accepts {key} units {', '.join(allowed)} only; got {unit}."
    return problems
