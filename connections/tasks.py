from celery import shared_task


@shared_task(name="connections.message_send")
def message_send(message_id: int) -> None:
    """Send one outbound message (claim, send, record, retry: connections/outbox.py)."""
    from .outbox import message_deliver

    message_deliver(message_id=message_id)


@shared_task(name="connections.segments_expire")
def segments_expire() -> int:
    """Remove parts of segmented inbound messages that never completed."""
    from .inbound import segments_expire as expire

    return expire()


@shared_task(name="connections.messages_prune")
def messages_prune() -> int:
    """Remove message log rows older than OSCP_MESSAGE_RETENTION_DAYS (never unsent outbound rows)."""
    from .inbound import messages_prune as prune

    return prune()


@shared_task(name="connections.oauth_access_tokens_prune")
def oauth_access_tokens_prune() -> int:
    """Remove expired OAuth access tokens of partners calling us."""
    from .oauth import oauth_access_tokens_prune as prune

    return prune()


@shared_task(name="connections.outbox_sweep")
def outbox_sweep() -> int:
    """Re-queue outbox rows whose queue entry was lost or whose worker died mid-send."""
    from .outbox import outbox_sweep as sweep

    return sweep()


@shared_task(name="connections.heartbeats_dispatch")
def heartbeats_dispatch() -> int:
    """Queue a heartbeat to every partner whose negotiated interval has elapsed."""
    from .outbound import heartbeats_dispatch as dispatch

    return dispatch()


@shared_task(name="connections.partners_offline_check")
def partners_offline_check() -> int:
    """Mark partners offline whose announced offline_mode_at has passed."""
    from .outbound import partners_offline_check as check

    return check()
