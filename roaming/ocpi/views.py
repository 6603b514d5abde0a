"""OCPI 2.2.1 endpoints (we are the CPO): versions, details, credentials, hubclientinfo. Thin: they
validate the wire object, call a service, and answer in the OCPI envelope."""

import logging
import re
import uuid

from django.conf import settings
from django.utils.dateparse import parse_datetime
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from oscp_platform.crypto import token_digest
from oscp_platform.parsing import StrictJSONParser

from ..choices import RoamingState
from ..selectors import locations_for_partner, tariffs_for_partner, token_of_partner, token_parties_of
from ..services import (
    RoamingError,
    credentials_delete,
    credentials_receive,
    hub_client_store,
    token_patch,
    token_put,
)
from . import envelope
from .auth import OcpiTokenAuthentication, RegisteredPartner, token_candidates
from .envelope import InvalidParameters, ocpi_response
from .modules import VERSION, details_url, endpoints, our_credentials, our_party
from .objects import evse_wire, location_wire, tariff_wire, token_wire
from .serializers import COUNTRY_CODE, PARTY_ID, TOKEN_TYPES, UID, CredentialsSerializer, TokenSerializer

logger = logging.getLogger(__name__)


class OcpiView(APIView):
    """Every OCPI endpoint: token authentication, JSON only, the OCPI envelope for every answer
    (errors included), ``X-Request-ID``/``X-Correlation-ID`` echoed (or made), and the routing
    headers turned around."""

    authentication_classes = [OcpiTokenAuthentication]
    permission_classes = [RegisteredPartner]
    renderer_classes = [JSONRenderer]
    parser_classes = [StrictJSONParser]
    token_a_allowed = False
    schema = None

    def get_exception_handler(self):
        return envelope.exception_handler

    def handle_exception(self, exc):
        try:
            return super().handle_exception(exc)
        except Exception:  # noqa: BLE001 - an OCPI answer even for the unexpected, with no details
            logger.exception("OCPI %s %s failed", self.request.method, self.request.path)
            return ocpi_response(status_code=envelope.SERVER_ERROR, message="Server error", http_status=500)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        meta = request.META
        response["X-Request-ID"] = meta.get("HTTP_X_REQUEST_ID") or str(uuid.uuid4())
        response["X-Correlation-ID"] = meta.get("HTTP_X_CORRELATION_ID") or str(uuid.uuid4())
        to_country, to_party = self.to_party()
        if meta.get("HTTP_OCPI_FROM_PARTY_ID"):
            response["OCPI-to-country-code"] = meta.get("HTTP_OCPI_FROM_COUNTRY_CODE", "")
            response["OCPI-to-party-id"] = meta["HTTP_OCPI_FROM_PARTY_ID"]
            response["OCPI-from-country-code"] = to_country
            response["OCPI-from-party-id"] = to_party
        return response

    def to_party(self) -> tuple[str, str]:
        """The party the request is for (``OCPI-to-…``; ours when absent)."""
        country, party = our_party()
        meta = self.request.META
        return meta.get("HTTP_OCPI_TO_COUNTRY_CODE") or country, meta.get("HTTP_OCPI_TO_PARTY_ID") or party

    def routed_party(self) -> tuple[str, str] | None:
        """The party named by ``OCPI-to-…`` (a hub routing to one of our parties), else none."""
        meta = self.request.META
        if meta.get("HTTP_OCPI_TO_PARTY_ID"):
            return meta.get("HTTP_OCPI_TO_COUNTRY_CODE", ""), meta["HTTP_OCPI_TO_PARTY_ID"]
        return None

    def from_party(self) -> tuple[str, str] | None:
        meta = self.request.META
        if meta.get("HTTP_OCPI_FROM_PARTY_ID"):
            return meta.get("HTTP_OCPI_FROM_COUNTRY_CODE", ""), meta["HTTP_OCPI_FROM_PARTY_ID"]
        return None

    def valid(self, serializer_class, data, **kwargs):
        serializer = serializer_class(data=data, **kwargs)
        if not serializer.is_valid():
            raise serializers.ValidationError(serializer.errors)
        return serializer.validated_data


class VersionsView(OcpiView):
    token_a_allowed = True

    def get(self, request):
        return ocpi_response([{"version": VERSION, "url": details_url()}])


class VersionDetailsView(OcpiView):
    token_a_allowed = True

    def get(self, request):
        return ocpi_response({"version": VERSION, "endpoints": endpoints()})


_ROAMING_ERRORS = {
    RoamingError.UNUSABLE: envelope.ClientApiUnusable,
    RoamingError.UNSUPPORTED_VERSION: envelope.UnsupportedVersion,
    RoamingError.NO_ENDPOINTS: envelope.NoMatchingEndpoints,
}


class CredentialsView(OcpiView):
    """GET ours; POST registers (token A); PUT updates (token C); DELETE unregisters."""

    token_a_allowed = True

    def get(self, request):
        return ocpi_response(_credentials_shown(request))

    def post(self, request):
        if request.user.state == RoamingState.REGISTERED and request.auth.kind != "A":
            raise envelope.MethodNotAllowed("Already registered: use PUT to update the credentials")
        return self._receive(request, update=False)

    def put(self, request):
        if request.user.state != RoamingState.REGISTERED or request.auth.kind == "A":
            raise envelope.MethodNotAllowed("Not registered: use POST to register")
        return self._receive(request, update=True)

    def delete(self, request):
        if request.user.state != RoamingState.REGISTERED or request.auth.kind == "A":
            raise envelope.MethodNotAllowed("Not registered")
        credentials_delete(partner=request.user, reason="unregistered by the partner")
        return ocpi_response()

    def _receive(self, request, *, update: bool):
        credentials = self.valid(CredentialsSerializer, request.data)
        try:
            ours = credentials_receive(partner=request.user, used=request.auth, credentials=credentials, update=update)
        except RoamingError as exc:
            raise _ROAMING_ERRORS[exc.kind](str(exc)) from None
        return ocpi_response(ours)


def _credentials_shown(request) -> dict:
    """GET credentials: our credentials with the token the partner called with (we keep only
    digests, so it is the one it sent)."""
    for token, _plain in token_candidates(request.META.get("HTTP_AUTHORIZATION", "")):
        if request.auth.digest == token_digest(token):
            return our_credentials(token)
    return our_credentials("")


class HubClientInfoSerializer(serializers.Serializer):
    party_id = serializers.RegexField(PARTY_ID)
    country_code = serializers.RegexField(COUNTRY_CODE)
    role = serializers.ChoiceField(["CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP"])
    status = serializers.ChoiceField(["CONNECTED", "OFFLINE", "PLANNED", "SUSPENDED"])
    last_updated = serializers.DateTimeField()


class HubClientInfoView(OcpiView):
    """Receiver interface: a hub tells us about its parties (PUT one ClientInfo)."""

    def put(self, request, country_code: str, party_id: str):
        info = self.valid(HubClientInfoSerializer, request.data)
        if (info["country_code"], info["party_id"]) != (country_code, party_id):
            raise InvalidParameters("country_code/party_id: must match the URL")
        hub_client_store(partner=request.user, info=info)
        return ocpi_response()

    def get(self, request, country_code: str, party_id: str):
        found = request.user.hub_clients.filter(country_code=country_code, party_id=party_id).first()
        if found is None:
            raise envelope.UnknownObject("Unknown client")
        return ocpi_response(
            {
                "party_id": found.party_id,
                "country_code": found.country_code,
                "role": found.role,
                "status": found.status,
                "last_updated": envelope.ocpi_timestamp(found.last_updated),
            }
        )


# --- sender interfaces: locations and tariffs ------------------------------------------------------
def _time_param(request, name: str):
    text = request.query_params.get(name)
    if text is None:
        return None
    value = parse_datetime(text)
    if value is None or value.tzinfo is None:
        raise InvalidParameters(f"{name}: expected an RFC 3339 time with a zone, e.g. 2024-01-01T00:00:00Z")
    return value


def _int_param(request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or len(text) > 9:
        raise InvalidParameters(f"{name}: expected a non-negative integer")
    return int(text)


def ocpi_page(request, queryset, to_wire):
    """OCPI pagination: ``offset``/``limit`` (capped at OCPI_PAGE_LIMIT, announced in X-Limit),
    ``date_from`` (inclusive) / ``date_to`` (exclusive) on last_updated, ``X-Total-Count``, and a
    ``Link: <…>; rel="next"`` while more remain."""
    cap = settings.OCPI_PAGE_LIMIT
    offset = _int_param(request, "offset", 0)
    limit = min(_int_param(request, "limit", cap), cap)
    date_from, date_to = _time_param(request, "date_from"), _time_param(request, "date_to")
    if date_from:
        queryset = queryset.filter(last_updated__gte=date_from)
    if date_to:
        queryset = queryset.filter(last_updated__lt=date_to)
    total = queryset.count()
    rows = list(queryset.order_by("last_updated", "id")[offset : offset + limit])
    headers = {"X-Total-Count": str(total), "X-Limit": str(cap)}
    if offset + limit < total:
        params = request.query_params.copy()
        params["offset"], params["limit"] = str(offset + limit), str(limit)
        base = details_url().rsplit("/", 1)[0]
        headers["Link"] = f'<{base}{request.path.removeprefix("/ocpi")}?{params.urlencode()}>; rel="next"'
    return ocpi_response([to_wire(row) for row in rows], headers=headers)


class LocationsView(OcpiView):
    def get(self, request, location_id=None, evse_uid=None, connector_id=None):
        locations = locations_for_partner(partner=request.user, party=self.routed_party())
        if location_id is None:
            return ocpi_page(request, locations, location_wire)
        location = locations.filter(ocpi_id=location_id).first()
        if location is None:
            raise envelope.UnknownLocation(f"Unknown location {location_id}")
        if evse_uid is None:
            return ocpi_response(location_wire(location))
        evse = next((e for e in location.evses.all() if e.uid == evse_uid), None)
        if evse is None:
            raise envelope.UnknownLocation(f"Unknown EVSE {evse_uid}")
        if connector_id is None:
            return ocpi_response(evse_wire(evse))
        connector = next((c for c in evse.data.get("connectors", []) if c.get("id") == connector_id), None)
        if connector is None:
            raise envelope.UnknownLocation(f"Unknown connector {connector_id}")
        return ocpi_response(connector)


class TariffsView(OcpiView):
    def get(self, request):
        return ocpi_page(request, tariffs_for_partner(partner=request.user, party=self.routed_party()), tariff_wire)


# --- receiver interface: tokens ------------------------------------------------------------------
class TokensView(OcpiView):
    """``tokens/{country_code}/{party_id}/{uid}[?type=]`` (type RFID when absent): the eMSP stores
    (PUT), changes (PATCH) and reads back (GET) its tokens. A partner only reaches the tokens of
    its own parties (its roles, and for a hub the parties it reported) and only ever its own rows."""

    def _keys(self, request, country_code: str, party_id: str, uid: str) -> dict:
        token_type = request.query_params.get("type", "RFID")
        if token_type not in TOKEN_TYPES:
            raise InvalidParameters(f"type: must be one of {', '.join(TOKEN_TYPES)}")
        if not re.match(COUNTRY_CODE, country_code):
            raise InvalidParameters("country_code: ISO 3166 alpha-2, upper case")
        if not re.match(PARTY_ID, party_id):
            raise InvalidParameters("party_id: three characters A-Z or 0-9")
        if not re.match(UID, uid):
            raise InvalidParameters("uid: 1 to 36 printable ASCII characters")
        if (country_code, party_id) not in token_parties_of(partner=request.user):
            raise InvalidParameters(f"country_code/party_id: {country_code}*{party_id} is not one of your parties")
        return {"country_code": country_code, "party_id": party_id, "uid": uid, "type": token_type}

    def _matching(self, keys: dict, data: dict) -> None:
        for name, value in keys.items():
            if name in data and data[name] != value:
                where = "the type parameter" if name == "type" else "the URL"
                raise InvalidParameters(f"{name}: must match {where} ({value})")

    def _found(self, request, keys: dict):
        token = token_of_partner(partner=request.user, **keys)
        if token is None:
            raise envelope.UnknownToken(f"Unknown token {keys['uid']} ({keys['type']})")
        return token

    def get(self, request, country_code: str, party_id: str, uid: str):
        keys = self._keys(request, country_code, party_id, uid)
        return ocpi_response(token_wire(self._found(request, keys)))

    def put(self, request, country_code: str, party_id: str, uid: str):
        keys = self._keys(request, country_code, party_id, uid)
        data = self.valid(TokenSerializer, request.data)
        self._matching(keys, data)
        token_put(partner=request.user, data=data)
        return ocpi_response()

    def patch(self, request, country_code: str, party_id: str, uid: str):
        keys = self._keys(request, country_code, party_id, uid)
        token = self._found(request, keys)
        changes = self.valid(TokenSerializer, request.data, partial=True)
        self._matching(keys, changes)
        token_patch(token=token, changes=changes)
        return ocpi_response()
