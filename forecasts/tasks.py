"""Periodic mode checks (one dispatcher fans out one task per group) and the compliance check of
reported measurement periods."""

from celery import shared_task
from django.db import transaction
from django.utils.dateparse import parse_datetime

from groups.models import CapacityGroup

from . import compliance, services


@shared_task(name="forecasts.groups_mode_check")
def groups_mode_check() -> int:
    """Queue one mode check per enabled group due one (claimed: never twice in one round)."""
    with transaction.atomic():
        ids = services.groups_mode_check_claim()
        transaction.on_commit(lambda: [group_mode_check.delay(group_id) for group_id in ids])
    return len(ids)


@shared_task(name="forecasts.group_mode_check", autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=3)
def group_mode_check(group_id: int) -> None:
    services.group_mode_refresh(group_id=group_id)


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
