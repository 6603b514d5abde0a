"""Admin for partners (partners.py) and the message log / outbox (messages.py)."""

from . import messages, partners  # noqa: F401
