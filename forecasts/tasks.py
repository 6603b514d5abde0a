"""Periodic mode checks: one dispatcher fans out one task per group."""

from celery import shared_task
from django.db import transaction

from groups.models import CapacityGroup


@shared_task(name="forecasts.groups_mode_check")
def groups_mode_check() -> int:
    """Queue a mode check for every enabled group no other worker is holding."""
    with transaction.atomic():
        ids = list(
            CapacityGroup.objects.select_for_update(skip_locked=True)
            .filter(enabled=True)
            .order_by("id")
            .values_list("id", flat=True)
        )
        transaction.on_commit(lambda: [group_mode_check.delay(group_id) for group_id in ids])
    return len(ids)


@shared_task(name="forecasts.group_mode_check", autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=3)
def group_mode_check(group_id: int) -> None:
    from .services import group_mode_refresh

    group_mode_refresh(group_id=group_id)
