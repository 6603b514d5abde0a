"""The simulated partner: one or two sides (a Capacity Provider, optionally a Capacity Optimizer),
each with its registration, handshake, heartbeats and, for the provider, forecasts; a scheduler
thread that sends what is due; and what it received, kept for its log and ``/_control/state``.

It talks to the platform only over HTTP (``requests``), exactly as a partner's system would."""

from __future__ import annotations

import base64
import hmac
import json
import queue
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import requests

from connections.choices import ForecastType, MessageType

from . import wire
from .faults import Fault, Faults
from .server import serve

T = MessageType
OFFLINE_MULTIPLIER = 2  # our heartbeats announce offline_mode_at = now + this × interval
RETRY_SECONDS = 5.0  # a register or handshake without an answer is sent again after this
CALL_TIMEOUT = 10.0
KEPT = 200  # measurements, compliance errors and log lines kept in memory
ACCESS_TOKEN_SECONDS = 3600  # lifetime of the access tokens our token URL issues


@dataclass
class Config:
    platform_url: str = ""  # the platform's OSCP base, e.g. http://127.0.0.1:8000/oscp/fp/2.0
    token: str = ""  # the token staff gave us for the provider side (we call the platform with it)
    optimizer_token: str = ""  # the same for the optimizer side; empty: no optimizer side
    own_token: str = ""  # the token the platform presents to us before any register (wait mode)
    profile: str = "oscp-2.0"
    groups: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 0
    public_url: str = ""  # how the platform reaches us; default http://host:port
    heartbeat_seconds: float = 30.0
    forecast_seconds: float = 900.0
    shape: wire.ForecastShape = field(default_factory=wire.ForecastShape)
    wait_register: bool = False  # wait for the platform's register even where we could start
    faults: tuple[str, ...] = ()
    slow_seconds: float = 10.0
    # OAuth2 client credentials, as Vector DERMS uses them both ways. To call the platform: the
    # client staff issued us and the platform's token URL (we then send ``Bearer`` access tokens
    # instead of the token). To be called: the client the platform presents at our own token URL
    # (``/oauth/token``); access tokens issued there open our endpoints.
    client_id: str = ""
    client_secret: str = ""
    token_url: str = ""
    own_client_id: str = ""
    own_client_secret: str = ""


@dataclass
class Side:
    role: str  # "cp" or "co"
    prefix: str
    initial_token: str  # given by staff: we call the platform with it until registered
    own_tokens: set[str]  # tokens the platform may present to us
    state: str = "new"
    peer_url: str = ""
    peer_token: str = ""
    register_id: str = ""
    register_sent_at: float = 0.0
    handshake_id: str = ""
    handshake_sent_at: float = 0.0
    needs_handshake: bool = True
    heartbeat_seconds: float | None = None  # what the platform asked for, else ours
    next_heartbeat: float = 0.0
    offline_mode_at: datetime | None = None  # the last one we announced
    silent: bool = False  # heartbeats held back by the no-heartbeat fault
    next_forecast: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    last_heartbeat_in: str | None = None
    forecasts_sent: list[dict] = field(default_factory=list)
    measurements: deque = field(default_factory=lambda: deque(maxlen=KEPT))
    compliance_errors: deque = field(default_factory=lambda: deque(maxlen=KEPT))
    forecasts_received: deque = field(default_factory=lambda: deque(maxlen=KEPT))
    problems: deque = field(default_factory=lambda: deque(maxlen=KEPT))

    def count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1


class Simulator:
    def __init__(self, config: Config, *, say: Callable[[str], None] = print):
        self.config = config
        self.dialect = wire.dialect_of(config.profile)
        self.faults = Faults(config.faults, slow_seconds=config.slow_seconds)
        self._say = say
        self.log: deque = deque(maxlen=KEPT)
        self._lock = threading.RLock()
        self._jobs: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self.session = requests.Session()
        self.session.trust_env = False
        self.own_token = config.own_token or secrets.token_urlsafe(24)
        self.sides: dict[str, Side] = {"cp": self._side("cp", "/oscp/cp/2.0", config.token)}
        if config.optimizer_token:
            self.sides["co"] = self._side("co", "/oscp/co/2.0", config.optimizer_token)
        self.server = None
        self.thread: threading.Thread | None = None
        self.access_token, self.access_token_until = "", 0.0  # ours, to call the platform with
        self.issued_tokens: set[str] = set()  # the platform's, issued at our token URL

    def _side(self, role: str, prefix: str, token: str) -> Side:
        side = Side(role=role, prefix=prefix, initial_token=token, own_tokens={self.own_token})
        side.peer_url = self.config.platform_url.rstrip("/")
        if not self.dialect.registers_at_all:  # registered out of band: staff set both tokens
            side.state, side.peer_token = "registered", token
        return side

    # --- running -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.config.public_url or f"http://{self.config.host}:{self.server.server_address[1]}"

    def base_url(self, side: Side) -> str:
        return self.url.rstrip("/") + side.prefix

    def start(self) -> Simulator:
        self.server = serve(self, self.config.host, self.config.port)
        self.thread = threading.Thread(target=self._run, name="oscp-simulator", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.thread:
            self.thread.join(timeout=CALL_TIMEOUT + 2)
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while True:
                    self._jobs.get_nowait()()
            except queue.Empty:
                pass
            for side in list(self.sides.values()):
                self._step(side)
            self._stop.wait(0.1)

    def say(self, side: Side | None, text: str) -> None:
        line = f"{datetime.now(UTC):%H:%M:%S} {side.role if side else '--'} {text}"
        self.log.append(line)
        self._say(line)

    def fault_set(self, fault: Fault, on: bool) -> None:
        self.faults.set(fault, on)
        self.say(None, f"fault {fault.value} {'on' if on else 'off'}; faults now: {self.faults.names() or 'none'}")

    # --- what is due ---------------------------------------------------------------------------
    def _step(self, side: Side) -> None:
        now = time.monotonic()
        if side.state in ("new", "registering"):
            if self._may_register(side) and now - side.register_sent_at >= RETRY_SECONDS:
                self.register_send(side)
            return
        if side.silent and Fault.NO_HEARTBEAT not in self.faults:
            side.silent = False
            if side.offline_mode_at and side.offline_mode_at < datetime.now(UTC):
                self.say(side, "heartbeats resume after the announced offline time: handshaking again")
                side.needs_handshake, side.state = True, "registered"
        if side.needs_handshake and self.dialect.starts_handshake and side.role == "cp":
            if now - side.handshake_sent_at >= RETRY_SECONDS:
                self.handshake_send(side)
        if side.state != "online":
            return
        if now >= side.next_heartbeat:
            self.heartbeat_send(side)
        if side.role == "cp" and self.config.groups and now >= side.next_forecast:
            self.forecasts_send(side)

    def _may_register(self, side: Side) -> bool:
        return (
            self.dialect.registers_first
            and not self.config.wait_register
            and bool(side.peer_url and side.initial_token)
        )

    # --- sending -------------------------------------------------------------------------------
    def call(
        self, side: Side, message_type: str, body, *, token: str = "", correlation_id: str = "", request_id: str = ""
    ):
        """POST a message to the platform; returns (request id, status, text) and logs the exchange."""
        request_id = request_id or self.dialect.request_id()
        authorization = self._authorization(side, token)
        if authorization is None:
            side.count(f"{message_type} out no token")
            return request_id, 0, "no access token"
        headers = {"Content-Type": "application/json", "Authorization": authorization, "X-Request-ID": request_id}
        if correlation_id:
            headers["X-Correlation-ID"] = correlation_id
        target = f"{side.peer_url.rstrip('/')}/{message_type}"
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            response = self.session.post(target, data=data, headers=headers, timeout=CALL_TIMEOUT)
            status, text = response.status_code, response.text
        except requests.RequestException as exc:
            status, text = 0, exc.__class__.__name__
        side.count(f"{message_type} out {status}")
        note = f" {text[:200]}" if status != 204 else ""
        self.say(side, f"-> {message_type} {status or 'no answer'}{note}")
        if status in (401, 403) and self.config.client_id:
            self.access_token_until = 0.0  # refused: fetch a new access token for the next call
        return request_id, status, text

    def _authorization(self, side: Side, token: str) -> str | None:
        """``Token <t>``, or with client credentials ``Bearer <access token>`` (None: none to be had)."""
        if not self.config.client_id:
            return f"Token {token or side.peer_token or side.initial_token}"
        if not self.access_token or time.monotonic() >= self.access_token_until:
            self._access_token_fetch()
        return f"Bearer {self.access_token}" if self.access_token else None

    def _access_token_fetch(self) -> None:
        """Client credentials grant at the platform's token URL (the client authenticates with
        HTTP Basic, as RFC 6749 recommends); renewed a minute before it expires."""
        config = self.config
        try:
            response = self.session.post(
                config.token_url,
                data={"grant_type": "client_credentials"},
                auth=(config.client_id, config.client_secret),
                timeout=CALL_TIMEOUT,
            )
            answer = response.json() if response.status_code == 200 else {}
        except (requests.RequestException, ValueError) as exc:
            response, answer = None, {"error": exc.__class__.__name__}
        if not answer.get("access_token"):
            status = response.status_code if response is not None else "no answer"
            self.say(None, f"-> access token from {config.token_url}: {status} {str(answer)[:200]}")
            self.access_token = ""
            return
        self.access_token = answer["access_token"]
        lifetime = float(answer.get("expires_in") or 3600)
        self.access_token_until = time.monotonic() + max(lifetime - 60, lifetime / 2)
        self.say(None, f"-> access token from {config.token_url}: valid {lifetime:.0f} s")

    def token_issue(self, headers: dict, raw: bytes) -> tuple[int, dict]:
        """Our token URL: a client credentials grant by the platform (HTTP Basic or form fields)."""
        form = {key: values[0] for key, values in parse_qs(raw.decode(errors="replace")).items()}
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        scheme, _, encoded = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
            except ValueError:
                client_id = secret = ""
        config = self.config
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        known = bool(config.own_client_id) and client_id == config.own_client_id
        if not (known and hmac.compare_digest(secret, config.own_client_secret)):
            self.say(None, f"<- access token refused to client {client_id!r}")
            return 401, {"error": "invalid_client"}
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.issued_tokens.add(token)
        self.say(None, f"<- access token issued to client {client_id!r}")
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_SECONDS}

    def register_send(self, side: Side) -> None:
        token = secrets.token_urlsafe(24)
        side.own_tokens.add(token)
        body = wire.register_body(token=token, base_url=self.base_url(side), faults=self.faults)
        side.register_sent_at = time.monotonic()
        # Known before it is sent: the platform's reply may arrive before our call returns.
        side.register_id, side.state = self.dialect.request_id(), "registering"
        _, status, _ = self.call(side, T.REGISTER, body, token=side.initial_token, request_id=side.register_id)
        if status != 204 and side.state == "registering":
            side.state = "new"

    def handshake_send(self, side: Side) -> None:
        body = wire.handshake_body(
            dialect=self.dialect, heartbeat_seconds=self.config.heartbeat_seconds, faults=self.faults
        )
        side.handshake_sent_at = time.monotonic()
        side.handshake_id, side.state = self.dialect.request_id(), "handshaking"
        _, status, _ = self.call(side, T.HANDSHAKE, body, request_id=side.handshake_id)
        if status != 204 and side.state == "handshaking":
            side.state = "registered"
            side.handshake_sent_at -= RETRY_SECONDS - 1  # e.g. 403 while it records our registration

    def heartbeat_send(self, side: Side) -> None:
        interval = side.heartbeat_seconds or self.config.heartbeat_seconds
        side.next_heartbeat = time.monotonic() + interval
        if Fault.NO_HEARTBEAT in self.faults:
            if not side.silent:
                self.say(side, "silent: heartbeats held back (fault no-heartbeat)")
            side.silent = True
            return
        offline_mode_at = datetime.now(UTC) + timedelta(seconds=OFFLINE_MULTIPLIER * interval)
        body = wire.heartbeat_body(dialect=self.dialect, offline_mode_at=offline_mode_at, faults=self.faults)
        _, status, _ = self.call(side, T.HEARTBEAT, body)
        if status == 204:
            side.offline_mode_at = offline_mode_at

    def forecasts_send(self, side: Side) -> None:
        side.next_forecast = time.monotonic() + self.config.forecast_seconds
        shape, now = self.config.shape, datetime.now(UTC)
        for group_id in self.config.groups:
            for forecast_type, capacity in (
                (ForecastType.FALLBACK_CONSUMPTION, shape.fallback_kw),
                (ForecastType.CONSUMPTION, shape.capacity_kw),
            ):
                blocks = wire.forecast_blocks(
                    dialect=self.dialect, shape=shape, capacity=capacity, now=now, faults=self.faults
                )
                body = wire.forecast_body(group_id=group_id, forecast_type=forecast_type, blocks=blocks)
                request_id, status, text = self.call(side, T.UPDATE_GROUP_CAPACITY_FORECAST, body)
                if status == 204:
                    with self._lock:
                        side.forecasts_sent.append(
                            {"group_id": group_id, "type": forecast_type.value, "request_id": request_id,
                             "blocks": len(blocks), "capacity": blocks[0]["capacity"] if blocks else None}
                        )  # fmt: skip
                        del side.forecasts_sent[:-KEPT]
                elif status == 403 and "Handshake required" in text and Fault.NO_HEARTBEAT not in self.faults:
                    side.needs_handshake, side.state = True, "registered"
                    return

    # --- receiving -----------------------------------------------------------------------------
    def receive(self, path: str, headers: dict, raw: bytes):
        """Answer one OSCP request: (status, body, follow_up). ``follow_up`` runs after the answer
        went out (our register reply, our acknowledgement)."""
        side = next((s for s in self.sides.values() if path.startswith(s.prefix + "/")), None)
        message_type = wire.message_of_path(path.rstrip("/").rsplit("/", 1)[-1], dialect=self.dialect)
        if side is None or message_type is None:
            return 404, {"message": f"No OSCP endpoint at {path}."}, None
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if not token or scheme.lower() not in ("token", "bearer"):
            return self._refuse(side, message_type, 401, "Authorization: Token <token> is required.")
        if token not in side.own_tokens and not (scheme.lower() == "bearer" and token in self.issued_tokens):
            return self._refuse(side, message_type, 403, "Unknown token.")
        request_id = headers.get("x-request-id", "").strip()
        if not request_id:
            return self._refuse(side, message_type, 400, "X-Request-ID header is required.")
        try:
            body = json.loads(raw or b"null")
        except ValueError as exc:
            return self._refuse(side, message_type, 400, f"Body is not valid JSON: {exc}.")
        data, problem = wire.body_check(message_type, body, dialect=self.dialect)
        if data is None:
            return self._refuse(side, message_type, 400, problem)
        if "group_id" in data and self.config.groups and data["group_id"] not in self.config.groups:
            return self._refuse(side, message_type, 404, f"group_id: unknown group {data['group_id']!r}.")
        if message_type == T.REGISTER and not any(v["version"] == wire.SUPPORTED_VERSION for v in data["version_url"]):
            offered = ", ".join(v["version"] for v in data["version_url"])
            return self._refuse(side, message_type, 501, f"No common OSCP version: we support 2.0, offered {offered}.")
        correlation_id = headers.get("x-correlation-id", "").strip()
        side.count(f"{message_type} in")
        with self._lock:
            follow_up = getattr(self, f"_on_{message_type}")(side, data, request_id, correlation_id)
        return 204, None, follow_up

    def _refuse(self, side: Side, message_type: str, status: int, message: str):
        side.count(f"{message_type} refused {status}")
        side.problems.append({"message_type": message_type, "status": status, "message": message})
        self.say(side, f"<- {message_type} refused {status}: {message}")
        return status, {"message": message}, None

    def _later(self, job: Callable[[], None]) -> Callable[[], None]:
        return lambda: self._jobs.put(job)

    def _on_register(self, side: Side, data: dict, request_id: str, correlation_id: str):
        [version, *_] = [v for v in data["version_url"] if v["version"] == wire.SUPPORTED_VERSION]
        side.peer_token, side.peer_url = data["token"], version["base_url"].rstrip("/")
        if side.register_id and correlation_id == side.register_id:
            side.state, side.needs_handshake = "registered", True
            self.say(side, f"<- register: reply to ours (X-Correlation-ID {correlation_id}); registered")
            return None
        self.say(side, f"<- register from {side.peer_url}; replying with a new token")
        token = secrets.token_urlsafe(24)

        def reply():
            side.own_tokens.add(token)
            body = wire.register_body(token=token, base_url=self.base_url(side), faults=self.faults)
            _, status, _ = self.call(side, T.REGISTER, body, token=data["token"], correlation_id=request_id)
            if status == 204:
                side.own_tokens.intersection_update({token})
                side.state, side.needs_handshake = "registered", True

        return self._later(reply)

    def _on_handshake(self, side: Side, data: dict, request_id: str, correlation_id: str):
        behaviour = data.get("required_behaviour") or {}
        side.heartbeat_seconds = behaviour.get("heartbeat_interval")
        self.say(side, f"<- handshake (heartbeat_interval {side.heartbeat_seconds}); acknowledging")

        def acknowledge():
            body = wire.acknowledge_body(
                dialect=self.dialect, heartbeat_seconds=self.config.heartbeat_seconds, faults=self.faults
            )
            _, status, _ = self.call(side, T.HANDSHAKE_ACKNOWLEDGE, body, correlation_id=request_id)
            if status == 204:
                self._online(side)

        return self._later(acknowledge)

    def _on_handshake_acknowledge(self, side: Side, data: dict, request_id: str, correlation_id: str):
        if side.handshake_id and correlation_id != side.handshake_id:
            side.problems.append(
                {"message_type": T.HANDSHAKE_ACKNOWLEDGE.value, "status": 204,
                 "message": f"X-Correlation-ID {correlation_id!r} does not name our handshake {side.handshake_id}"}
            )  # fmt: skip
        behaviour = data.get("required_behaviour") or {}
        if behaviour.get("heartbeat_interval"):
            side.heartbeat_seconds = behaviour["heartbeat_interval"]
        self.say(side, f"<- handshake_acknowledge (X-Correlation-ID {correlation_id or 'none'}); online")
        self._online(side)
        return None

    def _online(self, side: Side) -> None:
        side.state, side.needs_handshake, side.silent = "online", False, False
        side.next_heartbeat = side.next_forecast = 0.0  # a heartbeat and a forecast at once

    def _on_heartbeat(self, side: Side, data: dict, request_id: str, correlation_id: str):
        side.last_heartbeat_in = wire._iso(data["offline_mode_at"])
        return None

    def _measurements(self, side: Side, message_type: str, data: dict):
        rows = wire.measurement_summary(message_type, data)
        side.measurements.append({"message_type": message_type, "group_id": data["group_id"], "measurements": rows})
        values = ", ".join(f"{r.get('value')} {r.get('unit')}" for r in rows) or "none"
        self.say(side, f"<- {message_type} {data['group_id']}: {values}")

    def _on_update_group_measurements(self, side: Side, data: dict, request_id: str, correlation_id: str):
        self._measurements(side, T.UPDATE_GROUP_MEASUREMENTS.value, data)

    def _on_update_asset_measurements(self, side: Side, data: dict, request_id: str, correlation_id: str):
        self._measurements(side, T.UPDATE_ASSET_MEASUREMENTS.value, data)

    def _on_group_capacity_compliance_error(self, side: Side, data: dict, request_id: str, correlation_id: str):
        side.compliance_errors.append({"message": data["message"], "correlation_id": correlation_id})
        self.say(side, f"<- group_capacity_compliance_error about {correlation_id or '?'}: {data['message']}")

    def _on_adjust_group_capacity_forecast(self, side: Side, data: dict, request_id: str, correlation_id: str):
        self.say(side, f"<- adjust_group_capacity_forecast for {data['group_id']}: answering with a new forecast")
        side.next_forecast = 0.0

    def _on_update_group_capacity_forecast(self, side: Side, data: dict, request_id: str, correlation_id: str):
        blocks = data["forecasted_blocks"]
        side.forecasts_received.append(
            {"group_id": data["group_id"], "type": data["type"], "request_id": request_id, "blocks": len(blocks)}
        )
        self.say(side, f"<- update_group_capacity_forecast {data['group_id']} {data['type']}, {len(blocks)} blocks")

    # --- what it shows -------------------------------------------------------------------------
    def state(self) -> dict:
        with self._lock:
            return {
                "url": self.url,
                "profile": self.dialect.profile,
                "faults": self.faults.names(),
                "sides": {
                    role: {
                        "base_url": self.base_url(side),
                        "state": side.state,
                        "peer_url": side.peer_url,
                        "heartbeat_seconds": side.heartbeat_seconds or self.config.heartbeat_seconds,
                        "offline_mode_at": wire._iso(side.offline_mode_at),
                        "last_heartbeat_in": side.last_heartbeat_in,
                        "silent": side.silent,
                        "counts": dict(side.counts),
                        "forecasts_sent": list(side.forecasts_sent[-20:]),
                        "forecasts_received": list(side.forecasts_received),
                        "measurements": list(side.measurements),
                        "compliance_errors": list(side.compliance_errors),
                        "problems": list(side.problems),
                    }
                    for role, side in self.sides.items()
                },
                "log": list(self.log)[-50:],
            }

    def status_line(self) -> str:
        parts = [f"faults={','.join(self.faults.names()) or 'none'}"]
        for side in self.sides.values():
            counts = side.counts
            hb_out = counts.get(f"{T.HEARTBEAT} out 204", 0)
            hb_in = counts.get(f"{T.HEARTBEAT} in", 0)
            forecasts = counts.get(f"{T.UPDATE_GROUP_CAPACITY_FORECAST} out 204", 0)
            measured = counts.get(f"{T.UPDATE_GROUP_MEASUREMENTS} in", 0) + counts.get(
                f"{T.UPDATE_ASSET_MEASUREMENTS} in", 0
            )
            parts.append(
                f"{side.role}:{side.state} hb out {hb_out} in {hb_in} forecasts {forecasts} "
                f"measurements {measured} errors {len(side.compliance_errors)}"
            )
        return " | ".join(parts)
