"""Celery entry points of the connections app: thin, each calls one service."""

from celery import shared_task

from . import inbound, oauth, outbound, outbox


@shared_task(name="connections.messages_send")
def messages_send(message_ids: list[int]) -> int:
    """Send a batch of outbound messages (claim, send, record, retry: connections/outbox.py)."""
    return outbox.messages_deliver(message_ids=message_ids)


@shared_task(name="connections.segments_expire")
def segments_expire() -> int:
    """Remove parts of segmented inbound messages that never completed."""
    return inbound.segments_expire()


@shared_task(name="connections.messages_prune")
def messages_prune() -> int:
    """Remove message log rows older than OSCP_MESSAGE_RETENTION_DAYS (never unsent outbound rows)."""
    return inbound.messages_prune()


@shared_task(name="connections.oauth_access_tokens_prune")
def oauth_access_tokens_prune() -> int:
    """Remove expired OAuth access tokens of partners calling us."""
    return oauth.oauth_access_tokens_prune()


@shared_task(name="connections.outbox_sweep")
def outbox_sweep() -> int:
    """Re-queue outbox rows whose queue entry was lost or whose worker died mid-send."""
    return outbox.outbox_sweep()


@shared_task(name="connections.heartbeats_dispatch")
def heartbeats_dispatch() -> int:
    """Queue a heartbeat to every partner whose negotiated interval has elapsed."""
    return outbound.heartbeats_dispatch()


@shared_task(name="connections.partners_offline_check")
def partners_offline_check() -> int:
    """Mark partners offline whose announced offline_mode_at has passed."""
    return outbound.partners_offline_check()
