"""OSCP wire form of the forecast messages this app sends (adjustments, compliance errors and
forwarded forecasts when the received body is not at hand)."""

from decimal import Decimal

from connections.oscp.serializers import wire_time


def wire_blocks(blocks: list[dict]) -> list[dict]:
    """Blocks (plain dicts with ``capacity``, ``phase``, ``unit``, ``start_time``, ``end_time``)."""
    return [
        {
            "capacity": float(Decimal(block["capacity"])),
            "phase": block["phase"],
            "unit": block["unit"],
            "start_time": wire_time(block["start_time"]),
            "end_time": wire_time(block["end_time"]),
        }
        for block in blocks
    ]


def forecast_body(*, group_id: str, forecast_type: str, blocks: list[dict]) -> dict:
    return {"group_id": group_id, "type": forecast_type, "forecasted_blocks": wire_blocks(blocks)}
