"""The dashboard sections of the connections app: partners by connection state, the outbox, and
recent errors (``oscp_platform.dashboard``). Every number links to the filtered list."""

from datetime import timedelta
from urllib.parse import urlencode

from django.urls import reverse

from oscp_platform.dashboard import dashboard_section_register

from ..choices import ConnectionState, MessageDirection, MessageStatus, PartnerRole
from ..selectors import (
    message_errors_count,
    messages_recent_errors,
    outbox_summary,
    partners_by_state,
    partners_needing_attention,
)
from .badges import STATE_TONES, partner_change_url

RECENT = timedelta(hours=24)
ROLE_LISTS = {
    PartnerRole.CAPACITY_PROVIDER: "admin:connections_capacityprovider_changelist",
    PartnerRole.CAPACITY_OPTIMIZER: "admin:connections_capacityoptimizer_changelist",
}


def _list_url(name: str, **params) -> str:
    return reverse(name) + ("?" + urlencode(params) if params else "")


def partners_context(request, now) -> dict | None:
    if not request.user.has_perm("connections.view_partner") and not request.user.has_perm(
        "connections.view_capacityprovider"
    ):
        return None
    counts = {(row["role"], row["connection_state"]): row for row in partners_by_state()}
    rows = []
    for state in ConnectionState.values:
        cells = [counts.get((role, state)) for role in ROLE_LISTS]
        if not any(cells):
            continue
        rows.append(
            {
                "state": state,
                "tone": STATE_TONES.get(state, "muted"),
                "roles": [
                    {
                        "count": cell["count"] if cell else 0,
                        "url": _list_url(name, connection_state__exact=state),
                    }
                    for cell, name in zip(cells, ROLE_LISTS.values(), strict=True)
                ],
                "last_received": max((c["last_received"] for c in cells if c and c["last_received"]), default=None),
                "last_sent": max((c["last_sent"] for c in cells if c and c["last_sent"]), default=None),
            }
        )
    attention = [
        {"partner": p, "url": partner_change_url(p), "tone": STATE_TONES.get(p.connection_state, "muted")}
        for p in partners_needing_attention()
    ]
    return {
        "rows": rows,
        "total": sum(row["count"] for row in counts.values()),
        "attention": attention,
        "add_provider": reverse("admin:connections_capacityprovider_add"),
    }


def outbox_context(request, now) -> dict | None:
    if not request.user.has_perm("connections.view_message"):
        return None
    summary = outbox_summary(since=now - RECENT)
    messages = "admin:connections_message_changelist"
    out = {"direction__exact": MessageDirection.OUTBOUND}
    oldest = summary["oldest_unsent"]
    figures = [
        ("pending", summary["pending"], "warn" if summary["pending"] else "ok", {"status__exact": "pending"}),
        ("sending", summary["sending"], "ok", {"status__exact": "sending"}),
        ("failing", summary["failing"], "warn" if summary["failing"] else "ok", {"status__exact": "failed"}),
        ("dead (24 h)", summary["dead_recent"], "bad" if summary["dead_recent"] else "ok",
         {"status__exact": "dead", "since": "day"}),
        ("dead (all kept)", summary["dead"], "bad" if summary["dead"] else "ok", {"status__exact": "dead"}),
    ]  # fmt: skip
    return {
        "figures": [
            {"label": label, "value": value, "tone": tone, "url": _list_url(messages, **out, **params)}
            for label, value, tone, params in figures
        ],
        "oldest_unsent": oldest,
        "oldest_url": _list_url(messages, **out, status__in="pending,sending,failed", o="1"),
    }


def errors_context(request, now) -> dict | None:
    if not request.user.has_perm("connections.view_message"):
        return None
    counts = message_errors_count(since=now - RECENT)
    messages = "admin:connections_message_changelist"
    return {
        "dead_recent": counts["dead"],
        "rejected_recent": counts["rejected"],
        "dead_url": _list_url(messages, status__exact=MessageStatus.DEAD, since="day"),
        "rejected_url": _list_url(messages, status__exact=MessageStatus.REJECTED, since="day"),
        "errors": [
            {
                "message": m,
                "url": reverse("admin:connections_message_change", args=[m.pk]),
                "partner_url": partner_change_url(m.partner) if m.partner else None,
            }
            for m in messages_recent_errors(since=now - RECENT)
        ],
    }


dashboard_section_register(
    key="partners", title="Partners", order=10, template="admin/dashboard/partners.html", context=partners_context
)
dashboard_section_register(
    key="outbox", title="Outbox", order=30, template="admin/dashboard/outbox.html", context=outbox_context
)
dashboard_section_register(
    key="errors", title="Errors in the last 24 hours", order=40, template="admin/dashboard/errors.html",
    context=errors_context,
)  # fmt: skip
