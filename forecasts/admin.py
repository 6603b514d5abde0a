"""Admin for forecasts, operating envelopes, mode changes, adjustments, compliance errors and
webhook subscriptions, plus the group operating view (mode, envelope in force, 48 h chart)."""

from datetime import timedelta

from django.contrib import admin, messages
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from groups.panels import PANELS
from oscp_platform.admin import ReadOnlyAdmin

from . import charts, compliance, selectors
from .models import (
    AdjustmentRequest,
    ComplianceError,
    Envelope,
    EnvelopeSubscription,
    Forecast,
    ForecastBlock,
    GroupModeChange,
    GroupOperation,
    Instruction,
)


def operating_view_link(group) -> str:
    """A link to the group's operating view, for the group admin page."""
    url = reverse("admin:forecasts_groupoperation_view", args=[group.pk])
    return format_html('<a href="{}">Operating view</a>', url)


def _group_change_url(group) -> str:
    try:
        return reverse("admin:groups_capacitygroup_change", args=[group.pk])
    except NoReverseMatch:
        return "#"


class ForecastBlockInline(admin.TabularInline):
    model = ForecastBlock
    extra = 0
    can_delete = False
    readonly_fields = ["capacity", "phase", "unit", "start_time", "end_time"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Forecast)
class ForecastAdmin(ReadOnlyAdmin):
    list_display = ["id", "group", "type", "message_type", "sender", "request_id", "received_at", "all_zero"]
    list_filter = ["type", "message_type", "all_zero"]
    search_fields = ["request_id", "group__identifier"]
    list_select_related = ["group", "sender"]
    inlines = [ForecastBlockInline]
    actions = ["report_cannot_comply"]

    @admin.action(description="Tell the provider these forecasts cannot be met (compliance error)")
    def report_cannot_comply(self, request, queryset):
        for forecast in queryset.select_related("group__capacity_provider"):
            compliance.compliance_error_raise(
                group=forecast.group,
                forecast=forecast,
                message=f"Cannot comply with forecast {forecast.request_id}.",
                raised_by=request.user,
            )
        self.message_user(request, f"{queryset.count()} compliance error(s) queued.", messages.SUCCESS)


@admin.register(Envelope)
class EnvelopeAdmin(ReadOnlyAdmin):
    list_display = ["group", "quantity", "phase", "value", "unit", "start", "end", "reason", "forecast", "rule"]
    list_filter = ["quantity", "reason", "unit"]
    search_fields = ["microgrid_id", "group__identifier"]
    list_select_related = ["group"]
    date_hierarchy = "start"


@admin.register(GroupModeChange)
class GroupModeChangeAdmin(ReadOnlyAdmin):
    list_display = ["group", "from_mode", "to_mode", "reason", "at"]
    list_filter = ["to_mode"]
    list_select_related = ["group"]


@admin.register(AdjustmentRequest)
class AdjustmentRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "group", "type", "status", "request_id", "relayed_from", "answer", "created"]
    list_filter = ["status", "type"]
    list_select_related = ["group", "relayed_from", "answer"]


@admin.register(ComplianceError)
class ComplianceErrorAdmin(ReadOnlyAdmin):
    list_display = ["id", "group", "origin", "message", "correlation_id", "measured_kw", "limit_kw", "created"]
    list_filter = ["origin"]
    list_select_related = ["group"]


@admin.register(Instruction)
class InstructionAdmin(ReadOnlyAdmin):
    """Instructions internal tools sent through the SolarUser instruction API (read-only)."""

    list_display = ["id", "action", "group", "node_id", "owner", "state", "outbound_message", "created"]
    list_filter = ["action"]
    search_fields = ["group__identifier", "message__request_id"]
    list_select_related = ["group", "owner", "message"]
    readonly_fields = ["owner", "node_id", "topic", "action", "params", "group", "outbound_message", "state"]
    exclude = ["message"]

    @admin.display(description="state")
    def state(self, obj):
        return obj.state

    @admin.display(description="message")
    def outbound_message(self, obj):
        if obj.message is None:
            return "-"
        url = reverse("admin:connections_message_change", args=[obj.message_id])
        return format_html('<a href="{}">{} {}</a>', url, obj.message.message_type, obj.message.status)


@admin.register(EnvelopeSubscription)
class EnvelopeSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["id", "group", "url", "enabled", "created"]
    list_select_related = ["group"]
    exclude = ["secret"]

    def has_add_permission(self, request):
        return False  # created through the API, where the secret is shown once


@admin.register(GroupOperation)
class GroupOperationAdmin(ReadOnlyAdmin):
    list_display = ["name", "identifier", "mode", "mode_since", "mode_reason", "stale", "view"]
    list_filter = ["mode"]
    list_select_related = ["capacity_provider"]

    @admin.display(description="forecast stale")
    def stale(self, obj):
        return selectors.group_forecast_stale(group=obj, now=timezone.now())

    @admin.display(description="")
    def view(self, obj):
        return operating_view_link(obj)

    def get_urls(self):
        extra = [
            path(
                "<int:group_id>/operating/",
                self.admin_site.admin_view(self.operating_view),
                name="forecasts_groupoperation_view",
            )
        ]
        return extra + super().get_urls()

    def operating_view(self, request, group_id):
        group = get_object_or_404(GroupOperation.objects.select_related("capacity_provider"), pk=group_id)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Operating view: {group}",
            "group_change_url": _group_change_url(group),
            **operating_context(group),
        }
        return TemplateResponse(request, "admin/forecasts/group_operating_view.html", context)


def operating_context(group) -> dict:
    """What support staff see of a group's operation: mode, forecast staleness, the envelope in
    force, a chart of limits and measured power over the last and next 24 hours, recent mode
    changes. Shown on the operating view and on the group's admin page."""
    now = timezone.now()
    envelope = selectors.envelope_in_force(group=group, at=now)
    pieces = selectors.envelope_pieces(group=group, start=now - timedelta(hours=24), end=now + timedelta(hours=24))
    measured = charts.measured_series(group=group, start=now - timedelta(hours=24), end=now)
    return {
        "group": group,
        "stale": selectors.group_forecast_stale(group=group, now=now),
        "in_force": [
            ("import", envelope["importLimits"]),
            ("export", envelope["exportLimits"]),
            ("optimum", envelope["optimum"]),
        ],
        "chart": charts.chart(pieces=pieces, measured=measured, now=now),
        "changes": group.mode_changes.all()[:20],
    }


# The group change page shows the operating section and links to the operating view.
PANELS.operating_context = operating_context
PANELS.operating_view_link = operating_view_link
