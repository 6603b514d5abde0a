"""The outbox's readiness check (registered with ``oscp_platform.health`` from ``ready()``)."""

from django.conf import settings
from django.utils import timezone

from .selectors import outbox_oldest_due


def outbox_check() -> dict:
    """Ready while no outbound message has waited for a worker longer than
    ``HEALTH_OUTBOX_MAX_AGE_SECONDS`` (messages backing off from a failing partner are not due)."""
    limit = settings.HEALTH_OUTBOX_MAX_AGE_SECONDS
    oldest = outbox_oldest_due()
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    return {"ok": age <= limit, "oldest_due_age_seconds": round(age, 1), "max_age_seconds": limit}
