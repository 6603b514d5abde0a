"""Measurements end to end: readings posted over HTTP to gunicorn, a real Celery worker with beat
finds the closed one-minute period and reports it through the outbox to a real local Capacity
Provider peer, all on the PostgreSQL test database and Redis.

The report cursor starts one period back (as if the platform had been running for a while), and
the readings are timestamped in that already-closed minute, so no test waits for a minute to pass.

Readings (W instantaneous, Wh counter) of the two streams, relative to the period start P; the
period is [P, P+60 s):

    charger/a   P-20 s: 1000 W, 10000 Wh   P+10 s: 2000 W, 10010 Wh   P+40 s: 3000 W, 10040 Wh
                P+70 s: 5000 W, 10100 Wh
    charger/b   P-5 s: 500 W, 500 Wh       P+5 s: 4000 W, 502 Wh      P+30 s: 1500 W, 520 Wh
                P+55 s: 1000 W, 540 Wh     P+65 s: 550 Wh

Energy, each edge interpolated between the readings either side of it:
    a: at P 10000 + 10 × 20/30 = 10006.667, at P+60 10040 + 60 × 20/30 = 10080  → 73.333 Wh
    b: at P 500 + 2 × 5/10 = 501,           at P+60 540 + 10 × 5/10 = 545       → 44 Wh
Maximum power in the period: a 3000 W, b 4000 W. Summed site power (each stream's latest value
held, b's and a's last values before P included): P+5 1000+4000 = 5000, P+10 2000+4000 = 6000,
P+30 3500, P+40 4500, P+55 4000 → maximum 6000 W (not 3000 + 4000).
"""

import json
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from connections.choices import ConnectionState, MeasurementMessage, MessageStatus, RegistrationStatus
from connections.models import Message
from groups.choices import MeasurementPeriod
from measurements.models import ReportCursor
from measurements.reports import align_down
from tests.connections.factories import CapacityProviderFactory, UserFactory
from tests.groups.factories import AssetFactory, CapacityGroupFactory
from tests.measurements.factories import ReportCursorFactory
from tests.support.processes import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

MINUTE = timedelta(minutes=1)
S = timedelta(seconds=1)
PARTNER_TOKEN = "cp-token-for-measurements-7f3a"
ENERGY = {"charger/a": 10080 - (10000 + 10 * 20 / 30), "charger/b": 545.0 - 501.0}
MAXIMUM = {"charger/a": 3000.0, "charger/b": 4000.0}
SITE_MAXIMUM = 6000.0


@pytest.fixture
def process_settings():
    return {
        "MEASUREMENT_DISPATCH_SECONDS": "1",
        "MEASUREMENT_REPORT_DELAY_SECONDS": "1",
        "MEASUREMENT_CATCHUP_PERIODS": "4",
        "MEASUREMENTS_EDGE_TOLERANCE_SECONDS": "300",
        "OSCP_HEARTBEAT_DISPATCH_SECONDS": "3600",
        "GROUP_MODE_CHECK_SECONDS": "3600",
        "OSCP_OUTBOX_SWEEP_SECONDS": "2",
    }


def _wire(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%fZ")


def _readings(p: datetime) -> list[dict]:
    rows = [
        ("charger/a", -20, 1000, 10000),
        ("charger/a", 10, 2000, 10010),
        ("charger/a", 40, 3000, 10040),
        ("charger/a", 70, 5000, 10100),
        ("charger/b", -5, 500, 500),
        ("charger/b", 5, 4000, 502),
        ("charger/b", 30, 1500, 520),
        ("charger/b", 55, 1000, 540),
        ("charger/b", 65, None, 550),
    ]
    datum = []
    for source_id, seconds, watts, wh in rows:
        item = {"nodeId": 123, "sourceId": source_id, "created": _wire(p + seconds * S), "a": {"wattHours": wh}}
        if watts is not None:
            item["i"] = {"watts": watts}
        datum.append(item)
    return datum


def _post_readings(web_server, api_token: str, datum: list[dict]) -> dict:
    request = urllib.request.Request(
        f"{web_server.url}/solaruser/api/v1/sec/user/oscp/datum",
        data=json.dumps(datum).encode(),
        method="POST",
        headers={"Authorization": f"Token {api_token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _setup(peer, web_server, *, measurement_message: str):
    """A provider online at the peer, readings of the last closed minute posted over HTTP;
    returns (owner, provider, period start)."""
    owner = UserFactory()
    api_token = Token.objects.create(user=owner)
    provider = CapacityProviderFactory(
        owner=owner,
        base_url=peer.base_url,
        partner_token=PARTNER_TOKEN,
        registration_status=RegistrationStatus.REGISTERED,
        connection_state=ConnectionState.ONLINE,
        measurement_message=measurement_message,
    )
    p = align_down(timezone.now(), MINUTE) - MINUTE  # the last minute that has closed
    answer = _post_readings(web_server, api_token.key, _readings(p))
    assert answer == {"success": True, "data": {"stored": 9}}
    return owner, provider, p


def _group(provider, **fields):
    group = CapacityGroupFactory(
        capacity_provider=provider,
        owner=provider.owner,
        capacity_provider_measurement_period=MeasurementPeriod.MINUTE,
        **fields,
    )
    for source_id in ("charger/a", "charger/b"):
        AssetFactory(group=group, identifier=source_id.replace("/", "-"), source_id=source_id, node_id=123)
    return group


def _cursor_one_period_back(group, p: datetime) -> ReportCursor:
    """As if the platform had been reporting this group: the next period to report starts at p."""
    return ReportCursorFactory(group=group, period=MeasurementPeriod.MINUTE, last_period_end=p, next_due_at=p + MINUTE)


def _report_for(peer, name: str, group_id: str, end: datetime, timeout: float):
    """The peer's request ``name`` for ``group_id`` whose measurements end at ``end``."""
    measure_time = end.strftime("%Y-%m-%dT%H:%M:%SZ")

    def found():
        for request in peer.requests_to(name):
            body = request.body
            if body["group_id"] != group_id:
                continue
            entry = body["measurements"][0]
            entry = entry.get("energy_measurement", entry)
            if entry["measure_time"] == measure_time:
                return request
        return None

    return wait_until(found, timeout, 0.2, f"no {name} for {group_id} ending {measure_time}")


def _assert_delivered_as_logged(received, group):
    message = Message.objects.get(group=group, request_id=received.header("X-Request-ID"))
    assert message.message_type == received.name
    assert received.header("Authorization") == f"Token {PARTNER_TOKEN}"
    assert received.header("Content-Type", "").startswith("application/json")
    wait_until(lambda: Message.objects.get(id=message.id).status == MessageStatus.SENT, 5)


def test_closed_minute_reaches_the_provider_as_group_measurements(peer, web_server, worker_factory):
    _, provider, p = _setup(peer, web_server, measurement_message=MeasurementMessage.GROUP)
    group = _group(provider, identifier="site-e2e-group")
    _cursor_one_period_back(group, p)

    worker_factory(beat=True)
    received = _report_for(peer, "update_group_measurements", "site-e2e-group", p + MINUTE, timeout=30)

    [entry] = received.body["measurements"]
    assert entry["value"] == pytest.approx(ENERGY["charger/a"] + ENERGY["charger/b"], abs=1e-5)  # 117.333 Wh
    assert {k: v for k, v in entry.items() if k != "value"} == {
        "phase": "ALL",
        "unit": "WH",
        "direction": "IMPORT",
        "energy_type": "TOTAL",
        "measure_time": (p + MINUTE).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "initial_measure_time": p.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    _assert_delivered_as_logged(received, group)
    cursor = ReportCursor.objects.get(group=group)
    assert cursor.last_period_end >= p + MINUTE and cursor.last_outcome


def test_closed_minute_reaches_the_provider_per_asset_and_as_one_combined_asset(peer, web_server, worker_factory):
    _, provider, p = _setup(peer, web_server, measurement_message=MeasurementMessage.ASSET)
    per_asset = _group(provider, identifier="site-e2e-assets")
    combined = _group(provider, identifier="site-e2e-combined", combined_asset_id="SITE-E2E")
    _cursor_one_period_back(per_asset, p)
    _cursor_one_period_back(combined, p)

    worker_factory(beat=True)
    end = p + MINUTE
    assets = _report_for(peer, "update_asset_measurements", "site-e2e-assets", end, timeout=30)
    site = _report_for(peer, "update_asset_measurements", "site-e2e-combined", end, timeout=10)

    entries = {m["asset_id"]: m for m in assets.body["measurements"]}
    assert set(entries) == {"charger-a", "charger-b"}
    for source_id, entry in ((s, entries[s.replace("/", "-")]) for s in ENERGY):
        assert entry["asset_category"] == "CHARGING"
        assert entry["energy_measurement"]["value"] == pytest.approx(ENERGY[source_id], abs=1e-5)
        assert entry["energy_measurement"]["unit"] == "WH"
        assert entry["instantaneous_measurement"] == {
            "value": MAXIMUM[source_id],
            "phase": "ALL",
            "unit": "W",
            "measure_time": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    [entry] = site.body["measurements"]
    assert entry["asset_id"] == "SITE-E2E"
    assert entry["energy_measurement"]["value"] == pytest.approx(sum(ENERGY.values()), abs=1e-5)
    # The maximum of the summed site power, not the sum of each charger's maximum (7000 W).
    assert entry["instantaneous_measurement"]["value"] == SITE_MAXIMUM
    assert entry["instantaneous_measurement"]["unit"] == "W"
    assert assets.header("X-Request-ID") != site.header("X-Request-ID")
    _assert_delivered_as_logged(assets, per_asset)
    _assert_delivered_as_logged(site, combined)
