"""OCPI 2.2.1 wire objects, validated field by field (errors name the field; OCPI status 2001)."""

from rest_framework import serializers

from ..choices import InterfaceRole, OcpiRole

COUNTRY_CODE = r"^[A-Z]{2}$"
PARTY_ID = r"^[A-Z0-9]{3}$"


class CiStringField(serializers.CharField):
    """OCPI CiString/string(n): printable ASCII, length capped."""

    def __init__(self, max_length: int, **kwargs):
        super().__init__(max_length=max_length, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not value.isascii() or not value.isprintable():
            raise serializers.ValidationError("Only printable ASCII characters are allowed.")
        return value


class ImageSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=255)
    thumbnail = serializers.URLField(max_length=255, required=False)
    category = serializers.ChoiceField(["CHARGER", "ENTRANCE", "LOCATION", "NETWORK", "OPERATOR", "OTHER", "OWNER"])
    type = CiStringField(4)
    width = serializers.IntegerField(min_value=0, max_value=99999, required=False)
    height = serializers.IntegerField(min_value=0, max_value=99999, required=False)


class BusinessDetailsSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    website = serializers.URLField(max_length=255, required=False)
    logo = ImageSerializer(required=False)


class CredentialsRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(OcpiRole.choices)
    business_details = BusinessDetailsSerializer()
    party_id = serializers.RegexField(PARTY_ID, error_messages={"invalid": "Three characters A-Z or 0-9."})
    country_code = serializers.RegexField(COUNTRY_CODE, error_messages={"invalid": "ISO 3166 alpha-2, upper case."})


class CredentialsSerializer(serializers.Serializer):
    token = CiStringField(64)
    url = serializers.URLField(max_length=255)
    roles = CredentialsRoleSerializer(many=True, allow_empty=False)


class VersionSerializer(serializers.Serializer):
    version = serializers.CharField(max_length=8)
    url = serializers.URLField(max_length=255)


class EndpointSerializer(serializers.Serializer):
    identifier = serializers.CharField(max_length=32)
    role = serializers.ChoiceField(InterfaceRole.choices)
    url = serializers.URLField(max_length=255)


class VersionDetailsSerializer(serializers.Serializer):
    version = serializers.CharField(max_length=8)
    endpoints = EndpointSerializer(many=True)
