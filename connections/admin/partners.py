"""Partner admin: Capacity Providers and Optimizers."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from ..models import Partner
from .outbound import PARTNER_OUTBOUND_FIELDS, PartnerOutboundAdminMixin


@admin.register(Partner)
class PartnerAdmin(PartnerOutboundAdminMixin, SimpleHistoryAdmin):
    # Minimal until the partner admin lands; keep the mixin and its read-only fields when merging.
    list_display = ["name", "role", "registration_status", "connection_state", "last_heartbeat_sent_at", "enabled"]
    list_filter = ["role", "connection_state", "enabled"]
    readonly_fields = PARTNER_OUTBOUND_FIELDS
    exclude = ["partner_token", "oauth_client_secret", "static_headers"]
