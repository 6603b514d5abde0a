"""OSCP 2.0 wire serializers: validate inbound JSON exactly per the reference and hand plain,
timezone-aware Python values to the services.

Leniency (recorded in ``context["deviations"]`` so the message log shows it): zone-less times when
the partner's profile says to read them as UTC, negative capacities, a flat ``required_behaviour``.
"""

import math
from datetime import UTC, datetime
from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from connections.choices import BlockUnit, ForecastType, MeasurementStyle, PhaseIndicator
from oscp_platform.errors import errors_message as errors_message  # the pipeline's wire.errors_message

from . import blocks as block_rules

ENERGY_UNITS = ("WH", "KWH")
ENERGY_DIRECTIONS = ("NET", "IMPORT", "EXPORT")
ENERGY_TYPES = ("FLEXIBLE", "NONFLEXIBLE", "TOTAL")
MEASUREMENT_CONFIGURATIONS = ("CONTINUOUS", "INTERMITTENT")
ASSET_CATEGORIES = ("CHARGING", "CONSUMPTION", "GENERATION", "STORAGE")


def _invalid(exc: block_rules.Invalid) -> serializers.ValidationError:
    return serializers.ValidationError(str(exc), code="invalid")


class EnumField(serializers.ChoiceField):
    """A wire enumeration; the error names the accepted values."""

    default_error_messages = {"invalid_choice": block_rules.CHOICE_INVALID}

    def __init__(self, values, **kwargs):
        self.values = tuple(values)
        super().__init__(choices=self.values, **kwargs)

    def to_internal_value(self, data):
        try:
            return block_rules.choice_check(data, self.values)
        except block_rules.Invalid as exc:
            raise serializers.ValidationError(str(exc), code="invalid_choice") from None


class NumberField(serializers.FloatField):
    """A JSON number: booleans, NaN and infinities are refused."""

    default_error_messages = {"invalid": block_rules.NUMBER_INVALID}

    def to_internal_value(self, data):
        try:
            return block_rules.number_parse(data)
        except block_rules.Invalid as exc:
            raise _invalid(exc) from None


@extend_schema_field(OpenApiTypes.DATETIME)
class OscpDateTimeField(serializers.Field):
    """RFC 3339 with an explicit offset (``Z`` or ``+08:00``), returned in UTC. A zone-less time
    is refused unless the sending partner's profile says to read it as UTC."""

    default_error_messages = {"invalid": block_rules.TIME_INVALID, "naive": block_rules.TIME_NAIVE}

    def to_internal_value(self, data):
        try:
            return block_rules.time_parse(
                data, partner=self.context.get("partner"), deviations=self.context.get("deviations")
            )
        except block_rules.Invalid as exc:
            raise _invalid(exc) from None

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
        try:
            return block_rules.capacity_check(value, deviations=self.context.get("deviations"))
        except block_rules.Invalid as exc:
            raise _invalid(exc) from None

    def validate(self, attrs):
        if attrs["end_time"] <= attrs["start_time"]:
            raise serializers.ValidationError({"end_time": block_rules.END_BEFORE_START})
        return attrs


@extend_schema_field(ForecastedBlockSerializer(many=True))
class ForecastedBlocksField(serializers.Field):
    """An array of forecasted blocks, checked by ``blocks.blocks_parse`` (the rules and messages
    of ``ForecastedBlockSerializer``, without a serializer per block)."""

    def __init__(self, *, allow_empty: bool = False, **kwargs):
        self.allow_empty = allow_empty
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        return block_rules.blocks_parse(
            data,
            partner=self.context.get("partner"),
            deviations=self.context.get("deviations"),
            allow_empty=self.allow_empty,
        )

    def to_representation(self, value):
        return wire_dump(value)


class ForecastSerializer(serializers.Serializer):
    """update_group_capacity_forecast and adjust_group_capacity_forecast."""

    group_id = serializers.CharField(max_length=64, trim_whitespace=False)
    type = EnumField(ForecastType.values)
    forecasted_blocks = ForecastedBlocksField()


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
                block_rules.deviation_note(
                    self.context.get("deviations"), "required_behaviour fields given flat at the top level"
                )
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
    forecasted_blocks = ForecastedBlocksField(allow_empty=True, required=False)
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
