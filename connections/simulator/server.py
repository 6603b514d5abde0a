"""The simulated partner's own HTTP endpoints, served by ``http.server`` in a thread.

- ``POST {prefix}/{message}``: its OSCP endpoints (``/oscp/cp/2.0/...`` as a Capacity Provider,
  ``/oscp/co/2.0/...`` as a Capacity Optimizer), answered by ``Simulator.receive``.
- ``GET /_control/state``: what it has seen and done, as JSON.
- ``POST /_control/fault`` ``{"fault": NAME, "on": true|false}``: switch a fault while it runs.

Bound to loopback by default: the control endpoints have no authentication."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from .faults import Fault, fault_parse

if TYPE_CHECKING:
    from .peer import Simulator


def serve(simulator: Simulator, host: str, port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), _handler_for(simulator))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="oscp-simulator-http", daemon=True).start()
    return server


def _handler_for(simulator: Simulator):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # the simulator keeps its own log
            return None

        def do_GET(self):  # noqa: N802 - http.server naming
            if self.path.rstrip("/") == "/_control/state":
                return self._send(200, simulator.state())
            return self._send(404, {"message": "not found"})

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.path.rstrip("/") == "/_control/fault":
                return self._control(raw)
            if self.path.rstrip("/") == "/oauth/token":
                return self._send(*simulator.token_issue({k.lower(): v for k, v in self.headers.items()}, raw))
            faults = simulator.faults
            if Fault.SLOW in faults:
                time.sleep(faults.slow_seconds)
            if Fault.HTTP_500 in faults:
                return self._send(500, {"message": "simulated failure (fault http-500)"})
            if Fault.HTTP_401 in faults:
                return self._send(401, {"message": "simulated refusal (fault http-401)"})
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, body, follow_up = simulator.receive(self.path, headers, raw)
            self._send(status, body)
            if follow_up is not None:
                follow_up()  # replies go after our answer, as the protocol says

        def _control(self, raw: bytes):
            try:
                request = json.loads(raw or b"{}")
                fault = fault_parse(str(request.get("fault")))
            except (ValueError, AttributeError) as exc:
                return self._send(400, {"message": str(exc)})
            simulator.fault_set(fault, bool(request.get("on", True)))
            return self._send(200, {"faults": simulator.faults.names()})

        def _send(self, status: int, body: dict | None):
            data = json.dumps(body).encode() if body is not None else b""
            try:
                self.send_response(status)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if data:
                    self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler
