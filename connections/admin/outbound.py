"""Admin hooks of the outbound side, as mixins the partner and message admins include:

- ``PartnerOutboundAdminMixin``: actions *Register with partner* and *Start handshake*; read-only
  connection state, heartbeats sent/received and a link to the partner's outbox.
- ``MessageOutboxAdminMixin``: action *Retry* and a *Retry* button on a dead message's page.

Both call the same services as the management API (connections.outbound, connections.outbox).
"""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html

from ..choices import MessageDirection, MessageStatus
from ..client import call_refusal
from ..models import Message
from ..outbound import partner_handshake_start, partner_register
from ..outbox import message_retry

PARTNER_OUTBOUND_FIELDS = (
    "connection_state",
    "connection_state_reason",
    "connection_state_changed_at",
    "last_heartbeat_sent_at",
    "last_heartbeat_received_at",
    "offline_mode_at",
    "outbox",
)


def _problem(error: ValidationError) -> str:
    return "; ".join(f"{field}: {' '.join(texts)}" for field, texts in error.message_dict.items())


def _run_each(modeladmin, request, queryset, service, done: str) -> None:
    ok = 0
    for obj in queryset:
        try:
            service(obj)
            ok += 1
        except ValidationError as error:
            modeladmin.message_user(request, f"{obj}: {_problem(error)}", messages.ERROR)
    if ok:
        modeladmin.message_user(request, done.format(count=ok), messages.SUCCESS)


class PartnerOutboundAdminMixin:
    actions = ["register_with_partner", "start_handshake"]

    @admin.action(description="Register with partner (send our token)", permissions=["change"])
    def register_with_partner(self, request, queryset):
        _run_each(self, request, queryset, lambda p: partner_register(partner=p), "Register queued for {count}.")

    @admin.action(description="Start handshake", permissions=["change"])
    def start_handshake(self, request, queryset):
        _run_each(
            self, request, queryset, lambda p: partner_handshake_start(partner=p), "Handshake queued for {count}."
        )

    @admin.display(description="Outbox")
    def outbox(self, obj):
        if not obj.pk:
            return "-"
        unsent = obj.messages.filter(
            direction=MessageDirection.OUTBOUND, status__in=[MessageStatus.PENDING, MessageStatus.SENDING]
        ).count()
        dead = obj.messages.filter(direction=MessageDirection.OUTBOUND, status=MessageStatus.DEAD).count()
        url = reverse("admin:connections_message_changelist") + f"?partner__id__exact={obj.pk}&direction__exact=out"
        return format_html('<a href="{}">{} waiting, {} dead</a>', url, unsent, dead)


class MessageOutboxAdminMixin:
    actions = ["retry_messages"]
    change_form_template = "admin/connections/message/outbox_change_form.html"

    def has_retry_permission(self, request, obj=None):
        return request.user.has_perm("connections.change_message")

    @admin.action(description="Retry (send again)", permissions=["retry"])
    def retry_messages(self, request, queryset):
        _run_each(self, request, queryset, lambda m: message_retry(message=m), "{count} message(s) queued again.")

    def get_urls(self):
        retry = self.admin_site.admin_view(self.retry_view)
        return [path("<int:pk>/retry/", retry, name="connections_message_retry"), *super().get_urls()]

    def retry_view(self, request, pk: int):
        message = get_object_or_404(Message, pk=pk)
        if request.method != "POST" or not self.has_retry_permission(request, message):
            return redirect("admin:connections_message_change", pk)
        try:
            message_retry(message=message)
            self.message_user(request, "Queued again.", messages.SUCCESS)
        except ValidationError as error:
            self.message_user(request, _problem(error), messages.ERROR)
        return redirect("admin:connections_message_change", pk)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        message = Message.objects.select_related("partner").filter(pk=object_id).first()
        can_retry = bool(
            message
            and message.direction == MessageDirection.OUTBOUND
            and message.status in (MessageStatus.DEAD, MessageStatus.FAILED)
            and self.has_retry_permission(request, message)
        )
        # Said up front: a retry that would only die again is refused (the service says the same).
        refusal = call_refusal(message.partner) if can_retry and message.partner else None
        extra_context = {**(extra_context or {}), "can_retry": can_retry, "retry_refusal": refusal}
        return super().change_view(request, object_id, form_url, extra_context)
