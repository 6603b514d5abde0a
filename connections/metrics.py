"""The outbox's and partners' metrics (``oscp_platform/metrics.py``)."""

from django.db.models import Count
from django.utils import timezone
from prometheus_client import Counter, Histogram

from oscp_platform.metrics import gauge

from .choices import MessageDirection
from .models import Message, Partner
from .selectors import outbox_oldest_due

SENDS = Counter(
    "oscp_outbox_sends",
    "Outbound message attempts by partner, message type and outcome (sent, retry, dead)",
    ["partner", "message_type", "outcome"],
)
SEND_SECONDS = Histogram(
    "oscp_outbox_send_duration_seconds",
    "Time a partner took to answer one of our messages",
    ["partner"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15),
)


def sends_observe(outcomes: list[tuple[int | None, str, str, int | None]]) -> None:
    """Count a batch's outcomes: ``(partner id, message type, outcome, duration ms)``."""
    for partner_id, message_type, outcome, duration_ms in outcomes:
        partner = str(partner_id or "webhook")
        SENDS.labels(partner, message_type, outcome).inc()
        if duration_ms is not None:
            SEND_SECONDS.labels(partner).observe(duration_ms / 1000)


def database_gauges():
    by_status = (
        Message.objects.filter(direction=MessageDirection.OUTBOUND)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
    )
    yield gauge("oscp_outbox_messages", "Outbound messages by status", ["status"], {(s,): n for s, n in by_status})
    oldest = outbox_oldest_due()
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    yield gauge(
        "oscp_outbox_oldest_due_age_seconds",
        "How long the longest-waiting due outbound message has waited for a worker",
        [],
        {(): age},
    )
    states = Partner.objects.order_by().values_list("role", "connection_state").annotate(n=Count("id"))
    yield gauge(
        "oscp_partners", "Partners by role and connection state", ["role", "state"], {(r, s): n for r, s, n in states}
    )
