"""Management API: the message log (``GET .../oscp/messages``), scoped to the caller's partners."""

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers

from connections.choices import MessageDirection, MessageStatus
from connections.models import DeliveryAttempt, Message
from connections.selectors import message_list
from oscp_platform.api import TIMESTAMP_HELP, ResponseEnvelopeMixin, TimestampField, timestamp_parse


@extend_schema_field(OpenApiTypes.STR)
class _Timestamp(TimestampField):
    pass


class MessageSerializer(serializers.ModelSerializer):
    """A message log row. Bodies and headers are stored masked; the sealed body never leaves."""

    partnerId = serializers.IntegerField(source="partner_id", allow_null=True)
    groupId = serializers.IntegerField(source="group_id", allow_null=True)
    messageType = serializers.CharField(source="message_type")
    requestId = serializers.CharField(source="request_id")
    correlationId = serializers.CharField(source="correlation_id")
    httpStatus = serializers.IntegerField(source="http_status", allow_null=True)
    durationMs = serializers.IntegerField(source="duration_ms", allow_null=True)
    created = _Timestamp(help_text=TIMESTAMP_HELP)
    completedAt = _Timestamp(source="completed_at", allow_null=True, help_text=TIMESTAMP_HELP)
    headers = serializers.JSONField()
    body = serializers.JSONField(allow_null=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "created",
            "completedAt",
            "direction",
            "messageType",
            "partnerId",
            "groupId",
            "requestId",
            "correlationId",
            "status",
            "httpStatus",
            "url",
            "headers",
            "body",
            "error",
            "attempts",
            "durationMs",
        ]
        read_only_fields = fields


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    attemptedAt = _Timestamp(source="attempted_at", help_text=TIMESTAMP_HELP)
    httpStatus = serializers.IntegerField(source="http_status", allow_null=True)
    durationMs = serializers.IntegerField(source="duration_ms", allow_null=True)

    class Meta:
        model = DeliveryAttempt
        fields = ["number", "attemptedAt", "outcome", "httpStatus", "durationMs", "error"]
        read_only_fields = fields


class MessageDetailSerializer(MessageSerializer):
    """A message log row with each try at sending it, oldest first (outbound rows only)."""

    deliveryAttempts = DeliveryAttemptSerializer(source="delivery_attempts", many=True, read_only=True)

    class Meta(MessageSerializer.Meta):
        fields = [*MessageSerializer.Meta.fields, "deliveryAttempts"]
        read_only_fields = fields


class TimestampFilter(django_filters.CharFilter):
    """``2022-09-08 22:54:31Z`` (fractions optional) or RFC 3339."""

    def __init__(self, *args, lookup: str, **kwargs):
        super().__init__(*args, method=self.apply, help_text=TIMESTAMP_HELP, **kwargs)
        self.lookup = lookup

    def apply(self, queryset, name, value):
        moment = timestamp_parse(value)
        if moment is None:
            raise serializers.ValidationError({self.field_name: "Expected a UTC timestamp like 2022-09-08 22:54:31Z."})
        return queryset.filter(**{f"created__{self.lookup}": moment})


class MessageFilter(django_filters.FilterSet):
    partner = django_filters.NumberFilter(field_name="partner_id", help_text="Partner configId.")
    group = django_filters.NumberFilter(field_name="group_id", help_text="Capacity Group configId.")
    type = django_filters.CharFilter(field_name="message_type", help_text="OSCP message name, e.g. heartbeat.")
    direction = django_filters.ChoiceFilter(choices=MessageDirection.choices)
    status = django_filters.ChoiceFilter(choices=MessageStatus.choices)
    requestId = django_filters.CharFilter(field_name="request_id")
    since = TimestampFilter(lookup="gte")
    until = TimestampFilter(lookup="lt")

    class Meta:
        model = Message
        fields = []


def messages_for(user):
    if not user.is_authenticated:  # schema generation
        return Message.objects.none()
    return message_list(user=user)


@extend_schema(tags=["Messages"], summary="List the message log (newest first)")
class MessageListView(ResponseEnvelopeMixin, generics.ListAPIView):
    serializer_class = MessageSerializer
    filterset_class = MessageFilter

    def get_queryset(self):
        return messages_for(self.request.user)


@extend_schema(tags=["Messages"], summary="View one message log row, with its delivery attempts")
class MessageDetailView(ResponseEnvelopeMixin, generics.RetrieveAPIView):
    serializer_class = MessageDetailSerializer

    def get_queryset(self):
        return messages_for(self.request.user)
