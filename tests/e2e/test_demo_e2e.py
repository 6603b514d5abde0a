"""``make demo``'s command (``manage.py oscp_demo``) against a running platform (gunicorn, a Celery
worker with beat, PostgreSQL and Redis): it seeds the simulated partners and the site, starts the
simulator, feeds readings, and the platform shows an online provider and optimizer and the
provider's forecast as the envelope in force."""

import sys

import pytest
import requests

from connections.models import Partner
from measurements.demo import DEMO_GROUP, DEMO_MICROGRID, DEMO_NODE, OPTIMIZER_NAME, PROVIDER_NAME
from measurements.models import Reading
from tests.connections.factories import UserFactory
from tests.support.processes import ManagedProcess, free_port, process_env, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def process_settings():
    return {"GROUP_MODE_CHECK_SECONDS": "1", "OSCP_OUTBOX_SWEEP_SECONDS": "1", "OSCP_RETRY_BASE_SECONDS": "0.4"}


def test_demo_reaches_online_partners_and_an_envelope_in_force(web_server, real_worker, process_log_dir):
    owner = UserFactory(username="demo-owner")
    demo = ManagedProcess(
        "oscp_demo",
        [
            sys.executable,
            "manage.py",
            "oscp_demo",
            f"--platform-url={web_server.url}",
            f"--sim-port={free_port()}",
            f"--owner={owner.username}",
            "--readings-seconds=1",
            "--heartbeat-seconds=2",
        ],
        env=process_env(),
        log_dir=process_log_dir,
    )
    try:
        demo.wait_for_output("seeded:", timeout=30)
        provider = Partner.objects.get(owner=owner, name=PROVIDER_NAME)
        optimizer = Partner.objects.get(owner=owner, name=OPTIMIZER_NAME)

        def online():
            states = set(
                Partner.objects.filter(id__in=[provider.id, optimizer.id]).values_list("connection_state", flat=True)
            )
            return states == {"online"}

        wait_until(online, 40, 0.3, "the demo's partners never came online")
        key = owner.auth_token.key
        session = requests.Session()
        session.headers["Authorization"] = f"Token {key}"

        def envelope():
            answer = session.get(
                f"{web_server.url}/solaruser/api/v1/sec/user/oscp/envelopes",
                params={"microgridId": DEMO_MICROGRID, "nodeId": DEMO_NODE},
                timeout=10,
            ).json()["data"]
            return answer if answer["mode"] == "normal" and answer["importLimits"] else None

        answer = wait_until(envelope, 20, 0.3, "no envelope in force for the demo site")
        assert [(limit["value"], limit["reason"]) for limit in answer["importLimits"]] == [(22.0, "forecast")]
        group = session.get(f"{web_server.url}/solaruser/api/v1/sec/user/oscp/capacity-groups", timeout=10).json()
        assert [g["identifier"] for g in group["data"]] == [DEMO_GROUP]
        wait_until(lambda: Reading.objects.filter(owner=owner, node_id=DEMO_NODE).count() >= 4, 10, 0.3)
        assert "Traceback" not in demo.output()
    finally:
        demo.stop()
