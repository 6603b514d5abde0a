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

from connections.client import call_refusal
from connections.models import Message
from connections.outbox import outbox_enqueue, outbox_enqueue_bodies
from groups.choices import Audience
from groups.models import CapacityGroup
from oscp_platform.broker import task_publish

from .choices import ReportOutcome
from .models import Reading, ReportCursor
from .reports import (
    ReportJob,
    align_down,
    align_up,
    audience_partner,
    audience_partner_id,
    audience_period,
    period_delta,
    period_windows_closed,
    report_build,
    reports_build,
    window_of,
)
from .selectors import AUDIENCE_FIELDS, report_assets_of, report_cursors_claim, report_cursors_due, report_partners
from .sql import db_time, json_time, rows_param, rows_sql

COMPLIANCE_CHECKS_TASK = "forecasts.compliance_checks"

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


def report_cursor_advance(*, cursor_id: int, now: datetime) -> list[int]:
    """``report_cursors_advance`` for one cursor."""
    return report_cursors_advance(cursor_ids=[cursor_id], now=now)


@transaction.atomic
def report_cursors_advance(*, cursor_ids: list[int], now: datetime) -> list[int]:
    """Report every closed period of the given cursors not yet reported, oldest first, at most
    ``MEASUREMENT_CATCHUP_PERIODS`` per cursor (older ones are dropped and noted on the cursor).

    One statement claims the cursors still due (``FOR UPDATE SKIP LOCKED``: a cursor another
    worker holds, or that was advanced since it was queued, is left alone, so each period is
    reported once per audience however many workers run); one aggregation query measures every
    asset of every period; one INSERT writes the outbox rows and one UPDATE advances the cursors;
    after commit the rows are published in batches, and the compliance checks of the provider
    reports in one task. Returns the ids of the messages written, oldest period first per cursor."""
    cursors = report_cursors_claim(cursor_ids=cursor_ids, closed_by=now - _report_delay())
    if not cursors:
        return []
    groups = {cursor.group_id: cursor.group for cursor in cursors}
    partners = report_partners(groups=groups.values())
    assets = report_assets_of(groups=groups)
    limit = max(1, settings.MEASUREMENT_CATCHUP_PERIODS)
    plans, jobs = [], []
    for cursor in cursors:
        group = cursor.group
        partner = partners.get(audience_partner_id(group, cursor.audience))
        period = audience_period(group, cursor.audience)
        if partner is None or not period:
            continue
        cursor.period = period
        windows = period_windows_closed(
            period=period, after=cursor.last_period_end, now=now - _report_delay(), limit=limit
        )
        plans.append((cursor, partner, windows))
        jobs += [
            ReportJob(group, cursor.audience, partner, assets.get((group.id, cursor.audience), []), start, end)
            for start, end in windows
        ]
    reports = iter(reports_build(jobs))
    messages, sources, checks, dropped = [], [], [], 0
    for cursor, partner, windows in plans:
        step = period_delta(cursor.period)
        if not windows:
            cursor.next_due_at = align_up(cursor.last_period_end, step) + step
            continue
        outcome, detail = ReportOutcome.NO_DATA, ""
        for start, end in windows:
            report = next(reports)
            if report.body is not None:
                messages.append((partner.id, cursor.group_id, report.message_type, report.body))
                sources.append(cursor)
                outcome = ReportOutcome.QUEUED
            else:
                outcome = ReportOutcome.NO_DATA if report.no_data else ReportOutcome.SKIPPED
            detail = report.detail
            if cursor.audience == Audience.CAPACITY_PROVIDER and report.energy_wh is not None:
                hours = (end - start).total_seconds() / 3600
                checks.append([cursor.group_id, start.isoformat(), end.isoformat(), report.energy_wh / 1000 / hours])
        skipped = (windows[0][0] - align_up(cursor.last_period_end, step)) // step
        if skipped:
            dropped += 1
            detail = f"{skipped} older period(s) dropped. {detail}"
        cursor.last_period_end = windows[-1][1]
        cursor.next_due_at = cursor.last_period_end + step
        cursor.last_outcome = outcome
        cursor.last_detail = detail[:255]
        cursor.last_attempt_at = now
    created = outbox_enqueue_bodies(messages, now=now)
    for cursor, message_id in zip(sources, created, strict=True):
        cursor.last_message_id = message_id
    _cursors_save([cursor for cursor, _, _ in plans], now=now)
    if dropped:
        logger.warning("%s report cursor(s) dropped periods beyond catch-up (see each cursor's detail)", dropped)
    _compliance_checks_queue(checks)
    return created


_CURSORS_SAVE_SQL = """
WITH v (id, period, last_period_end, next_due_at, last_outcome, last_detail, last_attempt_at, last_message_id)
AS ({rows})
UPDATE measurements_reportcursor SET
    period = v.period, last_period_end = v.last_period_end, next_due_at = v.next_due_at,
    last_outcome = v.last_outcome, last_detail = v.last_detail, last_attempt_at = v.last_attempt_at,
    last_message_id = v.last_message_id, modified = %s
FROM v WHERE measurements_reportcursor.id = v.id
"""
_CURSOR_COLUMNS = [("id", "BIGINT"), ("period", "TEXT"), ("last_period_end", "TIMESTAMP WITH TIME ZONE")]
_CURSOR_COLUMNS += [("next_due_at", "TIMESTAMP WITH TIME ZONE"), ("last_outcome", "TEXT"), ("last_detail", "TEXT")]
_CURSOR_COLUMNS += [("last_attempt_at", "TIMESTAMP WITH TIME ZONE"), ("last_message_id", "BIGINT")]


def _cursors_save(cursors: list, *, now: datetime) -> None:
    """Advance the cursors in one UPDATE (a bookkeeping change: no history)."""
    if not cursors:
        return
    rows = [
        [
            c.id,
            c.period,
            json_time(c.last_period_end),
            json_time(c.next_due_at),
            c.last_outcome,
            c.last_detail,
            json_time(c.last_attempt_at),
            c.last_message_id,
        ]
        for c in cursors
    ]
    with connection.cursor() as cursor:
        cursor.execute(_CURSORS_SAVE_SQL.format(rows=rows_sql(_CURSOR_COLUMNS)), [rows_param(rows), db_time(now)])


@transaction.atomic
def report_send(*, group: CapacityGroup, audience: str, period_start: datetime, now: datetime) -> tuple:
    """(Re)send ``group``'s report to ``audience`` for the period starting at ``period_start``,
    whatever was sent before. Returns (message or None when there is nothing to send, report)."""
    partner = audience_partner(group, audience) if audience in AUDIENCE_FIELDS else None
    if partner is None:
        raise ValidationError({"audience": [f"The group has no {audience or 'such'} partner to report to."]})
    refusal = call_refusal(partner)
    if refusal:
        raise ValidationError({"partnerToken": [f"The report cannot be sent: {refusal}"]})
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


def _compliance_checks_queue(checks: list[list]) -> None:
    """Hand the provider reports' average power to the compliance check, one task for the batch
    (``forecasts.compliance_checks``, published by name: the two apps do not import each other),
    each item [group id, period start, period end, measured kW]."""
    if checks:
        transaction.on_commit(
            lambda: task_publish(
                COMPLIANCE_CHECKS_TASK, args=(checks,), fallback="These periods are not checked for compliance."
            )
        )
