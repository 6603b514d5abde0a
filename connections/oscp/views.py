"""The OSCP 2.0 message endpoints: one per message in the registry (``messages.MESSAGES``), each the
shared pipeline (``pipeline.py``) driven by the message's declaration. What a message does is its
registered ``receive`` handler, in the app whose data it changes."""

from .messages import MESSAGES
from .pipeline import oscp_view

VIEWS = {message_type: oscp_view(spec) for message_type, spec in MESSAGES.items()}
