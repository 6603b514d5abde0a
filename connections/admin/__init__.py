"""Admin for partners (partners.py), the message log / outbox (messages.py) and their dashboard
sections (dashboard.py)."""

from . import dashboard, messages, partners  # noqa: F401
