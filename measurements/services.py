"""Writes on readings, report cursors and the outbox. Report bodies are built in ``reports``."""

import logging
import re
from datetime import datetime, timedelta

import orjson
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from psycopg.errors import UniqueViolation

from connections.models import Message
from connections.outbox import outbox_enqueue
from groups.choices import Audience
from groups.models import CapacityGroup
from oscp_platform.broker import task_publish

from .choices import ReportOutcome
from .models import Reading, ReportCursor
from .reports import (
    align_down,
    align_up,
    audience_partner,
    audience_period,
    period_delta,
    period_windows_closed,
    report_build,
    window_of,
)
from .selectors import AUDIENCE_FIELDS, report_cursors_due

COMPLIANCE_CHECK_TASK = "forecasts.compliance_check"

logger = logging.getLogger(__name__)

PRUNE_BATCH = 50_000
UPSERT_BATCH = 2_000


_COLUMNS = "owner_id, node_id, source_id, ts, instantaneous, accumulating"
_STAGE_SQL = """
CREATE TEMPORARY TABLE IF NOT EXISTS measurements_reading_in (
    owner_id bigint, node_id bigint, source_id text, ts timestamptz, instantaneous jsonb, accumulating jsonb
) ON COMMIT DELETE ROWS
"""
_UPSERT_SQL = f"""
INSERT INTO measurements_reading ({_COLUMNS}) SELECT {_COLUMNS} FROM measurements_reading_in
ON CONFLICT (owner_id, node_id, source_id, ts)
DO UPDATE SET instantaneous = EXCLUDED.instantaneous, accumulating = EXCLUDED.accumulating
"""
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")


def _copy_escape(text: str) -> str:
    """``text`` as a value in COPY's text format."""
    if _COPY_SPECIAL.search(text) is None:
        return text
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy_text(owner_id: int, unique: dict[tuple, dict]) -> bytes:
    """The readings as the text of a PostgreSQL COPY (one line a row, tab-separated)."""
    streams, times, lines = {}, {}, []  # a request holds many readings of each stream and time
    dumps = orjson.dumps
    for (node_id, source_id, ts), reading in unique.items():
        stream = streams.get((node_id, source_id))
        if stream is None:
            stream = streams[node_id, source_id] = f"{owner_id}\t{node_id}\t{_copy_escape(source_id)}\t".encode()
        when = times.get(ts)
        if when is None:
            when = times[ts] = ts.isoformat().encode()
        instantaneous, accumulating = dumps(reading["instantaneous"]), dumps(reading["accumulating"])
        if b"\\" in instantaneous or b"\\" in accumulating:  # an escape in a property name
            instantaneous, accumulating = (v.replace(b"\\", b"\\\\") for v in (instantaneous, accumulating))
        lines.append(b"%s%s\t%s\t%s\n" % (stream, when, instantaneous, accumulating))
    return b"".join(lines)


@transaction.atomic
def readings_store(*, owner, readings: list[dict]) -> int:
    """Store validated readings for ``owner``; a reading for the same node, source and time as an
    earlier one replaces it. Returns how many readings were stored."""
    # The last reading of a stream and time wins.
    unique = {(reading["node_id"], reading["source_id"], reading["ts"]): reading for reading in readings}
    if not unique:
        return 0
    if connection.vendor == "postgresql":
        data = _copy_text(owner.pk, unique)
        with connection.cursor() as cursor:
            try:
                # New readings (the usual case) go straight in with COPY, as fast as PostgreSQL
                # takes rows; should one replace a stored reading, that COPY is undone ...
                with transaction.atomic():
                    with cursor.cursor.copy(f"COPY measurements_reading ({_COLUMNS}) FROM STDIN") as copy:
                        copy.write(data)
            except UniqueViolation:
                # ... and the readings are copied into a session-temporary table and merged
                # with one upsert.
                cursor.execute(_STAGE_SQL)
                with cursor.cursor.copy(f"COPY measurements_reading_in ({_COLUMNS}) FROM STDIN") as copy:
                    copy.write(data)
                cursor.execute(_UPSERT_SQL)
                cursor.execute("TRUNCATE measurements_reading_in")
    else:
        Reading.objects.bulk_create(
            (Reading(owner=owner, **reading) for reading in unique.values()),
            batch_size=UPSERT_BATCH,
            update_conflicts=True,
            unique_fields=["owner", "node_id", "source_id", "ts"],
            update_fields=["instantaneous", "accumulating"],
        )
    return len(unique)


def readings_prune(*, now: datetime, days: int | None = None) -> int:
    """Delete readings older than the retention period, in batches (each its own transaction so
    the table is never locked for long). Returns how many were deleted."""
    days = settings.MEASUREMENTS_READING_RETENTION_DAYS if days is None else days
    cutoff = now - timedelta(days=days)
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(Reading.objects.filter(ts__lt=cutoff).values_list("id", flat=True)[:PRUNE_BATCH])
            if not ids:
                break
            deleted += Reading.objects.filter(id__in=ids).delete()[0]
    if deleted:
        logger.info("Pruned %s readings older than %s", deleted, cutoff.isoformat())
    return deleted


# --- reports ------------------------------------------------------------------------------------


def _report_delay() -> timedelta:
    return timedelta(seconds=settings.MEASUREMENT_REPORT_DELAY_SECONDS)


@transaction.atomic
def report_cursors_ensure(*, now: datetime) -> int:
    """Give every enabled group a cursor per audience it reports to, starting with the period
    open now; follow period changes. Returns how many cursors were created."""
    new = []
    for audience, (partner_field, period_field) in AUDIENCE_FIELDS.items():
        groups = (
            CapacityGroup.objects.filter(enabled=True, **{f"{partner_field}__isnull": False})
            .exclude(**{period_field: ""})
            .exclude(report_cursors__audience=audience)
            .values_list("id", period_field)
        )
        for group_id, period in groups:
            start = align_down(now, period_delta(period))
            new.append(
                ReportCursor(
                    group_id=group_id,
                    audience=audience,
                    period=period,
                    last_period_end=start,
                    next_due_at=start + period_delta(period),
                )
            )
        changed = (
            ReportCursor.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(audience=audience)
            .exclude(**{f"group__{period_field}": ""})
            .exclude(period=F(f"group__{period_field}"))
            .select_related("group")
        )
        for cursor in changed:
            cursor.period = getattr(cursor.group, period_field)
            step = period_delta(cursor.period)
            cursor.next_due_at = align_up(cursor.last_period_end, step) + step
            cursor.save(update_fields=["period", "next_due_at", "modified"])
    ReportCursor.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


@transaction.atomic
def report_cursors_dispatch(*, now: datetime) -> list[int]:
    """The cursors whose next period has closed (``tasks.reports_queue`` queues a report task for each)."""
    report_cursors_ensure(now=now)
    return list(report_cursors_due(closed_by=now - _report_delay()).values_list("id", flat=True))


@transaction.atomic
def report_cursor_advance(*, cursor_id: int, now: datetime) -> list[Message]:
    """Report every closed period of one cursor not yet reported, oldest first, at most
    ``MEASUREMENT_CATCHUP_PERIODS`` of them (older ones are dropped). The cursor row stays locked
    until the messages are written, and a worker that finds it locked leaves it: each period is
    reported once per audience however many workers run."""
    cursor = (
        ReportCursor.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("group")
        .filter(id=cursor_id)
        .first()
    )
    if cursor is None:
        return []
    group = cursor.group
    partner = audience_partner(group, cursor.audience)
    period = audience_period(group, cursor.audience)
    if not (group.enabled and partner is not None and partner.enabled and period):
        return []
    step = period_delta(period)
    limit = max(1, settings.MEASUREMENT_CATCHUP_PERIODS)
    windows = period_windows_closed(period=period, after=cursor.last_period_end, now=now - _report_delay(), limit=limit)
    cursor.period = period
    if not windows:
        cursor.next_due_at = align_up(cursor.last_period_end, step) + step
        cursor.save(update_fields=["period", "next_due_at", "modified"])
        return []
    dropped = (windows[0][0] - align_up(cursor.last_period_end, step)) // step
    messages, outcome, detail = [], ReportOutcome.NO_DATA, ""
    for start, end in windows:
        report = report_build(group=group, audience=cursor.audience, partner=partner, start=start, end=end)
        message = _report_enqueue(group=group, partner=partner, report=report)
        if message is not None:
            messages.append(message)
            cursor.last_message = message
        if message is not None:
            outcome = ReportOutcome.QUEUED
        else:
            outcome = ReportOutcome.NO_DATA if report.no_data else ReportOutcome.SKIPPED
        detail = report.detail
        if cursor.audience == Audience.CAPACITY_PROVIDER:
            _compliance_check_queue(group=group, start=start, end=end, energy_wh=report.energy_wh)
    if dropped:
        logger.warning("Group %s to %s: %s periods dropped (beyond catch-up)", group.id, cursor.audience, dropped)
        detail = f"{dropped} older period(s) dropped. {detail}"
    cursor.last_period_end = windows[-1][1]
    cursor.next_due_at = cursor.last_period_end + step
    cursor.last_outcome = outcome
    cursor.last_detail = detail[:255]
    cursor.last_attempt_at = now
    cursor.save()
    return messages


@transaction.atomic
def report_send(*, group: CapacityGroup, audience: str, period_start: datetime, now: datetime) -> tuple:
    """(Re)send ``group``'s report to ``audience`` for the period starting at ``period_start``,
    whatever was sent before. Returns (message or None when there is nothing to send, report)."""
    partner = audience_partner(group, audience) if audience in AUDIENCE_FIELDS else None
    if partner is None:
        raise ValidationError({"audience": [f"The group has no {audience or 'such'} partner to report to."]})
    period = audience_period(group, audience)
    if not period:
        raise ValidationError({"audience": ["The group has no measurement period for this audience."]})
    try:
        start, end = window_of(period=period, start=period_start)
    except ValueError as exc:
        raise ValidationError({"periodStart": [f"Must be the start of a period: {exc}."]}) from exc
    if end > now:
        raise ValidationError({"periodStart": ["That period has not closed yet."]})
    report = report_build(group=group, audience=audience, partner=partner, start=start, end=end)
    return _report_enqueue(group=group, partner=partner, report=report), report


def _report_enqueue(*, group, partner, report) -> Message | None:
    if report.body is None:
        return None
    return outbox_enqueue(partner=partner, message_type=report.message_type, body=report.body, group=group)


def _compliance_check_queue(*, group, start: datetime, end: datetime, energy_wh: float | None) -> None:
    """Hand the period's average power to the compliance check (the forecasts app's
    ``forecasts.compliance_check`` task, published by name: the two apps do not import each other)."""
    if energy_wh is None:
        return
    measured_kw = energy_wh / 1000 / ((end - start).total_seconds() / 3600)
    args = (group.id, start.isoformat(), end.isoformat(), measured_kw)
    transaction.on_commit(
        lambda: task_publish(COMPLIANCE_CHECK_TASK, args=args, fallback="The period is not checked for compliance.")
    )
