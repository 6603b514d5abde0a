"""A real local HTTP partner for end-to-end tests.

``Peer`` runs ``http.server`` in a thread on 127.0.0.1 (free port), records every request (path,
headers, JSON body) and answers with scripted responses per message path::

    peer = Peer().start()
    peer.script("heartbeat", [500, 500, 204])   # 500 twice, then 204 for ever
    peer.script("register", [Reply(204, delay=3)])
    partner.base_url = peer.base_url             # http://127.0.0.1:PORT/oscp/cp/2.0
    ...
    peer.wait_for("heartbeat", count=3)
    peer.requests_to("heartbeat")[0].headers["X-Request-ID"]
    peer.stop()

Paths are matched on their last segment (the OSCP message path), so a script for ``register``
answers ``/oscp/cp/2.0/register``. Unscripted paths answer 204. With ``oauth=True`` the peer also
serves an OAuth2 client-credentials token endpoint at ``peer.token_url`` that issues
``access-<n>`` tokens and checks ``client_id``/``client_secret``; requests to message paths are
then accepted only with a live ``Bearer`` token (else 401).

The peer also calls us, as a partner would::

    answer = peer.call(web_server.url + "/oscp/fp/2.0", "register", body, token=initial_token)
    answer.status, answer.request_id, answer.body
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass
class Reply:
    status: int = 204
    body: dict | None = None
    delay: float = 0.0


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: object
    raw: bytes
    received_at: float = field(default_factory=time.time)

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    def header(self, name: str, default: str | None = None) -> str | None:
        """Header value by case-insensitive name."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return default


@dataclass
class Answer:
    """What our platform answered a call the peer made."""

    status: int
    request_id: str
    body: object


class Peer:
    def __init__(
        self,
        *,
        prefix: str = "/oscp/cp/2.0",
        oauth: bool = False,
        client_id: str = "peer-client",
        client_secret: str = "peer-secret-value",
        token_expires_in: int = 3600,
    ):
        self.prefix = prefix.rstrip("/")
        self.oauth = oauth
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_expires_in = token_expires_in
        self.requests: list[Recorded] = []
        self.token_requests: list[Recorded] = []
        self.issued_tokens: list[str] = []
        self.revoked_tokens: set[str] = set()
        self._scripts: dict[str, list[Reply]] = {}
        self._lock = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Peer:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="peer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Peer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + self.prefix

    @property
    def token_url(self) -> str:
        return self.url + "/oauth/token"

    # --- scripting -----------------------------------------------------------------------------
    def script(self, path: str, replies: list[int | Reply]) -> None:
        """Answer requests to ``path`` (last segment) with ``replies`` in order; the last repeats."""
        with self._lock:
            self._scripts[path.strip("/")] = [r if isinstance(r, Reply) else Reply(r) for r in replies]

    def revoke_tokens(self) -> None:
        """Make every access token issued so far invalid (the next call gets 401)."""
        with self._lock:
            self.revoked_tokens.update(self.issued_tokens)

    def _reply_for(self, name: str) -> Reply:
        with self._lock:
            replies = self._scripts.get(name)
            if not replies:
                return Reply(204)
            return replies.pop(0) if len(replies) > 1 else replies[0]

    def _record(self, recorded: Recorded, *, token: bool = False) -> None:
        with self._lock:
            (self.token_requests if token else self.requests).append(recorded)
            self._lock.notify_all()

    # --- calling the platform ------------------------------------------------------------------
    def call(
        self,
        base_url: str,
        message: str,
        body: dict,
        *,
        token: str,
        request_id: str | None = None,
        correlation_id: str | None = None,
        timeout: float = 10.0,
    ) -> Answer:
        """POST an OSCP message to ``base_url`` as this partner (``Authorization: Token``, a fresh
        ``X-Request-ID`` unless given)."""
        request_id = request_id or str(uuid.uuid4())
        headers = {"Content-Type": "application/json", "Authorization": f"Token {token}", "X-Request-ID": request_id}
        if correlation_id:
            headers["X-Correlation-ID"] = correlation_id
        url = f"{base_url.rstrip('/')}/{message}"
        request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - test peer
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        return Answer(status=status, request_id=request_id, body=json.loads(raw) if raw else None)

    # --- reading what arrived ------------------------------------------------------------------
    def requests_to(self, name: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.name == name]

    def wait_for(self, name: str, *, count: int = 1, timeout: float = 10.0) -> list[Recorded]:
        """Block until at least ``count`` requests to ``name`` arrived; return them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [r for r in self.requests if r.name == name]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [r.name for r in self.requests]
                    raise AssertionError(f"peer got {len(found)} {name!r} requests, wanted {count}; saw {seen}")
                self._lock.wait(remaining)


def _handler_for(peer: Peer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep test output quiet
            return None

        def do_POST(self):  # noqa: N802 - http.server naming
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = dict(self.headers.items())
            if self.path.rstrip("/") == "/oauth/token":
                return self._token(raw, headers)
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            recorded = Recorded("POST", self.path, headers, body, raw)
            peer._record(recorded)
            if peer.oauth and not self._bearer_ok(recorded):
                return self._send(Reply(401, {"message": "invalid token"}))
            self._send(peer._reply_for(recorded.name))

        def _bearer_ok(self, recorded: Recorded) -> bool:
            auth = recorded.header("Authorization") or ""
            scheme, _, token = auth.partition(" ")
            return scheme.lower() == "bearer" and token in peer.issued_tokens and token not in peer.revoked_tokens

        def _token(self, raw: bytes, headers: dict):
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            recorded = Recorded("POST", self.path, headers, form, raw)
            peer._record(recorded, token=True)
            client_id, secret = form.get("client_id"), form.get("client_secret")
            basic = recorded.header("Authorization") or ""
            if basic.lower().startswith("basic "):
                decoded = base64.b64decode(basic[6:]).decode()
                client_id, _, secret = decoded.partition(":")
            if (
                form.get("grant_type") != "client_credentials"
                or client_id != peer.client_id
                or secret != peer.client_secret
            ):
                return self._send(Reply(401, {"error": "invalid_client"}))
            with peer._lock:
                token = f"access-{len(peer.issued_tokens) + 1}"
                peer.issued_tokens.append(token)
            self._send(Reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": peer.token_expires_in}))

        def _send(self, reply: Reply):
            if reply.delay:
                time.sleep(reply.delay)
            data = json.dumps(reply.body).encode() if reply.body is not None else b""
            try:
                self.send_response(reply.status)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if data:
                    self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the caller went away (e.g. a killed worker)

    return Handler
