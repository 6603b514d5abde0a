"""Compliance errors: relayed from an optimizer, raised by staff and tools, and the platform's own
check of measured power against the import limit."""

from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from connections.choices import MessageType
from connections.client import call_refusal
from connections.outbox import outbox_enqueue
from groups.models import CapacityGroup

from .choices import ComplianceOrigin, Quantity
from .models import ComplianceError, Forecast
from .oscp.wire import wire_blocks
from .selectors import envelope_pieces

COMPLIANCE_ERROR = MessageType.GROUP_CAPACITY_COMPLIANCE_ERROR


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


def _compliance_error_send(*, group: CapacityGroup, correlation_id: str, text: str, blocks: list[dict]):
    """Queue ``group_capacity_compliance_error`` to the group's provider about the forecast whose
    request id is ``correlation_id``."""
    body: dict = {"message": text}
    if blocks:
        body["forecasted_blocks"] = wire_blocks(blocks)
    return outbox_enqueue(
        partner=group.capacity_provider,
        message_type=COMPLIANCE_ERROR,
        body=body,
        correlation_id=correlation_id,
        group=group,
    )


@transaction.atomic
def compliance_error_raise(
    *,
    group: CapacityGroup,
    forecast: Forecast | None,
    message: str,
    blocks: list[dict] | None = None,
    raised_by=None,
    correlation_id: str = "",
) -> ComplianceError:
    """Tell the group's provider we cannot comply with ``forecast`` (X-Correlation-ID = its
    request id). Without a forecast, ``correlation_id`` goes out as given and the error is
    recorded as linked to no forecast. Refused up front (``partnerToken``) when the provider could
    not be called: the message would only die in the outbox."""
    provider = group.capacity_provider
    refusal = call_refusal(provider) if provider is not None else "the group has no Capacity Provider"
    if refusal:
        raise ValidationError({"partnerToken": [f"A compliance error cannot be sent: {refusal}"]})
    correlation_id = forecast.request_id if forecast is not None else correlation_id
    outbound = _compliance_error_send(group=group, correlation_id=correlation_id, text=message, blocks=blocks or [])
    return ComplianceError.objects.create(
        group=group,
        forecast=forecast,
        message=message,
        correlation_id=correlation_id,
        forecasted_blocks=outbound.body.get("forecasted_blocks", []),
        origin=ComplianceOrigin.TOOL,
        raised_by=raised_by,
        outbound_message=outbound,
    )


def _import_kw(pieces) -> Decimal | None:
    """The group's import limit in kW from the pieces in force together: the all-phase limit, or
    the sum of per-phase kW limits; None when a limit is in amps (not comparable with kW)."""
    if any(p.unit != "kW" for p in pieces):
        return None
    every = [p.value for p in pieces if p.phase == "All"]
    return min(every) if every else sum((p.value for p in pieces), Decimal(0))


@transaction.atomic
def compliance_check(
    *, group: CapacityGroup, period_start: datetime, period_end: datetime, measured_kw: Decimal | float
) -> ComplianceError | None:
    """Record a breach when ``measured_kw`` (average power over the whole measurement period)
    exceeds the import limit over that period (time-weighted where the limit changes within it).
    With ``group.report_compliance_breaches`` the provider is told, correlated to the forecast
    the limit came from. Called by the measurements app once per group and aggregated period;
    calling it again for the same period records nothing new."""
    measured = Decimal(str(measured_kw))
    imports = envelope_pieces(group=group, start=period_start, end=period_end)[Quantity.IMPORT]
    bounds = sorted({period_start, period_end} | {p.start for p in imports} | {p.end for p in imports})
    bounds = [b for b in bounds if period_start <= b <= period_end]
    allowed, seconds, sources = Decimal(0), Decimal((period_end - period_start).total_seconds()), {}
    for start, end in zip(bounds, bounds[1:], strict=False):
        in_force = [p for p in imports if p.start <= start and p.end >= end]
        limit = _import_kw(in_force)
        if limit is None:
            return None
        allowed += limit * Decimal((end - start).total_seconds())
        for piece in in_force:
            if piece.source_id:
                sources[piece.source_id] = piece
    limit_kw = (allowed / seconds).quantize(Decimal("0.000001")) if seconds else Decimal(0)
    if measured <= limit_kw:
        return None
    existing = ComplianceError.objects.filter(
        group=group, origin=ComplianceOrigin.SELF_CHECK, period_start=period_start, period_end=period_end
    ).first()
    if existing:
        return existing
    forecast = Forecast.objects.filter(id__in=list(sources)).first() if sources else None
    text = (
        f"Measured {measured} kW from {period_start:%Y-%m-%d %H:%M} to {period_end:%H:%M} UTC "
        f"exceeds the import limit of {limit_kw} kW."
    )
    blocks = []
    if forecast is not None:
        blocks = list(
            forecast.blocks.filter(start_time__lt=period_end, end_time__gt=period_start).values(
                "capacity", "phase", "unit", "start_time", "end_time"
            )
        )
    outbound = None
    if group.report_compliance_breaches and forecast is not None:
        outbound = _compliance_error_send(group=group, correlation_id=forecast.request_id, text=text, blocks=blocks)
    return ComplianceError.objects.create(
        group=group,
        forecast=forecast,
        message=text,
        correlation_id=forecast.request_id if forecast else "",
        forecasted_blocks=wire_blocks(blocks),
        origin=ComplianceOrigin.SELF_CHECK,
        outbound_message=outbound,
        period_start=period_start,
        period_end=period_end,
        measured_kw=measured,
        limit_kw=limit_kw,
    )
