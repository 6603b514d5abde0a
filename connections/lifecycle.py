"""The connection state machine of a partner.

    new ─► registering ─► registered ─► handshaking ─► online ⇄ offline
      │                      ▲  (out-of-band, e.g. OAuth partners)      │
      └──────────────────────┘          any ─► failed / disabled        ▼
                                                              handshaking (recovery)

Every transition is saved with its reason in the partner's history (django-simple-history's
change reason); an illegal one raises ``IllegalTransition`` and changes nothing.

Offline: a partner is offline once the ``offline_mode_at`` of its last heartbeat has passed with no
new handshake since (``partner_is_offline``). The periodic check marks it so within
``OSCP_HEARTBEAT_DISPATCH_SECONDS``; inbound messages ask ``partner_is_offline`` directly, so the
answer does not depend on when that check last ran. Only a handshake brings it back online.

Disabled: ``enabled`` off puts the connection in ``disabled`` (nothing is sent to the partner and
its calls are refused); on again, it goes back to ``registered``, or ``new`` when it never
completed a registration (``partner_enabled_apply``)."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from .choices import ConnectionState as S
from .choices import RegistrationStatus
from .models import Partner
from .oscp.serializers import wire_time
from .outbox import outbox_release

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


def partner_lock(partner: Partner | int) -> Partner:
    """The partner row, re-read and locked until the end of the caller's transaction: every state
    change happens under this lock."""
    partner_id = partner if isinstance(partner, int) else partner.pk
    return Partner.objects.select_for_update().get(pk=partner_id)


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
    if to == S.ONLINE:
        _held_release(partner)  # messages that waited while the partner was offline go now
    return partner


def _held_release(partner: Partner) -> None:
    """On commit, queue the messages the outbox held for the partner (connections/outbox.py)."""
    if partner.pk is None:
        return
    partner_id = partner.pk
    transaction.on_commit(lambda: outbox_release(partner_id=partner_id))


def partner_transition_or_note(*, partner: Partner, to: str, reason: str) -> None:
    """Move to ``to`` when the state machine allows it; otherwise keep the state and save the
    reason in the history (e.g. an already online partner completing a re-registration)."""
    if to in TRANSITIONS[partner.connection_state]:
        partner_transition(partner=partner, to=to, reason=reason)
    else:
        partner._change_reason = reason
        partner.save()


# States in which a passed offline_mode_at makes a partner offline.
OFFLINE_CHECK_STATES = (S.HANDSHAKING, S.ONLINE)


def partner_is_offline(partner: Partner, *, now: datetime | None = None) -> bool:
    """Offline: marked so, or the ``offline_mode_at`` its last heartbeat announced has passed
    (a handshake clears it, so a new handshake always counts)."""
    if partner.connection_state == S.OFFLINE:
        return True
    return (
        partner.connection_state in OFFLINE_CHECK_STATES
        and partner.offline_mode_at is not None
        and partner.offline_mode_at < (now or timezone.now())
    )


def partner_offline_mark(*, partner: Partner) -> str:
    """Move a partner whose ``offline_mode_at`` passed to ``offline`` (the caller locked the row);
    returns the reason."""
    last = partner.last_heartbeat_received_at
    reason = f"no heartbeat by {wire_time(partner.offline_mode_at, 'milliseconds')}" + (
        f" (last received {wire_time(last, 'milliseconds')})" if last else ""
    )
    partner_transition(partner=partner, to=S.OFFLINE, reason=reason)
    return reason


def partner_enabled_apply(*, partner: Partner, by: str = "", save: bool = True) -> bool:
    """Bring the connection state in line with ``enabled``: off → ``disabled``; on again →
    ``registered`` (or ``new`` if registration never completed), and the messages the outbox held
    meanwhile go out. Returns whether the state changed."""
    suffix = f" by {by}" if by else ""
    if not partner.enabled and partner.connection_state != S.DISABLED:
        partner_transition(partner=partner, to=S.DISABLED, reason=f"disabled{suffix}", save=save)
        return True
    if partner.enabled and partner.connection_state == S.DISABLED:
        registered = partner.registration_status == RegistrationStatus.REGISTERED
        to = S.REGISTERED if registered else S.NEW
        partner_transition(partner=partner, to=to, reason=f"enabled again{suffix}", save=save)
        _held_release(partner)
        return True
    return False
