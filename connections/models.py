"""Partner systems (Capacity Providers and Optimizers), their credentials and connection profile,
and the record of every OSCP message in and out (which is also the outbox)."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from oauth2_provider.settings import APPLICATION_MODEL
from simple_history.models import HistoricalRecords

from oscp_platform.crypto import EncryptedTextField

from .choices import (
    ConnectionState,
    HandshakeInitiator,
    MeasurementMessage,
    MessageDirection,
    MessageStatus,
    PartnerRole,
    Profile,
    RegistrationMode,
    RegistrationStatus,
    RequestIdHeaderPolicy,
    TimeFormat,
    TokenKind,
)

SECRET_FIELDS = ["oauth_client_secret", "partner_token", "static_headers"]
# Bookkeeping that changes with every heartbeat: written with queryset updates, kept out of history
# (history keeps configuration and state changes).
BOOKKEEPING_FIELDS = [
    "last_heartbeat_received_at",
    "last_heartbeat_sent_at",
    "next_heartbeat_at",
    "last_forecast_received_at",
]


class Partner(models.Model):
    """The shared base of Capacity Providers and Capacity Optimizers (one table, ``role`` tells)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    role = models.CharField(max_length=32, choices=PartnerRole.choices)
    name = models.CharField(max_length=64)
    base_url = models.URLField(max_length=512, help_text="Partner's OSCP base URL, version included.")
    oscp_version = models.CharField(max_length=16, default="2.0")
    enabled = models.BooleanField(default=True)
    registration_status = models.CharField(
        max_length=16, choices=RegistrationStatus.choices, default=RegistrationStatus.PENDING
    )
    flexibility_provider_id = models.BigIntegerField(
        null=True, blank=True, help_text="Id of the credential this partner uses to call us."
    )
    # Behaviour the partner required of us in its handshake (SolarUser `settings`).
    settings = models.JSONField(default=dict, blank=True)
    # Non-secret service properties (oauth-token-url, oauth-client-id, ...).
    service_props = models.JSONField(default=dict, blank=True)
    oauth_client_secret = EncryptedTextField(blank=True, default="")
    # The token we present when calling the partner (given at registration or by staff).
    partner_token = EncryptedTextField(blank=True, default="")

    # Connection profile: partner dialects, kept as data at the protocol edge. ``profile`` names the
    # preset the settings below start from (connections/presets.py); the fields hold effective values.
    profile = models.CharField(max_length=32, choices=Profile.choices, default=Profile.OSCP_20)
    registration_mode = models.CharField(
        max_length=32, choices=RegistrationMode.choices, default=RegistrationMode.STANDARD
    )
    handshake_initiator = models.CharField(
        max_length=8, choices=HandshakeInitiator.choices, default=HandshakeInitiator.EITHER
    )
    acknowledge_with_behaviour = models.BooleanField(
        default=False,
        help_text="Acknowledge handshakes with our required_behaviour (heartbeat interval) instead of {}.",
    )
    time_format = models.CharField(max_length=16, choices=TimeFormat.choices, default=TimeFormat.RFC3339)
    static_headers = EncryptedTextField(blank=True, default="", help_text="JSON object of extra headers.")
    path_overrides = models.JSONField(default=dict, blank=True, help_text='e.g. {"handshake_acknowledge": "ack"}')
    request_id_header_policy = models.CharField(
        max_length=8, choices=RequestIdHeaderPolicy.choices, default=RequestIdHeaderPolicy.OURS
    )
    naive_times_as_utc = models.BooleanField(
        default=False, help_text="Read times without a zone from this partner as UTC instead of rejecting them."
    )
    measurement_message = models.CharField(
        max_length=8, choices=MeasurementMessage.choices, default=MeasurementMessage.GROUP
    )
    combined_asset_id = models.CharField(
        max_length=64, blank=True, help_text="Report all assets of a group as one asset with this id."
    )
    one_asset_per_group = models.BooleanField(
        default=False, help_text="Report a group's assets as one asset whose id is the group's identifier."
    )
    instantaneous_units = models.JSONField(
        default=list, blank=True, help_text='Instantaneous units the partner accepts, e.g. ["W", "KW"] (empty: any).'
    )
    energy_units = models.JSONField(
        default=list, blank=True, help_text='Energy units the partner accepts, e.g. ["KWH"] (empty: any).'
    )
    send_energy_type = models.BooleanField(default=True, help_text="Send energy_type in measurements.")
    send_initial_measure_time = models.BooleanField(
        default=True, help_text="Send initial_measure_time in measurements."
    )
    send_empty_measurements = models.BooleanField(
        default=False, help_text="Send a measurement report even when it has no measurements."
    )
    group_identifier_pattern = models.CharField(
        max_length=128, blank=True, help_text="Regular expression group identifiers must match (empty: any)."
    )
    forecast_cadence_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Expected forecast cadence; later forecasts are flagged stale."
    )
    forecast_horizon_hours = models.PositiveIntegerField(
        null=True, blank=True, help_text="Expected forecast horizon (hours ahead)."
    )
    # What we require of the partner when we start a handshake.
    required_heartbeat_seconds = models.PositiveIntegerField(null=True, blank=True)
    required_measurement_styles = models.JSONField(default=list, blank=True)

    # Connection state (the lifecycle state machine lives in services).
    connection_state = models.CharField(max_length=16, choices=ConnectionState.choices, default=ConnectionState.NEW)
    connection_state_reason = models.CharField(max_length=255, blank=True)
    connection_state_changed_at = models.DateTimeField(null=True, blank=True)
    handshake_completed_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat_received_at = models.DateTimeField(null=True, blank=True)
    offline_mode_at = models.DateTimeField(null=True, blank=True, help_text="Partner is offline after this.")
    last_heartbeat_sent_at = models.DateTimeField(null=True, blank=True)
    last_forecast_received_at = models.DateTimeField(
        null=True, blank=True, help_text="When the partner last sent us a capacity forecast."
    )
    next_heartbeat_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="When our next heartbeat is due (none: not negotiated)."
    )

    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=SECRET_FIELDS + BOOKKEEPING_FIELDS)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["owner", "role"])]

    def __str__(self):
        return f"{self.name} ({self.get_role_display()})"

    def forecast_stale(self, *, now) -> bool | None:
        """True when the partner's expected forecast cadence has passed since its last forecast
        (or it never sent one); None when it declares no cadence."""
        cadence = self.forecast_cadence_minutes
        if not cadence:
            return None
        last = self.last_forecast_received_at
        return last is None or last + timedelta(minutes=cadence) < now

    @property
    def is_provider(self) -> bool:
        return self.role == PartnerRole.CAPACITY_PROVIDER


class CapacityProviderManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(role=PartnerRole.CAPACITY_PROVIDER)


class CapacityOptimizerManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(role=PartnerRole.CAPACITY_OPTIMIZER)


class CapacityProvider(Partner):
    """Partners in the Capacity Provider role (an admin entry of their own)."""

    objects = CapacityProviderManager()

    class Meta:
        proxy = True
        verbose_name = "capacity provider"


class CapacityOptimizer(Partner):
    """Partners in the Capacity Optimizer role (an admin entry of their own)."""

    objects = CapacityOptimizerManager()

    class Meta:
        proxy = True
        verbose_name = "capacity optimizer"


# History is tracked on Partner; let the admin's history views of the proxies find it.
for _proxy in (CapacityProvider, CapacityOptimizer):
    _proxy._meta.simple_history_manager_attribute = Partner._meta.simple_history_manager_attribute


class InboundToken(models.Model):
    """A token a partner presents to us. Only its keyed digest and last 4 characters are kept."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="inbound_tokens")
    digest = models.CharField(max_length=64, unique=True)
    last4 = models.CharField(max_length=4)
    kind = models.CharField(max_length=16, choices=TokenKind.choices)
    created = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"••••{self.last4}"


class InboundOAuthClient(models.Model):
    """OAuth2 client credentials a partner uses to fetch access tokens at our token URL (partners
    without the register flow, e.g. Vector DERMS). The django-oauth-toolkit Application holds the
    client id and the hashed secret; deleting it revokes every access token issued to it."""

    partner = models.OneToOneField(Partner, on_delete=models.CASCADE, related_name="inbound_oauth_client")
    application = models.OneToOneField(APPLICATION_MODEL, on_delete=models.CASCADE, related_name="oscp_client")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "inbound OAuth client"

    def __str__(self):
        return f"OAuth client {self.application.client_id} of partner {self.partner_id}"


class Message(models.Model):
    """Every OSCP message in and out. Outbound rows are the outbox: written in the transaction of
    the change that caused them, sent by a Celery task queued on commit. A row without a partner
    goes to its ``url`` with its sealed headers (envelope webhooks)."""

    # Looked up through the (partner, ...) indexes below: one of its own would be one more index
    # entry for every message in and out.
    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages", db_index=False
    )
    group = models.ForeignKey(
        "groups.CapacityGroup", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    direction = models.CharField(max_length=3, choices=MessageDirection.choices)
    message_type = models.CharField(max_length=64)
    request_id = models.CharField(max_length=128)
    correlation_id = models.CharField(max_length=128, blank=True)
    status = models.CharField(max_length=16, choices=MessageStatus.choices)
    url = models.CharField(max_length=1024, blank=True, help_text="Where it went (set when queued for a webhook).")
    headers = models.JSONField(default=dict, blank=True, help_text="Masked.")
    body = models.JSONField(null=True, blank=True, help_text="Masked: no token appears here.")
    sealed_body = EncryptedTextField(blank=True, default="", help_text="Outbound body with secrets, encrypted.")
    sealed_headers = EncryptedTextField(
        blank=True, default="", help_text="Headers a message without a partner is sent with (JSON), encrypted."
    )
    method = models.CharField(
        max_length=8, default="POST", help_text="HTTP method a message without a partner is sent with."
    )
    ordering_key = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="Messages with the same key are sent one after another, oldest first (e.g. one object's pushes).",
    )
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True, help_text="No retry after this.")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # Outbound rows only (inbound ones have no next attempt): every query on it asks for
            # rows due by a time, which PostgreSQL knows implies the condition.
            models.Index(
                fields=["status", "next_attempt_at"],
                condition=models.Q(next_attempt_at__isnull=False),
                name="outbox_due",
            ),
            models.Index(fields=["partner", "direction", "request_id"]),
            models.Index(fields=["partner", "-created"]),
            # The outbox's ordering rule looks for unsent messages to a partner older than one.
            models.Index(
                fields=["partner", "id"],
                condition=models.Q(direction="out", status__in=["pending", "failed", "sending"]),
                name="outbox_unsent_by_partner",
            ),
            models.Index(
                fields=["ordering_key", "id"],
                condition=models.Q(direction="out", status__in=["pending", "failed", "sending"])
                & ~models.Q(ordering_key=""),
                name="outbox_unsent_by_key",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "request_id"],
                condition=models.Q(direction="in", status="accepted"),
                name="inbound_request_once_per_partner",
            )
        ]

    def __str__(self):
        return f"{self.get_direction_display()} {self.message_type} {self.request_id}"


class DeliveryAttempt(models.Model):
    """One try at sending an outbound message: when, what came back, how long it took and what the
    outbox made of it. Written in the statement that records the outcome on the message; goes when
    the message is pruned."""

    class Outcome(models.TextChoices):
        SENT = "sent", "sent"
        RETRY = "retry", "will retry"
        DEAD = "dead", "dead"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="delivery_attempts")
    number = models.PositiveIntegerField(help_text="1 for the first attempt.")
    attempted_at = models.DateTimeField(help_text="When the outcome was recorded.")
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["message", "number"]
        constraints = [models.UniqueConstraint(fields=["message", "number"], name="one_row_per_attempt")]

    def __str__(self):
        return f"attempt {self.number}: {self.outcome}"


class MessageSegment(models.Model):
    """One part of a segmented inbound message (X-Segment-Index / X-Segment-Count)."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="segments")
    message_type = models.CharField(max_length=64)
    request_id = models.CharField(max_length=128)
    index = models.PositiveIntegerField()
    count = models.PositiveIntegerField()
    body = models.TextField()
    received_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["partner", "request_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "request_id", "index"], name="segment_once"),
        ]
