"""Meter readings posted by internal systems (SolarNetwork datum shape), and the per group and
audience cursor that says which measurement periods have been reported."""

from django.conf import settings
from django.db import models

from groups.choices import Audience, MeasurementPeriod

from .choices import ReportOutcome


class Reading(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    node_id = models.BigIntegerField()
    source_id = models.CharField(max_length=64)
    ts = models.DateTimeField()
    instantaneous = models.JSONField(default=dict, blank=True)
    accumulating = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            # Also the index for time-range reads per stream (owner, node, source, ts).
            models.UniqueConstraint(
                fields=["owner", "node_id", "source_id", "ts"], name="reading_once_per_stream_time"
            ),
        ]
        # For retention pruning.
        indexes = [models.Index(fields=["ts"])]

    def __str__(self):
        return f"{self.node_id} {self.source_id} @ {self.ts:%Y-%m-%d %H:%M:%S}"


class ReportCursor(models.Model):
    """The last measurement period reported for one group and audience. Workers lock the row
    while they report, so each period goes out once per audience however many workers run."""

    group = models.ForeignKey("groups.CapacityGroup", on_delete=models.CASCADE, related_name="report_cursors")
    audience = models.CharField(max_length=32, choices=Audience.choices)
    period = models.CharField(max_length=16, choices=MeasurementPeriod.choices)
    last_period_end = models.DateTimeField(help_text="End of the last period reported (or skipped).")
    next_due_at = models.DateTimeField(help_text="When the next period closes.")
    last_outcome = models.CharField(max_length=16, choices=ReportOutcome.choices, blank=True)
    last_detail = models.CharField(max_length=255, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_message = models.ForeignKey(
        "connections.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["group_id", "audience"]
        constraints = [
            models.UniqueConstraint(fields=["group", "audience"], name="report_cursor_once_per_group_audience"),
        ]
        indexes = [models.Index(fields=["next_due_at"])]

    def __str__(self):
        return f"{self.group} → {self.get_audience_display()}"
