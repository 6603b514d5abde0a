from django.db import models


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

    GROUP = "group", "update_group_measurements"
    ASSET = "asset", "update_asset_measurements"


class RequestIdHeaderPolicy(models.TextChoices):
    """When a static header collides with X-Request-ID, which one is sent."""

    OURS = "ours", "Per-message X-Request-ID wins"
    STATIC = "static", "Static header wins"
