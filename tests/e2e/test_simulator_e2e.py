"""The simulated partner end to end: the platform (gunicorn, a Celery worker and Celery beat, each
a process of its own, on the PostgreSQL test database and Redis) and ``manage.py oscp_simulate``
in a process of its own, talking only over loopback HTTP.

The whole story a grid operator's integration goes through: the simulator registers with the
token staff gave it and gets a new one, handshakes, heartbeats flow both ways, its forecast
becomes the group's envelope (read through the management API), readings posted to the datum API
come back to it as the platform's measurement report with the right values, then it goes silent
(fault ``no-heartbeat``): the group falls back, first to the block in force, then to the
provider's fallback forecast; it resumes, handshakes and forecasts again, and the group recovers.
"""

import sys
from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from rest_framework.authtoken.models import Token

from connections.choices import PartnerRole
from connections.oauth import partner_oauth_client_issue
from connections.services import partner_create
from forecasts.models import GroupModeChange
from groups.choices import Audience, MeasurementPeriod
from groups.services import group_create
from measurements.models import ReportCursor
from measurements.reports import align_down
from tests.connections.factories import UserFactory
from tests.e2e.test_measurements_e2e import ENERGY, _readings
from tests.groups.factories import AssetFactory
from tests.support.processes import ManagedProcess, free_port, process_env, start_celery_beat, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

API = "/solaruser/api/v1/sec/user/oscp"
MINUTE = timedelta(minutes=1)
CAPACITY, FALLBACK = 22.0, 5.0


@pytest.fixture
def process_settings():
    return {
        "OSCP_HEARTBEAT_DISPATCH_SECONDS": "1",
        "GROUP_MODE_CHECK_SECONDS": "1",
        "OSCP_OUTBOX_SWEEP_SECONDS": "1",
        "OSCP_RETRY_BASE_SECONDS": "0.4",
        "OSCP_RETRY_MAX_SECONDS": "1",
        "MEASUREMENT_DISPATCH_SECONDS": "1",
        "MEASUREMENT_REPORT_DELAY_SECONDS": "1",
        "OAUTHLIB_INSECURE_TRANSPORT": "1",  # the worker fetches the simulated Vector's tokens over plain http
    }


@pytest.fixture
def beat(transactional_db, process_settings, process_log_dir):
    process = start_celery_beat(log_dir=process_log_dir, env=process_settings)
    yield process
    process.stop()


class Simulator(ManagedProcess):
    """``oscp_simulate`` as a process; its state and faults through its control endpoint."""

    def __init__(self, *, port: int, args: list[str], log_dir):
        command = [sys.executable, "manage.py", "oscp_simulate", f"--port={port}", *args]
        super().__init__("oscp_simulate", command, env=process_env(), log_dir=log_dir)
        self.url = f"http://127.0.0.1:{port}"
        self.wait_for_output("listening on", timeout=30)

    def state(self) -> dict:
        return requests.get(self.url + "/_control/state", timeout=5).json()["sides"]["cp"]

    def fault(self, name: str, on: bool) -> None:
        answer = requests.post(self.url + "/_control/fault", json={"fault": name, "on": on}, timeout=5)
        assert answer.status_code == 200, answer.text


class Management:
    def __init__(self, base: str, key: str):
        self.base, self.session = base + API, requests.Session()
        self.session.headers["Authorization"] = f"Token {key}"

    def get(self, path: str, **params):
        response = self.session.get(self.base + path, params=params, timeout=10)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()["data"]

    def imports(self) -> list[tuple[float, str]]:
        envelope = self.get("/envelopes", microgridId="mg-sim", nodeId=123)
        return [(limit["value"], limit["reason"]) for limit in envelope["importLimits"]]


def test_simulated_provider_registers_forecasts_reports_goes_silent_and_recovers(
    web_server, worker_factory, beat, process_log_dir
):
    worker_factory()
    owner = UserFactory()
    api = Management(web_server.url, Token.objects.create(user=owner).key)
    port = free_port()
    provider, initial_token = partner_create(
        owner=owner,
        role=PartnerRole.CAPACITY_PROVIDER,
        name="Simulated grid operator",
        base_url=f"http://127.0.0.1:{port}/oscp/cp/2.0",
    )
    group = group_create(
        owner=owner,
        name="Depot",
        identifier="depot-1",
        capacity_provider=provider,
        capacity_provider_measurement_period=MeasurementPeriod.MINUTE,
        microgrid_id="mg-sim",
        node_id=123,
        fallback_import_kw=9,
    )
    for source_id in ("charger/a", "charger/b"):
        AssetFactory(group=group, identifier=source_id.replace("/", "-"), source_id=source_id, node_id=123)

    sim = Simulator(
        port=port,
        log_dir=process_log_dir,
        args=[
            f"--platform-url={web_server.url}/oscp/fp/2.0",
            f"--token={initial_token}",
            "--group=depot-1",
            "--heartbeat-seconds=1",
            "--forecast-seconds=3",
            "--block-seconds=4",
            "--horizon-seconds=120",
            f"--capacity-kw={CAPACITY:g}",
            f"--fallback-kw={FALLBACK:g}",
            "--status-seconds=2",
        ],
    )
    try:
        # Register (its token for ours), handshake: online on both sides.
        online = lambda: api.get(f"/capacity-providers/{provider.id}")["connectionState"] == "online"  # noqa: E731
        wait_until(online, 30, 0.3, "the platform never saw the simulated provider online")
        partner = api.get(f"/capacity-providers/{provider.id}")
        assert partner["registrationStatus"] == "Registered"
        wait_until(lambda: sim.state()["state"] == "online", 10, 0.2, "our acknowledgement never reached the simulator")
        assert "register: reply to ours (X-Correlation-ID" in sim.output()
        assert "handshake_acknowledge (X-Correlation-ID" in sim.output()
        refused = requests.post(
            f"{web_server.url}/oscp/fp/2.0/heartbeat",
            json={"offline_mode_at": "2030-01-01T00:00:00Z"},
            headers={"Authorization": f"Token {initial_token}", "X-Request-ID": "initial-token-again"},
            timeout=10,
        )
        assert refused.status_code == 403  # the initial token stopped working at registration

        # Its forecast is the envelope in force; heartbeats flow both ways.
        wait_until(lambda: api.imports() == [(CAPACITY, "forecast")], 20, 0.3, "the forecast never became the envelope")
        assert api.get(f"/capacity-groups/{group.id}")["mode"] == "normal"
        wait_until(lambda: sim.state()["counts"].get("heartbeat in", 0) >= 2, 15, 0.3, "no heartbeats from us")
        # Its own second heartbeat is due a second after its first; a busy machine may still be sending it.
        wait_until(lambda: sim.state()["counts"].get("heartbeat out 204", 0) >= 2, 15, 0.3, "no heartbeats to us")
        assert api.get(f"/capacity-providers/{provider.id}")["lastHeartbeatReceivedAt"]

        # Readings of the last closed minute come back to it as our measurement report.
        p = align_down(timezone.now(), MINUTE) - MINUTE
        posted = requests.post(
            f"{api.base}/datum", json=_readings(p), headers=api.session.headers, timeout=10
        ).json()  # fmt: skip
        assert posted == {"success": True, "data": {"stored": 9}}
        ReportCursor.objects.update_or_create(
            group=group,
            audience=Audience.CAPACITY_PROVIDER,
            defaults={"period": MeasurementPeriod.MINUTE, "last_period_end": p, "next_due_at": p + MINUTE},
        )
        end = (p + MINUTE).strftime("%Y-%m-%dT%H:%M:%SZ")

        def report():
            for received in sim.state()["measurements"]:
                rows = [row for row in received["measurements"] if row["measure_time"] == end]
                if received["group_id"] == "depot-1" and rows:
                    return rows
            return None

        [row] = wait_until(report, 30, 0.3, f"no measurement report ending {end} reached the simulator")
        assert row["value"] == pytest.approx(sum(ENERGY.values()), abs=1e-5)  # 117.333 Wh
        assert (row["unit"], row["direction"]) == ("WH", "IMPORT")
        assert row["initial_measure_time"] == p.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert f"update_group_measurements depot-1: {row['value']} WH" in sim.output()

        # Silent: offline, the block in force until it ends, then the provider's fallback forecast.
        sim.fault("no-heartbeat", True)
        mode = lambda: api.get(f"/capacity-groups/{group.id}")["mode"]  # noqa: E731
        wait_until(lambda: mode() == "partner-offline", 10, 0.3, "the group never fell back")
        state = lambda: api.get(f"/capacity-providers/{provider.id}")["connectionState"]  # noqa: E731
        wait_until(lambda: state() == "offline", 5, 0.3, "the provider was never marked offline")
        wait_until(lambda: api.imports() == [(FALLBACK, "fallback")], 10, 0.3, "the fallback forecast never applied")
        assert sim.state()["silent"] is True

        # Resumed: a new handshake and a forecast bring the group back.
        sim.fault("no-heartbeat", False)
        wait_until(lambda: mode() == "normal", 20, 0.3, "the group never recovered")
        assert api.imports() == [(CAPACITY, "forecast")]
        assert state() == "online"
        assert "heartbeats resume after the announced offline time: handshaking again" in sim.output()
        changes = list(GroupModeChange.objects.filter(group=group).order_by("at").values_list("from_mode", "to_mode"))
        assert changes[-2:] == [("normal", "partner-offline"), ("partner-offline", "normal")]
    finally:
        sim.stop()


def test_simulated_vector_connects_with_oauth_both_ways(web_server, worker_factory, beat, process_log_dir):
    """Vector DERMS as staff set it up: registered out of band, each side calling the other with
    OAuth2 client credentials. The simulator fetches access tokens at our token URL with the client
    we issued it; the platform fetches them at the simulator's token URL with the client staff
    entered on the partner. Handshake, heartbeats both ways, and its forecast becomes the envelope."""
    worker_factory()
    owner = UserFactory()
    api = Management(web_server.url, Token.objects.create(user=owner).key)
    port = free_port()
    provider, _ = partner_create(
        owner=owner,
        role=PartnerRole.CAPACITY_PROVIDER,
        name="Simulated Vector",
        base_url=f"http://127.0.0.1:{port}/oscp/cp/2.0",
        profile="vector-derms",
        service_props={"oauth-token-url": f"http://127.0.0.1:{port}/oauth/token", "oauth-client-id": "platform"},
        oauth_client_secret="platform-secret",
    )
    ours = partner_oauth_client_issue(partner=provider)
    group_create(
        owner=owner, name="Depot", identifier="depot1", capacity_provider=provider, microgrid_id="mg-sim", node_id=123
    )
    sim = Simulator(
        port=port,
        log_dir=process_log_dir,
        args=[
            "--profile=vector-derms",
            f"--platform-url={web_server.url}/oscp/fp/2.0",
            f"--client-id={ours.client_id}",
            f"--client-secret={ours.client_secret}",
            f"--token-url={web_server.url}/oscp/oauth/token",
            "--own-client-id=platform",
            "--own-client-secret=platform-secret",
            "--group=depot1",
            "--heartbeat-seconds=1",
            "--forecast-seconds=3",
            "--block-seconds=4",
            "--horizon-seconds=120",
            f"--capacity-kw={CAPACITY:g}",
            "--status-seconds=2",
        ],
    )
    try:
        online = lambda: api.get(f"/capacity-providers/{provider.id}")["connectionState"] == "online"  # noqa: E731
        wait_until(online, 30, 0.3, "the platform never saw the simulated Vector online")
        wait_until(lambda: sim.state()["state"] == "online", 10, 0.2, "our acknowledgement never reached the simulator")
        wait_until(lambda: api.imports() == [(CAPACITY, "forecast")], 20, 0.3, "the forecast never became the envelope")
        wait_until(lambda: sim.state()["counts"].get("heartbeat in", 0) >= 2, 15, 0.3, "no heartbeats from us")
        assert "access token issued to client 'platform'" in sim.output()  # we called it with OAuth
        assert "/oscp/oauth/token: valid" in sim.output()  # and it called us with OAuth
        assert not sim.state()["problems"]  # nothing it received was refused
    finally:
        sim.stop()
