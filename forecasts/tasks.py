"""Periodic mode checks (one dispatcher fans out one task per group), the compliance check of
reported measurement periods, and the retention of forecasts and envelope rows."""

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from groups.models import CapacityGroup

from . import compliance, services


@shared_task(name="forecasts.groups_mode_check")
def groups_mode_check() -> int:
    """Queue the mode check of every enabled group due one (claimed: never twice in one round),
    in batches of ``GROUP_MODE_CHECK_BATCH`` groups per task."""
    size = settings.GROUP_MODE_CHECK_BATCH
    with transaction.atomic():
        ids = services.groups_mode_check_claim()
        batches = [ids[start : start + size] for start in range(0, len(ids), size)]
        transaction.on_commit(lambda: [group_modes_check.delay(batch) for batch in batches])
    return len(ids)


@shared_task(name="forecasts.group_modes_check", autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=3)
def group_modes_check(group_ids: list[int]) -> None:
    """Re-evaluate the mode of each group (one transaction each; a group another worker holds is skipped)."""
    for group_id in group_ids:
        services.group_mode_refresh(group_id=group_id)


@shared_task(name="forecasts.compliance_checks")
def compliance_checks(checks: list[list]) -> None:
    """The compliance checks of a batch of reported periods (published by the measurements app by
    name), each [group id, period start, period end, measured kW], in one transaction."""
    groups = CapacityGroup.objects.in_bulk({check[0] for check in checks})
    compliance.compliance_checks_record(
        [
            (groups[group_id], parse_datetime(period_start), parse_datetime(period_end), measured_kw)
            for group_id, period_start, period_end, measured_kw in checks
            if group_id in groups
        ]
    )


@shared_task(name="forecasts.compliance_check")
def compliance_check(group_id: int, period_start: str, period_end: str, measured_kw: float) -> None:
    """The compliance check of a reported period (published by the measurements app by name):
    measured average power against the import limit."""
    group = CapacityGroup.objects.filter(id=group_id).first()
    if group is None:
        return
    compliance.compliance_check(
        group=group,
        period_start=parse_datetime(period_start),
        period_end=parse_datetime(period_end),
        measured_kw=measured_kw,
    )


@shared_task(name="forecasts.forecasts_prune")
def forecasts_prune() -> int:
    """Remove forecasts and envelope rows past ``FORECAST_RETENTION_DAYS``."""
    return services.forecasts_prune(now=timezone.now())
