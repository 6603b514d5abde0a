from django.db import models


class MeasurementPeriod(models.TextChoices):
    MINUTE = "Minute"
    FIVE_MINUTE = "FiveMinute"
    TEN_MINUTE = "TenMinute"
    FIFTEEN_MINUTE = "FifteenMinute"
    TWENTY_MINUTE = "TwentyMinute"
    THIRTY_MINUTE = "ThirtyMinute"
    HOUR = "Hour"


PERIOD_SECONDS = {
    MeasurementPeriod.MINUTE: 60,
    MeasurementPeriod.FIVE_MINUTE: 300,
    MeasurementPeriod.TEN_MINUTE: 600,
    MeasurementPeriod.FIFTEEN_MINUTE: 900,
    MeasurementPeriod.TWENTY_MINUTE: 1200,
    MeasurementPeriod.THIRTY_MINUTE: 1800,
    MeasurementPeriod.HOUR: 3600,
}


class Audience(models.TextChoices):
    CAPACITY_PROVIDER = "CapacityProvider"
    CAPACITY_OPTIMIZER = "CapacityOptimizer"


class AssetCategory(models.TextChoices):
    CHARGING = "Charging"
    CONSUMPTION = "Consumption"
    GENERATION = "Generation"
    STORAGE = "Storage"


class Phase(models.TextChoices):
    UNKNOWN = "Unknown"
    A = "A"
    B = "B"
    C = "C"
    ALL = "All"


class MeasurementUnit(models.TextChoices):
    A = "A"
    W = "W"
    KW = "kW"
    WH = "Wh"
    KWH = "kWh"


class StatisticType(models.TextChoices):
    AVERAGE = "Average"
    COUNT = "Count"
    MINIMUM = "Minimum"
    MAXIMUM = "Maximum"
    START = "Start"
    END = "End"
    DIFFERENCE = "Difference"


class EnergyType(models.TextChoices):
    FLEXIBLE = "Flexible"
    NON_FLEXIBLE = "NonFlexible"
    TOTAL = "Total"


class EnergyDirection(models.TextChoices):
    NET = "Net"
    IMPORT = "Import"
    EXPORT = "Export"


class GroupMode(models.TextChoices):
    """Which limits are in force for a group (see forecasts.services)."""

    NORMAL = "normal"
    FORECAST_GAP = "forecast-gap"
    PARTNER_OFFLINE = "partner-offline"
    PROTECTIVE_STOP = "protective-stop"
