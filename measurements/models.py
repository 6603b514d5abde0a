"""Meter readings posted by internal systems (SolarNetwork datum shape)."""

from django.conf import settings
from django.db import models


class Reading(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    node_id = models.BigIntegerField()
    source_id = models.CharField(max_length=64)
    ts = models.DateTimeField()
    instantaneous = models.JSONField(default=dict, blank=True)
    accumulating = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "node_id", "source_id", "ts"], name="reading_once_per_stream_time"
            ),
        ]
        indexes = [models.Index(fields=["ts"])]
