"""Writes on readings and report cursors. Report building lives in ``reports``."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from .models import Reading

logger = logging.getLogger(__name__)

PRUNE_BATCH = 50_000
UPSERT_BATCH = 2_000


@transaction.atomic
def readings_store(*, owner, readings: list[dict]) -> int:
    """Store validated readings for ``owner``; a reading for the same node, source and time as an
    earlier one replaces it. Returns how many readings were stored."""
    unique: dict[tuple, Reading] = {}
    for reading in readings:
        key = (reading["node_id"], reading["source_id"], reading["ts"])
        unique[key] = Reading(owner=owner, **reading)  # the last one in the request wins
    Reading.objects.bulk_create(
        unique.values(),
        batch_size=UPSERT_BATCH,
        update_conflicts=True,
        unique_fields=["owner", "node_id", "source_id", "ts"],
        update_fields=["instantaneous", "accumulating"],
    )
    return len(unique)


def readings_prune(*, now: datetime, days: int | None = None) -> int:
    """Delete readings older than the retention period, in batches (each its own transaction so
    the table is never locked for long). Returns how many were deleted."""
    days = settings.MEASUREMENTS_READING_RETENTION_DAYS if days is None else days
    cutoff = now - timedelta(days=days)
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(Reading.objects.filter(ts__lt=cutoff).values_list("id", flat=True)[:PRUNE_BATCH])
            if not ids:
                break
            deleted += Reading.objects.filter(id__in=ids).delete()[0]
    if deleted:
        logger.info("Pruned %s readings older than %s", deleted, cutoff.isoformat())
    return deleted
