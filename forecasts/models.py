"""Capacity forecasts and their blocks as received (or sent), compliance errors, and the webhook
subscriptions of internal tools."""

from django.db import models
from simple_history.models import HistoricalRecords

from oscp_platform.crypto import EncryptedTextField

from .choices import BlockUnit, ForecastMessage, ForecastType, PhaseIndicator


class Forecast(models.Model):
    group = models.ForeignKey("groups.CapacityGroup", on_delete=models.CASCADE, related_name="forecasts")
    sender = models.ForeignKey(
        "connections.Partner", null=True, blank=True, on_delete=models.SET_NULL, related_name="forecasts"
    )
    message = models.ForeignKey(
        "connections.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message_type = models.CharField(max_length=40, choices=ForecastMessage.choices, default=ForecastMessage.UPDATE)
    type = models.CharField(max_length=24, choices=ForecastType.choices)
    request_id = models.CharField(max_length=128)
    correlation_id = models.CharField(max_length=128, blank=True)
    received_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["group", "type", "-received_at"])]

    def __str__(self):
        return f"{self.type} for {self.group_id} ({self.request_id})"


class ForecastBlock(models.Model):
    forecast = models.ForeignKey(Forecast, on_delete=models.CASCADE, related_name="blocks")
    capacity = models.DecimalField(max_digits=18, decimal_places=6)
    phase = models.CharField(max_length=8, choices=PhaseIndicator.choices)
    unit = models.CharField(max_length=4, choices=BlockUnit.choices)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField()

    class Meta:
        ordering = ["start_time", "phase"]
        indexes = [models.Index(fields=["start_time", "end_time"])]


class ComplianceError(models.Model):
    group = models.ForeignKey("groups.CapacityGroup", on_delete=models.CASCADE, related_name="compliance_errors")
    sender = models.ForeignKey(
        "connections.Partner", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    forecast = models.ForeignKey(Forecast, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message = models.TextField()
    correlation_id = models.CharField(max_length=128, blank=True)
    forecasted_blocks = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]


class EnvelopeSubscription(models.Model):
    """A webhook an internal tool registered for a group's binding: called, signed with HMAC,
    whenever the envelope in force changes."""

    group = models.ForeignKey("groups.CapacityGroup", on_delete=models.CASCADE, related_name="subscriptions")
    url = models.URLField(max_length=1024)
    secret = EncryptedTextField()
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["secret"])

    class Meta:
        ordering = ["id"]
