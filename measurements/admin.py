from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html

from groups.panels import PANELS
from oscp_platform.api import timestamp_parse

from .models import Reading, ReportCursor
from .reports import period_delta
from .services import report_send


class RecordedFilter(admin.SimpleListFilter):
    """Recent time ranges (a distinct-values filter would scan millions of rows)."""

    title = "recorded"
    parameter_name = "recorded"
    RANGES = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}

    def lookups(self, request, model_admin):
        return [("hour", "Last hour"), ("day", "Last 24 hours"), ("week", "Last 7 days")]

    def queryset(self, request, queryset):
        if self.value() in self.RANGES:
            return queryset.filter(ts__gte=timezone.now() - self.RANGES[self.value()])
        return queryset


@admin.register(Reading)
class ReadingAdmin(admin.ModelAdmin):
    list_display = ["ts", "node_id", "source_id", "owner", "instantaneous", "accumulating"]
    list_filter = [RecordedFilter, "owner"]
    search_fields = ["source_id", "=node_id"]
    search_help_text = "Source id (contains) or exact node id."
    list_select_related = ["owner"]
    ordering = ["-ts"]
    show_full_result_count = False
    list_per_page = 100

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PeriodForm(forms.Form):
    period_start = forms.CharField(
        required=False,
        help_text="UTC, e.g. 2026-11-21 10:00:00Z. Blank: each cursor's last reported period.",
    )

    def clean_period_start(self):
        text = self.cleaned_data["period_start"].strip()
        if not text:
            return None
        value = timestamp_parse(text)
        if value is None:
            raise forms.ValidationError("Expected a UTC timestamp like 2026-11-21 10:00:00Z.")
        return value


@admin.register(ReportCursor)
class ReportCursorAdmin(admin.ModelAdmin):
    list_display = [
        "group",
        "audience",
        "period",
        "last_period_end",
        "last_outcome",
        "last_detail",
        "last_attempt_at",
        "message_link",
        "next_due_at",
    ]
    list_filter = ["audience", "last_outcome", "period"]
    search_fields = ["group__name", "group__identifier"]
    list_select_related = ["group"]
    readonly_fields = [f.name for f in ReportCursor._meta.fields] + ["message_link"]
    actions = ["send_period"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="last message")
    def message_link(self, obj):
        if obj.last_message_id is None:
            return "-"
        try:
            link = reverse("admin:connections_message_change", args=[obj.last_message_id])
        except NoReverseMatch:
            return f"#{obj.last_message_id}"
        return format_html('<a href="{}">#{}</a>', link, obj.last_message_id)

    @admin.action(description="(Re)send a period's report…", permissions=["view"])
    def send_period(self, request, queryset):
        form = PeriodForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": "(Re)send measurement reports",
                "form": form,
                "cursors": queryset,
                "opts": self.model._meta,
                "action_name": "send_period",
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/measurements/report_send.html", context)
        now = timezone.now()
        for cursor in queryset.select_related("group"):
            start = form.cleaned_data["period_start"] or cursor.last_period_end - period_delta(cursor.period)
            try:
                message, report = report_send(group=cursor.group, audience=cursor.audience, period_start=start, now=now)
            except ValidationError as exc:
                self.message_user(request, f"{cursor}: {'; '.join(exc.messages)}", messages.ERROR)
                continue
            if message is None:
                self.message_user(request, f"{cursor}: nothing sent. {report.detail}", messages.WARNING)
            else:
                self.message_user(request, f"{cursor}: {report.message_type} queued (#{message.id}).")
        return None


class ReportCursorInline(admin.TabularInline):
    """The last measurement period sent per audience, and how it went (measurements app)."""

    model = ReportCursor
    verbose_name_plural = "measurement reports: last period sent per audience"
    fields = ["audience", "period", "last_period_end", "last_outcome", "last_detail", "last_attempt_at", "next_due_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


PANELS.admin_inlines.append(ReportCursorInline)
