from celery import shared_task


@shared_task(name="connections.message_send")
def message_send(message_id: int) -> None:
    """Send one outbound message (the outbound client and retries live in services)."""
    from .outbox import message_deliver

    message_deliver(message_id=message_id)


@shared_task(name="connections.segments_expire")
def segments_expire() -> int:
    """Remove parts of segmented inbound messages that never completed."""
    from .services import segments_expire as expire

    return expire()


@shared_task(name="connections.messages_prune")
def messages_prune() -> int:
    """Remove message log rows older than OSCP_MESSAGE_RETENTION_DAYS (never unsent outbound rows)."""
    from .services import messages_prune as prune

    return prune()
