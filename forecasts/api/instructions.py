"""SolarUser instruction API for OSCP (seed 002): ``POST instr/add/OSCP_v20`` (or ``instr/add``
with ``topic``) asks us to send an OSCP message to a group's Capacity Provider as its Capacity
Optimizer; ``GET instr/view?id=`` shows the instruction and its state. Thin views: validation in
``instruction_serializers``, the write in ``forecasts.instructions.instruction_add``."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.views import APIView

from oscp_platform.api import response_envelope
from oscp_platform.parsing import StrictJSONParser

from ..instructions import instruction_add
from ..selectors import instruction_list
from .instruction_serializers import (
    InstructionAddSerializer,
    InstructionQuerySerializer,
    InstructionSerializer,
    instruction_input,
)


class InstructionAddView(APIView):
    """Queue an OSCP message (action AdjustGroupCapacityForecast, GroupCapacityComplianceError or
    Handshake) to the Capacity Provider of the group ``params.cgIdentifier``. JSON or form encoded;
    a long ``params.msg`` may come in several parts, joined in order."""

    parser_classes = [StrictJSONParser, FormParser, MultiPartParser]

    @extend_schema(
        operation_id="instruction_add",
        request=InstructionAddSerializer,
        responses=InstructionSerializer,
    )
    def post(self, request, topic: str | None = None):
        data = instruction_input(data=request.data, query=request.query_params, topic=topic)
        serializer = InstructionAddSerializer(data=data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        try:
            instruction = instruction_add(owner=request.user, **serializer.validated_data)
        except DjangoValidationError as exc:
            # The group's provider cannot take this message now (disabled, not registered).
            problems = [f"The group's Capacity Provider: {text}" for text in exc.messages]
            raise ValidationError({"params": {"cgIdentifier": problems}}) from exc
        return response_envelope(InstructionSerializer(instruction).data)


class InstructionAddTopicView(InstructionAddView):
    @extend_schema(
        operation_id="instruction_add_topic",
        request=InstructionAddSerializer,
        responses=InstructionSerializer,
    )
    def post(self, request, topic: str | None = None):
        return super().post(request, topic=topic)


class InstructionDetailView(APIView):
    @extend_schema(
        operation_id="instruction_view",
        parameters=[OpenApiParameter("id", int, required=True, description="The instruction id.")],
        responses=InstructionSerializer,
    )
    def get(self, request):
        query = InstructionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        instruction = get_object_or_404(
            instruction_list(user=request.user).select_related("message"), id=query.validated_data["id"]
        )
        return response_envelope(InstructionSerializer(instruction).data)
