"""Management API bodies: the OCPI 2.2.1 object as internal systems send it (validated field by
field), plus our id (``configId``) and, for a location, the capacity group that supplies it."""

from rest_framework import serializers

from ..choices import EvseStatus
from ..ocpi.serializers import LocationSerializer, TariffSerializer


class LocationBodySerializer(LocationSerializer):
    capacityGroupId = serializers.IntegerField(required=False, allow_null=True)  # noqa: N815


class EvseStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(EvseStatus.choices)


class TariffBodySerializer(TariffSerializer):
    pass
