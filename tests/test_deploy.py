"""The production process model, started from the very files that ship: ``deploy/supervisord.conf``
with the variables of ``deploy/oscp.env``; and ``check --deploy`` clean under production settings."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.processes import ROOT, ManagedProcess, free_port, process_env, wait_until
from tests.support.traffic import ForecastTraffic

DEPLOY = ROOT / "deploy"


def documented_env() -> dict[str, str]:
    """``deploy/oscp.env`` as shipped (placeholders included)."""
    pairs = (line.split("=", 1) for line in (DEPLOY / "oscp.env").read_text().splitlines())
    return {key: value for key, value in (p for p in pairs if len(p) == 2) if not key.startswith("#")}


def test_check_deploy_is_clean_with_the_documented_variables():
    env = {**os.environ, **documented_env(), "DJANGO_SETTINGS_MODULE": "oscp_platform.settings.production"}
    env["SECRET_KEY"] = "x" * 10 + "-production-secret-key-with-enough-different-characters-0123456789"
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_json_logs():
    code = "import logging; logging.getLogger('oscp').warning('hello %s', 'there')"
    env = {**os.environ, "LOG_FORMAT": "json"}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    entry = json.loads(result.stderr.strip().splitlines()[-1])
    assert (entry["level"], entry["logger"], entry["message"]) == ("WARNING", "oscp", "hello there")


def supervisorctl(env, *args) -> str:
    command = [Path(sys.executable).parent / "supervisorctl", "-c", DEPLOY / "supervisord.conf", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30).stdout


@pytest.mark.postgres
@pytest.mark.redis
def test_supervisor_runs_web_workers_and_beat_from_the_shipped_config(peer, transactional_db, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = process_env(
        {
            **{k: v for k, v in documented_env().items() if k.startswith(("OSCP_", "WEB_", "CELERY_CONC"))},
            "OSCP_HOME": str(ROOT),
            "OSCP_VENV": str(Path(sys.executable).parent.parent),
            "OSCP_LOG_DIR": str(tmp_path),
            "OSCP_RUN_DIR": str(tmp_path),
            "OSCP_BIND": f"127.0.0.1:{port}",
            "OSCP_PUBLIC_BASE_URL": f"{url}/oscp/fp/2.0",
            "WEB_CONCURRENCY": "2",
            "CELERY_CONCURRENCY": "1",
            "SECURE_SSL_REDIRECT": "false",  # no TLS proxy in front here
            "ALLOW_INSECURE_SECRET_KEY": "true",  # the test database's secrets are sealed with the test key
        }
    )
    env.pop("DJANGO_SETTINGS_MODULE")  # the config sets production
    traffic = ForecastTraffic.create(peer)
    supervisor = ManagedProcess(
        "supervisord", [Path(sys.executable).parent / "supervisord", "-c", DEPLOY / "supervisord.conf"],
        env=env, log_dir=tmp_path,
    )  # fmt: skip
    try:
        wait_until(lambda: supervisorctl(env, "status").count("RUNNING") == 3, 60, 1, "not all three RUNNING")

        def ready():
            try:
                return requests.get(url + "/health/ready", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_until(ready, 60, 1, "production platform never ready")
        assert traffic.post(url) == 204
        wait_until(lambda: traffic.delivered() == traffic.sent, 30, 0.5, "forecast not forwarded")

        worker_pid = int(supervisorctl(env, "pid", "worker").strip())
        os.kill(worker_pid, signal.SIGKILL)
        wait_until(lambda: supervisorctl(env, "pid", "worker").strip() not in ("0", str(worker_pid)), 30, 0.5)
        wait_until(lambda: "RUNNING" in supervisorctl(env, "status", "worker"), 30, 0.5, "worker not restarted")
        assert traffic.post(url) == 204
        wait_until(lambda: sorted(traffic.delivered()) == sorted(traffic.sent), 60, 0.5, "not forwarded after restart")
    finally:
        supervisor.stop(timeout=150)
        for name in ("web", "worker", "beat"):
            log = tmp_path / f"{name}.log"
            if log.exists():
                print(f"--- {name} ---\n{log.read_text()[-1500:]}")
