"""What a simulated partner puts on the wire and how it checks what it receives.

A partner's dialect comes from the platform's own presets (``connections/presets.py``), read from
the partner's side: the paths it serves (``path_overrides``), how it writes times (``time_format``;
ELMO's guide writes them with a ``+08:00`` offset), whether it registers first or waits, who starts
the handshake, and which measurement message it expects. Inbound bodies are checked with the
registry's wire serializers (``connections/oscp/messages.py``), exactly as the platform checks its
own."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

from connections.choices import HandshakeInitiator, MessageType, Profile, RegistrationMode, TimeFormat
from connections.oscp.messages import MESSAGES
from connections.oscp.serializers import errors_message
from connections.presets import preset_of

from .faults import Fault, Faults

ELMO_ZONE = timezone(timedelta(hours=8))
SUPPORTED_VERSION = "2.0"


@dataclass(frozen=True)
class Dialect:
    """A preset seen from the partner's side."""

    profile: str
    registration_mode: str
    handshake_initiator: str  # the platform's setting: ``they`` means we (the partner) start it
    time_format: str
    naive_times: bool
    served_paths: dict[str, str] = field(default_factory=dict)  # message type -> path we serve it at
    measurement_message: str = MessageType.UPDATE_GROUP_MEASUREMENTS.value
    energy_units: tuple[str, ...] = ()
    flat_behaviour: bool = False  # ELMO sends measurement_configuration flat at the top level
    short_request_ids: bool = False  # pyoscp: 11-character URL-safe ids

    @property
    def registers_first(self) -> bool:
        """The partner sends the first register (else it waits for the platform's)."""
        return self.registration_mode == RegistrationMode.STANDARD

    @property
    def registers_at_all(self) -> bool:
        return self.registration_mode != RegistrationMode.OUT_OF_BAND

    @property
    def starts_handshake(self) -> bool:
        return self.handshake_initiator != HandshakeInitiator.WE

    def path_of(self, message_type: str) -> str:
        return self.served_paths.get(message_type, message_type)

    def time(self, value: datetime) -> str:
        if self.time_format == TimeFormat.SPACE_UTC:
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        if self.profile == Profile.ELMO:
            return value.astimezone(ELMO_ZONE).isoformat(timespec="seconds")
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def request_id(self) -> str:
        return secrets.token_urlsafe(8)[:11] if self.short_request_ids else str(uuid.uuid4())


def dialect_of(profile: str) -> Dialect:
    settings = preset_of(profile).settings
    return Dialect(
        profile=profile,
        registration_mode=settings["registration_mode"],
        handshake_initiator=settings["handshake_initiator"],
        time_format=settings["time_format"],
        naive_times=settings["naive_times_as_utc"],
        served_paths=dict(settings["path_overrides"]),
        measurement_message=(
            MessageType.UPDATE_ASSET_MEASUREMENTS.value
            if settings["measurement_message"] == "asset"
            else MessageType.UPDATE_GROUP_MEASUREMENTS.value
        ),
        energy_units=tuple(settings["energy_units"]),
        flat_behaviour=profile == Profile.ELMO,
        short_request_ids=profile == Profile.PYOSCP,
    )


# --- messages we send --------------------------------------------------------------------------


def register_body(*, token: str, base_url: str, faults: Faults) -> dict:
    if Fault.MALFORMED in faults:
        return {"token": token}  # version_url missing
    return {"token": token, "version_url": [{"version": SUPPORTED_VERSION, "base_url": base_url}]}


def handshake_body(*, dialect: Dialect, heartbeat_seconds: float, faults: Faults) -> dict:
    behaviour = {"heartbeat_interval": _seconds(heartbeat_seconds), "measurement_configuration": ["CONTINUOUS"]}
    if Fault.MALFORMED in faults:
        behaviour["heartbeat_interval"] = "often"
    return behaviour if dialect.flat_behaviour else {"required_behaviour": behaviour}


def acknowledge_body(*, dialect: Dialect, heartbeat_seconds: float, faults: Faults) -> dict:
    if Fault.MALFORMED in faults:
        return {"required_behaviour": {"heartbeat_interval": -1}}
    if dialect.profile == Profile.PYOSCP:  # pyoscp's own acknowledgement
        return {"required_behaviour": {"heartbeat_interval": _seconds(heartbeat_seconds)}}
    return {}


def heartbeat_body(*, dialect: Dialect, offline_mode_at: datetime, faults: Faults) -> dict:
    if Fault.MALFORMED in faults:
        return {"offline_mode_at": "soon"}
    return {"offline_mode_at": dialect.time(offline_mode_at)}


def _seconds(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


@dataclass(frozen=True)
class ForecastShape:
    capacity_kw: float = 22.0
    fallback_kw: float = 5.0
    block_seconds: float = 900.0
    horizon_seconds: float = 24 * 3600.0


def forecast_blocks(*, dialect: Dialect, shape: ForecastShape, capacity: float, now: datetime, faults: Faults):
    """Blocks from the start of the current block to the horizon; all-zero and gaps on fault."""
    step = timedelta(seconds=shape.block_seconds)
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    start = epoch + step * ((now - epoch) // step)
    count = max(1, int(shape.horizon_seconds // shape.block_seconds))
    zero = Fault.ALL_ZERO in faults
    blocks = []
    for index in range(count):
        if Fault.FORECAST_GAPS in faults and index % 2 == 0:
            continue  # the current block first, then every other one
        begin = start + step * index
        blocks.append(
            {
                "capacity": 0 if zero else capacity,
                "phase": "ALL",
                "unit": "KW",
                "start_time": dialect.time(begin),
                "end_time": dialect.time(begin + step),
            }
        )
    if Fault.MALFORMED in faults and blocks:
        blocks[0]["unit"] = "LITRES"
    return blocks


def forecast_body(*, group_id: str, forecast_type: str, blocks: list[dict]) -> dict:
    return {"group_id": group_id, "type": forecast_type, "forecasted_blocks": blocks}


# --- messages we receive -----------------------------------------------------------------------


def message_of_path(path: str, *, dialect: Dialect) -> str | None:
    """The message type served at ``path`` (its last segment): the dialect's own paths, the
    reference path, or another spelling the registry knows."""
    for message_type, served in dialect.served_paths.items():
        if path == served:
            return message_type
    for spec in MESSAGES.values():
        if path == spec.path or path in spec.aliases:
            return spec.type.value
    return None


def body_check(message_type: str, body, *, dialect: Dialect) -> tuple[dict | None, str]:
    """Validate ``body`` with the registry's wire serializer; returns (data, problem)."""
    if not isinstance(body, dict):
        return None, "Body must be a JSON object."
    reader = SimpleNamespace(naive_times_as_utc=dialect.naive_times, required_measurement_styles=["Continuous"])
    serializer = MESSAGES[MessageType(message_type)].serializer(data=body, context={"partner": reader})
    if not serializer.is_valid():
        return None, errors_message(serializer.errors)
    return dict(serializer.validated_data), ""


def measurement_summary(message_type: str, data: dict) -> list[dict]:
    """Received measurements as plain rows for the log and the state: value, unit, times."""
    rows = []
    for item in data.get("measurements", []):
        energy = item.get("energy_measurement", item) if message_type.endswith("asset_measurements") else item
        row = {"asset_id": item.get("asset_id")} if "asset_id" in item else {}
        if energy and "value" in energy:
            row.update(
                value=energy["value"],
                unit=energy["unit"],
                direction=energy.get("direction"),
                measure_time=_iso(energy.get("measure_time")),
                initial_measure_time=_iso(energy.get("initial_measure_time")),
            )
        instantaneous = item.get("instantaneous_measurement")
        if instantaneous:
            row["instantaneous"] = {"value": instantaneous["value"], "unit": instantaneous["unit"]}
        rows.append(row)
    return rows


def _iso(value) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
