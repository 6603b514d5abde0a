"""Management API: Capacity Providers and Capacity Optimizers (SolarUser OSCP API shape)."""

import django_filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view

from oscp_platform.viewsets import Conflict, ResponseEnvelopeViewSet

from ..choices import ConnectionState, PartnerRole, RegistrationStatus
from ..models import Partner
from ..selectors import partner_list
from ..services import PartnerInUse, partner_create, partner_delete, partner_update
from .serializers import PartnerCreatedSerializer, PartnerSerializer


class PartnerFilter(django_filters.FilterSet):
    enabled = django_filters.BooleanFilter()
    registrationStatus = django_filters.ChoiceFilter(
        field_name="registration_status", choices=RegistrationStatus.choices
    )
    connectionState = django_filters.ChoiceFilter(field_name="connection_state", choices=ConnectionState.choices)
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Partner
        fields = ["enabled", "registrationStatus", "connectionState", "name"]


def _partner_schema(label: str):
    return extend_schema_view(
        list=extend_schema(
            summary=f"List {label}s",
            description=f"The {label}s of your account; `data` is the list, the total in `X-Total-Count`.",
            responses=PartnerSerializer(many=True),
        ),
        create=extend_schema(
            summary=f"Create a {label}",
            description="The response carries the `token` the partner presents to us. It is shown only "
            "in this response. `serviceProps.oauth-client-secret` is write-only.",
            request=PartnerSerializer,
            responses={201: PartnerCreatedSerializer},
        ),
        retrieve=extend_schema(summary=f"View a {label}", responses=PartnerSerializer),
        update=extend_schema(
            summary=f"Update a {label}",
            description="A complete configuration must be given: it replaces the stored one (a service "
            "properties object without `oauth-client-secret` removes the secret).",
            request=PartnerSerializer,
            responses=PartnerSerializer,
        ),
        destroy=extend_schema(
            summary=f"Delete a {label}",
            responses={204: OpenApiResponse(description="Deleted; empty body.")},
        ),
    )


class PartnerViewSet(ResponseEnvelopeViewSet):
    role: str = ""
    queryset = Partner.objects.none()  # for the schema; get_queryset scopes to the user
    serializer_class = PartnerSerializer
    filterset_class = PartnerFilter
    http_method_names = ["get", "post", "put", "delete", "head", "options"]
    field_names = {"base_url": "baseUrl", "oscp_version": "oscpVersion", "service_props": "serviceProps"}

    def get_queryset(self):
        return partner_list(user=self.request.user, role=self.role)

    def perform_create(self, serializer) -> dict:
        partner, token = partner_create(
            owner=self.request.user, role=self.role, actor=self.request.user, **serializer.validated_data
        )
        data = dict(PartnerSerializer(partner).data)
        # The token goes right after the name, as in the SolarUser examples.
        ordered = {}
        for key, value in data.items():
            ordered[key] = value
            if key == "name":
                ordered["token"] = token
        return ordered

    def perform_update(self, serializer):
        return partner_update(partner=serializer.instance, actor=self.request.user, **serializer.validated_data)

    def perform_destroy(self, instance) -> None:
        try:
            partner_delete(partner=instance, actor=self.request.user)
        except PartnerInUse as exc:
            raise Conflict(str(exc)) from exc


@_partner_schema("Capacity Provider")
class CapacityProviderViewSet(PartnerViewSet):
    role = PartnerRole.CAPACITY_PROVIDER
    lookup_url_kwarg = "providerId"


@_partner_schema("Capacity Optimizer")
class CapacityOptimizerViewSet(PartnerViewSet):
    role = PartnerRole.CAPACITY_OPTIMIZER
    lookup_url_kwarg = "optimizerId"
