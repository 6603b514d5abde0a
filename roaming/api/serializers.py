"""Management API bodies: the OCPI 2.2.1 object as internal systems send it (validated field by
field), plus our id (``configId``) and, for a location, the capacity group that supplies it."""

from rest_framework import serializers

from ..choices import AllowedType, AuthorizationSource, EvseStatus, TokenType, WhitelistType
from ..ocpi.objects import token_wire
from ..ocpi.serializers import UID, DisplayTextSerializer, LocationSerializer, TariffSerializer


class LocationBodySerializer(LocationSerializer):
    capacityGroupId = serializers.IntegerField(required=False, allow_null=True)  # noqa: N815


class EvseStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(EvseStatus.choices)


class TariffBodySerializer(TariffSerializer):
    pass


class TokenShownSerializer(serializers.Serializer):
    """A token an eMSP pushed to us: our id, the partner's, and the OCPI Token as it sent it."""

    configId = serializers.IntegerField(source="id")  # noqa: N815
    partnerId = serializers.IntegerField(source="partner_id")  # noqa: N815
    country_code = serializers.CharField()
    party_id = serializers.CharField()
    uid = serializers.CharField()
    type = serializers.ChoiceField(TokenType.choices)
    contract_id = serializers.CharField()
    valid = serializers.BooleanField()
    whitelist = serializers.ChoiceField(WhitelistType.choices)
    last_updated = serializers.CharField(help_text="OCPI DateTime, e.g. 2015-06-29T20:39:09.123Z")

    def to_representation(self, instance):
        return {"configId": instance.id, "partnerId": instance.partner_id, **token_wire(instance)}


class AuthorizeRequestSerializer(serializers.Serializer):
    """May this token charge here? ``locationId`` is the OCPI id of one of your locations."""

    uid = serializers.RegexField(UID, help_text="The token's uid, as read at the charger.")
    type = serializers.ChoiceField(TokenType.choices, default=TokenType.RFID)
    locationId = serializers.RegexField(UID, help_text="The OCPI id of the location.")  # noqa: N815
    evseUids = serializers.ListField(  # noqa: N815
        child=serializers.RegexField(UID), required=False, help_text="EVSEs of the location the driver may use."
    )


class AuthorizeAnswerSerializer(serializers.Serializer):
    """The decision: ``authorized`` is true only when ``allowed`` is ALLOWED; ``source`` says who
    decided (the eMSP, the stored token's whitelist rule, or refused without asking)."""

    authorized = serializers.BooleanField()
    allowed = serializers.ChoiceField(AllowedType.choices)
    source = serializers.ChoiceField(AuthorizationSource.choices)
    reason = serializers.CharField()
    authorizationReference = serializers.CharField(allow_null=True)  # noqa: N815
    info = DisplayTextSerializer(allow_null=True)
    tokenConfigId = serializers.IntegerField(allow_null=True)  # noqa: N815
    partnerId = serializers.IntegerField(allow_null=True)  # noqa: N815
    whitelist = serializers.ChoiceField(WhitelistType.choices, allow_null=True)
    locationId = serializers.CharField()  # noqa: N815
    evseUids = serializers.ListField(child=serializers.CharField())  # noqa: N815
