from django.db import models


class Beacon(models.Model):
    """When a process that must run exactly once (Celery beat) last showed it was alive: written
    by the beat scheduler every few seconds, read by ``/health/ready``. A bookkeeping row: no
    history."""

    name = models.CharField(primary_key=True, max_length=50)
    seen_at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} seen at {self.seen_at:%Y-%m-%d %H:%M:%S}"
