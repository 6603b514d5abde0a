from celery import shared_task
from django.utils import timezone
from django.utils.dateparse import parse_datetime


@shared_task(name="measurements.reports_dispatch")
def reports_dispatch() -> None:
    """Queue a report task for every group and audience whose period has closed."""
    from .services import report_cursors_dispatch

    report_cursors_dispatch(now=timezone.now())


@shared_task(name="measurements.report_cursor_run")
def report_cursor_run(cursor_id: int) -> None:
    from .services import report_cursor_advance

    report_cursor_advance(cursor_id=cursor_id, now=timezone.now())


@shared_task(name="measurements.readings_prune")
def readings_prune() -> None:
    from .services import readings_prune as prune

    prune(now=timezone.now())


@shared_task(name="measurements.compliance_check")
def compliance_check(group_id: int, period_start: str, period_end: str, measured_kw: float) -> None:
    """The compliance check of a reported period: measured average power against the import limit."""
    from forecasts.compliance import compliance_check as check
    from groups.models import CapacityGroup

    group = CapacityGroup.objects.filter(id=group_id).first()
    if group is None:
        return
    check(
        group=group,
        period_start=parse_datetime(period_start),
        period_end=parse_datetime(period_end),
        measured_kw=measured_kw,
    )
