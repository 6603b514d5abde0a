from celery import shared_task


@shared_task(name="connections.message_send")
def message_send(message_id: int) -> None:
    """Send one outbound message (the outbound client and retries live in services)."""
    from .outbox import message_deliver

    message_deliver(message_id=message_id)
