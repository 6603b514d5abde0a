"""Message log and outbox admin (read-only browse), and parts of segmented inbound messages.

A message's page leads with its outcome (status, HTTP status, error, partner and group as links),
then its attempts, then the request and the body as formatted JSON. Sealed bodies and headers
(what is sent, with secrets) are never shown."""

import json
from datetime import timedelta

from django.contrib import admin
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from connections.models import Message, MessageSegment
from oscp_platform.admin import ReadOnlyAdmin

from ..choices import MessageDirection, MessageStatus
from .badges import message_badge, partner_change_url
from .outbound import MessageOutboxAdminMixin

# Statuses after which nothing more is attempted.
FINAL = (
    MessageStatus.SENT,
    MessageStatus.DEAD,
    MessageStatus.ACCEPTED,
    MessageStatus.REJECTED,
    MessageStatus.DUPLICATE,
)


class SinceFilter(admin.SimpleListFilter):
    """Recent time ranges (the dashboard's "last 24 hours" links use it)."""

    title = "since"
    parameter_name = "since"
    RANGES = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}

    def lookups(self, request, model_admin):
        return [("hour", "Last hour"), ("day", "Last 24 hours"), ("week", "Last 7 days")]

    def queryset(self, request, queryset):
        if self.value() in self.RANGES:
            return queryset.filter(created__gte=timezone.now() - self.RANGES[self.value()])
        return queryset


def pretty_json(value) -> str:
    """JSON indented and escaped, in a scrolling block."""
    if value in (None, "", {}, []):
        return "-"
    return format_html('<pre class="json">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False))


@admin.register(Message)
class MessageAdmin(MessageOutboxAdminMixin, ReadOnlyAdmin):
    """The audit trail: nobody edits or deletes it here (retention prunes old rows)."""

    list_display = ["created", "status_shown", "http_status", "arrow", "message_type", "partner", "group", "attempts"]
    list_filter = [
        "status",
        "direction",
        SinceFilter,
        "message_type",
        "partner",
        "group",
        ("created", admin.DateFieldListFilter),
    ]
    list_select_related = ["partner", "group"]
    search_fields = ["=request_id", "=correlation_id"]
    search_help_text = "Exact X-Request-ID or X-Correlation-ID."
    date_hierarchy = "created"
    show_full_result_count = False

    def get_fieldsets(self, request, obj=None):
        attempts = ["attempts", "last_answer", "attempt_log", "attempt_notes"]
        if obj is not None and obj.status not in FINAL:
            attempts += ["next_attempt_at", "deadline"]
        return [
            (
                None,
                {
                    "fields": [
                        "status_shown",
                        "direction",
                        "message_type",
                        "partner_link",
                        "group_link",
                        "created",
                        "completed_at",
                        "http_status",
                        "error",
                    ]
                },
            ),
            ("Attempts", {"fields": [*attempts, "related"]}),
            ("Request", {"fields": ["request_id", "correlation_id", "url", "headers_shown"]}),
            ("Body", {"fields": ["body_shown"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        return [f for _name, options in self.get_fieldsets(request, obj) for f in options["fields"]]

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="status", ordering="status")
    def status_shown(self, message):
        return message_badge(message.status)

    @admin.display(description="dir", ordering="direction")
    def arrow(self, message):
        return format_html(
            '<span title="{}">{}</span>',
            message.get_direction_display(),
            "→ out" if message.direction == MessageDirection.OUTBOUND else "← in",
        )

    @admin.display(description="partner")
    def partner_link(self, message):
        if message.partner is None:
            return "-"
        return format_html('<a href="{}">{}</a>', partner_change_url(message.partner), message.partner)

    @admin.display(description="group")
    def group_link(self, message):
        if message.group is None:
            return "-"
        url = reverse("admin:groups_capacitygroup_change", args=[message.group_id])
        return format_html('<a href="{}">{}</a>', url, message.group)

    @admin.display(description="last answer")
    def last_answer(self, message):
        if message.http_status is None and message.duration_ms is None:
            return "no answer recorded"
        status = f"HTTP {message.http_status}" if message.http_status is not None else "no HTTP status"
        took = f" in {message.duration_ms} ms" if message.duration_ms is not None else ""
        return f"{status}{took}"

    @admin.display(description="attempt log")
    def attempt_log(self, message):
        """Each try at sending, newest first: when, the outbox's verdict, the answer and its time."""
        shown = 20
        rows = list(message.delivery_attempts.order_by("-number")[: shown + 1])
        if not rows:
            return "no attempt yet" if message.direction == MessageDirection.OUTBOUND else "-"
        items = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    row.number,
                    row.attempted_at.strftime("%Y-%m-%d %H:%M:%S"),
                    row.get_outcome_display(),
                    row.http_status if row.http_status is not None else "-",
                    f"{row.duration_ms} ms" if row.duration_ms is not None else "-",
                    row.error or "-",
                )
                for row in rows[:shown]
            ),
        )
        more = f"the last {shown} of {message.attempts} attempts" if len(rows) > shown else ""
        return format_html(
            '<table class="attempt-log"><thead><tr><th>#</th><th>at (UTC)</th><th>outcome</th><th>HTTP</th>'
            "<th>took</th><th>error</th></tr></thead><tbody>{}</tbody></table>{}",
            items,
            more,
        )

    @admin.display(description="what happened")
    def attempt_notes(self, message):
        """The outbox keeps one error text per message: retries requested by staff and the last
        failure, in order."""
        notes = [note.strip() for note in message.error.split("; ") if note.strip()]
        if not notes:
            return "-"
        return format_html("<ol>{}</ol>", format_html_join("", "<li>{}</li>", ((note,) for note in notes)))

    @admin.display(description="related messages")
    def related(self, message):
        """Messages this one answers or that answer it (X-Correlation-ID)."""
        links = Q(correlation_id=message.request_id)
        if message.correlation_id:
            links |= Q(request_id=message.correlation_id)
        rows = (
            Message.objects.filter(links, partner_id=message.partner_id)
            .exclude(pk=message.pk)
            .only("id", "direction", "message_type", "status", "created")
            .order_by("created")[:10]
        )
        items = [
            (
                reverse("admin:connections_message_change", args=[row.pk]),
                f"{'→' if row.direction == MessageDirection.OUTBOUND else '←'} {row.message_type}",
                message_badge(row.status),
                row.created.strftime("%Y-%m-%d %H:%M:%S"),
            )
            for row in rows
        ]
        if not items:
            return "none"
        return format_html("<ul>{}</ul>", format_html_join("", '<li><a href="{}">{}</a> {} {}</li>', items))

    @admin.display(description="headers (masked)")
    def headers_shown(self, message):
        return pretty_json(message.headers)

    @admin.display(description="body (masked)")
    def body_shown(self, message):
        return pretty_json(message.body)


@admin.display(boolean=True, description="expired")
def _expired(segment: MessageSegment) -> bool:
    return segment.expires_at <= timezone.now()


@admin.register(MessageSegment)
class MessageSegmentAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "partner", "message_type", "request_id", "index", "count", "expires_at", _expired]
    list_filter = ["partner", "message_type"]
    list_select_related = ["partner"]
    search_fields = ["=request_id"]
    fields = ["partner", "message_type", "request_id", "index", "count", "received_at", "expires_at", "body"]
    readonly_fields = fields
