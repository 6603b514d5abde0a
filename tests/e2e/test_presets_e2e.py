"""Partner presets end to end over real HTTP: the platform served by gunicorn with a real Celery
worker (and beat), each partner a real local peer. Every partner is onboarded through the
management API alone, with its ``profile`` and nothing else it would not know by heart.

- vector-derms: OAuth client credentials both ways, static headers on every call, no register
  message ever, handshakes both ways, heartbeats both ways, a 96-block day of 15-minute blocks
  readable as an envelope at once, protective stop on an all-zero profile and back, one combined
  asset per group in W to the provider by update_asset_measurements, dialect rules refused with 400.
- elmo: we register first with the CP's initial token and it registers back; its flat handshake is
  acknowledged with {}; 24 hourly +08:00 day-ahead blocks readable as envelopes in UTC; our
  adjust_group_capacity_forecast answered by its next forecast; update_group_measurements every
  minute in KWH, IMPORT, phase ALL.
- solarnetwork: a provider's forecast forwarded to the group's optimizer with the provider's
  X-Request-ID; the SolarUser instruction API relays an adjustment, a compliance error about a
  forecast we do not know and group measurements to the provider, and shows them Completed.
- pyoscp: acknowledgement path and body, the times it sends and the times it can read.
"""

import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

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
INSTRUCTIONS = "/solaruser/api/v1/sec/instr"
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


def report_from(group_id: int, p: datetime) -> None:
    """As if the platform had been reporting this group every minute: the next period to report
    starts at ``p`` (so no test waits for a minute to close)."""
    rewound = ReportCursor.objects.filter(group_id=group_id).update(last_period_end=p, next_due_at=p + MINUTE)
    if not rewound:
        ReportCursorFactory(
            group=CapacityGroup.objects.get(pk=group_id),
            period=MeasurementPeriod.MINUTE,
            last_period_end=p,
            next_due_at=p + MINUTE,
        )


def api_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace(" ", "T").replace("Z", "+00:00"))


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
    report_from(group_id, p)
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


TAIPEI = ZoneInfo("Asia/Taipei")
HOUR = timedelta(hours=1)
ELMO_INITIAL_TOKEN = "elmo-initial-token-for-fp-0042"
ELMO_TOKEN = "elmo-token-after-exchange-0042"


def api(value: datetime) -> str:
    """A time as the management API takes it (UTC, ``Z``)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def day_ahead(midnight: datetime, capacities: list[float]) -> list[dict]:
    """Hourly CONSUMPTION blocks in KW from ``midnight``, times with the CP's own offset."""
    return [
        {
            "capacity": capacity,
            "phase": "ALL",
            "unit": "KW",
            "start_time": (midnight + hour * HOUR).isoformat(),
            "end_time": (midnight + (hour + 1) * HOUR).isoformat(),
        }
        for hour, capacity in enumerate(capacities)
    ]


def test_elmo_we_register_first_then_day_ahead_forecasts_adjustment_and_minute_measurements(
    peer_factory, web_server, real_worker
):
    elmo = peer_factory(prefix="/oscp/2.0")  # the CP guide's base path: no role segment
    staff = Staff(web_server, UserFactory())
    oscp = f"{web_server.url}/oscp/fp/2.0"

    # Onboarding: the profile and the initial token the CP handed out, then we register first.
    created = staff.post(
        "/capacity-providers",
        {"name": "ELMO", "baseUrl": elmo.base_url, "profile": "elmo", "partnerToken": ELMO_INITIAL_TOKEN},
    )
    assert created.status_code == 201, created.text
    partner = created.json()["data"]
    shown = f"/capacity-providers/{partner['configId']}"
    assert (partner["registrationMode"], partner["presetOverrides"]) == ("we-register-first", [])
    assert staff.post(f"{shown}/register").status_code in (200, 201, 202)
    [ours] = elmo.wait_for("register", timeout=15)
    assert ours.header("Authorization") == f"Token {ELMO_INITIAL_TOKEN}"
    assert ours.body["version_url"] == [{"version": "2.0", "base_url": oscp}]
    our_token = ours.body["token"]
    assert our_token and our_token != ELMO_INITIAL_TOKEN

    # ELMO registers back with our token and gives us the one we call it with from now on.
    back = {"token": ELMO_TOKEN, "version_url": [{"version": "2.0", "base_url": elmo.base_url}]}
    answer = elmo.call(oscp, "register", back, token=our_token, correlation_id=ours.header("X-Request-ID"))
    assert answer.status == 204, answer.body
    wait_until(lambda: staff.get(shown)["registrationStatus"] == "Registered", 10)

    # The CP starts the handshake (ours is refused), flat: acknowledged with {}.
    refused = staff.post(f"{shown}/handshake")
    assert refused.status_code == 400 and "handshakeInitiator" in refused.text
    handshake = elmo.call(oscp, "handshake", {"measurement_configuration": ["CONTINUOUS"]}, token=our_token)
    assert handshake.status == 204, handshake.body
    [ack] = elmo.wait_for("handshake_acknowledge", timeout=15)
    assert ack.body == {} and ack.header("X-Correlation-ID") == handshake.request_id
    assert ack.header("Authorization") == f"Token {ELMO_TOKEN}"
    wait_until(lambda: staff.get(shown)["connectionState"] == "online", 10)

    # A group reported every minute; its meter counts energy, in the kWh ELMO takes.
    group_body = {
        "name": "Feeder 7",
        "identifier": "elmo-feeder-7",
        "capacityProviderId": partner["configId"],
        "capacityProviderMeasurementPeriod": MeasurementPeriod.MINUTE,
        "enabled": True,
        "microgridId": "mg-elmo",
        "nodeId": 456,
    }
    created_group = staff.post("/capacity-groups", group_body)
    assert created_group.status_code == 201, created_group.text
    group_id = created_group.json()["data"]["configId"]
    energy = {"propertyNames": ["wattHours"], "unit": "Wh", "statisticType": "Difference"}
    meter = {
        "name": "Site meter",
        "capacityGroupId": group_id,
        "identifier": "meter-1",
        "audience": "CapacityProvider",
        "enabled": True,
        "nodeId": 456,
        "sourceId": "meter/1",
        "category": "Charging",
        "phase": "All",
        "energy": {**energy, "type": "Total", "direction": "Import"},
    }
    refused = staff.post("/assets", meter)
    assert refused.status_code == 400 and "energy.unit" in refused.text and "KWH" in refused.text
    kwh = {**meter["energy"], "unit": "kWh", "multiplier": 0.001}
    assert staff.post("/assets", {**meter, "energy": kwh}).status_code == 201

    # Day-ahead: 24 hourly blocks for tomorrow in Taipei time (+08:00), read back in UTC.
    tomorrow = datetime.now(TAIPEI).date() + timedelta(days=1)
    midnight = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=TAIPEI)
    capacities = [100.0 + hour for hour in range(24)]
    forecast = {
        "group_id": "elmo-feeder-7",
        "type": "CONSUMPTION",
        "forecasted_blocks": day_ahead(midnight, capacities),
    }
    assert forecast["forecasted_blocks"][0]["start_time"].endswith("+08:00")
    sent = elmo.call(oscp, "update_group_capacity_forecast", forecast, token=our_token, request_id="elmo-day-ahead-1")
    assert sent.status == 204, sent.body

    def tomorrows_limits() -> list[dict]:
        window = {"from": api(midnight), "to": api(midnight + 24 * HOUR)}
        rows = staff.get("/envelopes", microgridId="mg-elmo", nodeId=456, max=100, **window)
        return [row for row in rows if row["quantity"] == "import" and row["reason"] == "forecast"]

    limits = tomorrows_limits()
    assert [row["value"] for row in limits] == capacities
    assert [api_time(row["start"]) for row in limits] == [midnight + hour * HOUR for hour in range(24)]
    assert limits[0]["start"] == f"{tomorrow - timedelta(days=1)} 16:00:00Z"  # 00:00+08:00
    assert staff.get(f"/capacity-groups/{group_id}")["forecastStale"] is False

    # Before 14:00 we ask for more in the evening peak; ELMO's next forecast answers it.
    peak = {
        "capacity": 150,
        "phase": "ALL",
        "unit": "KW",
        "startTime": api(midnight + 18 * HOUR),
        "endTime": api(midnight + 19 * HOUR),
    }
    asked = staff.post(f"/capacity-groups/{group_id}/adjust", {"type": "CONSUMPTION", "forecastedBlocks": [peak]})
    assert asked.status_code in (200, 201), asked.text
    assert asked.json()["data"]["status"] == "awaiting"
    [adjust] = elmo.wait_for("adjust_group_capacity_forecast", timeout=15)
    assert adjust.header("X-Request-ID") == asked.json()["data"]["requestId"]
    assert adjust.body["group_id"] == "elmo-feeder-7" and adjust.body["type"] == "CONSUMPTION"
    assert [b["capacity"] for b in adjust.body["forecasted_blocks"]] == [150]
    capacities[18] = 150.0
    answered = {**forecast, "forecasted_blocks": day_ahead(midnight, capacities)}
    correlation = adjust.header("X-Request-ID")
    sent = elmo.call(oscp, "update_group_capacity_forecast", answered, token=our_token, correlation_id=correlation)
    assert sent.status == 204, sent.body
    [adjustment] = staff.get(f"/capacity-groups/{group_id}/adjust")
    assert adjustment["status"] == "answered" and adjustment["answeredAt"]
    assert [row["value"] for row in tomorrows_limits()] == capacities

    # Measurements every minute: the two minutes that just closed, in KWH, IMPORT, phase ALL.
    p = align_down(timezone.now(), MINUTE) - 2 * MINUTE
    counter = (1_000_000, 1_000_500, 1_001_250)  # Wh at p, p + 1 min, p + 2 min
    readings = [
        {"nodeId": 456, "sourceId": "meter/1", "created": wire(p + n * MINUTE), "a": {"wattHours": wh}}
        for n, wh in enumerate(counter)
    ]
    assert staff.post("/datum", readings).status_code in (200, 201)
    report_from(group_id, p)
    reports = elmo.wait_for("update_group_measurements", count=2, timeout=30)
    by_end = {report.body["measurements"][0]["measure_time"]: report for report in reports}
    for minute, kwh_used in ((1, 0.5), (2, 0.75)):
        report = by_end[(p + minute * MINUTE).strftime("%Y-%m-%dT%H:%M:%SZ")]
        assert report.body["group_id"] == "elmo-feeder-7"
        [entry] = report.body["measurements"]
        assert (entry["unit"], entry["direction"], entry["phase"]) == ("KWH", "IMPORT", "ALL")
        assert entry["value"] == pytest.approx(kwh_used, abs=1e-6)
    assert not elmo.requests_to("update_asset_measurements")

    # Every call reached ELMO's base path with the token it gave us (register: its initial one).
    assert all(request.path.startswith("/oscp/2.0/") for request in elmo.requests)
    for request in elmo.requests[1:]:
        assert request.header("Authorization") == f"Token {ELMO_TOKEN}", request.name


UNKNOWN_FORECAST = "sdldkj0-1lk3j389-flk4230fhfg"  # seed 002's own example correlation id


def test_solarnetwork_forwards_forecasts_to_the_optimizer_and_relays_its_instructions(
    peer_factory, web_server, real_worker
):
    provider_peer = peer_factory()
    optimizer_peer = peer_factory(prefix="/oscp/co/2.0")
    staff = Staff(web_server, UserFactory())
    oscp = f"{web_server.url}/oscp/fp/2.0"

    def onboard(kind: str, name: str, peer) -> tuple[dict, str]:
        """Create the partner with the solarnetwork profile; it registers with the token we gave
        it and calls us from then on with the one in our reply."""
        created = staff.post(
            f"/{kind}", {"name": name, "baseUrl": peer.base_url, "oscpVersion": "2.0", "profile": "solarnetwork"}
        )
        assert created.status_code == 201, created.text
        partner = created.json()["data"]
        body = {"token": f"{name}-token-for-fp", "version_url": [{"version": "2.0", "base_url": peer.base_url}]}
        assert peer.call(oscp, "register", body, token=partner["token"]).status == 204
        [reply] = peer.wait_for("register", timeout=15)
        wait_until(lambda: staff.get(f"/{kind}/{partner['configId']}")["registrationStatus"] == "Registered", 10)
        return partner, reply.body["token"]

    provider, provider_token = onboard("capacity-providers", "lines-co", provider_peer)
    optimizer, optimizer_token = onboard("capacity-optimizers", "optimizer-co", optimizer_peer)
    behaviour = {"required_behaviour": {"measurement_configuration": ["CONTINUOUS"]}}
    assert provider_peer.call(oscp, "handshake", behaviour, token=provider_token).status == 204
    provider_peer.wait_for("handshake_acknowledge", timeout=15)
    [handshake] = optimizer_peer.wait_for("handshake", timeout=15)  # ours follows its registration
    correlation = handshake.header("X-Request-ID")
    acknowledged = optimizer_peer.call(
        oscp, "handshake_acknowledge", {}, token=optimizer_token, correlation_id=correlation
    )
    assert acknowledged.status == 204, acknowledged.body
    for shown in (f"/capacity-providers/{provider['configId']}", f"/capacity-optimizers/{optimizer['configId']}"):
        wait_until(lambda shown=shown: staff.get(shown)["connectionState"] == "online", 10)

    created_group = staff.post(
        "/capacity-groups",
        {
            "name": "My Group",
            "identifier": "my-group",
            "capacityProviderId": provider["configId"],
            "capacityProviderMeasurementPeriod": "FifteenMinute",
            "capacityOptimizerId": optimizer["configId"],
            "capacityOptimizerMeasurementPeriod": "FiveMinute",
            "enabled": True,
            "microgridId": "mg-solarnetwork",
            "nodeId": 1,
        },
    )
    assert created_group.status_code == 201, created_group.text
    group_id = created_group.json()["data"]["configId"]

    # The provider's forecast reaches the optimizer unchanged, with the provider's X-Request-ID.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    blocks = day_of_blocks(40, start)[:8]
    forecast = {"group_id": "my-group", "type": "CONSUMPTION", "forecasted_blocks": blocks}
    answer = provider_peer.call(
        oscp, "update_group_capacity_forecast", forecast, token=provider_token, request_id="cp-forecast-0001"
    )
    assert answer.status == 204, answer.body
    [forwarded] = optimizer_peer.wait_for("update_group_capacity_forecast", timeout=15)
    assert forwarded.header("X-Request-ID") == "cp-forecast-0001"
    assert forwarded.header("Authorization") == "Token optimizer-co-token-for-fp"
    assert forwarded.body["group_id"] == "my-group" and forwarded.body["type"] == "CONSUMPTION"

    def same_blocks(wire_blocks: list[dict]) -> list[tuple]:  # the same content, in our wire form
        return [
            (float(b["capacity"]), b["unit"], b["phase"], api_time(b["start_time"]), api_time(b["end_time"]))
            for b in wire_blocks
        ]

    assert same_blocks(forwarded.body["forecasted_blocks"]) == same_blocks(blocks)

    # The optimizer's tool sends through the SolarUser instruction API, JSON-escaped msg strings.
    def instruct(action: str, msg: dict, correlation_id: str) -> dict:
        params = {"coId": str(optimizer["configId"]), "cgIdentifier": "my-group", "action": action}
        params |= {"msg": json.dumps(msg), "correlationId": correlation_id}
        response = staff.session.post(
            f"{web_server.url}{INSTRUCTIONS}/add/OSCP_v20", json={"nodeId": "1", "params": params}, timeout=10
        )
        assert response.status_code == 200, response.text
        instruction = response.json()["data"]
        assert (instruction["topic"], instruction["state"]) == ("OSCP_v20", "Queued")
        return instruction

    def state_of(instruction: dict) -> str:
        response = staff.session.get(f"{web_server.url}{INSTRUCTIONS}/view", params={"id": instruction["id"]})
        assert response.status_code == 200, response.text
        return response.json()["data"]["state"]

    more = [{**blocks[0], "capacity": 55.5}]
    adjust_msg = {"group_id": "my-group", "type": "CONSUMPTION", "forecasted_blocks": more}
    whoops = {"message": "Whoops!", "forecasted_blocks": more}
    measured = {
        "group_id": "my-group",
        "measurements": [
            {
                "value": 12.5,
                "phase": "ALL",
                "unit": "KWH",
                "direction": "IMPORT",
                "energy_type": "TOTAL",
                "measure_time": wire(start),
            }
        ],
    }
    sent = {
        "adjust_group_capacity_forecast": instruct("AdjustGroupCapacityForecast", adjust_msg, "cp-forecast-0001"),
        "group_capacity_compliance_error": instruct("GroupCapacityComplianceError", whoops, UNKNOWN_FORECAST),
        "update_group_measurements": instruct("UpdateGroupMeasurements", measured, "co-measurements-0001"),
    }
    correlations = {
        "adjust_group_capacity_forecast": "cp-forecast-0001",
        "group_capacity_compliance_error": UNKNOWN_FORECAST,
        "update_group_measurements": "co-measurements-0001",
    }
    for message, instruction in sent.items():
        [received] = provider_peer.wait_for(message, timeout=15)
        assert received.header("X-Request-ID") == instruction["resultParameters"]["requestId"], message
        assert received.header("X-Correlation-ID") == correlations[message], message
        assert received.header("Authorization") == "Token lines-co-token-for-fp", message
        wait_until(lambda instruction=instruction: state_of(instruction) == "Completed", 10)

    received = {name: provider_peer.requests_to(name)[0].body for name in sent}
    assert received["adjust_group_capacity_forecast"]["group_id"] == "my-group"
    assert [b["capacity"] for b in received["adjust_group_capacity_forecast"]["forecasted_blocks"]] == [55.5]
    assert received["group_capacity_compliance_error"]["message"] == "Whoops!"
    assert received["update_group_measurements"]["measurements"][0]["value"] == 12.5
    assert received["update_group_measurements"]["measurements"][0]["unit"] == "KWH"

    # The compliance error names no forecast we know: relayed as given, linked to none.
    [error] = staff.get(f"/capacity-groups/{group_id}/compliance-errors")
    assert (error["correlationId"], error["forecastId"], error["message"]) == (UNKNOWN_FORECAST, None, "Whoops!")
    # What the optimizer sent went to the provider only, never back to the optimizer.
    assert not any(optimizer_peer.requests_to(name) for name in sent)
