"""Capacity forecasts with their blocks as received (or sent), the operating envelopes built from
them, group mode changes, adjustment requests, compliance errors, and the webhook subscriptions
of internal tools."""

from datetime import datetime
from decimal import Decimal

import orjson
from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from connections.choices import MessageStatus
from groups.choices import Phase
from groups.models import CapacityGroup
from oscp_platform.crypto import EncryptedTextField

from .choices import (
    AdjustmentStatus,
    ComplianceOrigin,
    EnvelopeReason,
    EnvelopeUnit,
    ForecastMessage,
    ForecastType,
    InstructionAction,
    InstructionState,
    Quantity,
)


def blocks_stored(blocks: list[dict]) -> list[dict]:
    """Blocks (``capacity``, ``phase``, ``unit``, ``start_time``, ``end_time``; validated, times
    aware) as ``Forecast.blocks`` keeps them: the capacity as exact decimal text, times in ISO 8601
    with their offset. The times are written by orjson, all in one call: the same text as
    ``isoformat()``, at a fraction of its cost per time."""
    texts = iter(orjson.loads(orjson.dumps([t for b in blocks for t in (b["start_time"], b["end_time"])])))
    return [
        {
            "capacity": str(b["capacity"]),
            "phase": b["phase"],
            "unit": b["unit"],
            "start_time": next(texts),
            "end_time": next(texts),
        }
        for b in blocks
    ]


def blocks_loaded(stored: list[dict]) -> list[dict]:
    """``Forecast.blocks`` back as plain values: the capacity a Decimal, times datetimes."""
    return [
        {
            "capacity": Decimal(b["capacity"]),
            "phase": b["phase"],
            "unit": b["unit"],
            "start_time": datetime.fromisoformat(b["start_time"]),
            "end_time": datetime.fromisoformat(b["end_time"]),
        }
        for b in stored
    ]


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
    all_zero = models.BooleanField(default=False, help_text="Every block has capacity 0 (a protective stop).")
    # The blocks as received, one JSON document (``blocks_stored``): a forecast is read and pruned
    # whole, never block by block, and 96 rows a forecast (9.2 million a day for a 1,000-group
    # fleet re-sent every quarter hour) cost a tenth of its intake. ``starts_at`` and ``ends_at``
    # bound them, for the forecasts reaching into a time range (``forecast_reach``) and pruning.
    blocks = models.JSONField(default=list, blank=True, editable=False)
    starts_at = models.DateTimeField(null=True, blank=True, help_text="When its first block starts.")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="When its last block ends.")

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["group", "type", "-received_at"]),
            models.Index(fields=["group", "type", "ends_at"], name="forecast_reach"),
            # A group's last forecast from its provider (``groups_last_forecast_annotate``, on
            # every group in a list): one index entry, whatever else the provider sent.
            models.Index(
                fields=["group", "sender", "message_type", "-received_at", "-id"], name="forecast_last_from_sender"
            ),
        ]

    def __str__(self):
        return f"{self.type} for {self.group_id} ({self.request_id})"

    def block_list(self, *, start=None, end=None) -> list[dict]:
        """The blocks (``capacity`` a Decimal, times aware datetimes), in time and phase order;
        with ``start`` and ``end`` only those overlapping [start, end)."""
        blocks = blocks_loaded(self.blocks)
        if start is not None:
            blocks = [b for b in blocks if b["end_time"] > start and b["start_time"] < end]
        return sorted(blocks, key=lambda b: (b["start_time"], b["phase"]))


class ComplianceError(models.Model):
    group = models.ForeignKey("groups.CapacityGroup", on_delete=models.CASCADE, related_name="compliance_errors")
    sender = models.ForeignKey(
        "connections.Partner", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    forecast = models.ForeignKey(Forecast, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message = models.TextField()
    correlation_id = models.CharField(max_length=128, blank=True)
    forecasted_blocks = models.JSONField(default=list, blank=True)
    origin = models.CharField(max_length=16, choices=ComplianceOrigin.choices, default=ComplianceOrigin.PARTNER)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outbound_message = models.ForeignKey(
        "connections.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Self check: the measurement period that breached the import limit.
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    measured_kw = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    limit_kw = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "period_start", "period_end"],
                condition=models.Q(origin="self-check"),
                name="self_check_breach_once_per_period",
            )
        ]


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


class Envelope(models.Model):
    """One limit of a group's operating envelope over [start, end): materialised from forecasts in
    the transaction that received them, so reading the envelope in force is an index lookup.

    Times not covered by a row fall back to the group's fallback limit or the platform default
    (see ``forecasts.selectors``)."""

    # Indexed as the first column of (group, quantity, end, start); a second index would only make
    # every forecast's rebuild write more.
    group = models.ForeignKey(
        "groups.CapacityGroup", on_delete=models.CASCADE, related_name="envelopes", db_index=False
    )
    microgrid_id = models.CharField(max_length=64, blank=True)
    node_id = models.BigIntegerField(null=True, blank=True)
    quantity = models.CharField(max_length=8, choices=Quantity.choices)
    phase = models.CharField(max_length=8, choices=Phase.choices, default=Phase.ALL)
    unit = models.CharField(max_length=4, choices=EnvelopeUnit.choices, default=EnvelopeUnit.KW)
    value = models.DecimalField(max_digits=18, decimal_places=6)
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=16, choices=EnvelopeReason.choices)
    # Not indexed: a re-sent forecast changes every row's source, and an indexed source would
    # make each of those updates write index entries and leave a dead row (see _REPLACE_SQL in
    # forecasts.services). Only deleting forecasts (with their group, a rare staff action) looks
    # rows up by their source, and scans the table to do so. No database constraint either: the
    # source is the forecast stored in the same transaction (or an older one of the group), rows
    # go with their forecast by Django's cascade, and a constraint would check the source again
    # for every row a re-sent forecast updates.
    forecast = models.ForeignKey(
        Forecast,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="envelopes",
        db_index=False,
        db_constraint=False,
    )
    rule = models.CharField(max_length=64, blank=True, help_text="The rule a limit came from when not a forecast.")

    class Meta:
        ordering = ["start", "quantity", "phase"]
        indexes = [
            models.Index(fields=["group", "quantity", "end", "start"]),
            models.Index(fields=["microgrid_id", "node_id", "end"]),
        ]

    def __str__(self):
        return f"{self.quantity} {self.phase} {self.value} {self.unit} [{self.start:%Y-%m-%d %H:%M}, {self.end:%H:%M})"


class EnvelopeState(models.Model):
    """What was last built and announced for a group: the offline cut-over the schedule was built
    with, the envelope in force that subscribers were last told about, and when its periodic mode
    check was last claimed. Locking this row makes one writer per group at a time."""

    group = models.OneToOneField(
        "groups.CapacityGroup", on_delete=models.CASCADE, primary_key=True, related_name="envelope_state"
    )
    offline_since = models.DateTimeField(null=True, blank=True)
    in_force = models.JSONField(default=dict, blank=True)
    in_force_since = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    mode_check_claimed_at = models.DateTimeField(
        null=True, blank=True, help_text="When a dispatcher last queued the group's periodic mode check."
    )


class GroupModeChange(models.Model):
    group = models.ForeignKey("groups.CapacityGroup", on_delete=models.CASCADE, related_name="mode_changes")
    from_mode = models.CharField(max_length=16)
    to_mode = models.CharField(max_length=16)
    reason = models.CharField(max_length=255)
    at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.from_mode} → {self.to_mode} at {self.at:%Y-%m-%d %H:%M:%S}"


class AdjustmentRequest(models.Model):
    """A request to the Capacity Provider for different limits; answered by its next forecast."""

    group = models.ForeignKey("groups.CapacityGroup", on_delete=models.CASCADE, related_name="adjustments")
    type = models.CharField(max_length=24, choices=ForecastType.choices)
    forecasted_blocks = models.JSONField(default=list)
    request_id = models.CharField(max_length=128)
    correlation_id = models.CharField(max_length=128, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    relayed_from = models.ForeignKey(
        "connections.Partner", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outbound_message = models.ForeignKey(
        "connections.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=AdjustmentStatus.choices, default=AdjustmentStatus.AWAITING)
    answer = models.ForeignKey(Forecast, null=True, blank=True, on_delete=models.SET_NULL, related_name="answers")
    answered_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["group", "status"])]

    def __str__(self):
        return f"Adjust {self.type} for {self.group_id} ({self.request_id})"


# Outbound message status -> instruction state (anything else is still on its way: Queued).
_INSTRUCTION_STATES = {MessageStatus.SENT: InstructionState.COMPLETED, MessageStatus.DEAD: InstructionState.DECLINED}


class Instruction(models.Model):
    """An OSCP message an internal tool asked for through the SolarUser instruction API (topic
    ``OSCP_v20``). Its state is the outcome of the outbound message it queued."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    node_id = models.BigIntegerField()
    topic = models.CharField(max_length=32)
    action = models.CharField(max_length=48, choices=InstructionAction.choices)
    params = models.JSONField(default=dict, help_text="action, coId, cgIdentifier, msg (joined), correlationId.")
    group = models.ForeignKey(
        "groups.CapacityGroup", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.ForeignKey(
        "connections.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["owner", "node_id"])]

    def __str__(self):
        return f"{self.action} #{self.pk}"

    @property
    def state(self) -> str:
        if self.message is None:
            return InstructionState.UNKNOWN
        return _INSTRUCTION_STATES.get(self.message.status, InstructionState.QUEUED)

    @property
    def status_date(self):
        """When the state last changed: the message's completion, else the instruction's creation."""
        if self.message is not None and self.message.completed_at:
            return self.message.completed_at
        return self.created


class GroupOperation(CapacityGroup):
    """Admin-only proxy: the operating view of a capacity group (mode, envelope, chart)."""

    class Meta:
        proxy = True
        verbose_name = "group operating view"
        verbose_name_plural = "group operating views"
