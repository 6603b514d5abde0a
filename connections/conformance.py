"""Conformance cases for a partner's own OSCP 2.0 endpoints (``manage.py oscp_conformance``).

Each case plays our side (the Flexibility Provider) of one exchange the partner's role must
support and checks its answer by the platform's own protocol rules, pointed outward: 204 with an
empty body, credentials refused without a token, 400 on an invalid body, and replies (register,
handshake acknowledgement, heartbeats) arriving at a small receiver we start, with the right
``X-Correlation-ID``, checked with the registry's wire serializers. The cases are declared below
as data, in the order they run, so they read as a checklist.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from connections.choices import MessageType, TimeFormat
from connections.simulator.wire import Dialect, body_check, message_of_path

T = MessageType
CP, CO = "cp", "co"
SUPPORTED_VERSION = "2.0"


class Failure(Exception):
    """The partner broke the rule a case checks; the text says how."""


# --- the receiver: where the partner's replies and heartbeats arrive -----------------------------


@dataclass
class Received:
    message_type: str | None
    headers: dict[str, str]
    body: object
    at: float = field(default_factory=time.monotonic)

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


class Receiver:
    """Our OSCP endpoints for the partner to call back: answers 204 and records every request."""

    def __init__(self, *, host: str, port: int, public_url: str, dialect: Dialect):
        self.dialect = dialect
        self.received: list[Received] = []
        self._lock = threading.Condition()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="conformance-receiver", daemon=True).start()
        self.base_url = (public_url or f"http://{host}:{self._server.server_address[1]}").rstrip("/") + "/oscp/fp/2.0"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, predicate: Callable[[Received], bool], *, count: int = 1, timeout: float) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [item for item in self.received if predicate(item)]
                if len(found) >= count or time.monotonic() >= deadline:
                    return found
                self._lock.wait(max(0.0, deadline - time.monotonic()))

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                return None

            def do_POST(self):  # noqa: N802 - http.server naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                name = self.path.rstrip("/").rsplit("/", 1)[-1]
                item = Received(
                    message_of_path(name, dialect=receiver.dialect),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                with receiver._lock:
                    receiver.received.append(item)
                    receiver._lock.notify_all()
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler


# --- the context the cases share ------------------------------------------------------------------


@dataclass
class Context:
    url: str  # the partner's OSCP base URL
    role: str
    token: str  # the token we present; a register exchange replaces it
    dialect: Dialect
    receiver: Receiver
    group: str
    timeout: float
    heartbeat_seconds: float
    our_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self):
        self.session.trust_env = False

    def post(self, message_type: str, body, *, token: str | None = "", request_id: str | None = "", **headers):
        """POST to the partner; returns (response, request id). ``token=None`` sends no
        Authorization, ``request_id=None`` no X-Request-ID; a body that is bytes goes as it is."""
        request_id = str(uuid.uuid4()) if request_id == "" else request_id
        sent = {"Content-Type": "application/json", **headers}
        if token is not None:
            sent["Authorization"] = f"Token {token or self.token}"
        if request_id is not None:
            sent["X-Request-ID"] = request_id
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        url = f"{self.url.rstrip('/')}/{self.dialect.path_of(message_type)}"
        try:
            response = self.session.post(url, data=data, headers=sent, timeout=self.timeout)
        except requests.Timeout:
            raise Failure(f"no answer within {self.timeout:g}s") from None
        except requests.RequestException as exc:
            raise Failure(f"could not reach {url}: {exc.__class__.__name__}") from None
        return response, request_id

    def time(self, value: datetime) -> str:
        return self.dialect.time(value)


def _answer(response) -> str:
    text = response.text.strip()
    return f"{response.status_code}" + (f" {text[:160]}" if text else "")


def expect_204(response) -> None:
    if response.status_code != 204:
        raise Failure(f"expected 204, got {_answer(response)}")
    if response.content:
        raise Failure(f"expected an empty body with 204, got {response.content[:160]!r}")


def expect_status(response, allowed: tuple[int, ...]) -> None:
    if response.status_code not in allowed:
        raise Failure(f"expected {' or '.join(map(str, allowed))}, got {_answer(response)}")


def accepted(ctx: Context, message_type: str, body: dict, **headers) -> str:
    """Send a valid ``body`` (checked against our own serializer first); expect 204, empty."""
    data, problem = body_check(message_type, body, dialect=ctx.dialect)
    assert data is not None, f"conformance case sends an invalid {message_type}: {problem}"
    response, request_id = ctx.post(message_type, body, **headers)
    expect_204(response)
    return request_id


def arrived(ctx: Context, message_type: str, *, correlation_id: str | None, count: int = 1, timeout=None):
    """The partner's ``message_type`` at our receiver (with ``X-Correlation-ID`` = ``correlation_id``
    when given), its body valid by our wire serializer."""
    wait = timeout if timeout is not None else ctx.timeout
    found = ctx.receiver.wait_for(lambda r: r.message_type == message_type, count=count, timeout=wait)
    if correlation_id is not None:
        matching = [r for r in found if r.header("x-correlation-id") == correlation_id]
        if not matching:
            seen = [r.header("x-correlation-id") or "none" for r in found]
            raise Failure(
                f"no {message_type} with X-Correlation-ID {correlation_id} within {wait:g}s"
                + (f" (saw X-Correlation-ID {', '.join(seen)})" if found else "")
            )
        found = matching
    if len(found) < count:
        raise Failure(f"{len(found)} {message_type} arrived within {wait:g}s, expected at least {count}")
    for item in found:
        if not item.header("x-request-id"):
            raise Failure(f"{message_type} arrived without X-Request-ID")
        if item.header("authorization").partition(" ")[2] != ctx.our_token:
            raise Failure(f"{message_type} arrived without the token we gave (Authorization: Token <ours>)")
        data, problem = body_check(message_type, item.body, dialect=ctx.dialect)
        if data is None:
            raise Failure(f"{message_type} arrived invalid: {problem}")
    return found


# --- the cases ------------------------------------------------------------------------------------


def _offline_at(ctx: Context) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=5)


def _heartbeat(ctx: Context) -> dict:
    return {"offline_mode_at": ctx.time(_offline_at(ctx))}


def auth_missing(ctx: Context) -> None:
    response, _ = ctx.post(T.HEARTBEAT, _heartbeat(ctx), token=None)
    expect_status(response, (401, 403))


def auth_wrong(ctx: Context) -> None:
    response, _ = ctx.post(T.HEARTBEAT, _heartbeat(ctx), token="not-a-token-" + secrets.token_hex(8))
    expect_status(response, (401, 403))


def register_reply(ctx: Context) -> None:
    body = {"token": ctx.our_token, "version_url": [{"version": SUPPORTED_VERSION, "base_url": ctx.receiver.base_url}]}
    request_id = accepted(ctx, T.REGISTER, body)
    replies = ctx.receiver.wait_for(
        lambda r: r.message_type == T.REGISTER and r.header("x-correlation-id") == request_id, timeout=ctx.timeout
    )
    token = replies[0].body.get("token") if replies and isinstance(replies[0].body, dict) else None
    if isinstance(token, str) and token:
        ctx.token = token  # the partner expects it from now on, even if the rest of its reply is wrong
    [reply, *_] = arrived(ctx, T.REGISTER, correlation_id=request_id)
    versions = [v.get("version") for v in reply.body["version_url"]]
    if SUPPORTED_VERSION not in versions:
        raise Failure(f"register reply offers versions {versions}, not {SUPPORTED_VERSION}")


def handshake_acknowledged(ctx: Context) -> None:
    behaviour = {"heartbeat_interval": ctx.heartbeat_seconds, "measurement_configuration": ["CONTINUOUS"]}
    request_id = accepted(ctx, T.HANDSHAKE, {"required_behaviour": behaviour})
    arrived(ctx, T.HANDSHAKE_ACKNOWLEDGE, correlation_id=request_id)


def heartbeats_arrive(ctx: Context) -> None:
    since = time.monotonic()
    wait = 3 * ctx.heartbeat_seconds + ctx.timeout
    found = ctx.receiver.wait_for(lambda r: r.message_type == T.HEARTBEAT and r.at >= since, count=2, timeout=wait)
    if len(found) < 2:
        raise Failure(f"{len(found)} heartbeats in {wait:g}s after asking for one every {ctx.heartbeat_seconds:g}s")
    for item in found:
        data, problem = body_check(T.HEARTBEAT, item.body, dialect=ctx.dialect)
        if data is None:
            raise Failure(f"heartbeat arrived invalid: {problem}")
        if data["offline_mode_at"] <= datetime.now(UTC) - timedelta(seconds=ctx.heartbeat_seconds):
            raise Failure(f"heartbeat announced offline_mode_at {item.body['offline_mode_at']}, already past")


def heartbeat_accepted(ctx: Context) -> None:
    accepted(ctx, T.HEARTBEAT, _heartbeat(ctx))


def heartbeat_with_offset(ctx: Context) -> None:
    local = _offline_at(ctx).astimezone(timezone(timedelta(hours=8))).replace(microsecond=0)
    accepted(ctx, T.HEARTBEAT, {"offline_mode_at": local.isoformat()})


def heartbeat_invalid_time(ctx: Context) -> None:
    response, _ = ctx.post(T.HEARTBEAT, {"offline_mode_at": "tomorrow morning"})
    expect_status(response, (400,))


def body_not_json(ctx: Context) -> None:
    response, _ = ctx.post(T.HEARTBEAT, b'{"offline_mode_at": ')
    expect_status(response, (400,))


def request_id_missing(ctx: Context) -> None:
    response, _ = ctx.post(T.HEARTBEAT, _heartbeat(ctx), request_id=None)
    expect_status(response, (400,))


def _energy(ctx: Context, unit: str, value: float) -> dict:
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    return {
        "value": value,
        "phase": "ALL",
        "unit": unit,
        "direction": "IMPORT",
        "energy_type": "TOTAL",
        "measure_time": ctx.time(end),
        "initial_measure_time": ctx.time(end - timedelta(minutes=15)),
    }


def group_measurements(ctx: Context, unit: str = "WH", value: float = 1250.5) -> None:
    accepted(ctx, T.UPDATE_GROUP_MEASUREMENTS, {"group_id": ctx.group, "measurements": [_energy(ctx, unit, value)]})


def group_measurements_kwh(ctx: Context) -> None:
    group_measurements(ctx, "KWH", 1.2505)


def group_measurements_bad_unit(ctx: Context) -> None:
    body = {"group_id": ctx.group, "measurements": [{**_energy(ctx, "WH", 1), "unit": "LITRES"}]}
    response, _ = ctx.post(T.UPDATE_GROUP_MEASUREMENTS, body)
    expect_status(response, (400,))


def asset_measurements(ctx: Context) -> None:
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    item = {
        "asset_id": "charger-1",
        "asset_category": "CHARGING",
        "energy_measurement": _energy(ctx, "WH", 800.0),
        "instantaneous_measurement": {"value": 7.2, "phase": "ALL", "unit": "KW", "measure_time": ctx.time(end)},
    }
    accepted(ctx, T.UPDATE_ASSET_MEASUREMENTS, {"group_id": ctx.group, "measurements": [item]})


def _blocks(ctx: Context, capacity: float) -> list[dict]:
    start = datetime.now(UTC).replace(second=0, microsecond=0)
    return [
        {
            "capacity": capacity,
            "phase": "ALL",
            "unit": "KW",
            "start_time": ctx.time(start + timedelta(minutes=15 * i)),
            "end_time": ctx.time(start + timedelta(minutes=15 * (i + 1))),
        }
        for i in range(4)
    ]


def adjust_forecast(ctx: Context) -> None:
    body = {"group_id": ctx.group, "type": "CONSUMPTION", "forecasted_blocks": _blocks(ctx, 30.0)}
    accepted(ctx, T.ADJUST_GROUP_CAPACITY_FORECAST, body)


def compliance_error(ctx: Context) -> None:
    body = {"message": "Cannot keep the site under the limit: chargers busy.", "forecasted_blocks": _blocks(ctx, 10)}
    accepted(ctx, T.GROUP_CAPACITY_COMPLIANCE_ERROR, body, **{"X-Correlation-ID": str(uuid.uuid4())})


def forecast_forwarded(ctx: Context) -> None:
    body = {"group_id": ctx.group, "type": "CONSUMPTION", "forecasted_blocks": _blocks(ctx, 22.0)}
    accepted(ctx, T.UPDATE_GROUP_CAPACITY_FORECAST, body)


def _rfc3339(ctx: Context) -> bool:
    return ctx.dialect.time_format == TimeFormat.RFC3339


@dataclass(frozen=True)
class Case:
    name: str
    roles: frozenset[str]
    rule: str
    check: Callable[[Context], None]
    applies: Callable[[Context], bool] = lambda ctx: True
    registers: bool = False  # the register exchange (left out with --no-register)


BOTH = frozenset({CP, CO})
CASES: tuple[Case, ...] = (
    Case("auth-missing", BOTH, "a request without Authorization is refused (401/403)", auth_missing),
    Case("auth-wrong-token", BOTH, "a request with an unknown token is refused (401/403)", auth_wrong),
    Case(
        "register-reply",
        BOTH,
        "register answered 204; its register reply arrives with X-Correlation-ID = our X-Request-ID, "
        "our token, a valid body offering 2.0",
        register_reply,
        registers=True,
    ),
    Case(
        "handshake-acknowledged",
        BOTH,
        "handshake answered 204; handshake_acknowledge arrives with X-Correlation-ID = our X-Request-ID",
        handshake_acknowledged,
    ),
    Case(
        "heartbeats-arrive",
        BOTH,
        "after our handshake asked for heartbeat_interval, valid heartbeats arrive at that interval",
        heartbeats_arrive,
    ),
    Case("heartbeat-accepted", BOTH, "a valid heartbeat is answered 204 with an empty body", heartbeat_accepted),
    Case(
        "heartbeat-offset-time",
        BOTH,
        "a time with a +08:00 offset is accepted (RFC 3339)",
        heartbeat_with_offset,
        applies=_rfc3339,
    ),
    Case("invalid-time-400", BOTH, "a heartbeat whose time is not a date-time is answered 400", heartbeat_invalid_time),
    Case("invalid-json-400", BOTH, "a body that is not JSON is answered 400", body_not_json),
    Case("missing-request-id-400", BOTH, "a request without X-Request-ID is answered 400", request_id_missing),
    Case("group-measurements-wh", frozenset({CP}), "update_group_measurements in WH is accepted", group_measurements),
    Case(
        "group-measurements-kwh",
        frozenset({CP}),
        "update_group_measurements in KWH is accepted",
        group_measurements_kwh,
    ),
    Case(
        "measurement-unit-400",
        frozenset({CP}),
        "update_group_measurements with an unknown unit is answered 400",
        group_measurements_bad_unit,
    ),
    Case("adjust-forecast", frozenset({CP}), "adjust_group_capacity_forecast is accepted", adjust_forecast),
    Case(
        "compliance-error",
        frozenset({CP}),
        "group_capacity_compliance_error (X-Correlation-ID = the forecast) is accepted",
        compliance_error,
    ),
    Case("forecast", frozenset({CO}), "a forwarded update_group_capacity_forecast is accepted", forecast_forwarded),
    Case("asset-measurements", frozenset({CO}), "update_asset_measurements is accepted", asset_measurements),
)


@dataclass
class Result:
    name: str
    rule: str
    passed: bool
    detail: str = ""
    seconds: float = 0.0


def cases_for(role: str, *, register: bool = True) -> list[Case]:
    return [case for case in CASES if role in case.roles and (register or not case.registers)]


def conformance_run(ctx: Context, *, register: bool = True) -> list[Result]:
    """Run every case of the partner's role, in order; a failing case does not stop the others."""
    results = []
    for case in cases_for(ctx.role, register=register):
        if not case.applies(ctx):
            continue
        started = time.monotonic()
        try:
            case.check(ctx)
        except Failure as exc:
            results.append(Result(case.name, case.rule, False, str(exc), time.monotonic() - started))
        else:
            results.append(Result(case.name, case.rule, True, "", time.monotonic() - started))
    return results
