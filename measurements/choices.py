from django.db import models


class ReportOutcome(models.TextChoices):
    """What happened the last time a cursor's period was reported."""

    QUEUED = "queued", "Queued to the partner"
    NO_DATA = "no-data", "No readings: nothing sent"
    SKIPPED = "skipped", "Nothing reportable (no enabled assets, or no convertible values)"
