"""``manage.py oscp_simulate``: run a simulated Capacity Provider (and optionally a Capacity
Optimizer) against a running platform; see ``connections/simulator/``."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from django.core.management.base import BaseCommand, CommandError

from connections.choices import Profile
from connections.simulator.faults import FAULT_HELP, Fault, fault_parse
from connections.simulator.peer import Config, Simulator
from connections.simulator.wire import ForecastShape

STDIN_HELP = "commands: fault NAME on|off, faults, status, quit"


def _from_environment(parser):
    """Declares an option whose default is read from an environment variable (secrets stay off
    the command line, where other users of the machine could read them)."""

    def declare(flag: str, variable: str, text: str) -> None:
        parser.add_argument(flag, default=os.environ.get(variable, ""), help=f"{text} (or {variable}).")

    return declare


class Command(BaseCommand):
    help = "Run a simulated OSCP 2.0 partner (Capacity Provider, optionally Optimizer) against the platform."

    def add_arguments(self, parser):
        parser.add_argument("--platform-url", default="", help="The platform's OSCP base URL (…/oscp/fp/2.0).")
        secret = _from_environment(parser)
        secret("--token", "OSCP_SIM_TOKEN", "The token staff gave the provider, to call the platform with")
        secret("--optimizer-token", "OSCP_SIM_OPTIMIZER_TOKEN", "Also play a Capacity Optimizer with this token")
        secret(
            "--own-token",
            "OSCP_SIM_OWN_TOKEN",
            "The token the platform presents to us before any register, in wait mode",
        )
        parser.add_argument("--client-id", default="", help="OAuth client staff issued us: call with Bearer tokens.")
        secret("--client-secret", "OSCP_SIM_CLIENT_SECRET", "That client's secret")
        parser.add_argument("--token-url", default="", help="The platform's OAuth token URL (…/oscp/oauth/token).")
        parser.add_argument("--own-client-id", default="", help="OAuth client the platform uses at our token URL.")
        secret("--own-client-secret", "OSCP_SIM_OWN_CLIENT_SECRET", "That client's secret")
        parser.add_argument("--profile", default=Profile.OSCP_20.value, choices=Profile.values)
        parser.add_argument("--group", action="append", default=[], dest="groups", help="Group id (repeatable).")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8100)
        parser.add_argument("--public-url", default="", help="How the platform reaches us (default http://host:port).")
        parser.add_argument("--heartbeat-seconds", type=float, default=30.0)
        parser.add_argument("--forecast-seconds", type=float, default=900.0, help="How often forecasts are sent.")
        parser.add_argument("--block-seconds", type=float, default=900.0)
        parser.add_argument("--horizon-seconds", type=float, default=24 * 3600.0)
        parser.add_argument("--capacity-kw", type=float, default=22.0)
        parser.add_argument("--fallback-kw", type=float, default=5.0)
        parser.add_argument("--wait-register", action="store_true", help="Wait for the platform's register.")
        parser.add_argument(
            "--fault",
            action="append",
            default=[],
            dest="faults",
            help="Start with a fault on (repeatable): "
            + "; ".join(f"{fault.value}: {text}" for fault, text in FAULT_HELP.items()),
        )
        parser.add_argument("--slow-seconds", type=float, default=10.0, help="How slow the slow fault answers.")
        parser.add_argument("--status-seconds", type=float, default=10.0, help="Status line interval (not a tty).")
        parser.add_argument("--duration", type=float, default=0.0, help="Stop after this many seconds (0: never).")

    def handle(self, *args, **options):
        try:
            faults = tuple(fault_parse(name).value for name in options["faults"])
        except ValueError as exc:
            raise CommandError(f"--fault: {exc}") from None
        for name in ("heartbeat_seconds", "forecast_seconds", "block_seconds", "horizon_seconds"):
            if options[name] <= 0:
                raise CommandError(f"--{name.replace('_', '-')}: must be more than 0.")
        if options["token"] and not options["platform_url"]:
            raise CommandError("--platform-url: required with --token.")
        if options["client_id"] and not (options["client_secret"] and options["token_url"]):
            raise CommandError("--client-id: needs --client-secret and --token-url.")
        if options["client_id"] and not options["platform_url"]:
            raise CommandError("--platform-url: required with --client-id.")
        if options["own_client_id"] and not options["own_client_secret"]:
            raise CommandError("--own-client-id: needs --own-client-secret.")
        config = Config(
            platform_url=options["platform_url"],
            token=options["token"],
            optimizer_token=options["optimizer_token"],
            own_token=options["own_token"],
            profile=options["profile"],
            groups=tuple(options["groups"]),
            host=options["host"],
            port=options["port"],
            public_url=options["public_url"],
            heartbeat_seconds=options["heartbeat_seconds"],
            forecast_seconds=options["forecast_seconds"],
            shape=ForecastShape(
                capacity_kw=options["capacity_kw"],
                fallback_kw=options["fallback_kw"],
                block_seconds=options["block_seconds"],
                horizon_seconds=options["horizon_seconds"],
            ),
            wait_register=options["wait_register"],
            faults=faults,
            slow_seconds=options["slow_seconds"],
            client_id=options["client_id"],
            client_secret=options["client_secret"],
            token_url=options["token_url"],
            own_client_id=options["own_client_id"],
            own_client_secret=options["own_client_secret"],
        )
        tty = self.stdout.isatty()
        lock = threading.Lock()

        def say(line: str) -> None:
            with lock:
                self.stdout.write(("\r\033[K" if tty else "") + line)
                self.stdout.flush()

        simulator = Simulator(config, say=say).start()
        say(f"[oscp_simulate] listening on {simulator.url} as {config.profile}")
        for side in simulator.sides.values():
            say(f"[oscp_simulate] {side.role} endpoints at {simulator.base_url(side)}")
        if not config.own_token and not (config.token and simulator.dialect.registers_first):
            say(f"[oscp_simulate] token for the platform to present to us: {simulator.own_token}")
        if config.own_client_id:
            say(f"[oscp_simulate] OAuth token URL for the platform: {simulator.url}/oauth/token")
        say(f"[oscp_simulate] control: POST {simulator.url}/_control/fault, GET {simulator.url}/_control/state")
        threading.Thread(target=self._stdin, args=(simulator, say), daemon=True).start()
        started, last_status = time.monotonic(), 0.0
        self._quit = False

        def stop(*_):
            self._quit = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not options["duration"] or time.monotonic() - started < options["duration"]:
                if self._quit:
                    break
                now = time.monotonic()
                if tty:
                    with lock:
                        self.stdout.write("\r\033[K" + simulator.status_line(), ending="")
                        self.stdout.flush()
                elif now - last_status >= options["status_seconds"]:
                    say("[status] " + simulator.status_line())
                    last_status = now
                time.sleep(0.2)
        finally:
            simulator.stop()
            say("[oscp_simulate] stopped")

    def _stdin(self, simulator: Simulator, say) -> None:
        if sys.stdin is None or not sys.stdin.readable():
            return
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                self._quit = True
                return
            if words[0] == "status":
                say("[status] " + simulator.status_line())
            elif words[0] == "faults":
                say(f"[oscp_simulate] faults on: {simulator.faults.names() or 'none'}; known: "
                    + ", ".join(f.value for f in Fault))  # fmt: skip
            elif words[0] == "fault" and len(words) == 3 and words[2] in ("on", "off"):
                try:
                    simulator.fault_set(fault_parse(words[1]), words[2] == "on")
                except ValueError as exc:
                    say(f"[oscp_simulate] {exc}")
            else:
                say(f"[oscp_simulate] {STDIN_HELP}")
