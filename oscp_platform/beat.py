"""The beat scheduler: django-celery-beat's ``DatabaseScheduler`` (the jobs are in the admin),
plus two duties.

- **One beat at a time.** On PostgreSQL a beat runs the schedule only while it holds a session
  advisory lock; a second beat (started by mistake, or a standby on another machine) waits and
  publishes nothing until the first one's database session ends, then takes over within
  ``STANDBY_SECONDS``. The dispatchers claim work with ``SKIP LOCKED`` anyway, so even two
  publishing beats would not send anything twice; the lock keeps them from doing the work twice.
- **Seen.** The running beat records that it is alive (``Beacon``) every few seconds, which
  ``/health/ready`` checks.

Database or broker outages do not stop it: a failed round is logged and tried again.
"""

from __future__ import annotations

import logging
import time

from django.db import DatabaseError, connection
from django_celery_beat.schedulers import DatabaseScheduler

from .health import beat_seen

logger = logging.getLogger(__name__)

LOCK_KEY = 0x05C9_BEA7  # pg advisory lock id: "oscp beat"
STANDBY_SECONDS = 5.0
SEEN_EVERY_SECONDS = 5.0


class Scheduler(DatabaseScheduler):
    _leader: bool | None = None  # None until the first round: either answer is logged once
    _seen_at = 0.0

    def _lead(self) -> bool:
        """Hold (or take) the beat lock; always true off PostgreSQL (one machine, one beat)."""
        if connection.vendor != "postgresql":
            return True
        with connection.cursor() as cursor:
            if self._leader:
                cursor.execute(
                    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                    "AND objid = %s AND granted",
                    [LOCK_KEY],
                )
                if cursor.fetchone():
                    return True
                logger.info("Beat lost its lock (its database session ended); trying to take it again")
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
            leader = bool(cursor.fetchone()[0])
        if leader != self._leader:
            if leader:
                logger.info("Beat holds the lock: running the schedule")
            else:
                logger.warning("Another beat runs the schedule: standing by")
        self._leader = leader
        return leader

    def tick(self, *args, **kwargs):
        try:
            if not self._lead():
                return STANDBY_SECONDS
            if time.monotonic() - self._seen_at >= SEEN_EVERY_SECONDS:
                beat_seen()
                self._seen_at = time.monotonic()
        except DatabaseError as exc:
            logger.warning("Beat cannot reach the database (%s); trying again", exc)
            self._leader = None
            connection.close()
            return STANDBY_SECONDS
        return super().tick(*args, **kwargs)
