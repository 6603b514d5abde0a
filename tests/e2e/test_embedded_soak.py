"""Soak: ``make run`` on the embedded defaults (SQLite, the file-system broker, nothing else
running) under steady traffic — forecasts posted every half second and forwarded to an optimizer,
while beat runs every periodic job — must run without a single worker error or restart, and
deliver every forecast.

It runs ``SOAK_SECONDS`` (default: 600 in CI, where ``REQUIRE_SERVICES=1``; 60 elsewhere).
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.support.processes import ROOT, ManagedProcess, free_port, wait_until
from tests.support.traffic import ForecastTraffic

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS") or (600 if os.environ.get("REQUIRE_SERVICES") == "1" else 60))
WORKER_ERRORS = ("ERROR/", "CRITICAL/", "Unrecoverable error", "Traceback", "exited with")


def embedded_env(var_dir: Path, port: int) -> dict[str, str]:
    """The environment of a newcomer's machine: no DATABASE_URL, no CELERY_BROKER_URL."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        VAR_DIR=str(var_dir),
        PORT=str(port),
        ADMIN_PASSWORD="soak-admin-password-1",
        OSCP_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}/oscp/fp/2.0",
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
    )
    return env


def test_make_run_on_embedded_defaults_holds_up_under_steady_traffic(peer, tmp_path):
    var_dir, port = tmp_path / "var", free_port()
    url = f"http://127.0.0.1:{port}"
    env = embedded_env(var_dir, port)
    venv = Path(sys.executable).parent.parent
    make = shutil.which("make")
    platform = ManagedProcess(
        "make-run",
        # `make run` itself, with this interpreter's virtualenv taken as installed.
        [make, "run", f"VENV={venv}", "-o", f"{venv}/bin/.installed-base"],
        env=env,
        log_dir=tmp_path,
    )
    try:
        platform.wait_for_output("Serving on", timeout=120)
        platform.wait_for_output("ready.", timeout=60)
        shell = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c",
             f"from tests.support.traffic import forecast_partners_create as c; print('SOAK', *c({peer.base_url!r}))"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        _, token, group_id = next(line for line in shell.stdout.splitlines() if line.startswith("SOAK")).split()
        traffic = ForecastTraffic(peer=peer, token=token, group_id=group_id)

        session, end = requests.Session(), time.monotonic() + SOAK_SECONDS
        while time.monotonic() < end:
            status = traffic.post(url, session)
            assert status == 204, (status, platform.output()[-3000:])
            time.sleep(0.5)
        wait_until(lambda: len(traffic.delivered()) >= len(traffic.sent), 60, 0.5, "forecasts not all forwarded")
        assert sorted(traffic.delivered()) == sorted(traffic.sent)
        ready = requests.get(url + "/health/ready", timeout=10).json()
        assert ready["status"] == "ok", ready

        output = platform.output()
        errors = [line for line in output.splitlines() if any(mark in line for mark in WORKER_ERRORS)]
        assert not errors, "\n".join(errors[:20])
        assert output.count("Scheduler: Sending due task") > SOAK_SECONDS  # beat kept publishing
    finally:
        platform.stop(timeout=20)
