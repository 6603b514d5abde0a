"""``oscp_conformance`` pointed at the simulated partner (``oscp_simulate``'s peer), over real
loopback HTTP: every case passes against the well-behaved simulator, and each fault the simulator
can be switched into fails exactly the cases whose rule it breaks, by name."""

import io
import json
import os
import subprocess
import sys
import urllib.request

import pytest
from django.core.management import call_command

from connections.conformance import CASES, CO, CP
from connections.simulator.faults import Fault
from connections.simulator.peer import Config, Simulator
from tests.support.processes import ROOT, ManagedProcess, free_port

OWN_TOKEN = "simulator-initial-token-0001"
GROUP = "depot-1"
TIMEOUT = 1.5
SLOW = 2.5
CP_CASES = [case.name for case in CASES if CP in case.roles]
AUTH_CASES = ["auth-missing", "auth-wrong-token"]

# What each fault breaks. An all-zero profile and a forecast with gaps are legal OSCP (a protective
# stop; no limit for the missing blocks): no case of ours fails on them.
BROKEN = {
    None: [],
    "no-heartbeat": ["heartbeats-arrive"],
    "http-500": CP_CASES,
    "http-401": [name for name in CP_CASES if name not in AUTH_CASES],
    "slow": CP_CASES,
    "malformed": ["register-reply", "handshake-acknowledged", "heartbeats-arrive"],
    "all-zero": [],
    "forecast-gaps": [],
}


@pytest.fixture
def simulator():
    started = []

    def make(faults=(), optimizer_token=""):
        config = Config(
            own_token=OWN_TOKEN,
            optimizer_token=optimizer_token,
            groups=(GROUP,),
            faults=tuple(faults),
            slow_seconds=SLOW,
        )
        started.append(Simulator(config, say=lambda line: None).start())
        return started[-1]

    yield make
    for item in started:
        item.stop()


def conformance(url: str, token: str = OWN_TOKEN, role: str = CP) -> tuple[int, dict]:
    out = io.StringIO()
    code = 0
    try:
        args = [url, "--role", role, "--token", token, "--group", GROUP, "--timeout", str(TIMEOUT), "--json"]
        call_command("oscp_conformance", *args, stdout=out)
    except SystemExit as exc:
        code = exc.code
    return code, json.loads(out.getvalue())


@pytest.mark.parametrize("fault", list(BROKEN), ids=lambda fault: fault or "well-behaved")
def test_conformance_fails_exactly_the_cases_a_fault_breaks(simulator, fault):
    peer = simulator([fault] if fault else [])
    code, report = conformance(peer.base_url(peer.sides["cp"]))

    failed = [case["name"] for case in report["cases"] if not case["passed"]]
    assert [case["name"] for case in report["cases"]] == CP_CASES
    assert failed == BROKEN[fault], report
    assert code == (1 if failed else 0)
    assert report["passed"] is (not failed)
    for case in report["cases"]:
        assert bool(case["detail"]) is (not case["passed"])


def test_an_optimizer_passes_the_cases_of_its_role(simulator):
    peer = simulator(optimizer_token="optimizer-token-from-staff")
    code, report = conformance(peer.base_url(peer.sides["co"]), role=CO)
    assert [case["name"] for case in report["cases"]] == [case.name for case in CASES if CO in case.roles]
    assert "forecast" in [case["name"] for case in report["cases"]]
    assert code == 0, report
    assert peer.sides["co"].forecasts_received[0]["group_id"] == GROUP
    assert peer.sides["cp"].state == "new"  # the provider side was not touched


def test_failures_say_what_the_partner_did(simulator):
    peer = simulator(["malformed"])
    _, report = conformance(peer.base_url(peer.sides["cp"]))
    details = {case["name"]: case["detail"] for case in report["cases"]}
    assert details["register-reply"] == "register arrived invalid: version_url: This field is required."
    assert details["handshake-acknowledged"].startswith("handshake_acknowledge arrived invalid: required_behaviour.")
    assert details["heartbeats-arrive"].startswith("heartbeat arrived invalid: offline_mode_at: Expected an RFC 3339")


def test_a_fault_switched_on_while_running_breaks_the_next_run(simulator):
    peer = simulator()
    assert conformance(peer.base_url(peer.sides["cp"]))[0] == 0
    peer.fault_set(Fault.NO_HEARTBEAT, True)
    [token] = peer.sides["cp"].own_tokens  # the one it gave the tester in its register reply
    code, report = conformance(peer.base_url(peer.sides["cp"]), token)
    assert code == 1
    assert [case["name"] for case in report["cases"] if not case["passed"]] == ["heartbeats-arrive"]


def test_commands_as_processes_report_pass_and_fail(tmp_path):
    """The two commands as a partner's integrator runs them: the simulator in a process of its
    own, the tester printing its checklist and exiting 0, then 1 once a fault is switched on
    through the simulator's control endpoint."""
    port = free_port()
    env = {"DJANGO_SETTINGS_MODULE": "oscp_platform.settings.test", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    manage = [sys.executable, "manage.py"]
    sim = ManagedProcess(
        "oscp_simulate",
        [*manage, "oscp_simulate", f"--port={port}", f"--own-token={OWN_TOKEN}", f"--group={GROUP}"],
        env={**os.environ, **env},
        log_dir=tmp_path,
    )
    try:
        sim.wait_for_output("listening on", timeout=30)
        url = f"http://127.0.0.1:{port}/oscp/cp/2.0"
        tester = [*manage, "oscp_conformance", url, f"--token={OWN_TOKEN}", f"--group={GROUP}", "--timeout=3"]
        run = subprocess.run(tester, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
        assert f"{len(CP_CASES)} passed, 0 failed" in run.stdout
        assert "PASS  register-reply" in run.stdout

        control = urllib.request.Request(
            f"http://127.0.0.1:{port}/_control/fault", data=b'{"fault": "http-401", "on": true}', method="POST"
        )
        with urllib.request.urlopen(control, timeout=5) as answer:
            assert json.loads(answer.read()) == {"faults": ["http-401"]}
        run = subprocess.run(tester, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert run.returncode == 1
        assert "PASS  auth-missing" in run.stdout
        assert "FAIL  heartbeat-accepted" in run.stdout
        assert "expected 204, got 401" in run.stdout
        assert "fault http-401 on" in sim.output()
    finally:
        sim.stop()
