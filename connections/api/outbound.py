"""Management API for what the outbound side starts: register with a partner, start a handshake,
retry a dead message. Thin views over connections.outbound / connections.outbox services."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from oscp_platform.api import TimestampField, response_envelope

from ..models import Message, Partner
from ..outbox import message_retry
from ..selectors import outbound_message_list, partner_list


@extend_schema_field(OpenApiTypes.STR)
class Timestamp(TimestampField):
    """``2022-09-08 22:54:31.746647Z`` (typed for the schema)."""


class OutboundMessageSerializer(serializers.ModelSerializer):
    messageType = serializers.CharField(source="message_type")  # noqa: N815 - SolarUser names
    requestId = serializers.CharField(source="request_id")  # noqa: N815
    correlationId = serializers.CharField(source="correlation_id")  # noqa: N815
    nextAttemptAt = Timestamp(source="next_attempt_at")  # noqa: N815
    deadline = Timestamp()
    created = Timestamp()

    class Meta:
        model = Message
        fields = ["id", "messageType", "requestId", "correlationId", "status", "attempts", "nextAttemptAt", "deadline"]
        fields += ["error", "created"]
        read_only_fields = fields


class PartnerActionSerializer(serializers.Serializer):
    configId = serializers.IntegerField(source="partner.id")  # noqa: N815
    registrationStatus = serializers.CharField(source="partner.registration_status")  # noqa: N815
    connectionState = serializers.CharField(source="partner.connection_state")  # noqa: N815
    message = OutboundMessageSerializer()


def _partner(request, role: str, pk: int) -> Partner:
    return get_object_or_404(partner_list(user=request.user, role=role), pk=pk)


def _acted(partner: Partner, message: Message):
    partner.refresh_from_db()
    return response_envelope(PartnerActionSerializer({"partner": partner, "message": message}).data)


_action_schema = extend_schema(request=None, responses={200: PartnerActionSerializer}, tags=["outbound"])


# We act on one of the user's partners of ``role``: ``service`` is ``partner_register`` or
# ``partner_handshake_start``, set per URL (no docstring: it would become the schema's description).
class PartnerActionView(APIView):
    role: str = ""
    service = None

    @_action_schema
    def post(self, request, pk: int):
        partner = _partner(request, self.role, pk)
        return _acted(partner, self.service(partner=partner))


class MessageRetryView(APIView):
    @extend_schema(
        request=None,
        responses={200: inline_serializer("MessageRetryResult", {"message": OutboundMessageSerializer()})},
        summary="Send a dead outbound message again",
        tags=["outbound"],
    )
    def post(self, request, pk: int):
        message = get_object_or_404(outbound_message_list(user=request.user), pk=pk)
        message = message_retry(message=message)
        return response_envelope({"message": OutboundMessageSerializer(message).data})
