"""Talking to the Celery broker from request and task code.

``task_publish`` publishes a task by name and never raises: when the broker is unreachable after
the data a task needs was committed, the caller's answer must not change (a partner answered 500
for a message we stored would send it again). It logs a warning and returns ``False``; whoever
calls it must have a way to find the work again (the outbox sweeper re-publishes pending rows).
"""

from __future__ import annotations

import logging

from celery import current_app

logger = logging.getLogger(__name__)


def task_publish(name: str, *, args: tuple | list = (), countdown: float = 0, fallback: str = "") -> bool:
    """Publish task ``name`` with ``args``; ``False`` and a warning (saying ``fallback``: what
    happens instead) when the broker refused."""
    options = {"countdown": countdown} if countdown > 0 else {}
    try:
        current_app.send_task(name, args=tuple(args), **options)
    except Exception as exc:  # noqa: BLE001 - any broker failure: the work is found again later
        logger.warning(
            "Broker unavailable: %s%s not published (%s: %s). %s",
            name,
            list(args)[:1],
            type(exc).__name__,
            exc,
            fallback,
        )
        return False
    return True
