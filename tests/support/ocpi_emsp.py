"""A small OCPI 2.2.1 eMSP, run as a process of its own by end-to-end tests::

    python -m tests.support.ocpi_emsp --port 8123 --token-a emsp-token-a

It serves its versions and details (credentials, locations and tariffs receivers, tokens sender),
takes a CPO's credentials (POST/PUT/DELETE credentials: the CPO registers with it), records every
location and tariff pushed to it, and answers real-time authorizations (``POST
tokens/{uid}/authorize``), after a delay when told to. Tokens it accepts: its token A, then the
token B it issued at the last exchange.

The test drives it through ``/control/…`` (no authentication; 127.0.0.1 only):

- ``GET /control/state``: what it received, the credentials it holds;
- ``POST /control/register {"versions_url", "token"}``: register with the CPO (its token A);
- ``POST /control/rotate``: new token B sent with ``PUT credentials``;
- ``POST /control/pull {"url"}``: GET every page, following ``Link: <…>; rel="next"``;
- ``POST /control/call {"method", "url", "body"}``: any OCPI call with the CPO's token;
- ``POST /control/authorize {"delay", "allowed"}``: how the next authorizations are answered.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ROLES = [{"role": "EMSP", "country_code": "DE", "party_id": "EMS", "business_details": {"name": "Peer eMSP"}}]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(data=None, code: int = 1000, message: str = "Success") -> dict:
    body = {"status_code": code, "status_message": message, "timestamp": now()}
    if data is not None:
        body["data"] = data
    return body


class Emsp:
    def __init__(self, *, port: int, token_a: str):
        self.base = f"http://127.0.0.1:{port}/ocpi"
        self.accepted = {token_a}
        self.their_token: str | None = None  # the token we call the CPO with (its C)
        self.their_endpoints: list[dict] = []
        self.received: list[dict] = []
        self.authorize_delay = 0.0
        self.authorize_allowed = "ALLOWED"
        self.authorizations = 0
        self.lock = threading.Lock()

    # --- calling the CPO ------------------------------------------------------------------------
    def call(self, method: str, url: str, body=None, token: str | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        request.add_header("X-Request-ID", str(uuid.uuid4()))
        request.add_header("X-Correlation-ID", str(uuid.uuid4()))
        request.add_header("OCPI-from-country-code", "DE")
        request.add_header("OCPI-from-party-id", "EMS")
        request.add_header("Authorization", "Token " + base64.b64encode((token or self.their_token).encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                status, headers, raw = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            status, headers, raw = exc.code, dict(exc.headers), exc.read()
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = raw.decode(errors="replace")
        return {"status": status, "headers": headers, "body": answer}

    def _platform(self, versions_url: str, token: str) -> list[dict]:
        versions = self.call("GET", versions_url, token=token)["body"]["data"]
        details_url = next(v["url"] for v in versions if v["version"] == "2.2.1")
        return self.call("GET", details_url, token=token)["body"]["data"]["endpoints"]

    def _ours(self, token_b: str) -> dict:
        return {"token": token_b, "url": f"{self.base}/versions", "roles": ROLES}

    def _credentials_url(self) -> str:
        return next(e["url"] for e in self.their_endpoints if e["identifier"] == "credentials")

    def register(self, versions_url: str, token_a: str) -> dict:
        endpoints = self._platform(versions_url, token_a)
        self.their_endpoints = endpoints
        token_b = "emsp-b-" + secrets.token_hex(8)
        self.accepted.add(token_b)
        answer = self.call("POST", self._credentials_url(), self._ours(token_b), token=token_a)
        if answer["body"].get("status_code") == 1000:
            self.their_token = answer["body"]["data"]["token"]
            self.their_endpoints = self._platform(answer["body"]["data"]["url"], self.their_token)
            self.accepted = {token_b}
        return answer

    def rotate(self) -> dict:
        token_b = "emsp-b-" + secrets.token_hex(8)
        self.accepted.add(token_b)
        answer = self.call("PUT", self._credentials_url(), self._ours(token_b))
        if answer["body"].get("status_code") == 1000:
            self.their_token = answer["body"]["data"]["token"]
            self.their_endpoints = self._platform(answer["body"]["data"]["url"], self.their_token)
            self.accepted = {token_b}
        return answer

    def pull(self, url: str) -> dict:
        pages = []
        while url:
            answer = self.call("GET", url)
            pages.append(
                {
                    "ids": [item["id"] for item in answer["body"]["data"]],
                    "total": answer["headers"].get("X-Total-Count"),
                    "limit": answer["headers"].get("X-Limit"),
                }
            )
            match = re.match(r'<([^>]+)>;\s*rel="next"', answer["headers"].get("Link") or "")
            url = match.group(1) if match else None
        return {"pages": pages}

    # --- being called by the CPO ----------------------------------------------------------------
    def credentials_receive(self, body: dict, update: bool) -> dict:
        endpoints = self._platform(body["url"], body["token"])
        token_b = "emsp-b-" + secrets.token_hex(8)
        self.their_token, self.their_endpoints = body["token"], endpoints
        self.accepted = {token_b}
        return envelope(self._ours(token_b))

    def authorize(self, uid: str, token_type: str, body) -> dict:
        if self.authorize_delay:
            time.sleep(self.authorize_delay)
        self.authorizations += 1
        info = {
            "allowed": self.authorize_allowed,
            "token": {"country_code": "DE", "party_id": "EMS", "uid": uid, "type": token_type},
            "authorization_reference": f"REF-{self.authorizations}",
            "info": {"language": "en", "text": "Welcome"},
        }
        if isinstance(body, dict) and body.get("location_id"):
            info["location"] = body
        return envelope(info)

    def state(self) -> dict:
        return {
            "received": self.received,
            "their_token": self.their_token,
            "their_endpoints": self.their_endpoints,
            "authorizations": self.authorizations,
        }


def handler_for(emsp: Emsp):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            print("peer:", fmt % args, flush=True)

        def _body(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                return json.loads(raw) if raw else None
            except ValueError:
                return raw.decode(errors="replace")

        def _send(self, status: int, body) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _token(self) -> str | None:
            scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
            try:
                return base64.b64decode(value).decode() if scheme == "Token" else None
            except ValueError:
                return None

        def _handle(self, method: str) -> None:
            url = urlparse(self.path)
            body = self._body()
            if url.path.startswith("/control/"):
                return self._control(method, url.path.removeprefix("/control/"), body)
            with emsp.lock:
                emsp.received.append(
                    {
                        "method": method,
                        "path": url.path,
                        "query": url.query,
                        "headers": dict(self.headers),
                        "body": body,
                    }
                )
            if self._token() not in emsp.accepted:
                return self._send(401, envelope(code=2000, message="Unknown token"))
            path = url.path.removeprefix("/ocpi")
            if path == "/versions":
                return self._send(200, envelope([{"version": "2.2.1", "url": f"{emsp.base}/2.2.1"}]))
            if path == "/2.2.1":
                base = f"{emsp.base}/2.2.1"
                endpoints = [
                    {"identifier": "credentials", "role": "SENDER", "url": f"{base}/credentials"},
                    {"identifier": "credentials", "role": "RECEIVER", "url": f"{base}/credentials"},
                    {"identifier": "locations", "role": "RECEIVER", "url": f"{base}/locations"},
                    {"identifier": "tariffs", "role": "RECEIVER", "url": f"{base}/tariffs"},
                    {"identifier": "tokens", "role": "SENDER", "url": f"{base}/tokens"},
                ]
                return self._send(200, envelope({"version": "2.2.1", "endpoints": endpoints}))
            if path == "/2.2.1/credentials":
                if method in ("POST", "PUT"):
                    return self._send(200, emsp.credentials_receive(body, update=method == "PUT"))
                if method == "DELETE":
                    emsp.their_token = None
                    return self._send(200, envelope())
            match = re.match(r"^/2\.2\.1/tokens/([^/]+)/authorize$", path)
            if match and method == "POST":
                token_type = parse_qs(url.query).get("type", ["RFID"])[0]
                return self._send(200, emsp.authorize(match.group(1), token_type, body))
            if path.startswith(("/2.2.1/locations/", "/2.2.1/tariffs/")) and method in ("PUT", "PATCH"):
                return self._send(200, envelope())
            return self._send(404, envelope(code=2000, message="Not found"))

        def _control(self, method: str, action: str, body) -> None:
            body = body or {}
            if action == "state":
                with emsp.lock:
                    return self._send(200, emsp.state())
            if action == "register":
                return self._send(200, emsp.register(body["versions_url"], body["token"]))
            if action == "rotate":
                return self._send(200, emsp.rotate())
            if action == "pull":
                return self._send(200, emsp.pull(body["url"]))
            if action == "call":
                return self._send(200, emsp.call(body["method"], body["url"], body.get("body")))
            if action == "authorize":
                emsp.authorize_delay = float(body.get("delay", 0))
                emsp.authorize_allowed = body.get("allowed", "ALLOWED")
                return self._send(200, {})
            return self._send(404, {})

        def do_GET(self):  # noqa: N802
            self._handle("GET")

        def do_POST(self):  # noqa: N802
            self._handle("POST")

        def do_PUT(self):  # noqa: N802
            self._handle("PUT")

        def do_PATCH(self):  # noqa: N802
            self._handle("PATCH")

        def do_DELETE(self):  # noqa: N802
            self._handle("DELETE")

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token-a", required=True)
    options = parser.parse_args()
    server = ThreadingHTTPServer(
        ("127.0.0.1", options.port), handler_for(Emsp(port=options.port, token_a=options.token_a))
    )
    server.daemon_threads = True
    print(f"OCPI eMSP peer listening on {options.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
