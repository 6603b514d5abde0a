"""Partner presets end to end over real HTTP: the platform served by gunicorn with a real Celery
worker (and beat), each partner a real local peer. Every partner is onboarded through the
management API alone, with its ``profile`` and nothing else it would not know by heart.

- vector-derms: OAuth client credentials both ways, static headers on every call, no register
  message ever, handshakes both ways, heartbeats both ways, a 96-block day of 15-minute blocks
  readable as an envelope at once, protective stop on an all-zero profile and back, one combined
  asset per group in W to the provider by update_asset_measurements, dialect rules refused with 400.
"""

import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.utils import timezone
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session
from rest_framework.authtoken.models import Token

from connections.models import Message
from groups.choices import MeasurementPeriod
from groups.models import CapacityGroup
from measurements.models import ReportCursor
from measurements.reports import align_down
from tests.connections.factories import UserFactory
from tests.measurements.factories import ReportCursorFactory
from tests.support.processes import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

API = "/solaruser/api/v1/sec/user/oscp"
MINUTE = timedelta(minutes=1)
STATIC_HEADERS = {"fp-id": "fp-42", "apikey": "vector-api-key-0042"}


@pytest.fixture
def process_settings():
    return {
        "OAUTHLIB_INSECURE_TRANSPORT": "1",  # our worker fetches Vector's token from the local peer
        "OSCP_RETRY_BASE_SECONDS": "0.4",
        "OSCP_RETRY_MAX_SECONDS": "1",
        "OSCP_HEARTBEAT_DISPATCH_SECONDS": "1",
        "MEASUREMENT_DISPATCH_SECONDS": "1",
        "MEASUREMENT_REPORT_DELAY_SECONDS": "1",
        "GROUP_MODE_CHECK_SECONDS": "1",
        "OSCP_OUTBOX_SWEEP_SECONDS": "2",
    }


def wire(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def day_of_blocks(capacity: float, start: datetime) -> list[dict]:
    return [
        {
            "capacity": capacity,
            "phase": "ALL",
            "unit": "KW",
            "start_time": wire(start + n * 15 * MINUTE),
            "end_time": wire(start + (n + 1) * 15 * MINUTE),
        }
        for n in range(96)
    ]


class Staff:
    """An internal tool on the management API."""

    def __init__(self, web_server, user):
        self.base = web_server.url + API
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"

    def post(self, path: str, body: dict | list | None = None) -> requests.Response:
        return self.session.post(self.base + path, json=body, timeout=10)

    def get(self, path: str, **params) -> dict:
        response = self.session.get(self.base + path, params=params, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["data"]


def test_vector_derms_onboarded_through_the_api_alone(peer_factory, web_server, real_worker, monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # Vector's OAuth client, on plain http too
    vector = peer_factory(oauth=True, client_id="fp-at-vector", client_secret="vector-gave-us-this-0001")
    staff = Staff(web_server, UserFactory())

    # Onboarding: the partner with its profile, then our OAuth client for it. Nothing else.
    created = staff.post(
        "/capacity-providers",
        {
            "name": "Vector",
            "baseUrl": vector.base_url,
            "profile": "vector-derms",
            "serviceProps": {
                "oauth-token-url": vector.token_url,
                "oauth-client-id": "fp-at-vector",
                "oauth-client-secret": "vector-gave-us-this-0001",
            },
            "staticHeaders": STATIC_HEADERS,
        },
    )
    assert created.status_code == 201, created.text
    partner = created.json()["data"]
    assert (partner["registrationStatus"], partner["connectionState"]) == ("Registered", "registered")
    assert partner["presetOverrides"] == []
    issued = staff.post(f"/capacity-providers/{partner['configId']}/oauth-client")
    assert issued.status_code == 201, issued.text
    credentials = issued.json()["data"]

    # Dialect rules: a group identifier with a space and an asset in A are refused, saying why.
    group_body = {
        "name": "Site one",
        "identifier": "my site #1",
        "capacityProviderId": partner["configId"],
        "capacityProviderMeasurementPeriod": MeasurementPeriod.MINUTE,
        "enabled": True,
        "microgridId": "mg-vector",
        "nodeId": 123,
    }
    refused = staff.post("/capacity-groups", group_body)
    assert refused.status_code == 400 and "^[A-Za-z0-9]+$" in refused.text and "identifier" in refused.text
    created_group = staff.post("/capacity-groups", {**group_body, "identifier": "SITE1"})
    assert created_group.status_code == 201, created_group.text
    group_id = created_group.json()["data"]["configId"]
    asset = {
        "name": "Charger a",
        "capacityGroupId": group_id,
        "identifier": "charger-a",
        "audience": "CapacityProvider",
        "enabled": True,
        "nodeId": 123,
        "sourceId": "charger/a",
        "category": "Charging",
        "instantaneous": {"propertyNames": ["amps"], "unit": "A", "statisticType": "Maximum"},
    }
    refused = staff.post("/assets", asset)
    assert refused.status_code == 400 and "instantaneous.unit" in refused.text and "W, KW" in refused.text
    for source in ("a", "b"):
        instantaneous = {"propertyNames": ["watts"], "unit": "W", "statisticType": "Average"}
        body = {**asset, "identifier": f"charger-{source}", "sourceId": f"charger/{source}"}
        assert staff.post("/assets", {**body, "instantaneous": instantaneous}).status_code == 201

    # Vector calls us with an access token from our token URL.
    session = OAuth2Session(client=BackendApplicationClient(client_id=credentials["clientId"]))
    session.fetch_token(credentials["tokenUrl"], client_secret=credentials["clientSecret"], timeout=10)
    oscp = f"{web_server.url}/oscp/fp/2.0"

    def vector_calls(message: str, body: dict, request_id: str | None = None, correlation_id: str = ""):
        headers = {"X-Request-ID": request_id or str(uuid.uuid4())}
        if correlation_id:
            headers["X-Correlation-ID"] = correlation_id
        return session.post(f"{oscp}/{message}", json=body, headers=headers, timeout=10)

    # Vector starts a handshake: answered (with its access token fetched from its token URL).
    behaviour = {"required_behaviour": {"heartbeat_interval": 1, "measurement_configuration": ["CONTINUOUS"]}}
    assert vector_calls("handshake", behaviour, "vector-hs-1").status_code == 204
    [ack] = vector.wait_for("handshake_acknowledge", timeout=15)
    assert ack.header("X-Correlation-ID") == "vector-hs-1" and ack.body == {}

    # We start one: Vector answers it.
    assert staff.post(f"/capacity-providers/{partner['configId']}/handshake").status_code in (200, 201, 202)
    [ours] = vector.wait_for("handshake", timeout=15)
    assert vector_calls("handshake_acknowledge", {}, correlation_id=ours.header("X-Request-ID")).status_code == 204

    # Heartbeats both ways.
    vector.wait_for("heartbeat", count=2, timeout=15)
    assert (
        vector_calls("heartbeat", {"offline_mode_at": wire(timezone.now() + timedelta(minutes=5))}).status_code == 204
    )

    # A day of 96 15-minute blocks: readable as an envelope at once (well within 2 minutes).
    start = datetime.now(UTC) - timedelta(seconds=1)
    sent_at = time.monotonic()
    forecast = {"group_id": "SITE1", "type": "CONSUMPTION", "forecasted_blocks": day_of_blocks(22, start)}
    assert vector_calls("update_group_capacity_forecast", forecast).status_code == 204
    envelope = staff.get("/envelopes", microgridId="mg-vector", nodeId=123)
    assert time.monotonic() - sent_at < 120
    assert (envelope["mode"], envelope["importLimits"][0]["value"]) == ("normal", 22.0)
    group = staff.get(f"/capacity-groups/{group_id}")
    assert group["forecastStale"] is False

    # An all-zero profile stops charging; a normal one resumes it.
    zero = {**forecast, "forecasted_blocks": day_of_blocks(0, start)}
    assert vector_calls("update_group_capacity_forecast", zero).status_code == 204
    wait_until(lambda: staff.get(f"/capacity-groups/{group_id}")["mode"] == "protective-stop", 10)
    assert staff.get("/envelopes", microgridId="mg-vector", nodeId=123)["importLimits"][0]["value"] == 0.0
    assert vector_calls("update_group_capacity_forecast", forecast).status_code == 204
    wait_until(lambda: staff.get(f"/capacity-groups/{group_id}")["mode"] == "normal", 10)

    # Measurements: the site's two chargers as one asset named by the group, in W, to Vector as CP.
    p = align_down(timezone.now(), MINUTE) - MINUTE
    readings = [
        {"nodeId": 123, "sourceId": f"charger/{s}", "created": wire(p + timedelta(seconds=sec)), "i": {"watts": w}}
        for s, sec, w in (("a", 10, 2000), ("a", 40, 3000), ("b", 20, 1000))
    ]
    assert staff.post("/datum", readings).status_code in (200, 201)
    # As if the platform had been reporting this group: the next period to report starts at p.
    rewound = ReportCursor.objects.filter(group_id=group_id).update(last_period_end=p, next_due_at=p + MINUTE)
    if not rewound:
        ReportCursorFactory(
            group=CapacityGroup.objects.get(pk=group_id),
            period=MeasurementPeriod.MINUTE,
            last_period_end=p,
            next_due_at=p + MINUTE,
        )
    [report] = vector.wait_for("update_asset_measurements", timeout=30)
    [entry] = report.body["measurements"]
    assert report.body["group_id"] == "SITE1" and entry["asset_id"] == "SITE1"
    assert entry["instantaneous_measurement"]["unit"] in ("W", "KW")
    assert not vector.requests_to("update_group_measurements")

    # Every call to Vector: its access token and the static headers; never a register.
    assert not vector.requests_to("register")
    assert not Message.objects.filter(message_type="register").exists()
    for request in vector.requests:
        assert (request.header("Authorization") or "").startswith("Bearer access-"), request.name
        assert {name: request.header(name) for name in STATIC_HEADERS} == STATIC_HEADERS, request.name
    # The log keeps the static header values masked.
    logged = Message.objects.filter(direction="out", status="sent").first()
    assert STATIC_HEADERS["apikey"] not in json.dumps(logged.headers)


SPACE_UTC = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"


def test_pyoscp_acknowledgement_path_and_body_and_the_times_it_reads_and_sends(peer_factory, web_server, real_worker):
    pyoscp = peer_factory()
    staff = Staff(web_server, UserFactory())
    created = staff.post("/capacity-providers", {"name": "pyoscp", "baseUrl": pyoscp.base_url, "profile": "pyoscp"})
    assert created.status_code == 201, created.text
    partner = created.json()["data"]
    oscp = f"{web_server.url}/oscp/fp/2.0"

    # Its registration manager registers with the token staff gave it; we answer with ours.
    register = {"token": "pyoscp-token-for-us-01", "version_url": [{"version": "2.0", "base_url": pyoscp.base_url}]}
    answer = pyoscp.call(oscp, "register", register, token=partner["token"], request_id="Ab3_x-9QzK1")
    assert answer.status == 204, answer.body
    [reply] = pyoscp.wait_for("register", timeout=15)
    our_token = reply.body["token"]
    shown = f"/capacity-providers/{partner['configId']}"
    wait_until(lambda: staff.get(shown)["registrationStatus"] == "Registered", 10)

    # Its handshake: acknowledged at handshake_acknowledgment, with required_behaviour (a {} makes it 500).
    behaviour = {"required_behaviour": {"heartbeat_interval": 1}}
    assert pyoscp.call(oscp, "handshake", behaviour, token=our_token, request_id="Hs3_x-9QzK1").status == 204
    [ack] = pyoscp.wait_for("handshake_acknowledgment", timeout=15)
    assert ack.path.endswith("/handshake_acknowledgment")
    assert ack.body["required_behaviour"]["heartbeat_interval"] == 30
    assert not pyoscp.requests_to("handshake_acknowledge")

    # Our heartbeats carry times it can parse: strptime('%Y-%m-%d %H:%M:%S').
    heartbeats = pyoscp.wait_for("heartbeat", count=2, timeout=15)
    for heartbeat in heartbeats:
        assert re.match(SPACE_UTC, heartbeat.body["offline_mode_at"]), heartbeat.body
        datetime.strptime(heartbeat.body["offline_mode_at"], "%Y-%m-%d %H:%M:%S")

    # Its own heartbeat times are zone-less: read as UTC. Its request ids are 11 characters.
    later = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S")
    assert pyoscp.call(oscp, "heartbeat", {"offline_mode_at": later}, token=our_token).status == 204
    assert staff.get(shown)["offlineModeAt"].startswith(later)

    # We start a handshake; its acknowledgement (no X-Correlation-ID) completes it.
    assert staff.post(f"/capacity-providers/{partner['configId']}/handshake").status_code in (200, 201, 202)
    pyoscp.wait_for("handshake", timeout=15)
    own_ack = {"required_behaviour": {"heartbeat_interval": 10}}
    assert pyoscp.call(oscp, "handshake_acknowledgment", own_ack, token=our_token).status == 204
    wait_until(lambda: staff.get(shown)["connectionState"] == "online", 10)
