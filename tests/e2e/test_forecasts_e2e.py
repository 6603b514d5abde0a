"""Forecasts end to end: a Capacity Provider (a real local peer receiving our messages, and this
test posting its messages) talks to the platform served by gunicorn, with a real Celery worker and
beat (group modes and offline checks every second), all on the PostgreSQL test database.

The provider handshakes, sends a 24-hour forecast whose first blocks are a few seconds long,
heartbeats, and goes silent. The group goes ``partner-offline``; the block in force when the
provider went quiet keeps applying until it ends, then the fallback applies (the provider's
FALLBACK_CONSUMPTION forecast, or the group's own fallback limits). A new handshake and a new
forecast bring the group back to ``normal``. Everything is read back through the management API.
"""

import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from rest_framework.authtoken.models import Token

from connections.choices import ConnectionState, RegistrationStatus
from connections.services import inbound_token_issue
from forecasts.models import GroupModeChange
from tests.connections.factories import CapacityProviderFactory, UserFactory
from tests.groups.factories import CapacityGroupFactory
from tests.support.processes import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

API = "/solaruser/api/v1/sec/user/oscp"
OFFLINE_AFTER = 8  # seconds after the forecasts start: what the last heartbeat announces
SECOND_BLOCK_END = 14  # the block in force at OFFLINE_AFTER ends here


@pytest.fixture
def process_settings():
    return {
        "OSCP_HEARTBEAT_DISPATCH_SECONDS": "1",
        "GROUP_MODE_CHECK_SECONDS": "1",
        "OSCP_OUTBOX_SWEEP_SECONDS": "1",
        "OSCP_RETRY_BASE_SECONDS": "0.4",
        "OSCP_RETRY_MAX_SECONDS": "1",
        "MEASUREMENT_DISPATCH_SECONDS": "3600",
    }


def wire(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def api_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace(" ", "T").replace("Z", "+00:00"))


def block(capacity, start: datetime, end: datetime) -> dict:
    return {"capacity": capacity, "phase": "ALL", "unit": "KW", "start_time": wire(start), "end_time": wire(end)}


def day_of_blocks(capacity, start: datetime, *, first: list[tuple[int, float]] = ()) -> list[dict]:
    """Blocks from ``start`` for 24 hours: the ``first`` (seconds, capacity) short ones, then
    15-minute blocks of ``capacity`` until the day is covered."""
    blocks, cursor = [], start
    for seconds, value in first:
        blocks.append(block(value, cursor, cursor + timedelta(seconds=seconds)))
        cursor += timedelta(seconds=seconds)
    while cursor < start + timedelta(hours=24):
        blocks.append(block(capacity, cursor, cursor + timedelta(minutes=15)))
        cursor += timedelta(minutes=15)
    return blocks


class Provider:
    """The Capacity Provider's side of the conversation: its calls to us over HTTP."""

    def __init__(self, base: str, token: str):
        self.base, self.session = base + "/oscp/fp/2.0", requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def post(self, message: str, body: dict, request_id: str | None = None) -> str:
        request_id = request_id or str(uuid.uuid4())
        response = self.session.post(
            f"{self.base}/{message}", json=body, headers={"X-Request-ID": request_id}, timeout=10
        )
        assert response.status_code == 204, (message, response.status_code, response.text)
        return request_id

    def handshake(self, request_id: str) -> None:
        self.post("handshake", {"required_behaviour": {"measurement_configuration": []}}, request_id)

    def forecast(self, group_id: str, forecast_type: str, blocks: list[dict]) -> None:
        self.post(
            "update_group_capacity_forecast", {"group_id": group_id, "type": forecast_type, "forecasted_blocks": blocks}
        )

    def heartbeat(self, offline_mode_at: datetime) -> None:
        self.post("heartbeat", {"offline_mode_at": wire(offline_mode_at)})


class Management:
    """An internal tool reading the management API."""

    def __init__(self, base: str, token: str, group):
        self.base, self.group = base + API, group
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def _get(self, path: str, **params) -> dict:
        response = self.session.get(self.base + path, params=params, timeout=10)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()["data"]

    def mode(self) -> str:
        return self._get(f"/capacity-groups/{self.group.id}")["mode"]

    def envelope(self) -> dict:
        return self._get("/envelopes", microgridId=self.group.microgrid_id, nodeId=self.group.node_id)

    def imports(self, start: datetime, end: datetime) -> list[tuple[float, str, datetime, datetime]]:
        rows = self._get("/envelopes", groupId=self.group.id, **{"from": wire(start), "to": wire(end)})
        return [
            (row["value"], row["reason"], api_time(row["start"]), api_time(row["end"]))
            for row in rows
            if row["quantity"] == "import"
        ]


def now() -> datetime:
    return datetime.now(UTC)


def seconds_until(when: datetime) -> float:
    return (when - now()).total_seconds()


@pytest.fixture
def setup(peer, web_server, real_worker):
    """A provider registered out of band (it gave us its token, we gave it ours), one group bound
    to microgrid ``mg-e2e`` node 7, and the two clients."""

    def make(**group_fields):
        user = UserFactory()
        provider = CapacityProviderFactory(
            owner=user,
            base_url=peer.base_url,
            partner_token="cp-token-for-us-0001",
            registration_status=RegistrationStatus.REGISTERED,
            connection_state=ConnectionState.REGISTERED,
        )
        token = inbound_token_issue(partner=provider)
        group = CapacityGroupFactory(
            owner=user,
            capacity_provider=provider,
            identifier="depot-1",
            microgrid_id="mg-e2e",
            node_id=7,
            **group_fields,
        )
        api = Management(web_server.url, Token.objects.create(user=user).key, group)
        return Provider(web_server.url, token), api, group

    return make


def handshake_acknowledged(peer, provider: Provider, request_id: str) -> None:
    provider.handshake(request_id)
    acks = wait_until(
        lambda: [r for r in peer.requests_to("handshake_acknowledge") if r.header("X-Correlation-ID") == request_id],
        10,
        message=f"no handshake_acknowledge correlated to {request_id}",
    )
    assert len(acks) == 1
    assert acks[0].header("Authorization") == "Token cp-token-for-us-0001"
    assert acks[0].header("X-Request-ID") not in (None, request_id)


def go_silent_after_forecast(peer, provider: Provider, api: Management, *, fallback_forecast: bool) -> datetime:
    """Handshake, forecasts, heartbeats; returns the start of the forecast (``t0``)."""
    handshake_acknowledged(peer, provider, "cp-handshake-1")
    t0 = now()
    if fallback_forecast:
        provider.forecast("depot-1", "FALLBACK_CONSUMPTION", day_of_blocks(3, t0 - timedelta(minutes=1)))
    blocks = day_of_blocks(12, t0 - timedelta(seconds=1), first=[(7, 10), (SECOND_BLOCK_END - 6, 11)])
    assert 96 <= len(blocks) <= 100
    provider.forecast("depot-1", "CONSUMPTION", blocks)
    assert api.mode() == "normal"
    envelope = api.envelope()
    assert (envelope["mode"], envelope["importLimits"][0]["value"], envelope["reason"]) == ("normal", 10.0, "forecast")

    provider.heartbeat(t0 + timedelta(seconds=OFFLINE_AFTER - 2))
    time.sleep(1)
    provider.heartbeat(t0 + timedelta(seconds=OFFLINE_AFTER))  # the last one: silent from here
    return t0


def offline_then_fallback(api: Management, t0: datetime, *, fallback: tuple[float, str]) -> None:
    offline_at = t0 + timedelta(seconds=OFFLINE_AFTER)
    # Normal right up to the announced time (the second heartbeat moved it on).
    while seconds_until(offline_at) > 0.5:
        assert api.mode() == "normal"
        time.sleep(0.3)
    wait_until(lambda: api.mode() == "partner-offline", 5, 0.1, "group did not go partner-offline")
    late = -seconds_until(offline_at)
    print(f"partner-offline seen through the API {late:.2f}s after offline_mode_at")
    assert late < 3

    second_block_end = t0 + timedelta(seconds=SECOND_BLOCK_END)
    second_block_end = second_block_end.replace(microsecond=second_block_end.microsecond // 1000 * 1000)
    assert seconds_until(second_block_end) > 0.5, "too slow to see the received block still applying"
    envelope = api.envelope()
    assert envelope["mode"] == "partner-offline"
    assert [(i["value"], i["reason"]) for i in envelope["importLimits"]] == [(11.0, "forecast")]
    assert api_time(envelope["end"]) == second_block_end

    # The rebuilt schedule: the received block until it ends, then the fallback for the rest of the day.
    schedule = api.imports(offline_at, t0 + timedelta(hours=1))
    assert [(value, reason) for value, reason, _, _ in schedule[:2]] == [(11.0, "forecast"), fallback]
    assert schedule[0][3] == schedule[1][2] == api_time(envelope["end"])
    assert all((value, reason) == fallback for value, reason, _, _ in schedule[1:])

    time.sleep(max(0.0, seconds_until(second_block_end)) + 0.2)
    envelope = api.envelope()
    assert envelope["mode"] == "partner-offline"
    assert [(i["value"], i["reason"]) for i in envelope["importLimits"]] == [fallback]


def back_to_normal(peer, provider: Provider, api: Management, group) -> None:
    handshake_acknowledged(peer, provider, "cp-handshake-2")
    time.sleep(1.5)  # at least one mode check: a handshake alone does not end the offline mode
    assert api.mode() == "partner-offline"

    provider.forecast("depot-1", "CONSUMPTION", day_of_blocks(20, now() - timedelta(seconds=1)))
    assert api.mode() == "normal"  # in the forecast's own transaction, before any periodic check
    envelope = api.envelope()
    assert [(i["value"], i["reason"]) for i in envelope["importLimits"]] == [(20.0, "forecast")]
    time.sleep(1.5)
    assert api.mode() == "normal"
    changes = list(GroupModeChange.objects.filter(group=group).order_by("at").values_list("from_mode", "to_mode"))
    assert changes == [("forecast-gap", "normal"), ("normal", "partner-offline"), ("partner-offline", "normal")]


def test_silent_provider_falls_back_to_its_fallback_forecast_and_recovers(peer, setup):
    provider, api, group = setup(fallback_import_kw=Decimal(7))
    t0 = go_silent_after_forecast(peer, provider, api, fallback_forecast=True)
    offline_then_fallback(api, t0, fallback=(3.0, "fallback"))
    back_to_normal(peer, provider, api, group)


def test_silent_provider_without_fallback_forecast_gets_the_group_fallback_limits(peer, setup):
    provider, api, group = setup(fallback_import_kw=Decimal(7), fallback_export_kw=Decimal(2))
    t0 = go_silent_after_forecast(peer, provider, api, fallback_forecast=False)
    offline_then_fallback(api, t0, fallback=(7.0, "fallback"))
    envelope = api.envelope()
    assert [(i["value"], i["rule"]) for i in envelope["importLimits"]] == [(7.0, "group-fallback-import")]
    assert [(i["value"], i["reason"]) for i in envelope["exportLimits"]] == [(2.0, "fallback")]
    back_to_normal(peer, provider, api, group)
