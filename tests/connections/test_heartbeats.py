"""Heartbeats we send at the negotiated interval, and partners going offline when theirs stop."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from connections.choices import ConnectionState, RegistrationStatus
from connections.models import Message, Partner
from connections.outbound import heartbeats_dispatch, partner_handshake_start, partners_offline_check
from oscp_platform.celery import app
from tests.connections.factories import CapacityProviderFactory


def _partner(**fields):
    values = {
        "registration_status": RegistrationStatus.REGISTERED,
        "connection_state": ConnectionState.ONLINE,
        "settings": {"heartbeatSeconds": 60},
    }
    values.update(fields)
    return CapacityProviderFactory(**values)


@pytest.mark.django_db
def test_heartbeat_announces_offline_mode_at_and_dies_then(settings):
    settings.OSCP_OFFLINE_MULTIPLIER = 2
    partner = _partner()
    now = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)

    assert heartbeats_dispatch(now=now) == 1

    message = Message.objects.get(partner=partner, message_type="heartbeat")
    assert message.body == {"offline_mode_at": "2024-05-01T10:02:00.000Z"}
    assert message.deadline == now + timedelta(seconds=120)
    partner.refresh_from_db()
    assert partner.last_heartbeat_sent_at == now


@pytest.mark.django_db
def test_next_heartbeat_only_after_the_interval():
    partner = _partner(settings={"heartbeatSeconds": 30})
    start = timezone.now()
    assert heartbeats_dispatch(now=start) == 1
    assert heartbeats_dispatch(now=start) == 0
    assert heartbeats_dispatch(now=start + timedelta(seconds=29)) == 0
    assert heartbeats_dispatch(now=start + timedelta(seconds=30)) == 1
    assert partner.messages.filter(message_type="heartbeat").count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [
        {"settings": {}},  # no heartbeats asked for
        {"enabled": False},
        {"registration_status": RegistrationStatus.PENDING},
        {"connection_state": ConnectionState.OFFLINE},
        {"connection_state": ConnectionState.FAILED},
    ],
)
def test_no_heartbeats_to_partners_that_should_not_get_them(fields):
    _partner(**fields)
    assert heartbeats_dispatch() == 0
    assert not Message.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_partner_locked_by_another_dispatcher_is_skipped():
    partner = _partner()
    locked, release = threading.Event(), threading.Event()

    def other_dispatcher():
        with transaction.atomic():
            Partner.objects.select_for_update().get(id=partner.id)
            locked.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=other_dispatcher)
    thread.start()
    assert locked.wait(10)
    try:
        assert heartbeats_dispatch() == 0  # skipped, not waited for
    finally:
        release.set()
        thread.join()
    assert heartbeats_dispatch() == 1


@pytest.mark.django_db
def test_partner_goes_offline_once_offline_mode_at_has_passed():
    now = timezone.now()
    late = _partner(offline_mode_at=now - timedelta(seconds=1), last_heartbeat_received_at=now - timedelta(seconds=61))
    fine = _partner(offline_mode_at=now + timedelta(seconds=30))

    assert partners_offline_check(now=now) == 1

    late.refresh_from_db()
    fine.refresh_from_db()
    assert late.connection_state == ConnectionState.OFFLINE
    assert late.connection_state_reason.startswith("no heartbeat by ")
    assert fine.connection_state == ConnectionState.ONLINE
    assert partners_offline_check(now=now) == 0  # already offline: nothing more


@pytest.mark.django_db
def test_a_new_handshake_brings_an_offline_partner_back_without_going_offline_again():
    partner = _partner(connection_state=ConnectionState.OFFLINE, offline_mode_at=timezone.now() - timedelta(minutes=5))
    partner_handshake_start(partner=partner)
    assert partners_offline_check() == 0
    partner.refresh_from_db()
    assert partner.connection_state == ConnectionState.HANDSHAKING and partner.offline_mode_at is None


def test_periodic_jobs_of_the_outbound_side_exist(settings):
    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    ours = {"connections.heartbeats_dispatch", "connections.partners_offline_check", "connections.outbox_sweep"}
    assert ours <= names
    import connections.tasks  # noqa: F401 - registers the tasks

    assert ours <= set(app.tasks)
