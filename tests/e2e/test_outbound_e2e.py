"""The connection lifecycle end to end: a real local peer (HTTP server) that we call and that calls
our OSCP endpoints, real Celery workers on Redis (with embedded beat running the declared periodic
jobs), gunicorn serving the OSCP endpoints and the management API, all on the PostgreSQL test
database."""

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
from connections.outbox import outbox_enqueue
from connections.services import inbound_token_issue
from tests.connections.factories import CapacityProviderFactory, UserFactory
from tests.groups.factories import CapacityGroupFactory
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


def _fp(web_server) -> str:
    return f"{web_server.url}/oscp/fp/2.0"


def _register_body(peer, token: str) -> dict:
    return {"token": token, "version_url": [{"version": "2.0", "base_url": peer.base_url}]}


def _state(partner) -> str:
    return Partner.objects.get(id=partner.id).connection_state


def _api_post(web_server, api_token, path: str, body: dict | None = None, method: str = "POST") -> dict:
    request = urllib.request.Request(
        f"{web_server.url}/solaruser/api/v1/sec/user/oscp/{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Token {api_token.key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["data"]


def test_partner_registers_with_us_and_gets_our_reply_then_our_handshake(peer, real_worker, web_server):
    """The optimizer starts: it registers with the initial token staff gave it, gets our reply
    (with a new token) at its base URL, then our handshake, which it acknowledges."""
    optimizer = _partner(peer, role=PartnerRole.CAPACITY_OPTIMIZER, partner_token="", required_heartbeat_seconds=5)
    initial = inbound_token_issue(partner=optimizer)

    started = time.time()
    theirs = peer.call(_fp(web_server), "register", _register_body(peer, "peer-token-for-fp-0001"), token=initial)
    assert theirs.status == 204

    [reply] = peer.wait_for("register", timeout=15)
    print(f"our register reply reached the peer {reply.received_at - started:.2f}s after its register")
    assert reply.header("Authorization") == "Token peer-token-for-fp-0001"
    assert reply.header("X-Correlation-ID") == theirs.request_id
    assert reply.body["version_url"] == [{"version": "2.0", "base_url": _fp(web_server)}]
    ours = reply.body["token"]
    logged = Message.objects.get(partner=optimizer, direction="out", message_type="register")
    assert logged.request_id == reply.header("X-Request-ID") and ours not in json.dumps(logged.body)

    # Our reply was accepted: the token in it works, the initial one is refused.
    wait_until(lambda: Partner.objects.get(id=optimizer.id).registration_status == RegistrationStatus.REGISTERED, 10)
    beat = {"offline_mode_at": "2030-01-01T00:00:00Z"}
    refused = peer.call(_fp(web_server), "heartbeat", beat, token=initial)
    assert refused.status == 403 and refused.body == {"message": "Token unknown or no longer valid."}
    assert peer.call(_fp(web_server), "heartbeat", beat, token=ours).status == 204

    # Registered with an optimizer: our handshake follows on its own; its acknowledgement, POSTed
    # to our endpoint with the handshake's id, brings the connection online.
    [handshake] = peer.wait_for("handshake", timeout=10)
    assert handshake.body == {"required_behaviour": {"heartbeat_interval": 5, "measurement_configuration": []}}
    assert handshake.header("Authorization") == "Token peer-token-for-fp-0001"
    assert handshake.received_at > reply.received_at
    assert _state(optimizer) == ConnectionState.HANDSHAKING
    ack = peer.call(
        _fp(web_server), "handshake_acknowledge", {}, token=ours, correlation_id=handshake.header("X-Request-ID")
    )
    assert ack.status == 204
    assert _state(optimizer) == ConnectionState.ONLINE
    assert len(peer.requests_to("register")) == 1


def test_we_register_first_and_the_partner_registers_back(peer, real_worker, web_server):
    """We start (through the API) with the partner's initial token; the partner registers back
    with our token and X-Correlation-ID = our register: registered, no reply (no ping-pong); from
    then on we call it with the token it gave us."""
    user = UserFactory()
    api_token = Token.objects.create(user=user)
    provider = _partner(peer, owner=user, partner_token="initial-token-from-cp-9999")

    data = _api_post(web_server, api_token, f"capacity-providers/{provider.id}/register")
    assert data["connectionState"] == "registering"

    [ours] = peer.wait_for("register", timeout=15)
    assert ours.header("Authorization") == "Token initial-token-from-cp-9999"
    assert ours.header("X-Correlation-ID") is None
    assert ours.body["version_url"] == [{"version": "2.0", "base_url": _fp(web_server)}]
    our_token = ours.body["token"]
    message = Message.objects.get(partner=provider, message_type="register")
    wait_until(lambda: _status(message) == MessageStatus.SENT, 5)
    assert our_token not in json.dumps(message.body)  # the log shows it masked

    back = peer.call(
        _fp(web_server),
        "register",
        _register_body(peer, "cp-token-for-fp-after-exchange"),
        token=our_token,
        correlation_id=ours.header("X-Request-ID"),
    )
    assert back.status == 204
    provider.refresh_from_db()
    assert (provider.registration_status, provider.connection_state) == ("Registered", "registered")
    assert provider.partner_token == "cp-token-for-fp-after-exchange"

    # Our handshake uses the exchanged token; the partner's acknowledgement brings it online.
    data = _api_post(web_server, api_token, f"capacity-providers/{provider.id}/handshake")
    assert data["connectionState"] == "handshaking"
    [handshake] = peer.wait_for("handshake", timeout=10)
    assert handshake.header("Authorization") == "Token cp-token-for-fp-after-exchange"
    ack = peer.call(
        _fp(web_server), "handshake_acknowledge", {}, token=our_token, correlation_id=handshake.header("X-Request-ID")
    )
    assert ack.status == 204
    assert _state(provider) == ConnectionState.ONLINE
    time.sleep(1)
    assert len(peer.requests_to("register")) == 1  # we never answered the partner's register


def test_partners_handshake_gets_our_acknowledgement_then_heartbeats(peer, real_worker, web_server):
    provider = _partner(peer, connection_state=ConnectionState.REGISTERED, registration_status="Registered")
    token = inbound_token_issue(partner=provider)

    body = {"required_behaviour": {"heartbeat_interval": 1, "measurement_configuration": ["CONTINUOUS"]}}
    started = time.time()
    theirs = peer.call(_fp(web_server), "handshake", body, token=token)
    assert theirs.status == 204
    assert _state(provider) == ConnectionState.ONLINE

    [ack] = peer.wait_for("handshake_acknowledge", timeout=15)
    print(f"our acknowledgement reached the peer {ack.received_at - started:.2f}s after its handshake")
    assert ack.header("X-Correlation-ID") == theirs.request_id
    assert ack.header("Authorization") == "Token their-token-0001-abcd"
    assert ack.body == {}
    beats = peer.wait_for("heartbeat", count=2, timeout=10)  # at the interval it asked for
    assert ack.received_at <= beats[0].received_at


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
    # The schedule keeps its phase (the k-th heartbeat is due k intervals after the first), so a
    # late one is not followed by a later one: each arrives at most a dispatch period (and the
    # send) after its place on the grid, and the heartbeats never drift.
    start = beats[0].received_at
    offsets = [beat.received_at - start - 2 * k for k, beat in enumerate(beats)]
    print("heartbeat offsets from the 2 s grid (s):", [round(o, 2) for o in offsets])
    assert all(-DISPATCH_SECONDS - 0.2 <= offset <= DISPATCH_SECONDS + 0.7 for offset in offsets), offsets
    for beat in beats:
        ahead = _time(beat.body["offline_mode_at"]).timestamp() - beat.received_at
        assert 3 <= ahead <= 4.1  # 2 x interval, minus the time on the wire
    assert len({b.header("X-Request-ID") for b in beats}) == len(beats)


def test_silent_partner_goes_offline_within_one_dispatcher_interval_and_messages_wait(peer, real_worker, web_server):
    offline_at = timezone.now() + timedelta(seconds=2)
    partner = _partner(
        peer,
        registration_status=RegistrationStatus.REGISTERED,
        connection_state=ConnectionState.ONLINE,
        offline_mode_at=offline_at,  # as set by the partner's last heartbeat
    )
    token = inbound_token_issue(partner=partner)
    group = CapacityGroupFactory(owner=partner.owner, capacity_provider=partner)
    wait_until(lambda: _state(partner) == ConnectionState.OFFLINE, 10)
    partner.refresh_from_db()
    late = (partner.connection_state_changed_at - offline_at).total_seconds()
    print(f"offline detected {late:.2f}s after offline_mode_at")
    assert 0 < late <= DISPATCH_SECONDS + 0.5

    report = outbox_enqueue(partner=partner, message_type="update_group_measurements", body={"measurements": []})
    blocks = [{"capacity": 11, "phase": "ALL", "unit": "KW", "start_time": "2030-01-01T00:00:00Z"}]
    blocks[0]["end_time"] = "2030-01-01T00:15:00Z"
    forecast = {"group_id": group.identifier, "type": "CONSUMPTION", "forecasted_blocks": blocks}
    refused = peer.call(_fp(web_server), "update_group_capacity_forecast", forecast, token=token)
    assert refused.status == 403 and refused.body["message"].startswith("Handshake required after offline")
    beat = peer.call(_fp(web_server), "heartbeat", {"offline_mode_at": "2030-01-01T00:00:00Z"}, token=token)
    assert beat.status == 204 and _state(partner) == ConnectionState.OFFLINE  # recorded, still offline
    time.sleep(1)
    assert _status(report) == MessageStatus.PENDING and peer.requests_to("update_group_measurements") == []

    partner_handshake_start(partner=partner)  # allowed while offline
    [handshake] = peer.wait_for("handshake", timeout=10)
    ack = peer.call(
        _fp(web_server), "handshake_acknowledge", {}, token=token, correlation_id=handshake.header("X-Request-ID")
    )
    assert ack.status == 204
    [received] = peer.wait_for("update_group_measurements", timeout=10)
    assert received.header("X-Request-ID") == report.request_id
    assert peer.call(_fp(web_server), "update_group_capacity_forecast", forecast, token=token).status == 204


def test_disabled_partner_gets_nothing_until_enabled_again(peer, real_worker, web_server):
    user = UserFactory()
    api_token = Token.objects.create(user=user)
    partner = _partner(
        peer,
        owner=user,
        registration_status=RegistrationStatus.REGISTERED,
        connection_state=ConnectionState.ONLINE,
        settings={"heartbeatSeconds": 1},
    )
    peer.wait_for("heartbeat", timeout=10)
    config = {"name": partner.name, "baseUrl": partner.base_url}
    data = _api_post(web_server, api_token, f"capacity-providers/{partner.id}", {**config, "enabled": False}, "PUT")
    assert data["connectionState"] == "disabled"
    time.sleep(1)  # a heartbeat already on its way may still arrive
    beats_before = len(peer.requests_to("heartbeat"))
    report = outbox_enqueue(partner=partner, message_type="update_group_measurements", body={"measurements": []})
    time.sleep(3)
    assert len(peer.requests_to("heartbeat")) == beats_before
    assert peer.requests_to("update_group_measurements") == []
    assert _status(report) == MessageStatus.PENDING

    data = _api_post(web_server, api_token, f"capacity-providers/{partner.id}", {**config, "enabled": True}, "PUT")
    assert data["connectionState"] == "registered"
    [received] = peer.wait_for("update_group_measurements", timeout=10)
    assert received.header("X-Request-ID") == report.request_id
    peer.wait_for("heartbeat", count=beats_before + 1, timeout=10)


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
        # Never two for one slot of the schedule: a heartbeat dispatched twice would be ~0 s after
        # the other; on the 1 s grid they come a second apart, give or take a dispatch's jitter.
        assert announced and all(gap >= 0.7 for gap in gaps), gaps
