from django.db import connection
from django.http import JsonResponse
from django.views import defaults

from oscp_platform.celery import app as celery_app

from .health import readiness


def health(request):
    """200 when the database and the broker answer, 503 naming what does not."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["broker"] = f"error: {exc.__class__.__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503)


def health_live(request):
    """200 while the process answers; asks no dependency (a process manager restarts on failure)."""
    return JsonResponse({"status": "ok"})


def health_ready(request):
    """200 when the database and broker answer, beat was seen recently and the outbox keeps up;
    503 otherwise, each check with its detail (``oscp_platform/health.py``)."""
    ready, checks = readiness()
    return JsonResponse({"status": "ok" if ready else "error", "checks": checks}, status=200 if ready else 503)


def not_found(request, exception=None):
    """Unknown URLs under the APIs answer JSON in each API's error shape; elsewhere, Django's page."""
    if request.path.startswith("/solaruser/"):
        return JsonResponse({"success": False, "message": f"No such resource: {request.path}"}, status=404)
    if request.path.startswith("/oscp/"):
        return JsonResponse({"message": f"No such OSCP endpoint: {request.path}"}, status=404)
    return defaults.page_not_found(request, exception)
