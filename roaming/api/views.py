"""Management API: locations (with EVSEs and connectors) and tariffs, which we send to roaming
partners; the tokens eMSPs pushed to us. Writes go through ``roaming.services``, which push each
change to the partners."""

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, viewsets
from rest_framework.decorators import action

from groups.models import CapacityGroup
from oscp_platform.api import ResponseEnvelopeMixin, response_envelope
from oscp_platform.viewsets import ResponseEnvelopeViewSet

from ..authorization import token_authorize
from ..choices import TokenType, WhitelistType
from ..models import Evse, Location, Tariff, Token
from ..ocpi.objects import location_wire, tariff_wire
from ..selectors import tokens_of
from ..services import evse_status_set, location_save, tariff_save
from .serializers import (
    AuthorizeAnswerSerializer,
    AuthorizeRequestSerializer,
    EvseStatusSerializer,
    LocationBodySerializer,
    TariffBodySerializer,
    TokenShownSerializer,
)


def _shown_location(location: Location) -> dict:
    return {"configId": location.id, "capacityGroupId": location.capacity_group_id, **location_wire(location)}


def _shown_tariff(tariff: Tariff) -> dict:
    return {"configId": tariff.id, **tariff_wire(tariff)}


class _Shown:
    """The body serializer validates; what is shown is the stored object as OCPI sends it."""

    shown = staticmethod(lambda obj: obj)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([self.shown(obj) for obj in page])

    def retrieve(self, request, *args, **kwargs):
        return response_envelope(self.shown(self.get_object()))

    def update(self, request, *args, **kwargs):
        instance = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return response_envelope(self.shown(self.perform_update(serializer, instance)))

    def perform_destroy(self, instance) -> None:
        raise exceptions.MethodNotAllowed(
            "DELETE", detail="Not deleted: OCPI objects are retired (EVSE status REMOVED)."
        )

    def _unique(self, model, data, instance=None):
        clash = model.objects.filter(country_code=data["country_code"], party_id=data["party_id"], ocpi_id=data["id"])
        if instance is not None:
            clash = clash.exclude(id=instance.id)
        if clash.exists():
            raise exceptions.ValidationError({"id": "Already used for this country_code and party_id."})


class LocationViewSet(_Shown, ResponseEnvelopeViewSet):
    serializer_class = LocationBodySerializer
    shown = staticmethod(_shown_location)

    queryset = Location.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Location.objects.none()
        return Location.objects.filter(owner=self.request.user).prefetch_related("evses").order_by("id")

    def _group(self, data):
        group_id = data.pop("capacityGroupId", None)
        if group_id is None:
            return None
        group = CapacityGroup.objects.filter(owner=self.request.user, id=group_id).first()
        if group is None:
            raise exceptions.ValidationError({"capacityGroupId": "Unknown capacity group."})
        return group

    def perform_create(self, serializer) -> dict:
        data = dict(serializer.data)
        self._unique(Location, data)
        group = self._group(data)
        return _shown_location(location_save(owner=self.request.user, data=data, capacity_group=group))

    def perform_update(self, serializer, instance):
        data = dict(serializer.data)
        self._unique(Location, data, instance)
        group = self._group(data)
        return location_save(owner=self.request.user, data=data, capacity_group=group, location=instance)

    @action(
        detail=True, methods=["patch"], url_path=r"evses/(?P<evse_uid>[^/]+)", serializer_class=EvseStatusSerializer
    )
    def evse(self, request, pk=None, evse_uid=None):
        location = self.get_object()
        get_object_or_404(Evse, location=location, uid=evse_uid)
        serializer = EvseStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        evse_status_set(location=location, uid=evse_uid, status=serializer.validated_data["status"])
        return response_envelope(_shown_location(self.get_queryset().get(id=location.id)))


class TariffViewSet(_Shown, ResponseEnvelopeViewSet):
    serializer_class = TariffBodySerializer
    shown = staticmethod(_shown_tariff)

    queryset = Tariff.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Tariff.objects.none()
        return Tariff.objects.filter(owner=self.request.user).order_by("id")

    def perform_create(self, serializer) -> dict:
        data = dict(serializer.data)
        self._unique(Tariff, data)
        return _shown_tariff(tariff_save(owner=self.request.user, data=data))

    def perform_update(self, serializer, instance):
        data = dict(serializer.data)
        self._unique(Tariff, data, instance)
        return tariff_save(owner=self.request.user, data=data, tariff=instance)


class TokenFilter(django_filters.FilterSet):
    partnerId = django_filters.NumberFilter(field_name="partner_id", help_text="Roaming partner id.")
    uid = django_filters.CharFilter()
    type = django_filters.ChoiceFilter(choices=TokenType.choices)
    countryCode = django_filters.CharFilter(field_name="country_code")
    partyId = django_filters.CharFilter(field_name="party_id")
    contractId = django_filters.CharFilter(field_name="contract_id")
    valid = django_filters.BooleanFilter()
    whitelist = django_filters.ChoiceFilter(choices=WhitelistType.choices)

    class Meta:
        model = Token
        fields = ["partnerId", "uid", "type", "countryCode", "partyId", "contractId", "valid", "whitelist"]


class TokenViewSet(ResponseEnvelopeMixin, viewsets.GenericViewSet):
    """The tokens the account's eMSPs pushed to us: list (filtered, paged) and view; and the
    real-time authorization of a token at one of the account's locations."""

    serializer_class = TokenShownSerializer
    filterset_class = TokenFilter
    lookup_value_regex = r"\d+"
    queryset = Token.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Token.objects.none()
        return tokens_of(owner=self.request.user).order_by("id")

    @extend_schema(
        summary="May this token charge here? (real-time authorization)",
        description="Asks the token's eMSP (OCPI real-time authorization, short timeout); when it does not "
        "answer in time or errs, the stored token's whitelist rule decides. `source` says which it was.",
        request=AuthorizeRequestSerializer,
        responses=AuthorizeAnswerSerializer,
    )
    @action(detail=False, methods=["post"], serializer_class=AuthorizeRequestSerializer, filterset_class=None)
    def authorize(self, request):
        serializer = AuthorizeRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        asked = serializer.validated_data
        locations = list(Location.objects.filter(owner=request.user, ocpi_id=asked["locationId"]).order_by("id")[:2])
        if len(locations) != 1:
            problem = "Unknown location." if not locations else "Several of your locations have this id."
            raise exceptions.ValidationError({"locationId": problem})
        location, evse_uids = locations[0], asked.get("evseUids", [])
        unknown = sorted(set(evse_uids) - set(location.evses.values_list("uid", flat=True)))
        if unknown:
            raise exceptions.ValidationError({"evseUids": f"Not EVSEs of this location: {', '.join(unknown)}."})
        decision = token_authorize(
            owner=request.user, uid=asked["uid"], token_type=asked["type"], location=location, evse_uids=evse_uids
        )
        token = decision.token
        return response_envelope(
            {
                "authorized": decision.authorized,
                "allowed": decision.allowed,
                "source": decision.source,
                "reason": decision.reason,
                "authorizationReference": decision.authorization_reference,
                "info": decision.info,
                "tokenConfigId": token.id if token else None,
                "partnerId": token.partner_id if token else None,
                "whitelist": token.whitelist if token else None,
                "locationId": location.ocpi_id,
                "evseUids": decision.evse_uids or evse_uids,
            }
        )
