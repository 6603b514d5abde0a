"""Writes on forecasts."""

from datetime import datetime

from django.db import transaction

from .models import ComplianceError, Forecast, ForecastBlock


@transaction.atomic
def forecast_receive(
    *,
    group,
    sender,
    forecast_type: str,
    blocks: list[dict],
    request_id: str,
    received_at: datetime,
    message=None,
    message_type: str = Forecast._meta.get_field("message_type").default,
    correlation_id: str = "",
) -> Forecast:
    """Store a forecast received for ``group``. ``blocks`` are plain dicts with ``capacity``,
    ``phase``, ``unit``, ``start_time``, ``end_time`` (validated, timezone-aware)."""
    forecast = Forecast.objects.create(
        group=group,
        sender=sender,
        message=message,
        message_type=message_type,
        type=forecast_type,
        request_id=request_id,
        correlation_id=correlation_id,
        received_at=received_at,
    )
    ForecastBlock.objects.bulk_create(ForecastBlock(forecast=forecast, **block) for block in blocks)
    return forecast


@transaction.atomic
def compliance_error_receive(
    *, group, sender, message: str, forecasted_blocks: list[dict], correlation_id: str = ""
) -> ComplianceError:
    """Store a compliance error about ``group``; link the forecast its correlation id names."""
    forecast = None
    if correlation_id:
        forecast = Forecast.objects.filter(group=group, request_id=correlation_id).order_by("-received_at").first()
    return ComplianceError.objects.create(
        group=group,
        sender=sender,
        forecast=forecast,
        message=message,
        correlation_id=correlation_id,
        forecasted_blocks=forecasted_blocks,
    )
