"""Start the platform the production way (gunicorn, production settings) on a fresh PostgreSQL
database ``oscp_fuzz`` with data to fuzz against, and keep it running until Ctrl-C.

Creates a user with a DRF token, a Capacity Provider and a Capacity Optimizer (online, registered,
each with a token), a group bound to both and an asset, then prints the base URL and the tokens
and waits. Run schemathesis against it, e.g.:

    .venv/bin/python bench/fuzz_server.py &
    .venv/bin/st run http://127.0.0.1:PORT/api/schema/ -H "Authorization: Token USER_TOKEN" \\
        --include-path-regex '^/solaruser' \\
        --checks not_a_server_error,response_schema_conformance,status_code_conformance

Environment: PGURL (server, default postgres://postgres@127.0.0.1:5432), CELERY_BROKER_URL,
FUZZ_PORT (default: a free port).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import psycopg  # noqa: E402
from common import GUNICORN, PYTHON, ROOT, dotenv_value, free_port  # noqa: E402

DB_NAME = "oscp_fuzz"

SETUP = """
from rest_framework.authtoken.models import Token
from connections.services import inbound_token_issue
from tests.connections.factories import CapacityOptimizerFactory, CapacityProviderFactory, UserFactory
from tests.groups.factories import AssetFactory, CapacityGroupFactory
owner = UserFactory(username="fuzz")
state = {"connection_state": "online", "registration_status": "Registered"}
cp = CapacityProviderFactory(owner=owner, **state)
co = CapacityOptimizerFactory(owner=owner, **state)
group = CapacityGroupFactory(owner=owner, capacity_provider=cp, capacity_optimizer=co, identifier="fuzz-group")
AssetFactory(group=group, identifier="fuzz-asset")
print("USER_TOKEN=" + Token.objects.create(user=owner).key)
print("CP_TOKEN=" + inbound_token_issue(partner=cp))
print("CO_TOKEN=" + inbound_token_issue(partner=co))
"""


def _stop(signum, frame):
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    server = os.environ.get("PGURL", "postgres://postgres@127.0.0.1:5432")
    with psycopg.connect(server + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "oscp_platform.settings.production",
        "ALLOW_INSECURE_SECRET_KEY": "1",
        "DATABASE_URL": f"{server}/{DB_NAME}",
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL")
        or dotenv_value("CELERY_BROKER_URL")
        or "redis://127.0.0.1:6379/15",
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
    }
    manage = [str(PYTHON), "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    setup = subprocess.run(
        [*manage, "shell", "-c", SETUP], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    port = int(os.environ.get("FUZZ_PORT") or free_port())
    base = f"http://127.0.0.1:{port}"
    gunicorn = subprocess.Popen(
        [str(GUNICORN), "oscp_platform.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"], cwd=ROOT, env=env
    )
    for _ in range(100):
        try:
            if requests.get(base + "/health/", timeout=5).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(0.2)
    print(f"BASE={base}", flush=True)
    print(setup.stdout.strip(), flush=True)
    try:
        gunicorn.wait()
    except KeyboardInterrupt:
        pass
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        gunicorn.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
