"""OSCP 2.0 wire serializers: validate inbound JSON exactly per the reference and hand plain,
timezone-aware Python values to the services.

Leniency (recorded in ``context["deviations"]`` so the message log shows it): zone-less times when
the partner's profile says to read them as UTC, negative capacities, a flat ``required_behaviour``.
"""

import math
import re
from datetime import UTC, datetime
from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from connections.choices import BlockUnit, ForecastType, MeasurementStyle, PhaseIndicator
from oscp_platform.errors import errors_message as errors_message  # the pipeline's wire.errors_message
from oscp_platform.parsing import utc

ENERGY_UNITS = ("WH", "KWH")
ENERGY_DIRECTIONS = ("NET", "IMPORT", "EXPORT")
ENERGY_TYPES = ("FLEXIBLE", "NONFLEXIBLE", "TOTAL")
MEASUREMENT_CONFIGURATIONS = ("CONTINUOUS", "INTERMITTENT")
ASSET_CATEGORIES = ("CHARGING", "CONSUMPTION", "GENERATION", "STORAGE")

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?(?P<zone>[Zz]|[+-]\d{2}:?\d{2})?$",
)
_CAPACITY_STEP = Decimal("0.000001")
_CAPACITY_LIMIT = 10**12


def _deviation(field: serializers.Field, text: str) -> None:
    deviations = field.context.get("deviations")
    if deviations is not None and text not in deviations:
        deviations.append(text)


class EnumField(serializers.ChoiceField):
    """A wire enumeration; the error names the accepted values."""

    default_error_messages = {"invalid_choice": '"{input}" is not valid; expected one of {values}.'}

    def __init__(self, values, **kwargs):
        self.values = tuple(values)
        super().__init__(choices=self.values, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str) or data not in self.values:
            self.fail("invalid_choice", input=data, values=", ".join(self.values))
        return data


class NumberField(serializers.FloatField):
    """A JSON number: booleans, NaN and infinities are refused."""

    default_error_messages = {"invalid": "Expected a number."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("invalid")
        return value


@extend_schema_field(OpenApiTypes.DATETIME)
class OscpDateTimeField(serializers.Field):
    """RFC 3339 with an explicit offset (``Z`` or ``+08:00``), returned in UTC. A zone-less time
    is refused unless the sending partner's profile says to read it as UTC."""

    default_error_messages = {
        "invalid": 'Expected an RFC 3339 date-time like "2024-01-01T10:00:00Z", got "{input}".',
        "naive": '"{input}" has no UTC offset; RFC 3339 needs "Z" or an offset like "+08:00".',
    }

    def to_internal_value(self, data):
        match = _RFC3339.match(data) if isinstance(data, str) else None
        if match is None:
            self.fail("invalid", input=data)
        text = data.upper()
        if match.group("zone") in ("Z", "z"):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            self.fail("invalid", input=data)
        if value.tzinfo is None:
            partner = self.context.get("partner")
            if not (partner and partner.naive_times_as_utc):
                self.fail("naive", input=data)
            _deviation(self, "zone-less times read as UTC")
            value = value.replace(tzinfo=UTC)
        value = utc(value)
        if value is None:  # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC
            self.fail("invalid", input=data)
        return value

    def to_representation(self, value):
        return wire_time(value)


def wire_time(value: datetime, timespec: str = "auto") -> str:
    """RFC 3339 in UTC with ``Z``: what we send."""
    return value.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


# The time fields of the OSCP messages we send.
TIME_FIELDS = frozenset({"offline_mode_at", "start_time", "end_time", "measure_time", "initial_measure_time"})
SPACE_UTC_FORMAT = "%Y-%m-%d %H:%M:%S"


def wire_render(body, *, time_format: str = "rfc3339", drop: frozenset[str] = frozenset()):
    """A stored outbound body as a partner's dialect wants it on the wire: times in its format
    (``space-utc``: ``YYYY-MM-DD HH:MM:SS`` in UTC, what pyoscp parses), optional fields it does
    not take left out (``drop``). Bodies are stored in the standard form."""
    if isinstance(body, list):
        return [wire_render(item, time_format=time_format, drop=drop) for item in body]
    if not isinstance(body, dict):
        return body
    rendered = {}
    for key, value in body.items():
        if key in drop:
            continue
        if key in TIME_FIELDS and isinstance(value, str) and time_format == "space-utc":
            value = _space_utc(value)
        rendered[key] = wire_render(value, time_format=time_format, drop=drop)
    return rendered


def _space_utc(text: str) -> str:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return text
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime(SPACE_UTC_FORMAT)


class ForecastedBlockSerializer(serializers.Serializer):
    capacity = NumberField()
    phase = EnumField(PhaseIndicator.values)
    unit = EnumField(BlockUnit.values)
    start_time = OscpDateTimeField()
    end_time = OscpDateTimeField()

    def validate_capacity(self, value):
        if abs(value) >= _CAPACITY_LIMIT:
            raise serializers.ValidationError(f"Must be smaller than {_CAPACITY_LIMIT} in magnitude.")
        if value < 0:
            _deviation(self, "negative capacity accepted")
        return Decimal(repr(value)).quantize(_CAPACITY_STEP)

    def validate(self, attrs):
        if attrs["end_time"] <= attrs["start_time"]:
            raise serializers.ValidationError({"end_time": "Must be after start_time."})
        return attrs


class ForecastSerializer(serializers.Serializer):
    """update_group_capacity_forecast and adjust_group_capacity_forecast."""

    group_id = serializers.CharField(max_length=64, trim_whitespace=False)
    type = EnumField(ForecastType.values)
    forecasted_blocks = ForecastedBlockSerializer(many=True, allow_empty=False)


# RequiredBehaviour.measurement_configuration on the wire ↔ the management names kept on a partner.
WIRE_STYLES = {MeasurementStyle.CONTINUOUS: "CONTINUOUS", MeasurementStyle.INTERMITTENT: "INTERMITTENT"}
STYLE_NAMES = {wire: str(name) for name, wire in WIRE_STYLES.items()}


def behaviour_wire(*, heartbeat_interval=None, measurement_configuration=None) -> dict:
    """A ``required_behaviour`` as we send it: whole seconds as integers, each configuration
    once (wire names, or the management names ``Continuous``/``Intermittent``); what is None is
    left out."""
    wire: dict = {}
    if heartbeat_interval is not None:
        whole = float(heartbeat_interval).is_integer()
        wire["heartbeat_interval"] = int(heartbeat_interval) if whole else heartbeat_interval
    if measurement_configuration is not None:
        styles = [WIRE_STYLES.get(style, str(style).upper()) for style in measurement_configuration]
        wire["measurement_configuration"] = list(dict.fromkeys(styles))
    return wire


def behaviour_settings(behaviour: dict, settings: dict) -> dict:
    """A received (validated) ``required_behaviour`` into a partner's ``settings`` (management
    names: ``heartbeatSeconds``, ``measurementStyles``)."""
    stored = dict(settings or {})
    interval = behaviour.get("heartbeat_interval")
    if interval is None:
        stored.pop("heartbeatSeconds", None)
    else:
        stored["heartbeatSeconds"] = math.ceil(interval)
    stored["measurementStyles"] = [STYLE_NAMES[v] for v in behaviour.get("measurement_configuration", [])]
    return stored


class RequiredBehaviourSerializer(serializers.Serializer):
    heartbeat_interval = NumberField(required=False, allow_null=True, min_value=1)
    measurement_configuration = serializers.ListField(
        child=EnumField(MEASUREMENT_CONFIGURATIONS), required=False, allow_empty=True
    )

    def validate_measurement_configuration(self, value):
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Values must be unique.")
        return value


_BEHAVIOUR_FIELDS = ("heartbeat_interval", "measurement_configuration")


class HandshakeSerializer(serializers.Serializer):
    """``required_behaviour`` nested (the reference) or its fields flat at the top level (seen in
    the field); the validated data always has ``required_behaviour`` (None when absent)."""

    required_behaviour = RequiredBehaviourSerializer(required=False, allow_null=True)
    behaviour_required = True

    def to_internal_value(self, data):
        if isinstance(data, dict) and "required_behaviour" not in data:
            flat = {key: data[key] for key in _BEHAVIOUR_FIELDS if key in data}
            if flat:
                _deviation(self, "required_behaviour fields given flat at the top level")
                data = {"required_behaviour": flat}
            elif self.behaviour_required:
                raise serializers.ValidationError({"required_behaviour": ["This field is required."]})
        attrs = super().to_internal_value(data)
        attrs.setdefault("required_behaviour", None)
        return attrs


class HandshakeAcknowledgeSerializer(HandshakeSerializer):
    behaviour_required = False


class HeartbeatSerializer(serializers.Serializer):
    offline_mode_at = OscpDateTimeField()


class VersionUrlSerializer(serializers.Serializer):
    version = serializers.CharField(max_length=16)
    base_url = serializers.URLField(max_length=512)


class RegisterSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=512, trim_whitespace=False)
    version_url = VersionUrlSerializer(many=True, allow_empty=False)

    def validate_token(self, value):
        if not value or value != value.strip() or any(ch.isspace() for ch in value):
            raise serializers.ValidationError("Must be a non-empty string without spaces.")
        return value


class ComplianceErrorSerializer(serializers.Serializer):
    """``group_id`` is not part of the reference body: when absent, the group is found through
    the forecast named by X-Correlation-ID."""

    message = serializers.CharField(max_length=4000)
    forecasted_blocks = ForecastedBlockSerializer(many=True, required=False)
    group_id = serializers.CharField(max_length=64, required=False, trim_whitespace=False)


class EnergyMeasurementSerializer(serializers.Serializer):
    value = NumberField()
    phase = EnumField(PhaseIndicator.values)
    unit = EnumField(ENERGY_UNITS)
    direction = EnumField(ENERGY_DIRECTIONS)
    energy_type = EnumField(ENERGY_TYPES, required=False)
    measure_time = OscpDateTimeField()
    initial_measure_time = OscpDateTimeField(required=False)

    def validate(self, attrs):
        if _intermittent_required(self.context.get("partner")) and "initial_measure_time" not in attrs:
            raise serializers.ValidationError(
                {"initial_measure_time": "Required: we asked for INTERMITTENT measurements."}
            )
        return attrs


def _intermittent_required(partner) -> bool:
    """We asked the partner for INTERMITTENT measurements only: each needs initial_measure_time."""
    styles = (partner.required_measurement_styles or []) if partner is not None else []
    return MeasurementStyle.INTERMITTENT in styles and MeasurementStyle.CONTINUOUS not in styles


class InstantaneousMeasurementSerializer(serializers.Serializer):
    value = NumberField()
    phase = EnumField(PhaseIndicator.values)
    unit = EnumField(BlockUnit.values)
    measure_time = OscpDateTimeField()


class AssetMeasurementSerializer(serializers.Serializer):
    asset_id = serializers.CharField(max_length=64)
    asset_category = EnumField(ASSET_CATEGORIES)
    energy_measurement = EnergyMeasurementSerializer(required=False)
    instantaneous_measurement = InstantaneousMeasurementSerializer(required=False)


class GroupMeasurementsSerializer(serializers.Serializer):
    group_id = serializers.CharField(max_length=64, trim_whitespace=False)
    measurements = EnergyMeasurementSerializer(many=True, allow_empty=True)


class AssetMeasurementsSerializer(serializers.Serializer):
    group_id = serializers.CharField(max_length=64, trim_whitespace=False)
    measurements = AssetMeasurementSerializer(many=True, allow_empty=True)


def wire_dump(value):
    """Validated data back to JSON in the form we send: UTC ``Z`` times, plain numbers."""
    if isinstance(value, dict):
        return {key: wire_dump(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [wire_dump(item) for item in value]
    if isinstance(value, datetime):
        return wire_time(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
