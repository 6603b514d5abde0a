"""What this app does with the forecast messages partners send us: capacity forecasts,
adjustment requests and compliance errors. Registered from ``ForecastsConfig.ready()``."""

from connections.choices import ForecastType, MessageType, PartnerRole
from connections.oscp.authentication import OscpError
from connections.oscp.messages import handles
from connections.oscp.pipeline import Inbound, relay_to_provider
from connections.oscp.serializers import wire_dump
from connections.services import partner_forecast_received

from ..compliance import compliance_error_receive
from ..selectors import group_for_correlation
from ..services import forecast_receive

# What a Capacity Optimizer may send in update_group_capacity_forecast.
OPTIMIZER_FORECAST_TYPES = {ForecastType.OPTIMUM}


def _forecast(inbound: Inbound, message) -> None:
    forecast_receive(
        group=inbound.group,
        sender=inbound.partner,
        forecast_type=inbound.data["type"],
        blocks=[dict(block) for block in inbound.data["forecasted_blocks"]],
        request_id=inbound.request_id,
        correlation_id=inbound.correlation_id,
        received_at=message.created,
        message=message,
        message_type=inbound.message_type,
    )


def forecast_received(inbound: Inbound, message) -> None:
    """Limits from the group's provider; OPTIMUM only from its optimizer."""
    if inbound.partner.role == PartnerRole.CAPACITY_OPTIMIZER and inbound.data["type"] not in OPTIMIZER_FORECAST_TYPES:
        raise OscpError(403, "type: a Capacity Optimizer may only send OPTIMUM forecasts.")
    _forecast(inbound, message)
    partner_forecast_received(partner=inbound.partner, at=message.created)


def adjustment_received(inbound: Inbound, message) -> None:
    """Stored, and relayed to the group's provider as an adjustment request (``forecast_receive``)."""
    _forecast(inbound, message)


def compliance_error_received(inbound: Inbound, message) -> None:
    compliance_error_receive(
        group=inbound.group,
        sender=inbound.partner,
        message=inbound.data["message"],
        forecasted_blocks=wire_dump(inbound.data.get("forecasted_blocks", [])),
        correlation_id=inbound.correlation_id,
    )
    relay_to_provider(inbound)


def compliance_error_group(inbound: Inbound):
    """A compliance error without ``group_id``: the group of the forecast X-Correlation-ID names."""
    group = None
    if inbound.correlation_id:
        group = group_for_correlation(partner=inbound.partner, correlation_id=inbound.correlation_id)
    if group is None:
        raise OscpError(400, "group_id: required when X-Correlation-ID does not name a forecast of one of your groups.")
    return group


def register() -> None:
    handles(MessageType.UPDATE_GROUP_CAPACITY_FORECAST, receive=forecast_received)
    handles(MessageType.ADJUST_GROUP_CAPACITY_FORECAST, receive=adjustment_received)
    handles(
        MessageType.GROUP_CAPACITY_COMPLIANCE_ERROR,
        receive=compliance_error_received,
        find_group=compliance_error_group,
    )
