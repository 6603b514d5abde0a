"""Who made a change and why, on the history rows django-simple-history writes."""

from django.db.models import Model


def history_by(instance: Model, actor, reason: str) -> None:
    """Record ``actor`` (when a signed-in user) and ``reason`` on the history row that the next
    save or delete of ``instance`` writes."""
    if actor is not None and getattr(actor, "is_authenticated", False):
        instance._history_user = actor
    instance._change_reason = reason
