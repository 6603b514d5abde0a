"""Sending outbox rows. Placeholder until the partner client lands: rows stay pending."""


def message_deliver(*, message_id: int) -> None:
    return None
