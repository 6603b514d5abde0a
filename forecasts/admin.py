"""Admin for forecasts, operating envelopes, mode changes, adjustments, compliance errors and
webhook subscriptions, plus the group operating view (mode, envelope in force, 48 h chart) and the
dashboard's section on groups."""

from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from groups.admin import MODE_TONES, mode_badge
from groups.choices import GroupMode
from groups.models import CapacityGroup
from groups.panels import PANELS
from groups.selectors import groups_forecast_stale_ids
from oscp_platform.admin import HTTPS_URL_FORM_FIELDS, ReadOnlyAdmin
from oscp_platform.dashboard import dashboard_section_register

from . import compliance, selectors
from .models import (
    AdjustmentRequest,
    ComplianceError,
    Envelope,
    EnvelopeSubscription,
    Forecast,
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


@admin.register(Forecast)
class ForecastAdmin(ReadOnlyAdmin):
    list_display = ["id", "group", "type", "message_type", "sender", "request_id", "received_at", "all_zero"]
    list_filter = ["type", "message_type", "all_zero"]
    search_fields = ["request_id", "group__identifier"]
    list_select_related = ["group", "sender"]
    readonly_fields = ["block_table"]
    actions = ["report_cannot_comply"]

    def get_queryset(self, request):
        # The list shows no blocks; the change page reads them when it shows them.
        return super().get_queryset(request).defer("blocks")

    @admin.display(description="blocks")
    def block_table(self, obj):
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((b["start_time"], b["end_time"], b["phase"], b["unit"], b["capacity"]) for b in obj.block_list()),
        )
        if not rows:
            return "—"
        return format_html(
            "<table><thead><tr><th>start</th><th>end</th><th>phase</th><th>unit</th><th>capacity</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.action(description="Tell the provider these forecasts cannot be met (compliance error)")
    def report_cannot_comply(self, request, queryset):
        queued = 0
        for forecast in queryset.select_related("group__capacity_provider"):
            try:
                compliance.compliance_error_raise(
                    group=forecast.group,
                    forecast=forecast,
                    message=f"Cannot comply with forecast {forecast.request_id}.",
                    raised_by=request.user,
                )
                queued += 1
            except ValidationError as exc:
                self.message_user(request, f"Forecast {forecast.pk}: {' '.join(exc.messages)}", messages.ERROR)
        if queued:
            self.message_user(request, f"{queued} compliance error(s) queued.", messages.SUCCESS)


def limit_text(value, unit: str = "kW") -> str:
    """``50 kW``, ``12.5 kW``: three decimals at most, no trailing zeros."""
    return f"{selectors.kw(value):g} {unit}"


@admin.register(Envelope)
class EnvelopeAdmin(ReadOnlyAdmin):
    list_display = ["group", "quantity", "phase", "limit", "start", "end", "reason", "forecast", "rule"]
    list_filter = ["quantity", "reason", "unit"]
    search_fields = ["microgrid_id", "group__identifier"]
    date_hierarchy = "start"

    def get_queryset(self, request):
        # Each row names its forecast: read with it, without the forecast's blocks.
        return super().get_queryset(request).select_related("group", "forecast").defer("forecast__blocks")

    @admin.display(description="limit", ordering="value")
    def limit(self, obj):
        return limit_text(obj.value, obj.unit)


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

    def get_queryset(self, request):
        return super().get_queryset(request).defer("answer__blocks")


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
    formfield_overrides = HTTPS_URL_FORM_FIELDS
    list_display = ["id", "group", "url", "enabled", "created"]
    list_select_related = ["group"]
    exclude = ["secret"]

    def has_add_permission(self, request):
        return False  # created through the API, where the secret is shown once


@admin.register(GroupOperation)
class GroupOperationAdmin(ReadOnlyAdmin):
    list_display = ["name", "identifier", "mode_shown", "mode_since", "mode_reason", "stale", "view"]
    list_filter = ["mode"]
    list_select_related = ["capacity_provider"]

    @admin.display(description="mode", ordering="mode")
    def mode_shown(self, obj):
        return mode_badge(obj.mode)

    @admin.display(description="forecast stale", boolean=True)
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
            "opts": self.model._meta,
            "group_change_url": _group_change_url(group),
            **operating_context(group),
        }
        return TemplateResponse(request, "admin/forecasts/group_operating_view.html", context)


def operating_context(group) -> dict:
    """What support staff see of a group's operation: mode, forecast staleness, the envelope in
    force, a chart of limits and measured power over the last and next 24 hours (the data the
    management API's ``power-series`` gives, drawn by Chart.js), recent mode changes. Shown on the
    operating view and on the group's admin page."""
    now = timezone.now()
    envelope = selectors.envelope_in_force(group=group, at=now)
    chart = selectors.group_power_chart(
        group=group, start=now - timedelta(hours=24), end=now + timedelta(hours=24), now=now
    )
    return {
        "group": group,
        "mode_badge": mode_badge(group.mode),
        "stale": selectors.group_forecast_stale(group=group, now=now),
        "in_force": [
            (
                quantity,
                [
                    {
                        **item,
                        "shown": limit_text(item["value"], item["unit"]),
                        "from": _whole_seconds(item["start"]),
                        "until": _whole_seconds(item["end"]),
                    }
                    for item in items
                ],
            )
            for quantity, items in (
                ("import", envelope["importLimits"]),
                ("export", envelope["exportLimits"]),
                ("optimum", envelope["optimum"]),
            )
        ],
        "chart": chart,
        "changes": group.mode_changes.all()[:20],
    }


def _whole_seconds(stamp: str | None) -> str | None:
    """An API timestamp (``2026-12-02 15:03:10.283503Z``) as staff read it, to the second."""
    return stamp.split(".")[0] + "Z" if stamp and "." in stamp else stamp


def _groups_url(**params) -> str:
    return reverse("admin:groups_capacitygroup_changelist") + ("?" + urlencode(params) if params else "")


def groups_dashboard(request, now) -> dict | None:
    """The dashboard's groups: how many in each mode, how many with stale forecasts, and those not
    in normal mode with the import limit in force (three queries)."""
    if not request.user.has_perm("groups.view_capacitygroup"):
        return None
    counts = selectors.groups_by_mode()
    stale = len(groups_forecast_stale_ids(CapacityGroup.objects.filter(enabled=True), now=now))
    figures = [
        {
            "label": GroupMode(mode).label,
            "value": counts.get(mode, 0),
            "tone": MODE_TONES[mode] if counts.get(mode) else "ok",
            "url": _groups_url(enabled__exact=1, mode__exact=mode),
        }
        for mode in GroupMode.values
    ]
    figures.append(
        {
            "label": "forecast stale",
            "value": stale,
            "tone": "warn" if stale else "ok",
            "url": _groups_url(enabled__exact=1, forecast_stale="yes"),
        }
    )
    attention = [
        {
            "group": group,
            "url": reverse("admin:groups_capacitygroup_change", args=[group.pk]),
            "badge": mode_badge(group.mode),
            "limit": limit_text(group.limit_kw),
            "reason": group.limit_reason,
        }
        for group in selectors.groups_needing_attention(now=now)
    ]
    return {"figures": figures, "attention": attention, "total": sum(counts.values())}


dashboard_section_register(
    key="groups", title="Capacity groups", order=20, template="admin/dashboard/groups.html", context=groups_dashboard
)

# The group change page shows the operating section and links to the operating view.
PANELS.operating_context = operating_context
PANELS.operating_view_link = operating_view_link
