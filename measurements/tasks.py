"""Celery entry points of the measurements app: thin, each calls one service."""

from datetime import datetime

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from oscp_platform.broker import task_publish

from . import services

REPORTS_RUN_TASK = "measurements.reports_run"


def reports_queue(*, now: datetime) -> list[int]:
    """Find the report cursors whose period has closed and queue their reports on commit, one
    task per ``MEASUREMENT_REPORT_BATCH`` cursors."""
    size = settings.MEASUREMENT_REPORT_BATCH
    with transaction.atomic():
        due = services.report_cursors_dispatch(now=now)
        batches = [due[start : start + size] for start in range(0, len(due), size)]
        transaction.on_commit(
            lambda: [
                task_publish(REPORTS_RUN_TASK, args=(batch,), fallback="The next dispatch queues them again.")
                for batch in batches
            ]
        )
    return due


@shared_task(name="measurements.reports_dispatch")
def reports_dispatch() -> int:
    """Queue the reports of every group and audience whose period has closed."""
    return len(reports_queue(now=timezone.now()))


@shared_task(name=REPORTS_RUN_TASK)
def reports_run(cursor_ids: list[int]) -> int:
    """Report the closed periods of a batch of cursors (one transaction); returns the messages written."""
    return len(services.report_cursors_advance(cursor_ids=cursor_ids, now=timezone.now()))


@shared_task(name="measurements.report_cursor_run")
def report_cursor_run(cursor_id: int) -> None:
    """One cursor (tasks queued before reports ran in batches)."""
    services.report_cursors_advance(cursor_ids=[cursor_id], now=timezone.now())


@shared_task(name="measurements.readings_prune")
def readings_prune() -> None:
    services.readings_prune(now=timezone.now())
