"""``manage.py oscp_demo`` (``make demo``): seed a simulated grid operator and optimizer, a site with
two chargers, start the platform (``run_platform``, unless ``--platform-url`` names a running
one) and the simulator (``oscp_simulate``) as child processes, and feed the chargers' readings to
the datum API until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import requests
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from measurements.demo import DEMO_CHARGERS, demo_datum, demo_seed

API = "/solaruser/api/v1/sec/user/oscp"
# Short periods so that a newcomer sees every part move within a minute (children inherit them).
DEMO_ENV = {
    "MEASUREMENT_DISPATCH_SECONDS": "5",
    "MEASUREMENT_REPORT_DELAY_SECONDS": "5",
    "GROUP_MODE_CHECK_SECONDS": "2",
}


class Command(BaseCommand):
    help = "Run the platform with a simulated grid operator and optimizer already configured (make demo)."

    def add_arguments(self, parser):
        parser.add_argument("--port", default=os.environ.get("PORT", "8000"), help="The platform's port.")
        parser.add_argument("--platform-url", default="", help="Use this running platform instead of starting one.")
        parser.add_argument("--sim-port", type=int, default=8100, help="The simulator's port.")
        parser.add_argument("--owner", default="admin", help="The user who owns the demo partners and group.")
        parser.add_argument("--readings-seconds", type=float, default=10.0)
        parser.add_argument("--heartbeat-seconds", type=float, default=10.0)
        parser.add_argument("--forecast-seconds", type=float, default=60.0)

    def say(self, text: str) -> None:
        self.stdout.write(f"[oscp_demo] {text}")
        self.stdout.flush()

    def handle(self, *args, **options):
        owner = get_user_model().objects.filter(username=options["owner"]).first()
        if owner is None:
            raise CommandError(f"--owner: no user {options['owner']!r} (manage.py ensure_admin creates 'admin').")
        sim_url = f"http://127.0.0.1:{options['sim_port']}"
        seed = demo_seed(owner=owner, simulator_url=sim_url)
        self.say(f"seeded: provider {seed.provider_id}, optimizer {seed.optimizer_id}, group {seed.group_id!r}")
        children: list[subprocess.Popen] = []
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        platform_url = options["platform_url"].rstrip("/")
        env = {**os.environ, **{k: os.environ.get(k, v) for k, v in DEMO_ENV.items()}}
        manage = [sys.executable, "manage.py"]
        try:
            if not platform_url:
                platform_url = f"http://127.0.0.1:{options['port']}"
                children.append(subprocess.Popen([*manage, "run_platform", "--port", str(options["port"])], env=env))
            self._wait_for(platform_url, lambda: stopping)
            simulate = [
                *manage,
                "oscp_simulate",
                f"--platform-url={platform_url}/oscp/fp/2.0",
                f"--group={seed.group_id}",
                f"--port={options['sim_port']}",
                f"--heartbeat-seconds={options['heartbeat_seconds']:g}",
                f"--forecast-seconds={options['forecast_seconds']:g}",
                "--status-seconds=15",
            ]
            # Tokens go to the simulator in its environment, not on its command line.
            tokens = {"OSCP_SIM_TOKEN": seed.provider_token, "OSCP_SIM_OPTIMIZER_TOKEN": seed.optimizer_token}
            children.append(subprocess.Popen(simulate, env={**env, **tokens}))
            self._banner(platform_url, sim_url)
            self._feed(platform_url, seed.api_key, options["readings_seconds"], children, lambda: stopping)
        finally:
            self.say("stopping")
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGINT)
            for child in children:
                try:
                    child.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    child.kill()

    def _wait_for(self, url: str, stopping) -> None:
        deadline = time.monotonic() + 90
        while not stopping():
            try:
                if requests.get(url + "/health/live", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise CommandError(f"the platform at {url} did not answer within 90 s")
            time.sleep(0.5)

    def _banner(self, platform_url: str, sim_url: str) -> None:
        self.say(f"platform: {platform_url}/admin/ (user admin; password from ADMIN_PASSWORD or printed above)")
        self.say(f"simulator: {sim_url}/_control/state; type `fault no-heartbeat on` here to make it go silent")

    def _feed(self, url: str, api_key: str, every: float, children, stopping) -> None:
        """Post the chargers' readings every ``every`` seconds; stop when a child exits."""
        session = requests.Session()
        session.headers["Authorization"] = f"Token {api_key}"
        now = datetime.now(UTC)
        counters = {source_id: now.timestamp() / 3600 * 7400 for source_id in DEMO_CHARGERS}
        next_at = time.monotonic()
        while not stopping():
            if any(child.poll() is not None for child in children):
                raise CommandError("a demo process exited; see its output above")
            if time.monotonic() >= next_at:
                datum = demo_datum(at=datetime.now(UTC), counters=counters, seconds=every)
                try:
                    response = session.post(f"{url}{API}/datum", json=datum, timeout=10)
                    if response.status_code != 200:
                        self.say(f"readings refused: {response.status_code} {response.text[:200]}")
                except requests.RequestException as exc:
                    self.say(f"readings not posted: {exc.__class__.__name__}")
                next_at += every
            time.sleep(0.2)
