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
from .selectors import envelopes_pieces

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


def compliance_check(
    *, group: CapacityGroup, period_start: datetime, period_end: datetime, measured_kw: Decimal | float
) -> ComplianceError | None:
    """Record a breach when ``measured_kw`` (average power over the whole measurement period)
    exceeds the import limit over that period (time-weighted where the limit changes within it).
    With ``group.report_compliance_breaches`` the provider is told, correlated to the forecast
    the limit came from. Calling it again for the same period records nothing new."""
    return compliance_checks_record([(group, period_start, period_end, measured_kw)])[0]


@transaction.atomic
def compliance_checks_record(
    checks: list[tuple[CapacityGroup, datetime, datetime, Decimal | float]],
) -> list[ComplianceError | None]:
    """``compliance_check`` of each (group, period start, period end, measured kW), in order: the
    breach recorded (or already recorded) for it, else None. The limits of every check come from
    one query and the breaches already recorded from one more; only a new breach costs statements
    of its own. Called by the measurements app with each batch of aggregated periods."""
    pieces = envelopes_pieces([(group, start, end) for group, start, end, _ in checks])
    breaches = []  # (index of the check, (limit kW, source forecast ids))
    for index, ((_, start, end, measured_kw), by_quantity) in enumerate(zip(checks, pieces, strict=True)):
        limit = _period_limit(by_quantity[Quantity.IMPORT], start, end)
        if limit is not None and Decimal(str(measured_kw)) > limit[0]:
            breaches.append((index, limit))
    results: list[ComplianceError | None] = [None] * len(checks)
    if not breaches:
        return results
    recorded = {
        (error.group_id, error.period_start, error.period_end): error
        for error in ComplianceError.objects.filter(
            origin=ComplianceOrigin.SELF_CHECK,
            group_id__in={checks[index][0].id for index, _ in breaches},
            period_start__in={checks[index][1] for index, _ in breaches},
        )
    }
    source_ids = {source for _, (_, sources) in breaches for source in sources}
    newest_first = list(Forecast.objects.filter(id__in=source_ids)) if source_ids else []
    for index, (limit_kw, sources) in breaches:
        group, start, end, measured_kw = checks[index]
        key = (group.id, start, end)
        if key not in recorded:
            forecast = next((f for f in newest_first if f.id in sources), None)
            measured = Decimal(str(measured_kw))
            recorded[key] = _breach_record(
                group=group, start=start, end=end, measured=measured, limit_kw=limit_kw, forecast=forecast
            )
        results[index] = recorded[key]
    return results


def _period_limit(imports, start: datetime, end: datetime) -> tuple[Decimal, set[int]] | None:
    """(the import limit over [start, end) in kW, time-weighted, and the forecasts it came from),
    or None when part of it is not comparable with kW."""
    bounds = sorted({start, end} | {p.start for p in imports} | {p.end for p in imports})
    bounds = [b for b in bounds if start <= b <= end]
    allowed, seconds, sources = Decimal(0), Decimal((end - start).total_seconds()), set()
    for piece_start, piece_end in zip(bounds, bounds[1:], strict=False):
        in_force = [p for p in imports if p.start <= piece_start and p.end >= piece_end]
        limit = _import_kw(in_force)
        if limit is None:
            return None
        allowed += limit * Decimal((piece_end - piece_start).total_seconds())
        sources |= {p.source_id for p in in_force if p.source_id}
    return ((allowed / seconds).quantize(Decimal("0.000001")) if seconds else Decimal(0)), sources


def _breach_record(
    *, group: CapacityGroup, start: datetime, end: datetime, measured: Decimal, limit_kw: Decimal, forecast
) -> ComplianceError:
    text = (
        f"Measured {measured} kW from {start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC "
        f"exceeds the import limit of {limit_kw} kW."
    )
    blocks = []
    if forecast is not None:
        blocks = forecast.block_list(start=start, end=end)
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
        period_start=start,
        period_end=end,
        measured_kw=measured,
        limit_kw=limit_kw,
    )
