"""The connection state machine of a partner.

    new ─► registering ─► registered ─► handshaking ─► online ⇄ offline
      │                      ▲  (out-of-band, e.g. OAuth partners)      │
      └──────────────────────┘          any ─► failed / disabled        ▼
                                                              handshaking (recovery)

Every transition is saved with its reason in the partner's history (django-simple-history's
change reason); an illegal one raises ``IllegalTransition`` and changes nothing."""

from django.db import transaction
from django.utils import timezone

from .choices import ConnectionState as S
from .models import Partner

TRANSITIONS: dict[str, set[str]] = {
    S.NEW: {S.REGISTERING, S.REGISTERED, S.HANDSHAKING, S.ONLINE, S.FAILED, S.DISABLED},
    S.REGISTERING: {S.REGISTERING, S.REGISTERED, S.FAILED, S.DISABLED},
    S.REGISTERED: {S.REGISTERING, S.HANDSHAKING, S.ONLINE, S.FAILED, S.DISABLED},
    S.HANDSHAKING: {S.REGISTERING, S.HANDSHAKING, S.ONLINE, S.OFFLINE, S.FAILED, S.DISABLED},
    S.ONLINE: {S.REGISTERING, S.HANDSHAKING, S.ONLINE, S.OFFLINE, S.FAILED, S.DISABLED},
    S.OFFLINE: {S.REGISTERING, S.HANDSHAKING, S.ONLINE, S.FAILED, S.DISABLED},
    S.FAILED: {S.REGISTERING, S.REGISTERED, S.DISABLED},
    S.DISABLED: {S.NEW, S.REGISTERED},
}


class IllegalTransition(Exception):
    def __init__(self, partner: Partner, to: str, reason: str):
        self.from_state, self.to_state = partner.connection_state, to
        super().__init__(
            f"{partner.name}: connection state cannot change from {partner.connection_state} to {to} ({reason})."
        )


def partner_transition(*, partner: Partner, to: str, reason: str, save: bool = True) -> Partner:
    """Move ``partner`` to state ``to``, recording ``reason``. Same-state moves that the table
    allows (re-registering, a new handshake while online) refresh the reason and time."""
    if to not in TRANSITIONS[partner.connection_state]:
        raise IllegalTransition(partner, to, reason)
    partner.connection_state = to
    partner.connection_state_reason = reason[:255]
    partner.connection_state_changed_at = timezone.now()
    partner._change_reason = reason
    if save:
        partner.save()
    if to == S.ONLINE and partner.pk:
        # Messages that waited while the partner was offline go now (see connections/outbox.py).
        from .outbox import outbox_release

        partner_id = partner.pk
        transaction.on_commit(lambda: outbox_release(partner_id=partner_id))
    return partner
