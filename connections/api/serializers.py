"""Capacity Provider / Optimizer entities in the SolarUser OSCP API shape (camelCase)."""

import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from oscp_platform.api import TimestampField

from ..choices import (
    ConnectionState,
    HandshakeInitiator,
    MeasurementMessage,
    MeasurementStyle,
    Profile,
    RegistrationMode,
    RegistrationStatus,
    RequestIdHeaderPolicy,
    TimeFormat,
)
from ..models import Partner
from ..presets import preset_differences
from ..services import OAUTH_CLIENT_SECRET
from ..validators import http_url, validate_path_overrides, validate_static_headers

SUPPORTED_OSCP_VERSIONS = ["2.0"]
OAUTH_TOKEN_URL = "oauth-token-url"


class PartnerSettingsSerializer(serializers.Serializer):
    """What the partner required of us in its handshake."""

    heartbeatSeconds = serializers.IntegerField(required=False)
    measurementStyles = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Continuous and/or Intermittent."
    )


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {},
        "description": "Service properties, e.g. oauth-token-url, oauth-client-id, oauth-client-secret. "
        "The client secret is write-only: stored encrypted and never returned.",
        "example": {
            "oauth-token-url": "https://auth.example.com/oauth2/token",
            "oauth-client-id": "client-123",
            "oauth-client-secret": "Secret.123",
        },
    }
)
class ServicePropsField(serializers.DictField):
    def to_representation(self, value):
        return {k: v for k, v in (value or {}).items() if k != OAUTH_CLIENT_SECRET}


class PartnerSerializer(serializers.Serializer):
    """A Capacity Provider or Capacity Optimizer. Writes replace the whole configuration: an
    optional field left out is reset to its default (so a PUT without the client secret removes it)."""

    userId = serializers.IntegerField(source="owner_id", read_only=True)
    configId = serializers.IntegerField(source="id", read_only=True)
    created = TimestampField(read_only=True)
    modified = TimestampField(read_only=True)
    enabled = serializers.BooleanField(default=True)
    name = serializers.CharField(max_length=64)
    baseUrl = serializers.CharField(source="base_url", max_length=512, validators=[http_url])
    oscpVersion = serializers.ChoiceField(source="oscp_version", choices=SUPPORTED_OSCP_VERSIONS, default="2.0")
    flexibilityProviderId = serializers.IntegerField(source="flexibility_provider_id", read_only=True)
    registrationStatus = serializers.ChoiceField(
        source="registration_status", choices=RegistrationStatus.choices, read_only=True
    )
    settings = PartnerSettingsSerializer(read_only=True)
    serviceProps = ServicePropsField(source="service_props", default=dict)

    # Connection profile (partner dialects): ``profile`` fills every setting below that is not given
    # (connections/presets.py); responses show the effective values and ``presetOverrides``.
    profile = serializers.ChoiceField(choices=Profile.choices, default=Profile.OSCP_20)
    presetOverrides = serializers.SerializerMethodField(
        help_text="The settings (API names) whose effective value differs from the profile's preset."
    )
    partnerToken = serializers.CharField(
        source="partner_token",
        max_length=512,
        allow_blank=True,
        required=False,
        write_only=True,
        help_text="The token we present to the partner (e.g. the initial token an ELMO CP handed out). "
        "Write-only: stored encrypted, never returned; left out, the stored one is kept (a register "
        "exchange replaces it).",
    )
    staticHeaders = serializers.DictField(
        source="static_headers",
        child=serializers.CharField(max_length=1024, allow_blank=True),
        default=dict,
        write_only=True,
        help_text="Extra headers sent on every call to the partner. Write-only: stored encrypted, never returned.",
    )
    registrationMode = serializers.ChoiceField(
        source="registration_mode", choices=RegistrationMode.choices, required=False
    )
    handshakeInitiator = serializers.ChoiceField(
        source="handshake_initiator", choices=HandshakeInitiator.choices, required=False
    )
    acknowledgeWithBehaviour = serializers.BooleanField(source="acknowledge_with_behaviour", required=False)
    pathOverrides = serializers.DictField(
        source="path_overrides", child=serializers.CharField(max_length=128), required=False
    )
    timeFormat = serializers.ChoiceField(source="time_format", choices=TimeFormat.choices, required=False)
    requestIdHeaderPolicy = serializers.ChoiceField(
        source="request_id_header_policy", choices=RequestIdHeaderPolicy.choices, required=False
    )
    naiveTimesAsUtc = serializers.BooleanField(source="naive_times_as_utc", required=False)
    measurementMessage = serializers.ChoiceField(
        source="measurement_message", choices=MeasurementMessage.choices, required=False
    )
    oneAssetPerGroup = serializers.BooleanField(source="one_asset_per_group", required=False)
    instantaneousUnits = serializers.ListField(
        source="instantaneous_units", child=serializers.ChoiceField(["A", "W", "KW"]), required=False
    )
    energyUnits = serializers.ListField(
        source="energy_units", child=serializers.ChoiceField(["WH", "KWH"]), required=False
    )
    sendEnergyType = serializers.BooleanField(source="send_energy_type", required=False)
    sendInitialMeasureTime = serializers.BooleanField(source="send_initial_measure_time", required=False)
    sendEmptyMeasurements = serializers.BooleanField(source="send_empty_measurements", required=False)
    groupIdentifierPattern = serializers.CharField(
        source="group_identifier_pattern", max_length=128, allow_blank=True, required=False
    )
    combinedAssetId = serializers.CharField(source="combined_asset_id", max_length=64, allow_blank=True, default="")
    forecastCadenceMinutes = serializers.IntegerField(
        source="forecast_cadence_minutes", min_value=1, max_value=10080, allow_null=True, required=False
    )
    forecastHorizonHours = serializers.IntegerField(
        source="forecast_horizon_hours", min_value=1, max_value=24 * 14, allow_null=True, required=False
    )
    requiredHeartbeatSeconds = serializers.IntegerField(
        source="required_heartbeat_seconds", min_value=1, max_value=86400, allow_null=True, required=False
    )
    requiredMeasurementStyles = serializers.ListField(
        source="required_measurement_styles",
        child=serializers.ChoiceField(MeasurementStyle.choices),
        default=list,
    )

    # Connection state, kept by the lifecycle.
    connectionState = serializers.ChoiceField(
        source="connection_state", choices=ConnectionState.choices, read_only=True
    )
    connectionStateReason = serializers.CharField(source="connection_state_reason", read_only=True)
    handshakeCompletedAt = TimestampField(source="handshake_completed_at", read_only=True, allow_null=True)
    lastHeartbeatReceivedAt = TimestampField(source="last_heartbeat_received_at", read_only=True, allow_null=True)
    lastHeartbeatSentAt = TimestampField(source="last_heartbeat_sent_at", read_only=True, allow_null=True)
    offlineModeAt = TimestampField(source="offline_mode_at", read_only=True, allow_null=True)
    online = serializers.SerializerMethodField()
    lastForecastReceivedAt = TimestampField(source="last_forecast_received_at", read_only=True, allow_null=True)
    forecastStale = serializers.SerializerMethodField(
        help_text="The partner's expected forecast cadence (forecastCadenceMinutes) has passed since its last "
        "capacity forecast (null: no cadence declared)."
    )

    def get_forecastStale(self, partner: Partner) -> bool | None:
        return partner.forecast_stale(now=timezone.now())

    def get_online(self, partner: Partner) -> bool:
        return partner.connection_state == ConnectionState.ONLINE

    def get_presetOverrides(self, partner: Partner) -> list[str]:
        return [API_NAMES.get(field, field) for field in preset_differences(partner)]

    def validate_groupIdentifierPattern(self, value):
        try:
            re.compile(value)
        except re.error as exc:
            raise serializers.ValidationError(f"Not a regular expression: {exc}.") from exc
        return value

    def validate_instantaneousUnits(self, value):
        return list(dict.fromkeys(value))

    def validate_energyUnits(self, value):
        return list(dict.fromkeys(value))

    def validate_serviceProps(self, value):
        secret = value.get(OAUTH_CLIENT_SECRET)
        if secret is not None and not isinstance(secret, str):
            raise serializers.ValidationError(f"{OAUTH_CLIENT_SECRET} must be a string.")
        token_url = value.get(OAUTH_TOKEN_URL)
        if token_url is not None:
            if not isinstance(token_url, str):
                raise serializers.ValidationError(f"{OAUTH_TOKEN_URL} must be a string.")
            try:
                http_url(token_url)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(f"{OAUTH_TOKEN_URL}: enter an absolute http(s) URL.") from exc
        return value

    def validate_pathOverrides(self, value):
        try:
            validate_path_overrides(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return {k: v.strip("/") for k, v in value.items()}

    def validate_staticHeaders(self, value):
        try:
            validate_static_headers(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return value

    def validate_requiredMeasurementStyles(self, value):
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Each measurement style may appear once.")
        return value

    def validate(self, attrs):
        props = dict(attrs.get("service_props") or {})
        attrs["oauth_client_secret"] = props.pop(OAUTH_CLIENT_SECRET, "") or ""
        attrs["service_props"] = props
        return attrs


class PartnerCreatedSerializer(PartnerSerializer):
    """The create response: the partner plus the token it presents to us, shown only here."""

    token = serializers.CharField(read_only=True, help_text="Shown once: give it to the partner.")


# Model field name → API name, for the preset settings (``presetOverrides``, service errors).
API_NAMES = {
    field.source: name
    for name, field in PartnerSerializer().fields.items()
    if not field.read_only and field.source and field.source != name
}
