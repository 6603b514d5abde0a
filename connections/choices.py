from django.db import models


class MessageType(models.TextChoices):
    """The OSCP 2.0 messages (their wire names). What each may do is declared in
    ``connections/oscp/messages.py``."""

    REGISTER = "register"
    HANDSHAKE = "handshake"
    HANDSHAKE_ACKNOWLEDGE = "handshake_acknowledge"
    HEARTBEAT = "heartbeat"
    UPDATE_GROUP_CAPACITY_FORECAST = "update_group_capacity_forecast"
    ADJUST_GROUP_CAPACITY_FORECAST = "adjust_group_capacity_forecast"
    GROUP_CAPACITY_COMPLIANCE_ERROR = "group_capacity_compliance_error"
    UPDATE_GROUP_MEASUREMENTS = "update_group_measurements"
    UPDATE_ASSET_MEASUREMENTS = "update_asset_measurements"


# --- OSCP wire vocabulary used by more than one app (forecasts store them as they came) ----------


class ForecastType(models.TextChoices):
    CONSUMPTION = "CONSUMPTION"
    GENERATION = "GENERATION"
    FALLBACK_CONSUMPTION = "FALLBACK_CONSUMPTION"
    FALLBACK_GENERATION = "FALLBACK_GENERATION"
    OPTIMUM = "OPTIMUM"


class PhaseIndicator(models.TextChoices):
    UNKNOWN = "UNKNOWN"
    ONE = "ONE"
    TWO = "TWO"
    THREE = "THREE"
    ALL = "ALL"


class BlockUnit(models.TextChoices):
    A = "A"
    W = "W"
    KW = "KW"
    WH = "WH"
    KWH = "KWH"


class PartnerRole(models.TextChoices):
    CAPACITY_PROVIDER = "CapacityProvider", "Capacity Provider"
    CAPACITY_OPTIMIZER = "CapacityOptimizer", "Capacity Optimizer"


class RegistrationStatus(models.TextChoices):
    PENDING = "Pending"
    REGISTERED = "Registered"
    FAILED = "Failed"


class ConnectionState(models.TextChoices):
    NEW = "new"
    REGISTERING = "registering"
    REGISTERED = "registered"
    HANDSHAKING = "handshaking"
    ONLINE = "online"
    OFFLINE = "offline"
    FAILED = "failed"
    DISABLED = "disabled"


class MeasurementStyle(models.TextChoices):
    """Management-side names of OSCP MeasurementConfiguration (wire: CONTINUOUS/INTERMITTENT)."""

    CONTINUOUS = "Continuous"
    INTERMITTENT = "Intermittent"


class TokenKind(models.TextChoices):
    INITIAL = "initial", "Created by staff (initial)"
    ROTATED = "rotated", "Rotated by staff"
    REGISTRATION = "registration", "Exchanged at registration"


class MessageDirection(models.TextChoices):
    INBOUND = "in"
    OUTBOUND = "out"


class MessageStatus(models.TextChoices):
    # inbound
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DUPLICATE = "duplicate", "Duplicate (answered 204, ignored)"
    SEGMENT = "segment", "Segment (part kept until all arrive)"
    # outbound (the outbox)
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"


class MeasurementMessage(models.TextChoices):
    """Which OSCP message carries measurements to this partner."""

    GROUP = "group", MessageType.UPDATE_GROUP_MEASUREMENTS.value
    ASSET = "asset", MessageType.UPDATE_ASSET_MEASUREMENTS.value


class RequestIdHeaderPolicy(models.TextChoices):
    """When a static header collides with X-Request-ID, which one is sent."""

    OURS = "ours", "Per-message X-Request-ID wins"
    STATIC = "static", "Static header wins"


class Profile(models.TextChoices):
    """A partner's dialect: the preset its connection settings start from (``connections/presets.py``)."""

    OSCP_20 = "oscp-2.0", "OSCP 2.0 (standard)"
    VECTOR_DERMS = "vector-derms", "Vector DERMS"
    ELMO = "elmo", "Taipower ELMO"
    SOLARNETWORK = "solarnetwork", "SolarNetwork"
    PYOSCP = "pyoscp", "pyoscp 0.1.0"


class RegistrationMode(models.TextChoices):
    """How a partner becomes registered."""

    STANDARD = "standard", "Register exchange, either side starts"
    WE_REGISTER_FIRST = "we-register-first", "We register first with the partner's initial token"
    OUT_OF_BAND = "out-of-band", "Out of band: registered once URL and credentials are set"


class HandshakeInitiator(models.TextChoices):
    """Who may start a handshake."""

    EITHER = "either", "Either side"
    WE = "we", "We start it"
    THEY = "they", "The partner starts it"


class TimeFormat(models.TextChoices):
    """How the times we send are written."""

    RFC3339 = "rfc3339", "RFC 3339 in UTC with Z"
    SPACE_UTC = "space-utc", "YYYY-MM-DD HH:MM:SS in UTC, no zone"
