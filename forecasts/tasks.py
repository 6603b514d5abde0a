"""Periodic mode checks: one dispatcher fans out one task per group."""

from celery import shared_task
from django.db import transaction


@shared_task(name="forecasts.groups_mode_check")
def groups_mode_check() -> int:
    """Queue one mode check per enabled group due one (claimed: never twice in one round)."""
    from .services import groups_mode_check_claim

    with transaction.atomic():
        ids = groups_mode_check_claim()
        transaction.on_commit(lambda: [group_mode_check.delay(group_id) for group_id in ids])
    return len(ids)


@shared_task(name="forecasts.group_mode_check", autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=3)
def group_mode_check(group_id: int) -> None:
    from .services import group_mode_refresh

    group_mode_refresh(group_id=group_id)
