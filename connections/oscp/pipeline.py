"""The pipeline every OSCP 2.0 request to ``/oscp/fp/2.0/<message>`` goes through. Every rule that
belongs to one message type comes from its declaration in the registry
(``connections/oscp/messages.py``); what the message does is its registered ``receive`` handler.
Every request takes the same steps (``OscpView.post``) and leaves one row in the message log,
whatever happens:

1. ``Authorization`` → the partner (401 no/odd header, 403 unknown/retired token or disabled).
2. ``X-Request-ID`` required (400); the partner's role may send this message (403).
3. Same partner and request id already accepted → 204, nothing done twice.
   A partner that is offline (its last ``offline_mode_at`` passed, no handshake since) may only
   send register, handshake, handshake_acknowledge and heartbeat; anything else → 403
   "Handshake required after offline" (OSCP: a new handshake is required after offline).
4. ``X-Segment-Index``/``X-Segment-Count``: parts are kept (204 each) until all arrived, then the
   joined body is processed once.
5. JSON body validated exactly per the reference (400 naming field and problem), group resolved
   (404 for unknown groups and for other partners' groups alike).
6. One transaction: the accepted log row, the domain change, outbound replies/relays (sent on
   commit). 204, empty body. A handshake before registration is complete → 403 "Register first".

Errors are ``{"message": "..."}``; nothing but the log row is stored for a rejected request.
"""

import logging
import time
from dataclasses import dataclass, field

from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from connections import inbound as inbound_services
from connections.choices import ConnectionState, MessageDirection, MessageStatus
from connections.lifecycle import partner_is_offline
from connections.models import Message, Partner
from connections.selectors import inbound_request_seen
from oscp_platform.bulk import fields_update, instances_insert
from oscp_platform.crypto import mask
from oscp_platform.parsing import json_loads_strict, text_problem

from . import serializers as wire
from .authentication import OscpError, authorization_mask, partner_authenticate
from .messages import MessageSpec, group_find, handlers_of
from .serializers import wire_time

logger = logging.getLogger(__name__)

SECRET_HEADERS = {"proxy-authorization", "cookie", "apikey", "x-api-key", "x-access-token"}
MAX_SEGMENTS = 1000
RAW_BODY_LOG_CHARS = 4000
_NOT_REGISTERED = "Register first: {message} needs a completed registration (connection state is {state})."
_OFFLINE = (
    "Handshake required after offline: we have counted you offline since {since} (no heartbeat in time); "
    "send a handshake before {message}."
)


class ErrorSerializer(serializers.Serializer):
    message = serializers.CharField()


class _JsonOnly(BaseContentNegotiation):
    """Partners get JSON whatever their Accept header says."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _exception_handler(exc, context):
    status = getattr(exc, "status_code", None)
    if status is None:  # not an API error: never show its text (it may quote SQL or data)
        logger.error("OSCP request failed", exc_info=exc)
        return Response({"message": "Internal error; please retry later."}, status=500)
    return Response({"message": str(getattr(exc, "detail", exc))}, status=status)


@dataclass
class Inbound:
    """One request on its way through the pipeline; becomes a message log row. Handlers read the
    validated ``data``, the ``partner``, the ``group`` and the ids; they may add ``deviations``
    (recorded on the log row)."""

    message_type: str
    headers: dict
    correlation_id: str = ""
    partner: Partner | None = None
    token: str = ""
    request_id: str = ""
    group: object = None
    body: object = None
    data: dict = field(default_factory=dict)
    deviations: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def log(self, *, status: str, http_status: int, error: str = "") -> Message:
        if not error and self.deviations:
            error = "Accepted with deviations: " + "; ".join(self.deviations)
        # One row, inserted as the outbox inserts its batches (``instances_insert``: the same
        # values a save stores, without the ORM's statement building on every request).
        return instances_insert(
            [
                Message(
                    partner=self.partner,
                    group=self.group,
                    direction=MessageDirection.INBOUND,
                    message_type=self.message_type,
                    request_id=self.request_id,
                    correlation_id=self.correlation_id,
                    status=status,
                    http_status=http_status,
                    headers=self.headers,
                    body=self.body,
                    error=error,
                    duration_ms=self.elapsed_ms(),
                    completed_at=timezone.now(),
                )
            ]
        )[0]

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)


def _offline_since(partner: Partner) -> str:
    """When the partner went offline: when it was marked so, else the offline_mode_at that passed."""
    if partner.connection_state == ConnectionState.OFFLINE:
        when = partner.connection_state_changed_at or partner.offline_mode_at
    else:
        when = partner.offline_mode_at
    return wire_time(when, "seconds") if when else "an earlier check"


def headers_masked(request) -> dict:
    masked = {}
    for name, value in request.headers.items():
        lower = name.lower()
        if lower == "authorization":
            value = authorization_mask(value)
        elif lower in SECRET_HEADERS:
            value = mask(value)
        masked[name] = value[:512]
    return masked


def _segment_headers(request) -> tuple[int, int] | None:
    index, count = request.headers.get("X-Segment-Index"), request.headers.get("X-Segment-Count")
    if index is None and count is None:
        return None
    if index is None or count is None:
        raise OscpError(400, "X-Segment-Index and X-Segment-Count must be sent together.")
    try:
        index, count = int(index), int(count)
    except ValueError:
        raise OscpError(400, "X-Segment-Index and X-Segment-Count must be whole numbers.") from None
    if not 1 <= count <= MAX_SEGMENTS:
        raise OscpError(400, f"X-Segment-Count must be between 1 and {MAX_SEGMENTS}.")
    if not 0 <= index <= count:
        raise OscpError(400, "X-Segment-Index must be 0..count-1 (or 1..count).")
    return index, count


class OscpView(APIView):
    """The pipeline every OSCP message goes through, driven by the message's declaration
    (``spec``); ``alias`` is the path it was reached at when that is another spelling."""

    authentication_classes: list = []
    permission_classes: list = []
    parser_classes: list = []  # the raw body is read: segments are joined before parsing
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _JsonOnly

    spec: MessageSpec
    alias: str = ""

    @property
    def message_type(self) -> str:
        return self.spec.type.value

    def get_exception_handler(self):
        return _exception_handler

    def post(self, request, *args, **kwargs):
        inbound = Inbound(
            message_type=self.message_type,
            headers=headers_masked(request),
            correlation_id=request.headers.get("X-Correlation-ID", "").strip()[:128],
        )
        try:
            self.receive(request, inbound)
        except OscpError as exc:
            inbound.partner = inbound.partner or exc.partner
            inbound.log(status=MessageStatus.REJECTED, http_status=exc.status, error=exc.message)
            return Response({"message": exc.message}, status=exc.status)
        except Exception:
            logger.exception("OSCP %s %s failed", self.message_type, inbound.request_id)
            try:
                inbound.log(status=MessageStatus.REJECTED, http_status=500, error="Internal error.")
            except Exception:
                logger.exception("OSCP %s %s could not be logged", self.message_type, inbound.request_id)
            return Response({"message": "Internal error; please retry later."}, status=500)
        return Response(status=204)

    def receive(self, request, inbound: Inbound) -> None:
        request_id = request.headers.get("X-Request-ID", "").strip()
        caller = partner_authenticate(authorization=request.headers.get("Authorization", ""), request_id=request_id)
        inbound.partner, inbound.token = caller.partner, caller.token
        inbound.request_id = request_id
        if not inbound.request_id:
            raise OscpError(400, "X-Request-ID header is required.")
        if len(inbound.request_id) > 128:
            inbound.request_id = inbound.request_id[:128]
            raise OscpError(400, "X-Request-ID must be at most 128 characters.")
        if caller.partner.role not in self.spec.senders:
            raise OscpError(403, f"A {caller.partner.get_role_display()} may not send {self.message_type}.")
        seen = caller.request_seen
        if seen is None:  # an OAuth access token: not asked with the token
            seen = inbound_request_seen(partner=caller.partner, request_id=inbound.request_id)
        if seen:
            return self.duplicate(inbound)
        if not self.spec.offline_allowed and partner_is_offline(caller.partner):
            raise OscpError(403, _OFFLINE.format(message=self.message_type, since=_offline_since(caller.partner)))

        raw = self.raw_body(request, inbound)
        if raw is None:
            return None
        payload = self.parse(raw, inbound)
        inbound.body = self.body_for_log(payload)
        self.validate(inbound, payload)
        try:
            with transaction.atomic():
                message = inbound.log(status=MessageStatus.ACCEPTED, http_status=204)
                if self.alias:
                    inbound.deviations.append(f"received at {self.alias}")
                handlers_of(self.message_type).receive(inbound, message)
                message.duration_ms = inbound.elapsed_ms()
                if inbound.deviations:
                    message.error = "Accepted with deviations: " + "; ".join(inbound.deviations)
                fields_update(message, ["duration_ms", "error"])
        except inbound_services.PartnerNotRegistered as exc:
            raise OscpError(403, _NOT_REGISTERED.format(message=self.message_type, state=exc)) from None
        except inbound_services.NotForThisPartner as exc:
            raise OscpError(403, str(exc)) from None
        except IntegrityError:
            # The same request id was accepted meanwhile (partial unique constraint).
            if inbound_request_seen(partner=caller.partner, request_id=inbound.request_id):
                return self.duplicate(inbound)
            raise
        return None

    def duplicate(self, inbound: Inbound) -> None:
        inbound.log(
            status=MessageStatus.DUPLICATE,
            http_status=204,
            error="This X-Request-ID was already accepted; ignored.",
        )

    def raw_body(self, request, inbound: Inbound) -> str | None:
        """The body text; for a segmented message, None until the last part (which returns the
        joined bodies)."""
        try:
            raw = request.body.decode("utf-8")
        except RequestDataTooBig:
            raise OscpError(413, "Body too large: split it with X-Segment-Index / X-Segment-Count.") from None
        except UnicodeDecodeError:
            raise OscpError(400, "Body must be UTF-8 encoded JSON.") from None
        problem = text_problem(raw)
        if problem:  # neither the message log nor a kept segment could store it
            raise OscpError(400, f"Body: {problem}.")
        segment = _segment_headers(request)
        if segment is None:
            return raw
        if not self.spec.segmentable:
            raise OscpError(400, f"{self.message_type} cannot be segmented.")
        index, count = segment
        try:
            joined = inbound_services.segment_store(
                partner=inbound.partner,
                message_type=self.message_type,
                request_id=inbound.request_id,
                index=index,
                count=count,
                body=raw,
            )
        except inbound_services.SegmentConflict as exc:
            raise OscpError(400, f"X-Segment-Index: {exc}") from None
        if joined is None:
            inbound.log(status=MessageStatus.SEGMENT, http_status=204, error=f"Part {index} of {count} kept.")
            return None
        inbound.deviations.append(f"joined from {count} segments")
        return joined

    def parse(self, raw: str, inbound: Inbound) -> dict:
        try:
            body = json_loads_strict(raw)
        except ValueError as exc:
            inbound.body = self.body_for_log(raw[:RAW_BODY_LOG_CHARS])
            raise OscpError(400, f"Body is not valid JSON: {exc}.") from None
        if not isinstance(body, dict):
            inbound.body = self.body_for_log(body)
            raise OscpError(400, "Body must be a JSON object.")
        return body

    def body_for_log(self, body):
        """What the message log keeps of the body: the declared secret fields masked; text that
        could not be parsed is not kept when the message carries secrets."""
        if not self.spec.secret_fields:
            return body
        if not isinstance(body, dict):
            return None
        return {k: mask(v) if k in self.spec.secret_fields and isinstance(v, str) else v for k, v in body.items()}

    def validate(self, inbound: Inbound, payload: dict) -> None:
        context = {"partner": inbound.partner, "deviations": inbound.deviations}
        serializer = self.spec.serializer(data=payload, context=context)
        if not serializer.is_valid():
            raise OscpError(400, wire.errors_message(serializer.errors))
        inbound.data = serializer.validated_data
        if self.spec.group_scoped:
            inbound.group = self.group_resolve(inbound)
            if not inbound.group.enabled:
                raise OscpError(404, f"group_id: group {inbound.group.identifier!r} is disabled.")

    def group_resolve(self, inbound: Inbound):
        """The body's ``group_id`` among the partner's groups (another partner's group answers
        exactly like an unknown one); without one, the message's ``find_group`` handler."""
        find_group = handlers_of(self.message_type).find_group
        if "group_id" not in inbound.data and find_group is not None:
            return find_group(inbound)
        identifier = inbound.data["group_id"]
        group = group_find(partner=inbound.partner, identifier=identifier)
        if group is None:
            raise OscpError(404, f"group_id: unknown group {identifier!r}.")
        return group


def oscp_view(spec: MessageSpec) -> type[OscpView]:
    """The endpoint class of one message, with its own OpenAPI description: its wire body in, 204
    or ``{"message"}`` out."""
    headers = [
        OpenApiParameter(
            "Authorization",
            str,
            OpenApiParameter.HEADER,
            required=True,
            description="Token <token>, Bearer <token> or Bearer <access token from /oscp/oauth/token>",
        ),
        OpenApiParameter("X-Request-ID", str, OpenApiParameter.HEADER, required=True),
        OpenApiParameter("X-Correlation-ID", str, OpenApiParameter.HEADER),
        OpenApiParameter("X-Segment-Index", int, OpenApiParameter.HEADER),
        OpenApiParameter("X-Segment-Count", int, OpenApiParameter.HEADER),
    ]
    decorator = extend_schema(
        tags=["OSCP 2.0"],
        # The body is read raw (segments are joined before parsing), so no parser names its type.
        request={"application/json": spec.serializer},
        parameters=headers,
        responses={
            204: OpenApiResponse(description="Accepted (or a repeated X-Request-ID, or a segment kept)."),
            400: OpenApiResponse(ErrorSerializer, description="Invalid: the message names the field."),
            401: OpenApiResponse(ErrorSerializer, description="No credentials, or not Token/Bearer."),
            403: OpenApiResponse(ErrorSerializer, description="Bad token, disabled partner or not allowed."),
            404: OpenApiResponse(ErrorSerializer, description="Unknown group."),
            413: OpenApiResponse(ErrorSerializer, description="Body too large: send it in segments."),
            501: OpenApiResponse(ErrorSerializer, description="No common OSCP version (handshake)."),
        },
        description=spec.doc,
    )

    def post(self, request, *args, **kwargs):
        return OscpView.post(self, request, *args, **kwargs)

    name = "".join(part.title() for part in spec.type.value.split("_")) + "View"
    return type(name, (OscpView,), {"spec": spec, "__doc__": spec.doc, "post": decorator(post)})


def relay_to_provider(inbound: Inbound) -> Message:
    """The same message type and body (normalised: UTC times) to the group's Capacity Provider,
    keeping the sender's request and correlation ids so both ends can match it."""
    return inbound_services.message_relay_to_provider(
        group=inbound.group,
        message_type=inbound.message_type,
        body=wire.wire_dump(inbound.data),
        request_id=inbound.request_id,
        correlation_id=inbound.correlation_id,
    )
