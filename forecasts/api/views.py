"""Management API: operating envelopes, envelope webhooks, adjustments and compliance errors.
Thin views: validation in serializers, reads in selectors, writes in services."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound, ValidationError

from groups.models import CapacityGroup
from groups.selectors import group_list
from oscp_platform.api import TIMESTAMP_HELP, ResponseEnvelopeMixin, ResponseEnvelopePagination, response_envelope

from .. import compliance, selectors, services
from ..choices import Quantity
from ..models import AdjustmentRequest, ComplianceError, EnvelopeSubscription
from .serializers import (
    AdjustmentCreateSerializer,
    AdjustmentSerializer,
    ComplianceErrorCreateSerializer,
    ComplianceErrorSerializer,
    EnvelopeQuerySerializer,
    PowerSeriesQuerySerializer,
    PowerSeriesSerializer,
    SubscriptionCreatedSerializer,
    SubscriptionSerializer,
)

ENVELOPE_PARAMS = [
    OpenApiParameter("microgridId", str, description="Internal target: microgrid id."),
    OpenApiParameter("nodeId", int, description="Internal target: node id."),
    OpenApiParameter("groupId", int, description="Pick one group when the binding names several."),
    OpenApiParameter("at", str, description="Envelope in force at this time (default now)."),
    OpenApiParameter("from", str, description="Range form: start of the schedule (with to)."),
    OpenApiParameter("to", str, description="Range form: end of the schedule (with from)."),
]


def _schema_only(view) -> bool:
    return getattr(view, "swagger_fake_view", False)


def _owned_group(request, group_id) -> CapacityGroup:
    return get_object_or_404(group_list(user=request.user).select_related("capacity_provider"), id=group_id)


class EnvelopeView(generics.GenericAPIView):
    """The operating envelope of an internal target: in force at a time, or the schedule over a
    range (``from``, ``to``; paged with ``offset``/``max``)."""

    serializer_class = EnvelopeQuerySerializer
    pagination_class = ResponseEnvelopePagination

    @extend_schema(parameters=ENVELOPE_PARAMS, responses=OpenApiTypes.OBJECT)
    def get(self, request):
        query = EnvelopeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        groups = group_list(user=request.user)
        if params.get("groupId"):
            groups = groups.filter(id=params["groupId"])
        if params.get("microgridId"):
            groups = groups.filter(microgrid_id=params["microgridId"])
        if "nodeId" in params:
            groups = groups.filter(node_id=params["nodeId"])
        found = list(groups.select_related("capacity_provider")[:2])
        if not found:
            raise NotFound("No capacity group in your account is bound to this target.")
        if len(found) > 1:
            raise ValidationError({"groupId": "Several groups are bound to this target: give groupId."})
        group = found[0]
        if params.get("from") is None:
            return response_envelope(selectors.envelope_in_force(group=group, at=params.get("at") or timezone.now()))
        pieces = selectors.envelope_pieces(group=group, start=params["from"], end=params["to"])
        rows = [
            {"groupId": group.id, "microgridId": group.microgrid_id, "nodeId": group.node_id}
            | selectors.limit_dict(piece, quantity)
            for quantity in Quantity.values
            for piece in pieces[quantity]
        ]
        rows.sort(key=lambda row: (row["start"], row["quantity"], row["phase"]))
        return self.get_paginated_response(self.paginate_queryset(rows))


class PowerSeriesView(generics.GenericAPIView):
    """A group's import and export limits and its measured power over time, in kW (what the
    admin's group chart draws)."""

    serializer_class = PowerSeriesSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("from", str, description="Start (default 24 hours ago). " + TIMESTAMP_HELP),
            OpenApiParameter("to", str, description="End (default 24 hours ahead; at most 31 days). " + TIMESTAMP_HELP),
        ],
        responses=PowerSeriesSerializer,
    )
    def get(self, request, group_id):
        group = _owned_group(request, group_id)
        query = PowerSeriesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        window = query.validated_data
        return response_envelope(
            selectors.group_power_chart(group=group, start=window["from"], end=window["to"], now=window["now"])
        )


class SubscriptionListView(ResponseEnvelopeMixin, generics.ListCreateAPIView):
    serializer_class = SubscriptionSerializer

    def get_queryset(self) -> QuerySet[EnvelopeSubscription]:
        if _schema_only(self):
            return EnvelopeSubscription.objects.none()
        return selectors.subscription_list(user=self.request.user).order_by("id")

    @extend_schema(responses={201: SubscriptionCreatedSerializer})
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscription, secret = services.subscription_create(**serializer.validated_data)
        data = SubscriptionSerializer(subscription).data | {"secret": secret}
        return response_envelope(data, status=201)


class SubscriptionDetailView(ResponseEnvelopeMixin, generics.RetrieveUpdateDestroyAPIView):
    serializer_class = SubscriptionSerializer
    lookup_url_kwarg = "subscription_id"

    def get_queryset(self) -> QuerySet[EnvelopeSubscription]:
        if _schema_only(self):
            return EnvelopeSubscription.objects.none()
        return selectors.subscription_list(user=self.request.user)

    def update(self, request, *args, **kwargs):
        subscription = self.get_object()
        serializer = self.get_serializer(subscription, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        subscription = services.subscription_update(subscription=subscription, **serializer.validated_data)
        return response_envelope(self.get_serializer(subscription).data)

    def destroy(self, request, *args, **kwargs):
        services.subscription_delete(subscription=self.get_object())
        return response_envelope(None)


class AdjustView(ResponseEnvelopeMixin, generics.ListCreateAPIView):
    """Ask the group's Capacity Provider for different limits; list the group's requests."""

    serializer_class = AdjustmentSerializer

    def get_queryset(self) -> QuerySet[AdjustmentRequest]:
        if _schema_only(self):
            return AdjustmentRequest.objects.none()
        return AdjustmentRequest.objects.filter(group=_owned_group(self.request, self.kwargs["group_id"]))

    @extend_schema(request=AdjustmentCreateSerializer, responses={201: AdjustmentSerializer})
    def post(self, request, group_id):
        group = _owned_group(request, group_id)
        serializer = AdjustmentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        adjustment = services.adjustment_request(
            group=group,
            forecast_type=data["type"],
            blocks=data["forecastedBlocks"],
            correlation_id=data["correlationId"],
            requested_by=request.user,
        )
        return response_envelope(AdjustmentSerializer(adjustment).data, status=201)


class ComplianceErrorView(ResponseEnvelopeMixin, generics.ListCreateAPIView):
    """Tell the group's Capacity Provider a forecast cannot be met; list the group's errors."""

    serializer_class = ComplianceErrorSerializer

    def get_queryset(self) -> QuerySet[ComplianceError]:
        if _schema_only(self):
            return ComplianceError.objects.none()
        return ComplianceError.objects.filter(group=_owned_group(self.request, self.kwargs["group_id"]))

    @extend_schema(request=ComplianceErrorCreateSerializer, responses={201: ComplianceErrorSerializer})
    def post(self, request, group_id):
        group = _owned_group(request, group_id)
        serializer = ComplianceErrorCreateSerializer(data=request.data, group=group)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        forecast = data.get("forecastId") or selectors.forecast_in_force(group=group, at=timezone.now())
        if forecast is None:
            raise ValidationError({"forecastId": "No forecast is in force for this group: name the forecast."})
        error = compliance.compliance_error_raise(
            group=group,
            forecast=forecast,
            message=data["message"],
            blocks=data.get("forecastedBlocks"),
            raised_by=request.user,
        )
        return response_envelope(ComplianceErrorSerializer(error).data, status=201)
