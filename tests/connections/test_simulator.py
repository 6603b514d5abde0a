"""The simulated partner speaks each partner's dialect, as the presets describe it: a real local
``Peer`` plays the platform and the simulator runs in a thread, over loopback HTTP."""

import re
from datetime import UTC, datetime

import pytest
import requests

from connections.simulator.faults import Faults
from connections.simulator.peer import Config, Simulator
from connections.simulator.wire import ForecastShape, dialect_of, forecast_blocks
from tests.support.processes import wait_until

INITIAL = "initial-token-from-staff"


@pytest.fixture
def simulator(peer):
    started = []

    def make(**config):
        config = Config(**{"platform_url": peer.base_url, "heartbeat_seconds": 1, **config})
        started.append(Simulator(config, say=lambda line: None).start())
        return started[-1]

    yield make
    for item in started:
        item.stop()


def _register_body(base_url: str, token: str) -> dict:
    return {"token": token, "version_url": [{"version": "2.0", "base_url": base_url}]}


def test_pyoscp_registers_first_and_writes_zone_less_times(peer, simulator):
    sim = simulator(profile="pyoscp", token=INITIAL)
    [register] = peer.wait_for("register")
    assert register.header("Authorization") == f"Token {INITIAL}"
    assert len(register.header("X-Request-ID")) == 11  # pyoscp's own request ids
    base = register.body["version_url"][0]["base_url"]
    assert base == sim.base_url(sim.sides["cp"])

    reply = peer.call(base, "register", _register_body(peer.base_url, "platform-token-1"),
                      token=register.body["token"], correlation_id=register.header("X-Request-ID"))  # fmt: skip
    assert reply.status == 204
    [handshake] = peer.wait_for("handshake")
    assert handshake.header("Authorization") == "Token platform-token-1"
    assert handshake.body == {
        "required_behaviour": {"heartbeat_interval": 1, "measurement_configuration": ["CONTINUOUS"]}
    }

    # pyoscp serves the acknowledgement at its own spelling, and reads our space-separated times.
    ack = peer.call(base, "handshake_acknowledgment", {}, token=register.body["token"],
                    correlation_id=handshake.header("X-Request-ID"))  # fmt: skip
    assert ack.status == 204
    [heartbeat, *_] = peer.wait_for("heartbeat")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", heartbeat.body["offline_mode_at"])
    assert sim.state()["sides"]["cp"]["state"] == "online"


def test_elmo_waits_for_our_register_and_starts_the_handshake_flat(peer, simulator):
    sim = simulator(profile="elmo", token=INITIAL, own_token="elmo-initial-token", groups=("site1",))
    base = sim.base_url(sim.sides["cp"])
    answer = peer.call(base, "register", _register_body(peer.base_url, "platform-token-2"), token="elmo-initial-token")
    assert answer.status == 204
    [reply] = peer.wait_for("register")
    assert reply.header("X-Correlation-ID") == answer.request_id
    assert reply.header("Authorization") == "Token platform-token-2"
    assert reply.body["token"] != "elmo-initial-token"

    [handshake] = peer.wait_for("handshake")
    assert handshake.body == {"heartbeat_interval": 1, "measurement_configuration": ["CONTINUOUS"]}  # flat
    # The initial token stopped working once our reply was accepted; the new one works.
    refused = peer.call(base, "heartbeat", {"offline_mode_at": "2030-01-01T08:00:00+08:00"}, token="elmo-initial-token")
    assert refused.status == 403
    accepted = peer.call(base, "heartbeat", {"offline_mode_at": "2030-01-01T08:00:00+08:00"}, token=reply.body["token"])
    assert accepted.status == 204

    peer.call(
        base, "handshake_acknowledge", {}, token=reply.body["token"], correlation_id=handshake.header("X-Request-ID")
    )
    forecasts = peer.wait_for("update_group_capacity_forecast", count=2)
    assert {f.body["type"] for f in forecasts} == {"CONSUMPTION", "FALLBACK_CONSUMPTION"}
    assert forecasts[0].body["forecasted_blocks"][0]["start_time"].endswith("+08:00")  # the guide's local times


def test_measurements_are_checked_and_kept(peer, simulator):
    sim = simulator(own_token="own-token-1", groups=("depot-1",))
    base = sim.base_url(sim.sides["cp"])
    energy = {
        "value": 117.5,
        "phase": "ALL",
        "unit": "WH",
        "direction": "IMPORT",
        "measure_time": "2026-12-02T10:01:00Z",
    }
    ok = peer.call(
        base, "update_group_measurements", {"group_id": "depot-1", "measurements": [energy]}, token="own-token-1"
    )
    assert ok.status == 204
    unknown = peer.call(
        base, "update_group_measurements", {"group_id": "other", "measurements": []}, token="own-token-1"
    )
    assert (unknown.status, unknown.body) == (404, {"message": "group_id: unknown group 'other'."})
    wrong_unit = {"group_id": "depot-1", "measurements": [{**energy, "unit": "J"}]}
    bad = peer.call(base, "update_group_measurements", wrong_unit, token="own-token-1")
    assert bad.status == 400
    assert bad.body["message"].startswith("measurements[0].unit:")
    state = sim.state()["sides"]["cp"]
    assert state["measurements"] == [
        {
            "message_type": "update_group_measurements",
            "group_id": "depot-1",
            "measurements": [
                {"value": 117.5, "unit": "WH", "direction": "IMPORT", "measure_time": "2026-12-02T10:01:00Z",
                 "initial_measure_time": None}
            ],
        }
    ]  # fmt: skip
    assert [problem["status"] for problem in state["problems"]] == [404, 400]
    wait_until(lambda: "<- update_group_measurements depot-1: 117.5 WH" in "\n".join(sim.log), 2)


def test_forecast_faults_shape_the_blocks():
    dialect, shape = dialect_of("oscp-2.0"), ForecastShape(block_seconds=900, horizon_seconds=3600)
    now = datetime(2026, 12, 2, 10, 7, tzinfo=UTC)
    normal = forecast_blocks(dialect=dialect, shape=shape, capacity=22, now=now, faults=Faults())
    assert [(b["start_time"], b["capacity"]) for b in normal] == [
        ("2026-12-02T10:00:00.000Z", 22),
        ("2026-12-02T10:15:00.000Z", 22),
        ("2026-12-02T10:30:00.000Z", 22),
        ("2026-12-02T10:45:00.000Z", 22),
    ]
    zero = forecast_blocks(dialect=dialect, shape=shape, capacity=22, now=now, faults=Faults(["all-zero"]))
    assert {b["capacity"] for b in zero} == {0}
    gaps = forecast_blocks(dialect=dialect, shape=shape, capacity=22, now=now, faults=Faults(["forecast-gaps"]))
    assert [b["start_time"] for b in gaps] == ["2026-12-02T10:15:00.000Z", "2026-12-02T10:45:00.000Z"]


def test_a_register_without_a_common_version_is_answered_501(peer, simulator):
    sim = simulator(own_token="own-token-2", wait_register=True)
    body = {"token": "platform-token-3", "version_url": [{"version": "2.1", "base_url": peer.base_url}]}
    answer = peer.call(sim.base_url(sim.sides["cp"]), "register", body, token="own-token-2")
    assert (answer.status, answer.body) == (501, {"message": "No common OSCP version: we support 2.0, offered 2.1."})
    assert sim.state()["sides"]["cp"]["state"] == "new"


HANDSHAKE = {"required_behaviour": {"heartbeat_interval": 1, "measurement_configuration": ["CONTINUOUS"]}}


def test_vector_calls_the_platform_with_access_tokens_from_its_token_url(peer_factory, simulator):
    """Vector DERMS is registered out of band and calls with OAuth2 client credentials: the
    simulator fetches an access token at the platform's token URL, sends it as ``Bearer``, keeps
    it while it is good, and fetches another once one is refused."""
    peer = peer_factory(oauth=True)
    sim = simulator(
        profile="vector-derms", own_token="platform-calls-with-this", platform_url=peer.base_url,
        client_id=peer.client_id, client_secret=peer.client_secret, token_url=peer.token_url,
    )  # fmt: skip
    base = sim.base_url(sim.sides["cp"])
    handshake = peer.call(base, "handshake", HANDSHAKE, token="platform-calls-with-this")
    assert handshake.status == 204

    [acknowledge] = peer.wait_for("handshake_acknowledge")
    assert acknowledge.header("Authorization") == "Bearer access-1"
    assert acknowledge.header("X-Correlation-ID") == handshake.request_id
    peer.wait_for("heartbeat", count=2)
    [token_request] = peer.token_requests  # one token for all of them
    assert token_request.body["grant_type"] == "client_credentials"

    peer.revoked_tokens.add("access-1")  # the platform no longer takes it: a new one is fetched
    wait_until(lambda: any(r.header("Authorization") == "Bearer access-2" for r in peer.requests_to("heartbeat")))
    assert len(peer.token_requests) == 2


def test_the_platform_gets_access_tokens_at_the_simulators_token_url(simulator):
    """Called with OAuth2 as Vector is: the platform fetches an access token at the simulator's
    token URL with the client staff entered, and only tokens issued there open its endpoints."""
    sim = simulator(profile="vector-derms", own_client_id="platform-client", own_client_secret="platform-secret")
    token_url = sim.url + "/oauth/token"
    grant = {"grant_type": "client_credentials"}

    assert requests.post(token_url, data=grant, auth=("platform-client", "wrong"), timeout=5).status_code == 401
    assert requests.post(token_url, data={"grant_type": "password"}, timeout=5).status_code == 400
    issued = requests.post(token_url, data=grant, auth=("platform-client", "platform-secret"), timeout=5)
    assert issued.status_code == 200 and issued.json()["token_type"] == "Bearer"
    by_form = requests.post(
        token_url, data={**grant, "client_id": "platform-client", "client_secret": "platform-secret"}, timeout=5
    )
    assert by_form.status_code == 200

    heartbeat = sim.base_url(sim.sides["cp"]) + "/heartbeat"
    body = {"offline_mode_at": datetime.now(UTC).isoformat()}

    def send(authorization: str) -> int:
        headers = {"Authorization": authorization, "X-Request-ID": "r-1", "Content-Type": "application/json"}
        return requests.post(heartbeat, json=body, headers=headers, timeout=5).status_code

    assert send(f"Bearer {issued.json()['access_token']}") == 204
    assert send("Bearer not-one-we-issued") == 403
