"""Message log and outbox admin (read-only browse, retry)."""

from django.contrib import admin

from ..models import Message
from .outbound import MessageOutboxAdminMixin


@admin.register(Message)
class MessageAdmin(MessageOutboxAdminMixin, admin.ModelAdmin):
    # Minimal until the message log admin lands; keep the mixin when merging.
    list_display = ["id", "direction", "message_type", "partner", "status", "attempts", "http_status", "created"]
    list_filter = ["direction", "status", "message_type", "partner"]
    search_fields = ["request_id", "correlation_id"]
    exclude = ["sealed_body"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
