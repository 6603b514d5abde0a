from django.db import models

# OSCP wire vocabulary, declared in connections (the protocol edge) and stored here as it came.
from connections.choices import BlockUnit, ForecastType, MessageType, PhaseIndicator  # noqa: F401


class ForecastMessage(models.TextChoices):
    """The OSCP message a forecast arrived in (or left in)."""

    UPDATE = MessageType.UPDATE_GROUP_CAPACITY_FORECAST.value
    ADJUST = MessageType.ADJUST_GROUP_CAPACITY_FORECAST.value


# --- Operating envelopes (protocol-neutral: no OSCP names below this line) ---------------------


class Quantity(models.TextChoices):
    """What an envelope row limits (or, for ``optimum``, suggests)."""

    IMPORT = "import"
    EXPORT = "export"
    OPTIMUM = "optimum"


class EnvelopeUnit(models.TextChoices):
    KW = "kW"
    A = "A"


class EnvelopeReason(models.TextChoices):
    FORECAST = "forecast"
    FALLBACK = "fallback"
    PROTECTIVE_STOP = "protective-stop"
    DEFAULT = "default"


class AdjustmentStatus(models.TextChoices):
    AWAITING = "awaiting", "Awaiting a new forecast"
    ANSWERED = "answered", "Answered by a forecast"


class ComplianceOrigin(models.TextChoices):
    PARTNER = "partner", "Reported by a partner"
    TOOL = "tool", "Raised by staff or an internal tool"
    SELF_CHECK = "self-check", "Found by the platform's own check"


# --- SolarUser instruction API (topic OSCP_v20) -------------------------------------------------

INSTRUCTION_TOPIC = "OSCP_v20"


class InstructionAction(models.TextChoices):
    """The OSCP messages an internal tool may ask us to send to a group's Capacity Provider."""

    ADJUST = "AdjustGroupCapacityForecast"
    COMPLIANCE_ERROR = "GroupCapacityComplianceError"
    HANDSHAKE = "Handshake"
    # Seed 002: "all standard OSCP messages that can be initiated by a Capacity Optimizer".
    UPDATE_GROUP_MEASUREMENTS = "UpdateGroupMeasurements"
    UPDATE_ASSET_MEASUREMENTS = "UpdateAssetMeasurements"


class InstructionState(models.TextChoices):
    """SolarNetwork instruction states, derived from the outbound message's outcome."""

    QUEUED = "Queued"
    COMPLETED = "Completed"
    DECLINED = "Declined"
    UNKNOWN = "Unknown", "Unknown (its message was pruned from the log)"
