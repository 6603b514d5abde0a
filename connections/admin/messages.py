"""Message log and outbox admin (read-only browse), and parts of segmented inbound messages."""

from django.contrib import admin
from django.utils import timezone

from connections.models import Message, MessageSegment
from oscp_platform.admin import ReadOnlyAdmin

from .outbound import MessageOutboxAdminMixin


@admin.register(Message)
class MessageAdmin(MessageOutboxAdminMixin, ReadOnlyAdmin):
    """The audit trail: nobody edits or deletes it here (retention prunes old rows)."""

    list_display = [
        "created",
        "direction",
        "message_type",
        "partner",
        "group",
        "status",
        "http_status",
        "request_id",
        "duration_ms",
    ]
    list_filter = ["direction", "status", "message_type", "partner", "group", ("created", admin.DateFieldListFilter)]
    list_select_related = ["partner", "group"]
    search_fields = ["=request_id", "=correlation_id"]
    date_hierarchy = "created"
    show_full_result_count = False
    # sealed_body and sealed_headers (what is sent, with secrets) are never shown.
    fields = [
        "created",
        "completed_at",
        "direction",
        "message_type",
        "partner",
        "group",
        "request_id",
        "correlation_id",
        "status",
        "http_status",
        "error",
        "url",
        "headers",
        "body",
        "attempts",
        "next_attempt_at",
        "deadline",
        "duration_ms",
    ]
    readonly_fields = fields

    def has_delete_permission(self, request, obj=None):
        return False


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
