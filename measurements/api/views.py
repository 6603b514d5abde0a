from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.views import APIView

from groups.selectors import group_list
from oscp_platform.api import response_envelope, timestamp_format

from ..services import readings_store, report_send
from .serializers import DatumJSONParser, ReportSendSerializer, datum_parse


class DatumDocSerializer(serializers.Serializer):
    """Schema only: one reading in SolarNetwork's datum shape."""

    nodeId = serializers.IntegerField()  # noqa: N815
    sourceId = serializers.CharField(max_length=64)  # noqa: N815
    created = serializers.CharField(help_text="UTC timestamp (2026-11-21 10:00:00Z) or RFC 3339.")
    i = serializers.DictField(child=serializers.FloatField(), required=False, help_text="Instantaneous values.")
    a = serializers.DictField(child=serializers.FloatField(), required=False, help_text="Accumulating values.")


class DatumView(APIView):
    parser_classes = [DatumJSONParser]

    @extend_schema(
        request=DatumDocSerializer(many=True),
        responses=inline_serializer("Stored", {"stored": serializers.IntegerField()}),
        summary="Store up to 10,000 readings (all or nothing; same stream and time replaces).",
    )
    def post(self, request):
        readings = datum_parse(request.data)
        stored = readings_store(owner=request.user, readings=readings)
        return response_envelope({"stored": stored})


class ReportSendView(APIView):
    @extend_schema(
        request=ReportSendSerializer,
        responses=inline_serializer(
            "ReportSentData",
            {
                "sent": serializers.BooleanField(),
                "messageType": serializers.CharField(),
                "messageId": serializers.IntegerField(allow_null=True),
                "requestId": serializers.CharField(allow_null=True),
                "periodStart": serializers.CharField(),
                "measurements": serializers.IntegerField(),
                "detail": serializers.CharField(),
            },
        ),
        summary="(Re)send the group's measurement report for one period to an audience.",
    )
    def post(self, request, group_id: int):
        group = get_object_or_404(group_list(user=request.user), id=group_id)
        serializer = ReportSendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        message, report = report_send(
            group=group,
            audience=serializer.validated_data["audience"],
            period_start=serializer.validated_data["periodStart"],
            now=timezone.now(),
        )
        return response_envelope(
            {
                "sent": message is not None,
                "messageType": report.message_type,
                "messageId": message.id if message else None,
                "requestId": message.request_id if message else None,
                "periodStart": timestamp_format(serializer.validated_data["periodStart"]),
                "measurements": report.entries,
                "detail": report.detail,
            }
        )
