"""Capacity Group and Asset entities in the SolarUser OSCP API shape (camelCase)."""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from connections.choices import PartnerRole
from connections.selectors import partner_list
from oscp_platform.api import TimestampField

from ..choices import (
    AssetCategory,
    Audience,
    EnergyDirection,
    EnergyType,
    GroupMode,
    MeasurementPeriod,
    MeasurementUnit,
    Phase,
    StatisticType,
)
from ..models import Asset, CapacityGroup
from ..panels import PANELS
from ..selectors import forecast_stale, group_list

ENERGY_UNITS = [MeasurementUnit.WH, MeasurementUnit.KWH]


@extend_schema_field(OpenApiTypes.INT)
class OwnedPrimaryKeyField(serializers.PrimaryKeyRelatedField):
    """A ``configId`` of the request user's own entity; anything else is "does not exist"."""

    default_error_messages = {
        "does_not_exist": "No {entity} with configId {pk_value} in your account.",
        "incorrect_type": "Expected a configId number, got {data_type}.",
    }

    def __init__(self, *, entity: str, scope, **kwargs):
        self.entity, self.scope = entity, scope
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.scope(None).none()
        return self.scope(user)

    def fail(self, key, **kwargs):
        if key == "does_not_exist":
            kwargs["entity"] = self.entity
        super().fail(key, **kwargs)


def _providers(user):
    return partner_list(user=user, role=PartnerRole.CAPACITY_PROVIDER)


def _optimizers(user):
    return partner_list(user=user, role=PartnerRole.CAPACITY_OPTIMIZER)


def _groups(user):
    return group_list(user=user)


def _fallback_limit(source: str, direction: str) -> serializers.DecimalField:
    return serializers.DecimalField(
        source=source,
        max_digits=12,
        decimal_places=3,
        allow_null=True,
        default=None,
        coerce_to_string=False,
        help_text=f"{direction} limit (kW, not negative) while the Capacity Provider is offline and sent no "
        "fallback forecast.",
    )


class CapacityGroupSerializer(serializers.Serializer):
    """A Capacity Group: pairs one Capacity Provider with at most one Capacity Optimizer and binds
    the OSCP group id to internal targets. Writes replace the whole configuration. The rules that
    span fields (unique identifier, the optimizer's period, limits not negative) are the service's
    (``groups.services.group_config_validate``)."""

    userId = serializers.IntegerField(source="owner_id", read_only=True)
    configId = serializers.IntegerField(source="id", read_only=True)
    created = TimestampField(read_only=True)
    modified = TimestampField(read_only=True)
    name = serializers.CharField(max_length=64)
    enabled = serializers.BooleanField(default=True)
    identifier = serializers.CharField(max_length=64, help_text="The OSCP group_id, unique in your account.")
    capacityProviderMeasurementPeriod = serializers.ChoiceField(
        source="capacity_provider_measurement_period", choices=MeasurementPeriod.choices
    )
    capacityOptimizerMeasurementPeriod = serializers.ChoiceField(
        source="capacity_optimizer_measurement_period",
        choices=MeasurementPeriod.choices,
        allow_null=True,
        default=None,
        help_text="Required when capacityOptimizerId is given.",
    )
    capacityProviderId = OwnedPrimaryKeyField(source="capacity_provider", entity="Capacity Provider", scope=_providers)
    capacityOptimizerId = OwnedPrimaryKeyField(
        source="capacity_optimizer", entity="Capacity Optimizer", scope=_optimizers, allow_null=True, default=None
    )
    # Binding to internal targets and fallback policy.
    microgridId = serializers.CharField(source="microgrid_id", max_length=64, allow_blank=True, default="")
    nodeId = serializers.IntegerField(source="node_id", min_value=0, allow_null=True, default=None)
    fallbackImportKw = _fallback_limit("fallback_import_kw", "Import")
    fallbackExportKw = _fallback_limit("fallback_export_kw", "Export")
    combinedAssetId = serializers.CharField(
        source="combined_asset_id",
        max_length=64,
        allow_blank=True,
        default="",
        help_text="Report all assets as one asset with this id (overrides the partner's setting).",
    )
    reportZeroWhenNoData = serializers.BooleanField(source="report_zero_when_no_data", default=False)
    reportComplianceBreaches = serializers.BooleanField(source="report_compliance_breaches", default=False)
    # Which limits are in force, kept by the forecasts area.
    mode = serializers.ChoiceField(choices=GroupMode.choices, read_only=True)
    modeSince = TimestampField(source="mode_since", read_only=True, allow_null=True)
    modeReason = serializers.CharField(source="mode_reason", read_only=True)
    forecastStale = serializers.SerializerMethodField(
        help_text="The provider's expected forecast cadence has passed since its last forecast for the "
        "group (null: the provider declares no cadence)."
    )

    def get_forecastStale(self, group) -> bool | None:
        if not hasattr(group, "last_forecast_at") and PANELS.last_forecast_annotate is not None:
            group = PANELS.last_forecast_annotate(CapacityGroup.objects.filter(pk=group.pk)).get()
        return forecast_stale(group, now=timezone.now())

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["capacityOptimizerMeasurementPeriod"] = data["capacityOptimizerMeasurementPeriod"] or None
        return data

    def validate(self, attrs):
        attrs["capacity_optimizer_measurement_period"] = attrs.get("capacity_optimizer_measurement_period") or ""
        return attrs


class InstantaneousSettingsSerializer(serializers.Serializer):
    propertyNames = serializers.ListField(
        child=serializers.CharField(max_length=64), allow_empty=False, help_text="Datum property names to measure."
    )
    unit = serializers.ChoiceField(choices=MeasurementUnit.choices)
    multiplier = serializers.FloatField(required=False, help_text="Converts raw values into unit.")
    statisticType = serializers.ChoiceField(choices=StatisticType.choices)


class EnergySettingsSerializer(InstantaneousSettingsSerializer):
    unit = serializers.ChoiceField(choices=[(u.value, u.label) for u in ENERGY_UNITS])
    type = serializers.ChoiceField(choices=EnergyType.choices)
    direction = serializers.ChoiceField(choices=EnergyDirection.choices)


class AssetSerializer(serializers.Serializer):
    """An Asset: where the measurements of one charger (or meter) come from. Writes replace the
    whole configuration."""

    userId = serializers.IntegerField(source="group.owner_id", read_only=True)
    configId = serializers.IntegerField(source="id", read_only=True)
    created = TimestampField(read_only=True)
    modified = TimestampField(read_only=True)
    name = serializers.CharField(max_length=64)
    enabled = serializers.BooleanField(default=True)
    capacityGroupId = OwnedPrimaryKeyField(source="group", entity="Capacity Group", scope=_groups)
    identifier = serializers.CharField(max_length=64, help_text="The OSCP asset id, unique in its group.")
    audience = serializers.ChoiceField(choices=Audience.choices)
    nodeId = serializers.IntegerField(source="node_id", min_value=0)
    sourceId = serializers.CharField(source="source_id", max_length=64)
    category = serializers.ChoiceField(choices=AssetCategory.choices)
    phase = serializers.ChoiceField(choices=Phase.choices, default=Phase.ALL)
    instantaneous = InstantaneousSettingsSerializer(allow_null=True, default=None)
    energy = EnergySettingsSerializer(allow_null=True, default=None)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        # Stored as given: omit what was not given (e.g. multiplier) rather than show nulls.
        data["instantaneous"] = instance.instantaneous
        data["energy"] = instance.energy
        return data

    def validate(self, attrs):
        group = attrs["group"]
        taken = Asset.objects.filter(group=group, identifier=attrs["identifier"])
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError(
                {"identifier": f"An asset with identifier {attrs['identifier']!r} already exists in the group."}
            )
        if attrs["audience"] == Audience.CAPACITY_OPTIMIZER and group.capacity_optimizer_id is None:
            raise serializers.ValidationError({"audience": "The capacity group has no Capacity Optimizer."})
        for key in ("instantaneous", "energy"):
            if attrs.get(key) is not None:
                attrs[key] = dict(attrs[key])
        return attrs
