from django.db import models


class ForecastType(models.TextChoices):
    CONSUMPTION = "CONSUMPTION"
    GENERATION = "GENERATION"
    FALLBACK_CONSUMPTION = "FALLBACK_CONSUMPTION"
    FALLBACK_GENERATION = "FALLBACK_GENERATION"
    OPTIMUM = "OPTIMUM"


class ForecastMessage(models.TextChoices):
    """The OSCP message a forecast arrived in (or left in)."""

    UPDATE = "update_group_capacity_forecast"
    ADJUST = "adjust_group_capacity_forecast"


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
