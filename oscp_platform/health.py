"""Health checks for load balancers, process managers and monitoring.

- ``/health/live``: the process answers (no dependency is asked). A process manager or an
  orchestrator restarts a process that stops answering it.
- ``/health/ready``: the platform can do its job — the database and the broker answer, Celery
  beat was seen within ``HEALTH_BEAT_MAX_AGE_SECONDS``, and no outbound message has waited for a
  worker longer than ``HEALTH_OUTBOX_MAX_AGE_SECONDS``. 200 or 503, each check with its detail.

Apps add checks from ``AppConfig.ready()`` with ``readiness_check_register`` (the outbox check
lives in ``connections``, which this package does not import).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.utils import timezone

from oscp_platform.celery import app as celery_app

from .models import Beacon

Check = Callable[[], dict]
CHECKS: dict[str, Check] = {}
BEAT = "beat"


def readiness_check_register(name: str, check: Check) -> None:
    """Add a readiness check: a function returning a dict with ``ok`` (bool) and any detail."""
    CHECKS[name] = check


def database_check() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"ok": True, "vendor": connection.vendor}


def broker_check() -> dict:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        return {"ok": True, "transport": conn.transport_cls if isinstance(conn.transport_cls, str) else "custom"}


def beat_check() -> dict:
    limit = settings.HEALTH_BEAT_MAX_AGE_SECONDS
    seen = Beacon.objects.filter(name=BEAT).values_list("seen_at", flat=True).first()
    if seen is None:
        return {"ok": False, "error": "beat never seen", "max_age_seconds": limit}
    age = (timezone.now() - seen).total_seconds()
    return {"ok": age <= limit, "seen_at": seen.isoformat(), "age_seconds": round(age, 1), "max_age_seconds": limit}


def beat_seen(*, now=None) -> None:
    """Record that beat is alive (called by the beat scheduler)."""
    Beacon.objects.update_or_create(name=BEAT, defaults={"seen_at": now or timezone.now()})


def readiness() -> tuple[bool, dict]:
    """Run every check; a check that raises is failed with the exception's class and message."""
    results = {}
    for name, check in {"database": database_check, "broker": broker_check, BEAT: beat_check, **CHECKS}.items():
        try:
            results[name] = check()
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    return all(result["ok"] for result in results.values()), results
