"""Management API: Capacity Groups and Assets (SolarUser OSCP API shape)."""

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view

from oscp_platform.viewsets import ResponseEnvelopeViewSet

from ..choices import AssetCategory, Audience, GroupMode
from ..models import Asset, CapacityGroup
from ..selectors import asset_list, group_list
from ..services import asset_create, asset_delete, asset_update, group_create, group_delete, group_update
from .serializers import AssetSerializer, CapacityGroupSerializer


class CapacityGroupFilter(django_filters.FilterSet):
    enabled = django_filters.BooleanFilter()
    identifier = django_filters.CharFilter()
    capacityProviderId = django_filters.NumberFilter(field_name="capacity_provider_id")
    capacityOptimizerId = django_filters.NumberFilter(field_name="capacity_optimizer_id")
    microgridId = django_filters.CharFilter(field_name="microgrid_id")
    mode = django_filters.ChoiceFilter(choices=GroupMode.choices)

    class Meta:
        model = CapacityGroup
        fields = ["enabled", "identifier", "capacityProviderId", "capacityOptimizerId", "microgridId", "mode"]


class AssetFilter(django_filters.FilterSet):
    enabled = django_filters.BooleanFilter()
    identifier = django_filters.CharFilter()
    capacityGroupId = django_filters.NumberFilter(field_name="group_id")
    audience = django_filters.ChoiceFilter(choices=Audience.choices)
    category = django_filters.ChoiceFilter(choices=AssetCategory.choices)
    nodeId = django_filters.NumberFilter(field_name="node_id")
    sourceId = django_filters.CharFilter(field_name="source_id")

    class Meta:
        model = Asset
        fields = ["enabled", "identifier", "capacityGroupId", "audience", "category", "nodeId", "sourceId"]


_DELETED = {204: OpenApiResponse(description="Deleted; empty body.")}


@extend_schema_view(
    list=extend_schema(
        summary="List Capacity Groups",
        description="The groups of your account; `data` is the list, the total in `X-Total-Count`.",
        responses=CapacityGroupSerializer(many=True),
    ),
    create=extend_schema(
        summary="Create a Capacity Group",
        request=CapacityGroupSerializer,
        responses={201: CapacityGroupSerializer},
    ),
    retrieve=extend_schema(summary="View a Capacity Group", responses=CapacityGroupSerializer),
    update=extend_schema(
        summary="Update a Capacity Group",
        description="A complete configuration must be given: it replaces the stored one.",
        request=CapacityGroupSerializer,
        responses=CapacityGroupSerializer,
    ),
    destroy=extend_schema(summary="Delete a Capacity Group (and its assets)", responses=_DELETED),
)
class CapacityGroupViewSet(ResponseEnvelopeViewSet):
    queryset = CapacityGroup.objects.none()  # for the schema; get_queryset scopes to the user
    serializer_class = CapacityGroupSerializer
    filterset_class = CapacityGroupFilter
    lookup_url_kwarg = "groupId"
    http_method_names = ["get", "post", "put", "delete", "head", "options"]
    field_names = {
        "capacity_provider": "capacityProviderId",
        "capacity_optimizer": "capacityOptimizerId",
        "capacity_optimizer_measurement_period": "capacityOptimizerMeasurementPeriod",
        "fallback_import_kw": "fallbackImportKw",
        "fallback_export_kw": "fallbackExportKw",
    }

    def get_queryset(self):
        return group_list(user=self.request.user)

    def perform_create(self, serializer) -> dict:
        group = group_create(owner=self.request.user, actor=self.request.user, **serializer.validated_data)
        return CapacityGroupSerializer(group).data

    def perform_update(self, serializer):
        return group_update(group=serializer.instance, actor=self.request.user, **serializer.validated_data)

    def perform_destroy(self, instance) -> None:
        group_delete(group=instance, actor=self.request.user)


@extend_schema_view(
    list=extend_schema(
        summary="List Assets",
        description="The assets of your account; `data` is the list, the total in `X-Total-Count`.",
        responses=AssetSerializer(many=True),
    ),
    create=extend_schema(summary="Create an Asset", request=AssetSerializer, responses={201: AssetSerializer}),
    retrieve=extend_schema(summary="View an Asset", responses=AssetSerializer),
    update=extend_schema(
        summary="Update an Asset",
        description="A complete configuration must be given: it replaces the stored one.",
        request=AssetSerializer,
        responses=AssetSerializer,
    ),
    destroy=extend_schema(summary="Delete an Asset", responses=_DELETED),
)
class AssetViewSet(ResponseEnvelopeViewSet):
    queryset = Asset.objects.none()  # for the schema; get_queryset scopes to the user
    serializer_class = AssetSerializer
    filterset_class = AssetFilter
    lookup_url_kwarg = "assetId"
    http_method_names = ["get", "post", "put", "delete", "head", "options"]
    field_names = {"group": "capacityGroupId", "node_id": "nodeId", "source_id": "sourceId"}

    def get_queryset(self):
        return asset_list(user=self.request.user)

    def perform_create(self, serializer) -> dict:
        asset = asset_create(actor=self.request.user, **serializer.validated_data)
        return AssetSerializer(asset).data

    def perform_update(self, serializer):
        return asset_update(asset=serializer.instance, actor=self.request.user, **serializer.validated_data)

    def perform_destroy(self, instance) -> None:
        asset_delete(asset=instance, actor=self.request.user)


@extend_schema_view(
    list=extend_schema(
        summary="List the Assets of a Capacity Group",
        responses=AssetSerializer(many=True),
    ),
)
class GroupAssetViewSet(ResponseEnvelopeViewSet):
    """``capacity-groups/{groupId}/assets``: another account's group (or none) is a 404."""

    queryset = Asset.objects.none()
    serializer_class = AssetSerializer
    filterset_class = AssetFilter
    http_method_names = ["get", "head", "options"]

    def get_queryset(self):
        return asset_list(user=self.request.user)

    def list(self, request, *args, **kwargs):
        get_object_or_404(group_list(user=request.user), pk=kwargs["groupId"])
        return super().list(request, *args, **kwargs)

    def filter_queryset(self, queryset):
        return super().filter_queryset(queryset).filter(group_id=self.kwargs["groupId"])
