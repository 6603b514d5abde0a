"""Periodic jobs are declared in code (settings.CELERY_BEAT_SCHEDULE) and mirrored into
django-celery-beat's tables, where support staff see them in the admin."""

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask


@transaction.atomic
def periodic_tasks_sync() -> list[str]:
    names = []
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        seconds = entry["schedule"]
        seconds = int(seconds.total_seconds()) if hasattr(seconds, "total_seconds") else int(seconds)
        interval, _ = IntervalSchedule.objects.get_or_create(every=max(seconds, 1), period=IntervalSchedule.SECONDS)
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={"task": entry["task"], "interval": interval, "enabled": True, "description": "Declared in code."},
        )
        names.append(name)
    return names
