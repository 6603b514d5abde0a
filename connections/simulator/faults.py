"""The faults a simulated partner can be switched into, at start (``--fault NAME``) or while it
runs (``POST /_control/fault``, or ``fault NAME on|off`` on its standard input)."""

from __future__ import annotations

import threading
from enum import StrEnum


class Fault(StrEnum):
    NO_HEARTBEAT = "no-heartbeat"  # stops sending heartbeats (goes silent)
    HTTP_500 = "http-500"  # answers every OSCP request with 500
    SLOW = "slow"  # answers every OSCP request after ``slow_seconds``
    HTTP_401 = "http-401"  # answers every OSCP request with 401, whatever the token
    MALFORMED = "malformed"  # sends malformed messages (bodies that break the reference)
    ALL_ZERO = "all-zero"  # forecasts with an all-zero profile (a protective stop)
    FORECAST_GAPS = "forecast-gaps"  # forecasts with every other block left out, the current one first


FAULT_HELP = {
    Fault.NO_HEARTBEAT: "stop sending heartbeats",
    Fault.HTTP_500: "answer 500 to every OSCP request",
    Fault.SLOW: "answer every OSCP request slowly",
    Fault.HTTP_401: "answer 401 to every OSCP request",
    Fault.MALFORMED: "send malformed messages",
    Fault.ALL_ZERO: "send all-zero forecasts",
    Fault.FORECAST_GAPS: "send forecasts with gaps",
}


class Faults:
    """The faults switched on, shared by the server thread and the scheduler."""

    def __init__(self, initial=(), *, slow_seconds: float = 10.0):
        self._on: set[Fault] = {Fault(name) for name in initial}
        self._lock = threading.Lock()
        self.slow_seconds = slow_seconds

    def __contains__(self, fault: Fault) -> bool:
        with self._lock:
            return fault in self._on

    def set(self, name: str, on: bool) -> Fault:
        fault = Fault(name)  # ValueError names nothing useful: callers check with ``fault_parse``
        with self._lock:
            (self._on.add if on else self._on.discard)(fault)
        return fault

    def names(self) -> list[str]:
        with self._lock:
            return sorted(fault.value for fault in self._on)


def fault_parse(name: str) -> Fault:
    try:
        return Fault(name)
    except ValueError:
        raise ValueError(f"unknown fault {name!r}; expected one of {', '.join(f.value for f in Fault)}") from None
