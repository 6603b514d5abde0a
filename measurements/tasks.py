"""Celery entry points of the measurements app: thin, each calls one service."""

from datetime import datetime

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from . import services


def reports_queue(*, now: datetime) -> list[int]:
    """Claim the report cursors whose period has closed and queue one report task each on commit."""
    with transaction.atomic():
        due = services.report_cursors_dispatch(now=now)
        transaction.on_commit(lambda: [report_cursor_run.delay(cursor_id) for cursor_id in due])
    return due


@shared_task(name="measurements.reports_dispatch")
def reports_dispatch() -> int:
    """Queue a report task for every group and audience whose period has closed."""
    return len(reports_queue(now=timezone.now()))


@shared_task(name="measurements.report_cursor_run")
def report_cursor_run(cursor_id: int) -> None:
    services.report_cursor_advance(cursor_id=cursor_id, now=timezone.now())


@shared_task(name="measurements.readings_prune")
def readings_prune() -> None:
    services.readings_prune(now=timezone.now())
