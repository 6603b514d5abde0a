"""Outbound end to end: a real local peer (HTTP server), real Celery workers on Redis (with
embedded beat running the declared periodic jobs), gunicorn for the management API, all on the
PostgreSQL test database."""

import json
import time
import urllib.request
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from connections.choices import ConnectionState, MessageStatus, PartnerRole, RegistrationStatus
from connections.models import Message, Partner
from connections.outbound import partner_handshake_start
from connections.services import outbox_enqueue
from oscp_platform.crypto import mask
from tests.connections.factories import CapacityProviderFactory, UserFactory
from tests.support.peer import Reply
from tests.support.processes import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

DISPATCH_SECONDS = 1


@pytest.fixture
def process_settings():
    return {
        "OSCP_HEARTBEAT_DISPATCH_SECONDS": str(DISPATCH_SECONDS),
        "OSCP_OUTBOX_SWEEP_SECONDS": "1",
        "OSCP_OUTBOX_SWEEP_GRACE_SECONDS": "2",
        "OSCP_OUTBOX_STUCK_SECONDS": "3",
        "OSCP_RETRY_BASE_SECONDS": "0.4",
        "OSCP_RETRY_MAX_SECONDS": "1",
        "GROUP_MODE_CHECK_SECONDS": "3600",
        "MEASUREMENT_DISPATCH_SECONDS": "3600",
    }


def _partner(peer, **fields):
    values = {"base_url": peer.base_url, "partner_token": "their-token-0001-abcd"}
    values.update(fields)
    return CapacityProviderFactory(**values)


def _status(message):
    message.refresh_from_db()
    return message.status


def test_partner_registers_with_us_and_gets_our_reply_then_our_handshake(peer, real_worker):
    optimizer = _partner(
        peer,
        role=PartnerRole.CAPACITY_OPTIMIZER,
        connection_state=ConnectionState.REGISTERING,
        required_heartbeat_seconds=5,
    )
    # What the inbound register view does after its 204: queue our reply with a new token.
    reply = outbox_enqueue(
        partner=optimizer,
        message_type="register",
        body={"token": mask("our-token-for-them-1234"), "version_url": []},
        sealed_body=json.dumps({"token": "our-token-for-them-1234", "version_url": []}),
        correlation_id="their-register-1",
    )

    [received] = peer.wait_for("register", timeout=15)
    assert received.header("Authorization") == "Token their-token-0001-abcd"
    assert received.header("X-Correlation-ID") == "their-register-1"
    assert received.header("X-Request-ID") == reply.request_id
    assert received.body["token"] == "our-token-for-them-1234"
    # Accepted: registered, and a handshake to the optimizer follows on its own.
    [handshake] = peer.wait_for("handshake", timeout=10)
    assert handshake.body == {"required_behaviour": {"heartbeat_interval": 5, "measurement_configuration": []}}
    assert handshake.received_at > received.received_at
    optimizer.refresh_from_db()
    assert optimizer.registration_status == RegistrationStatus.REGISTERED
    assert optimizer.connection_state == ConnectionState.HANDSHAKING
    wait_until(lambda: _status(reply) == MessageStatus.SENT, 5)


def test_we_register_with_a_partner_through_the_api(peer, real_worker, web_server):
    user = UserFactory()
    api_token = Token.objects.create(user=user)
    provider = _partner(peer, owner=user, partner_token="initial-token-from-cp-9999")

    request = urllib.request.Request(
        f"{web_server.url}/solaruser/api/v1/sec/user/oscp/capacity-providers/{provider.id}/register",
        method="POST",
        headers={"Authorization": f"Token {api_token.key}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        data = json.loads(response.read())["data"]
    assert data["connectionState"] == "registering"

    [received] = peer.wait_for("register", timeout=15)
    assert received.header("Authorization") == "Token initial-token-from-cp-9999"
    assert received.header("X-Correlation-ID") is None
    assert received.body["version_url"] == [{"version": "2.0", "base_url": f"{web_server.url}/oscp/fp/2.0"}]
    from connections.selectors import partner_for_token

    assert partner_for_token(token=received.body["token"]) == provider  # they can call us with it
    message = Message.objects.get(partner=provider, message_type="register")
    wait_until(lambda: _status(message) == MessageStatus.SENT, 5)
    assert received.body["token"] not in json.dumps(message.body)  # the log shows it masked


def test_handshakes_both_ways_carry_request_and_correlation_ids(peer, real_worker):
    partner = _partner(peer, connection_state=ConnectionState.REGISTERED, registration_status="Registered")
    ours = partner_handshake_start(partner=partner)
    # The inbound handshake view's acknowledgement of the partner's own handshake:
    ack = outbox_enqueue(partner=partner, message_type="handshake_acknowledge", body={}, correlation_id="their-hs-7")

    [handshake] = peer.wait_for("handshake", timeout=15)
    [acknowledge] = peer.wait_for("handshake_acknowledge", timeout=10)
    assert handshake.header("X-Request-ID") == ours.request_id
    assert acknowledge.header("X-Request-ID") == ack.request_id
    assert acknowledge.header("X-Correlation-ID") == "their-hs-7"
    assert acknowledge.received_at >= handshake.received_at  # order kept: handshake first


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_heartbeats_at_the_negotiated_interval(peer, real_worker):
    _partner(
        peer,
        registration_status=RegistrationStatus.REGISTERED,
        connection_state=ConnectionState.ONLINE,
        settings={"heartbeatSeconds": 2},
    )
    beats = peer.wait_for("heartbeat", count=4, timeout=15)
    gaps = [b.received_at - a.received_at for a, b in zip(beats, beats[1:], strict=False)]
    print("heartbeat gaps (s):", [round(g, 2) for g in gaps])
    assert all(1.8 <= gap <= 2 + DISPATCH_SECONDS + 0.7 for gap in gaps), gaps
    for beat in beats:
        ahead = _time(beat.body["offline_mode_at"]).timestamp() - beat.received_at
        assert 3 <= ahead <= 4.1  # 2 x interval, minus the time on the wire
    assert len({b.header("X-Request-ID") for b in beats}) == len(beats)


def test_silent_partner_goes_offline_within_one_dispatcher_interval_and_messages_wait(peer, real_worker):
    offline_at = timezone.now() + timedelta(seconds=2)
    partner = _partner(
        peer,
        registration_status=RegistrationStatus.REGISTERED,
        connection_state=ConnectionState.ONLINE,
        offline_mode_at=offline_at,  # as set by the partner's last heartbeat
    )
    wait_until(lambda: Partner.objects.get(id=partner.id).connection_state == ConnectionState.OFFLINE, 10)
    partner.refresh_from_db()
    late = (partner.connection_state_changed_at - offline_at).total_seconds()
    print(f"offline detected {late:.2f}s after offline_mode_at")
    assert 0 < late <= DISPATCH_SECONDS + 0.5

    report = outbox_enqueue(partner=partner, message_type="update_group_measurements", body={"measurements": []})
    time.sleep(2)
    assert _status(report) == MessageStatus.PENDING and peer.requests_to("update_group_measurements") == []

    partner_handshake_start(partner=partner)  # allowed while offline
    peer.wait_for("handshake", timeout=10)
    Partner.objects.filter(id=partner.id).update(connection_state=ConnectionState.HANDSHAKING)
    from connections.lifecycle import partner_transition

    partner.refresh_from_db()
    partner_transition(partner=partner, to=ConnectionState.ONLINE, reason="acknowledged")  # what the ack does
    [received] = peer.wait_for("update_group_measurements", timeout=10)
    assert received.header("X-Request-ID") == report.request_id


def test_peer_failing_for_a_while_gets_the_message_once_it_recovers(peer, real_worker):
    partner = _partner(peer, registration_status=RegistrationStatus.REGISTERED, connection_state=ConnectionState.ONLINE)
    peer.script("update_group_measurements", [500, 502, 503, 204])
    message = outbox_enqueue(partner=partner, message_type="update_group_measurements", body={"measurements": []})

    received = peer.wait_for("update_group_measurements", count=4, timeout=15)
    wait_until(lambda: _status(message) == MessageStatus.SENT, 5)
    assert {r.header("X-Request-ID") for r in received} == {message.request_id}
    assert message.attempts == 4 and message.http_status == 204
    time.sleep(1.5)
    assert len(peer.requests_to("update_group_measurements")) == 4  # nothing after success


def test_worker_killed_mid_send_loses_nothing(peer, worker_factory):
    partner = _partner(peer, registration_status=RegistrationStatus.REGISTERED, connection_state=ConnectionState.ONLINE)
    peer.script("update_group_measurements", [Reply(204, delay=6), 204])
    doomed = worker_factory(name="doomed")
    message = outbox_enqueue(partner=partner, message_type="update_group_measurements", body={"measurements": []})
    peer.wait_for("update_group_measurements", timeout=15)
    doomed.kill()  # SIGKILL mid-send: no outcome recorded, the queue entry stays unacknowledged
    assert _status(message) == MessageStatus.SENDING

    worker_factory(name="rescuer", beat=True)  # its beat runs the sweeper
    wait_until(lambda: _status(message) == MessageStatus.SENT, 15)
    received = peer.requests_to("update_group_measurements")
    assert len(received) == 2 and {r.header("X-Request-ID") for r in received} == {message.request_id}
    assert message.attempts == 2


def test_two_workers_never_send_the_same_heartbeat_twice(peer, worker_factory):
    partners = [
        _partner(
            peer,
            partner_token=f"their-token-{n}-abcdefgh",
            registration_status=RegistrationStatus.REGISTERED,
            connection_state=ConnectionState.ONLINE,
            settings={"heartbeatSeconds": 1},
        )
        for n in range(3)
    ]
    # Two workers, each with its own beat: both dispatchers run every second, concurrently.
    worker_factory(name="a", beat=True, concurrency=2)
    worker_factory(name="b", beat=True, concurrency=2)
    time.sleep(6)

    beats = peer.requests_to("heartbeat")
    assert len(beats) >= 6
    ids = [b.header("X-Request-ID") for b in beats]
    assert len(ids) == len(set(ids))  # no message delivered twice
    for partner in partners:
        announced = [_time(m.body["offline_mode_at"]) for m in partner.messages.filter(message_type="heartbeat")]
        announced.sort()
        gaps = [(b - a).total_seconds() for a, b in zip(announced, announced[1:], strict=False)]
        assert announced and all(gap >= 1 for gap in gaps), gaps  # never two within one interval
