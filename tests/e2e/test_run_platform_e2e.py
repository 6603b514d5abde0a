"""``make run``'s supervisor (``manage.py run_platform``): a killed worker, beat or web server is
logged with its exit code and back within seconds while the rest keeps answering; Ctrl-C (SIGINT
to the process group, as a terminal sends it) stops everything."""

import os
import re
import signal
import sys
import urllib.request

import pytest

from tests.support.processes import ManagedProcess, free_port, process_env, wait_until
from tests.support.traffic import ForecastTraffic

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

STARTED = re.compile(r"\[run_platform\] (\w+) started \(pid (\d+)\)")


def pids(platform: ManagedProcess, name: str) -> list[int]:
    return [int(pid) for who, pid in STARTED.findall(platform.output()) if who == name]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health/live", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_killed_processes_come_back_and_ctrl_c_stops_all(peer, transactional_db, process_log_dir):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    traffic = ForecastTraffic.create(peer)
    platform = ManagedProcess(
        "run_platform",
        [sys.executable, "manage.py", "run_platform", "--port", str(port)],
        env=process_env({"OSCP_PUBLIC_BASE_URL": f"{url}/oscp/fp/2.0"}),
        log_dir=process_log_dir,
    )
    try:
        platform.wait_for_output("Serving on", timeout=30)
        wait_until(lambda: answers(url), 30, 0.3, "web server never answered")
        platform.wait_for_output("ready.", timeout=30)  # the worker

        for name in ("worker", "beat", "web"):
            [*_, pid] = pids(platform, name)
            os.kill(pid, signal.SIGKILL)
            platform.wait_for_output(f"{name} (pid {pid}) exited with -9; restarting in 1s", timeout=10)
            wait_until(lambda name=name, pid=pid: pids(platform, name)[-1] != pid, 10, 0.2, f"{name} not restarted")
            if name != "web":
                assert answers(url), f"the web server stopped answering when {name} died"
        wait_until(lambda: answers(url), 15, 0.3, "web server not back after it was killed")
        wait_until(lambda: platform.output().count("ready.") >= 2, 30, 0.3, "restarted worker never ready")

        assert traffic.post(url) == 204  # and the restarted worker forwards it
        wait_until(lambda: traffic.delivered() == traffic.sent, 30, 0.3, "forecast not forwarded after restarts")

        children = [pids(platform, name)[-1] for name in ("web", "worker", "beat")]
        os.killpg(platform.pid, signal.SIGINT)
        assert platform.popen.wait(timeout=20) == 0
        wait_until(lambda: not any(alive(pid) for pid in children), 10, 0.2, "children survived Ctrl-C")
        assert "restarting" not in platform.output().split("[run_platform] stopping")[-1]
    finally:
        platform.stop()
