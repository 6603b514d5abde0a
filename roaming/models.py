"""Roaming partners (OCPI parties we exchange credentials with), the tokens they present to us, the
hub's client list, the locations and tariffs we send, and the drivers' tokens eMSPs send us."""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from oscp_platform.crypto import EncryptedTextField

from .choices import (
    ConnectionStatus,
    CredentialsTokenKind,
    EvseStatus,
    OcpiRole,
    RoamingState,
    TokenType,
    WhitelistType,
)

SECRET_FIELDS = ["partner_token"]


class RoamingPartner(models.Model):
    """An OCPI platform (eMSP, hub, ...) this operator roams with. ``partner_token`` is what we
    call it with: its token A while we register with it, then its credentials token (B)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=64)
    versions_url = models.URLField(max_length=512, blank=True, help_text="The partner's OCPI versions URL.")
    version = models.CharField(max_length=8, blank=True, help_text="The OCPI version both sides speak.")
    endpoints = models.JSONField(default=list, blank=True, help_text="The partner's 2.2.1 endpoints.")
    partner_token = EncryptedTextField(blank=True, help_text="The token we call the partner with (encrypted).")
    state = models.CharField(max_length=16, choices=RoamingState.choices, default=RoamingState.NEW)
    state_reason = models.CharField(max_length=255, blank=True)
    state_changed_at = models.DateTimeField(null=True, blank=True)
    plain_token_seen_at = models.DateTimeField(
        null=True, blank=True, help_text="Last time the partner sent its token without Base64 (an OCPI 2.1.1 habit)."
    )
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=SECRET_FIELDS + ["plain_token_seen_at"])

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    def endpoint(self, identifier: str, role: str) -> str | None:
        for entry in self.endpoints or []:
            if entry.get("identifier") == identifier and entry.get("role") == role:
                return entry.get("url")
        return None


class RoamingPartnerRole(models.Model):
    """One party the partner speaks for (a hub speaks for many)."""

    partner = models.ForeignKey(RoamingPartner, on_delete=models.CASCADE, related_name="roles")
    role = models.CharField(max_length=8, choices=OcpiRole.choices)
    country_code = models.CharField(max_length=2)
    party_id = models.CharField(max_length=3)
    business_details = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "country_code", "party_id", "role"], name="roaming_role_once")
        ]

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_id} {self.role}"


class CredentialsToken(models.Model):
    """A token a partner presents to us: only its keyed digest and last 4 characters are kept.

    A new token C keeps the older ones working until the partner first uses it (``confirmed_at``):
    a rotation whose answer was lost leaves the partner's old credentials in force."""

    partner = models.ForeignKey(RoamingPartner, on_delete=models.CASCADE, related_name="credentials_tokens")
    digest = models.CharField(max_length=64, unique=True)
    last4 = models.CharField(max_length=4)
    kind = models.CharField(max_length=1, choices=CredentialsTokenKind.choices)
    created = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.kind} ••••{self.last4}"


class HubClient(models.Model):
    """A party a hub partner reports through ``hubclientinfo``."""

    partner = models.ForeignKey(RoamingPartner, on_delete=models.CASCADE, related_name="hub_clients")
    country_code = models.CharField(max_length=2)
    party_id = models.CharField(max_length=3)
    role = models.CharField(max_length=8, choices=OcpiRole.choices)
    status = models.CharField(max_length=16, choices=ConnectionStatus.choices)
    last_updated = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "country_code", "party_id"], name="roaming_hub_client_once")
        ]


# --- what we send: locations (with EVSEs and their connectors) and tariffs -------------------------
class Location(models.Model):
    """An OCPI Location of ours. The wire object's fields other than the keys live in ``data``
    (validated by ``roaming.ocpi.serializers.LocationSerializer``); EVSEs are rows of their own."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    country_code = models.CharField(max_length=2)
    party_id = models.CharField(max_length=3)
    ocpi_id = models.CharField(max_length=36)
    publish = models.BooleanField(default=True)
    data = models.JSONField(default=dict)
    capacity_group = models.ForeignKey(
        "groups.CapacityGroup", null=True, blank=True, on_delete=models.SET_NULL, related_name="locations"
    )
    last_updated = models.DateTimeField(db_index=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["last_updated", "id"]
        constraints = [
            models.UniqueConstraint(fields=["country_code", "party_id", "ocpi_id"], name="roaming_location_once")
        ]

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_id} {self.ocpi_id}"


class Evse(models.Model):
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="evses")
    uid = models.CharField(max_length=36)
    status = models.CharField(max_length=16, choices=EvseStatus.choices)
    data = models.JSONField(default=dict, help_text="The EVSE's other fields, connectors included.")
    last_updated = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["location", "uid"], name="roaming_evse_once")]


class Tariff(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    country_code = models.CharField(max_length=2)
    party_id = models.CharField(max_length=3)
    ocpi_id = models.CharField(max_length=36)
    currency = models.CharField(max_length=3)
    data = models.JSONField(default=dict)
    last_updated = models.DateTimeField(db_index=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["last_updated", "id"]
        constraints = [
            models.UniqueConstraint(fields=["country_code", "party_id", "ocpi_id"], name="roaming_tariff_once")
        ]


# --- what eMSPs send us: their tokens -------------------------------------------------------------
class Token(models.Model):
    """An OCPI Token an eMSP pushed to us (we are the tokens receiver). Keys and the fields the
    authorization reads are columns; the wire object's other fields live in ``data``. A token is
    the partner's: another partner's token with the same keys is another row."""

    partner = models.ForeignKey(RoamingPartner, on_delete=models.CASCADE, related_name="tokens")
    country_code = models.CharField(max_length=2)
    party_id = models.CharField(max_length=3)
    uid = models.CharField(max_length=36)
    type = models.CharField(max_length=16, choices=TokenType.choices)
    contract_id = models.CharField(max_length=36)
    valid = models.BooleanField()
    whitelist = models.CharField(max_length=16, choices=WhitelistType.choices)
    data = models.JSONField(default=dict)
    last_updated = models.DateTimeField(db_index=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "country_code", "party_id", "uid", "type"], name="roaming_token_once"
            )
        ]
        indexes = [models.Index(fields=["uid", "type"])]

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_id} {self.type} {self.uid}"
