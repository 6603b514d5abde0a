"""Management API shapes for envelopes, webhook subscriptions, adjustments and compliance errors.

Adjustments take a forecast-like body with camelCase keys and OSCP enum values:
``{"type": "CONSUMPTION", "forecastedBlocks": [{"capacity": 10, "phase": "ALL", "unit": "KW",
"startTime": "2024-01-01 10:00:00Z", "endTime": "2024-01-01 10:15:00Z"}], "correlationId": ""}``."""

from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers

from groups.models import CapacityGroup
from groups.selectors import group_list
from oscp_platform.api import TIMESTAMP_HELP, TimestampField

from ..choices import BlockUnit, ForecastType, PhaseIndicator
from ..models import AdjustmentRequest, ComplianceError, EnvelopeSubscription, Forecast

MAX_BLOCKS = 10_000


class EnvelopeQuerySerializer(serializers.Serializer):
    groupId = serializers.IntegerField(required=False, help_text="Pick one group when the binding names several.")
    microgridId = serializers.CharField(required=False, max_length=64)
    nodeId = serializers.IntegerField(required=False)
    at = TimestampField(required=False, help_text="Envelope in force at this time (default now).")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Python keywords, so declared here rather than as class attributes.
        self.fields["from"] = TimestampField(required=False)
        self.fields["to"] = TimestampField(required=False)

    def validate(self, attrs):
        if not attrs.get("groupId") and not attrs.get("microgridId"):
            raise serializers.ValidationError({"microgridId": "Give microgridId (and nodeId) or groupId."})
        start, end = attrs.get("from"), attrs.get("to")
        if (start is None) != (end is None):
            raise serializers.ValidationError({"to" if end is None else "from": "Give both from and to."})
        if start is not None and start >= end:
            raise serializers.ValidationError({"to": "Must be after from."})
        if start is not None and "at" in attrs:
            raise serializers.ValidationError({"at": "Give either at, or from and to."})
        return attrs


class PowerSeriesQuerySerializer(serializers.Serializer):
    """``from`` and ``to`` of a group's power series: default the last and next 24 hours."""

    MAX_SPAN = timedelta(days=31)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from"] = TimestampField(required=False, help_text="Start (default 24 hours ago).")
        self.fields["to"] = TimestampField(required=False, help_text="End (default 24 hours ahead).")

    def validate(self, attrs):
        now = timezone.now()
        start = attrs.get("from") or now - timedelta(hours=24)
        end = attrs.get("to") or (start + timedelta(hours=48) if "from" in attrs else now + timedelta(hours=24))
        if start >= end:
            raise serializers.ValidationError({"to": "Must be after from."})
        if end - start > self.MAX_SPAN:
            raise serializers.ValidationError({"to": "At most 31 days after from."})
        return {"from": start, "to": end, "now": now}


class PowerLimitSerializer(serializers.Serializer):
    """Schema only: one limit of the power series."""

    quantity = serializers.ChoiceField(choices=["import", "export"])
    source = serializers.ChoiceField(choices=["forecast", "fallback"], help_text="Where the limit came from.")
    reason = serializers.CharField(help_text="forecast, protective-stop, fallback or default.")
    start = serializers.CharField(help_text=TIMESTAMP_HELP)
    end = serializers.CharField(help_text=TIMESTAMP_HELP)
    value = serializers.FloatField(help_text="kW; import positive, export negative.")
    forecastId = serializers.IntegerField(allow_null=True)


class PowerPointSerializer(serializers.Serializer):
    """Schema only: one period of measured power."""

    time = serializers.CharField(help_text="Start of the period. " + TIMESTAMP_HELP)
    value = serializers.FloatField(help_text="kW; import positive, export negative.")


class PowerSeriesSerializer(serializers.Serializer):
    """Schema only: a group's limits and measured power over time (``group_power_chart``)."""

    groupId = serializers.IntegerField()
    unit = serializers.CharField(help_text="Always kW.")
    timeZone = serializers.CharField(help_text="The platform's time zone, for display.")
    to = serializers.CharField(help_text=TIMESTAMP_HELP)
    now = serializers.CharField(help_text=TIMESTAMP_HELP)
    groupCreated = serializers.CharField(help_text="Limits start here. " + TIMESTAMP_HELP)
    limits = PowerLimitSerializer(many=True)
    measured = PowerPointSerializer(many=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from"] = serializers.CharField(help_text=TIMESTAMP_HELP)


class BlockSerializer(serializers.Serializer):
    capacity = serializers.DecimalField(max_digits=18, decimal_places=6)
    phase = serializers.ChoiceField(choices=PhaseIndicator.choices)
    unit = serializers.ChoiceField(choices=BlockUnit.choices)
    startTime = TimestampField()
    endTime = TimestampField()

    def validate(self, attrs):
        if attrs["endTime"] <= attrs["startTime"]:
            raise serializers.ValidationError({"endTime": "Must be after startTime."})
        return {
            "capacity": attrs["capacity"],
            "phase": attrs["phase"],
            "unit": attrs["unit"],
            "start_time": attrs["startTime"],
            "end_time": attrs["endTime"],
        }


class AdjustmentCreateSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ForecastType.choices)
    forecastedBlocks = BlockSerializer(many=True, allow_empty=False, max_length=MAX_BLOCKS)
    correlationId = serializers.CharField(required=False, allow_blank=True, max_length=128, default="")


class AdjustmentSerializer(serializers.ModelSerializer):
    groupId = serializers.IntegerField(source="group_id")
    requestId = serializers.CharField(source="request_id")
    correlationId = serializers.CharField(source="correlation_id")
    forecastedBlocks = serializers.JSONField(source="forecasted_blocks")
    answerForecastId = serializers.IntegerField(source="answer_id", allow_null=True)
    answeredAt = TimestampField(source="answered_at")
    created = TimestampField()

    class Meta:
        model = AdjustmentRequest
        fields = [
            "id",
            "groupId",
            "type",
            "forecastedBlocks",
            "requestId",
            "correlationId",
            "status",
            "answerForecastId",
            "answeredAt",
            "created",
        ]


class ComplianceErrorCreateSerializer(serializers.Serializer):
    message = serializers.CharField(max_length=4000)
    forecastId = serializers.IntegerField(
        required=False, help_text="The forecast that cannot be met (default: the one behind the import limit now)."
    )
    forecastedBlocks = BlockSerializer(many=True, required=False, max_length=MAX_BLOCKS)

    def __init__(self, *args, group=None, **kwargs):
        self.group = group
        super().__init__(*args, **kwargs)

    def validate_forecastId(self, value):
        forecast = Forecast.objects.filter(id=value, group=self.group).first()
        if forecast is None:
            raise serializers.ValidationError("No forecast with this id for this group.")
        return forecast


class ComplianceErrorSerializer(serializers.ModelSerializer):
    groupId = serializers.IntegerField(source="group_id")
    forecastId = serializers.IntegerField(source="forecast_id", allow_null=True)
    correlationId = serializers.CharField(source="correlation_id")
    forecastedBlocks = serializers.JSONField(source="forecasted_blocks")
    periodStart = TimestampField(source="period_start")
    periodEnd = TimestampField(source="period_end")
    measuredKw = serializers.DecimalField(source="measured_kw", max_digits=18, decimal_places=6, allow_null=True)
    limitKw = serializers.DecimalField(source="limit_kw", max_digits=18, decimal_places=6, allow_null=True)
    created = TimestampField()

    class Meta:
        model = ComplianceError
        fields = [
            "id",
            "groupId",
            "forecastId",
            "origin",
            "message",
            "correlationId",
            "forecastedBlocks",
            "periodStart",
            "periodEnd",
            "measuredKw",
            "limitKw",
            "created",
        ]


class SubscriptionSerializer(serializers.ModelSerializer):
    configId = serializers.IntegerField(source="id", read_only=True)
    groupId = serializers.PrimaryKeyRelatedField(source="group", queryset=CapacityGroup.objects.none())
    secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        min_length=16,
        max_length=256,
        help_text="HMAC-SHA256 key for X-Signature; generated when omitted; returned only on create.",
    )
    created = TimestampField(read_only=True)
    modified = TimestampField(read_only=True)

    class Meta:
        model = EnvelopeSubscription
        fields = ["configId", "groupId", "url", "secret", "enabled", "created", "modified"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None and request.user.is_authenticated:
            self.fields["groupId"].queryset = group_list(user=request.user)

    def validate_url(self, value):
        if not value.lower().startswith(("https://", "http://")):
            raise serializers.ValidationError("Must be an http(s) URL.")
        return value


class SubscriptionCreatedSerializer(SubscriptionSerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown only in this response.")
