"""Capacity groups, their assets, and the binding of an OSCP ``group_id`` to internal targets."""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from .choices import AssetCategory, Audience, GroupMode, MeasurementPeriod, Phase


class CapacityGroup(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=64)
    identifier = models.CharField(max_length=64, help_text="The OSCP group_id.")
    capacity_provider = models.ForeignKey(
        "connections.Partner", on_delete=models.PROTECT, related_name="provider_groups"
    )
    capacity_provider_measurement_period = models.CharField(
        max_length=16, choices=MeasurementPeriod.choices, default=MeasurementPeriod.FIFTEEN_MINUTE
    )
    capacity_optimizer = models.ForeignKey(
        "connections.Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="optimizer_groups"
    )
    capacity_optimizer_measurement_period = models.CharField(
        max_length=16, choices=MeasurementPeriod.choices, blank=True
    )
    enabled = models.BooleanField(default=True)

    # Binding to the internal charging systems (no OSCP names beyond this point).
    microgrid_id = models.CharField(max_length=64, blank=True)
    node_id = models.BigIntegerField(null=True, blank=True)

    # Fallback and reporting policy.
    fallback_import_kw = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    fallback_export_kw = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    report_zero_when_no_data = models.BooleanField(default=False)
    combined_asset_id = models.CharField(max_length=64, blank=True, help_text="Overrides the partner's setting.")
    report_compliance_breaches = models.BooleanField(default=False)

    mode = models.CharField(max_length=16, choices=GroupMode.choices, default=GroupMode.FORECAST_GAP)
    mode_since = models.DateTimeField(null=True, blank=True)
    mode_reason = models.CharField(max_length=255, blank=True)

    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "identifier"], name="group_identifier_unique_per_owner"),
        ]
        indexes = [models.Index(fields=["microgrid_id", "node_id"])]

    def __str__(self):
        return f"{self.name} [{self.identifier}]"


class Asset(models.Model):
    group = models.ForeignKey(CapacityGroup, on_delete=models.CASCADE, related_name="assets")
    name = models.CharField(max_length=64)
    identifier = models.CharField(max_length=64)
    audience = models.CharField(max_length=32, choices=Audience.choices)
    enabled = models.BooleanField(default=True)
    node_id = models.BigIntegerField()
    source_id = models.CharField(max_length=64)
    category = models.CharField(max_length=16, choices=AssetCategory.choices)
    phase = models.CharField(max_length=8, choices=Phase.choices, default=Phase.ALL)
    # {"propertyNames": [...], "unit": "W", "multiplier": 1, "statisticType": "Maximum"}
    instantaneous = models.JSONField(null=True, blank=True)
    # as instantaneous, plus "type" and "direction"
    energy = models.JSONField(null=True, blank=True)

    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["group", "identifier"], name="asset_identifier_unique_per_group"),
        ]
        indexes = [models.Index(fields=["node_id", "source_id"])]

    def __str__(self):
        return f"{self.name} [{self.identifier}]"
