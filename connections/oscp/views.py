"""The OSCP 2.0 message endpoints: what each message does once the shared pipeline
(``connections/oscp/pipeline.py``: authentication, request id, roles, offline rule, segments,
validation, group, message log) has accepted it."""

from connections import inbound as inbound_services
from connections.selectors import group_for_correlation
from forecasts.choices import ForecastMessage
from forecasts.compliance import compliance_error_receive
from forecasts.services import forecast_receive
from oscp_platform.crypto import mask

from . import serializers as wire
from .authentication import OscpError
from .pipeline import CO, OPTIMIZER_FORECAST_TYPES, Inbound, OscpView, oscp_schema


@oscp_schema
class RegisterView(OscpView):
    """Token exchange: store the partner's token and base URL, reply with our new token."""

    message_type = "register"
    serializer_class = wire.RegisterSerializer
    group_scoped = False

    def body_for_log(self, body):
        if not isinstance(body, dict):
            return None  # unparsed text may hold the token: not logged
        return {**body, "token": mask(body["token"])} if isinstance(body.get("token"), str) else body

    def validate(self, inbound, payload):
        super().validate(inbound, payload)
        offered = [entry["version"] for entry in inbound.data["version_url"]]
        chosen = [entry for entry in inbound.data["version_url"] if entry["version"].strip() == "2.0"]
        if not chosen:
            raise OscpError(501, f"No common OSCP version: we support 2.0, offered {', '.join(offered)}.")
        inbound.data["base_url"] = chosen[0]["base_url"]

    def process(self, inbound, message):
        inbound_services.register_receive(
            partner=inbound.partner,
            token=inbound.data["token"],
            base_url=inbound.data["base_url"],
            request_id=inbound.request_id,
            presented_token=inbound.token,
            correlation_id=inbound.correlation_id,
        )


@oscp_schema
class HandshakeView(OscpView):
    """Store the behaviour the partner requires of us, go online, queue our acknowledgement."""

    message_type = "handshake"
    serializer_class = wire.HandshakeSerializer
    group_scoped = False

    def process(self, inbound, message):
        inbound_services.handshake_receive(
            partner=inbound.partner, behaviour=inbound.data["required_behaviour"], request_id=inbound.request_id
        )


@oscp_schema
class HandshakeAcknowledgeView(OscpView):
    """Completes a handshake we started (also served at the field's spellings
    ``handshake_acknowledgment`` and ``handshake_acknowledgement``)."""

    message_type = "handshake_acknowledge"
    serializer_class = wire.HandshakeAcknowledgeSerializer
    group_scoped = False
    alias: str = ""

    def process(self, inbound, message):
        completed = inbound_services.handshake_acknowledge_receive(
            partner=inbound.partner, behaviour=inbound.data["required_behaviour"]
        )
        notes = [f"received at {self.alias}"] if self.alias else []
        if not completed:
            notes.append("no handshake of ours was pending")
        if notes:
            message.error = "Accepted with deviations: " + "; ".join(inbound.deviations + notes)
            message.save(update_fields=["error"])


@oscp_schema
class HeartbeatView(OscpView):
    """Record the partner's ``offline_mode_at``."""

    message_type = "heartbeat"
    serializer_class = wire.HeartbeatSerializer
    group_scoped = False

    def process(self, inbound, message):
        inbound_services.heartbeat_receive(partner=inbound.partner, offline_mode_at=inbound.data["offline_mode_at"])


class _ForecastMessageView(OscpView):
    serializer_class = wire.ForecastSerializer
    forecast_message: str

    def process(self, inbound, message):
        forecast_receive(
            group=inbound.group,
            sender=inbound.partner,
            forecast_type=inbound.data["type"],
            blocks=[dict(block) for block in inbound.data["forecasted_blocks"]],
            request_id=inbound.request_id,
            correlation_id=inbound.correlation_id,
            received_at=message.created,
            message=message,
            message_type=self.forecast_message,
        )


@oscp_schema
class ForecastView(_ForecastMessageView):
    """Store a capacity forecast (limits from a Capacity Provider, OPTIMUM from an Optimizer)."""

    message_type = "update_group_capacity_forecast"
    forecast_message = ForecastMessage.UPDATE

    def validate(self, inbound, payload):
        super().validate(inbound, payload)
        if inbound.partner.role == CO and inbound.data["type"] not in OPTIMIZER_FORECAST_TYPES:
            raise OscpError(403, "type: a Capacity Optimizer may only send OPTIMUM forecasts.")


@oscp_schema
class AdjustForecastView(_ForecastMessageView):
    """Store an optimizer's adjustment request and relay it to the group's Capacity Provider
    (``forecast_receive`` relays it, as an AdjustmentRequest)."""

    message_type = "adjust_group_capacity_forecast"
    forecast_message = ForecastMessage.ADJUST


@oscp_schema
class ComplianceErrorView(OscpView):
    """Store an optimizer's compliance error and relay it to the group's Capacity Provider. The
    group comes from ``group_id`` if given, else from the forecast X-Correlation-ID names."""

    message_type = "group_capacity_compliance_error"
    serializer_class = wire.ComplianceErrorSerializer

    def group_resolve(self, inbound):
        if "group_id" in inbound.data:
            return super().group_resolve(inbound)
        group = None
        if inbound.correlation_id:
            group = group_for_correlation(partner=inbound.partner, correlation_id=inbound.correlation_id)
        if group is None:
            raise OscpError(
                400, "group_id: required when X-Correlation-ID does not name a forecast of one of your groups."
            )
        return group

    def process(self, inbound, message):
        compliance_error_receive(
            group=inbound.group,
            sender=inbound.partner,
            message=inbound.data["message"],
            forecasted_blocks=wire.wire_dump(inbound.data.get("forecasted_blocks", [])),
            correlation_id=inbound.correlation_id,
        )
        relay(inbound)


class _MeasurementsView(OscpView):
    def serializer_context(self, inbound):
        styles = inbound.partner.required_measurement_styles or []
        intermittent_only = "Intermittent" in styles and "Continuous" not in styles
        return {**super().serializer_context(inbound), "intermittent_required": intermittent_only}

    def process(self, inbound, message):
        relay(inbound)


@oscp_schema
class GroupMeasurementsView(_MeasurementsView):
    """Validate an optimizer's group measurements and relay them to the Capacity Provider."""

    message_type = "update_group_measurements"
    serializer_class = wire.GroupMeasurementsSerializer


@oscp_schema
class AssetMeasurementsView(_MeasurementsView):
    """Validate an optimizer's asset measurements and relay them to the Capacity Provider."""

    message_type = "update_asset_measurements"
    serializer_class = wire.AssetMeasurementsSerializer


def relay(inbound: Inbound) -> None:
    """Same message type and body (normalised: UTC times) to the CP, keeping the request id."""
    inbound_services.message_relay_to_provider(
        group=inbound.group,
        message_type=inbound.message_type,
        body=wire.wire_dump(inbound.data),
        request_id=inbound.request_id,
        correlation_id=inbound.correlation_id,
    )
