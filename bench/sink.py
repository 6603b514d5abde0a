"""A fast loopback HTTP sink standing in for thousands of partners (stdlib only).

An asyncio server (HTTP/1.1, keep-alive, bodies by Content-Length only, minimal parsing) that
answers ``204 No Content`` to every request and records each POST as one line of the record file:

    <arrival monotonic> <arrival wall time> <path> <X-Request-ID or ->

Lines are buffered and flushed every 0.1 s and on exit (SIGTERM/SIGINT), so a reader tailing the
file sees arrivals within about 0.1 s. Monotonic times are ``time.monotonic()`` (CLOCK_MONOTONIC,
comparable with the reading process on the same machine); wall times are ``time.time()``.

    python bench/sink.py --record FILE [--port 0]

Prints ``PORT <n>`` on its first line of stdout once it listens (``--port 0``: a free port).
"""

import argparse
import asyncio
import signal
import sys
import time

RESPONSE = b"HTTP/1.1 204 No Content\r\nServer: sink\r\n\r\n"
RESPONSE_CLOSE = b"HTTP/1.1 204 No Content\r\nServer: sink\r\nConnection: close\r\n\r\n"
MAX_HEAD = 64 * 1024
FLUSH_SECONDS = 0.1


class Sink(asyncio.Protocol):
    def __init__(self, record):
        self.record = record
        self.buffer = bytearray()
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self.transport.close()
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            method, path, version = (lines[0].split(" ", 2) + ["", ""])[:3]
            length, request_id, close = 0, "-", version == "HTTP/1.0"
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "x-request-id":
                    request_id = value.strip() or "-"
                elif name == "connection":
                    close = value.strip().lower() == "close"
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            del self.buffer[:total]
            if method == "POST":
                self.record(path, request_id)
            self.transport.write(RESPONSE_CLOSE if close else RESPONSE)
            if close:
                self.transport.close()
                self.transport = None

    def connection_lost(self, exc):
        self.transport = None


async def serve(port: int, record_path: str) -> None:
    loop = asyncio.get_running_loop()
    out = open(record_path, "a", buffering=1 << 20)  # noqa: SIM115 - closed below
    monotonic, wall = time.monotonic, time.time

    def record(path: str, request_id: str) -> None:
        out.write(f"{monotonic():.6f} {wall():.6f} {path} {request_id}\n")

    def flush() -> None:
        out.flush()
        loop.call_later(FLUSH_SECONDS, flush)

    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    server = await loop.create_server(lambda: Sink(record), "127.0.0.1", port, backlog=4096, reuse_address=True)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    flush()
    try:
        await stop
    finally:
        server.close()
        out.flush()
        out.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--record", required=True, help="file the arrivals are appended to")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
