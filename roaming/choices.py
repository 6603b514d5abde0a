"""OCPI 2.2.1 vocabulary (wire values) and the roaming partner's connection states."""

from django.db import models


class OcpiRole(models.TextChoices):
    CPO = "CPO"
    EMSP = "EMSP"
    HUB = "HUB"
    NAP = "NAP"
    NSP = "NSP"
    OTHER = "OTHER"
    SCSP = "SCSP"


class InterfaceRole(models.TextChoices):
    SENDER = "SENDER"
    RECEIVER = "RECEIVER"


class ModuleId(models.TextChoices):
    CREDENTIALS = "credentials"
    LOCATIONS = "locations"
    TARIFFS = "tariffs"
    TOKENS = "tokens"
    HUBCLIENTINFO = "hubclientinfo"


class RoamingState(models.TextChoices):
    """new → registered (either side started) → unregistered (either side deleted)."""

    NEW = "new"
    REGISTERED = "registered"
    UNREGISTERED = "unregistered"


class CredentialsTokenKind(models.TextChoices):
    """A: issued by staff for the partner's registration only; C: issued at a credentials exchange."""

    A = "A"
    C = "C"


class ConnectionStatus(models.TextChoices):
    """hubclientinfo ConnectionStatus."""

    CONNECTED = "CONNECTED"
    OFFLINE = "OFFLINE"
    PLANNED = "PLANNED"
    SUSPENDED = "SUSPENDED"


class EvseStatus(models.TextChoices):
    AVAILABLE = "AVAILABLE"
    BLOCKED = "BLOCKED"
    CHARGING = "CHARGING"
    INOPERATIVE = "INOPERATIVE"
    OUTOFORDER = "OUTOFORDER"
    PLANNED = "PLANNED"
    REMOVED = "REMOVED"
    RESERVED = "RESERVED"
    UNKNOWN = "UNKNOWN"


class TokenType(models.TextChoices):
    AD_HOC_USER = "AD_HOC_USER"
    APP_USER = "APP_USER"
    OTHER = "OTHER"
    RFID = "RFID"


class WhitelistType(models.TextChoices):
    ALWAYS = "ALWAYS"
    ALLOWED = "ALLOWED"
    ALLOWED_OFFLINE = "ALLOWED_OFFLINE"
    NEVER = "NEVER"


class AllowedType(models.TextChoices):
    ALLOWED = "ALLOWED"
    BLOCKED = "BLOCKED"
    EXPIRED = "EXPIRED"
    NO_CREDIT = "NO_CREDIT"
    NOT_ALLOWED = "NOT_ALLOWED"


class PushKind(models.TextChoices):
    """What changed, for the outbox log: a full object (PUT) or some of its fields (PATCH)."""

    PUT = "PUT"
    PATCH = "PATCH"


class AuthorizationSource(models.TextChoices):
    """Who decided a real-time authorization: the eMSP answered; the stored token's whitelist rule
    (the eMSP did not answer in time or erred, or the rule is ALWAYS); or we refused without asking
    (unknown token, partner no longer registered)."""

    EMSP = "emsp"
    WHITELIST = "whitelist"
    REFUSED = "refused"
