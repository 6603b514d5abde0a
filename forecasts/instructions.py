"""Writes behind the SolarUser instruction API (topic ``OSCP_v20``): an internal tool asks us, as
the group's Capacity Optimizer, to send an OSCP message to the group's Capacity Provider. Each
action goes through the service that already sends that message; the instruction records it."""

from django.db import transaction

from connections.choices import MessageType
from connections.oscp.serializers import wire_dump
from connections.outbound import partner_handshake_start
from connections.outbox import outbox_enqueue
from groups.models import CapacityGroup

from .choices import INSTRUCTION_TOPIC, InstructionAction
from .compliance import compliance_error_raise
from .models import Forecast, Instruction
from .services import adjustment_request

MEASUREMENT_ACTIONS = {
    InstructionAction.UPDATE_GROUP_MEASUREMENTS: MessageType.UPDATE_GROUP_MEASUREMENTS,
    InstructionAction.UPDATE_ASSET_MEASUREMENTS: MessageType.UPDATE_ASSET_MEASUREMENTS,
}


@transaction.atomic
def instruction_add(
    *,
    owner,
    node_id: int,
    action: str,
    params: dict,
    group: CapacityGroup,
    body: dict,
    forecast: Forecast | None = None,
    correlation_id: str = "",
) -> Instruction:
    """Queue the OSCP message ``action`` names with the validated wire ``body``; record the
    instruction. ``forecast`` is the one a compliance error is about; ``correlation_id`` goes out
    as X-Correlation-ID of an adjustment."""
    if action == InstructionAction.ADJUST:
        message = adjustment_request(
            group=group,
            forecast_type=body["type"],
            blocks=body["forecasted_blocks"],
            correlation_id=correlation_id,
            requested_by=owner,
        ).outbound_message
    elif action == InstructionAction.COMPLIANCE_ERROR:
        message = compliance_error_raise(
            group=group,
            forecast=forecast,
            message=body["message"],
            blocks=body.get("forecasted_blocks"),
            raised_by=owner,
            correlation_id=correlation_id,
        ).outbound_message
    elif action == InstructionAction.HANDSHAKE:
        message = partner_handshake_start(partner=group.capacity_provider, behaviour=body.get("required_behaviour"))
    elif action in MEASUREMENT_ACTIONS:
        # Sent as the optimizer gave them, like the optimizer's own measurements relayed to the provider.
        message = outbox_enqueue(
            partner=group.capacity_provider,
            group=group,
            message_type=MEASUREMENT_ACTIONS[action],
            body=wire_dump(body),
            correlation_id=correlation_id,
        )
    else:
        raise ValueError(f"Unknown instruction action {action!r}")
    return Instruction.objects.create(
        owner=owner,
        node_id=node_id,
        topic=INSTRUCTION_TOPIC,
        action=action,
        params=params,
        group=group,
        message=message,
    )
