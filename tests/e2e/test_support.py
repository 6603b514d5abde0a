"""The real-process test support works: the peer scripts and records, processes start on the test
database and stop cleanly."""

import json
import urllib.error
import urllib.request

import pytest

from connections.outbox import outbox_enqueue
from tests.connections.factories import CapacityProviderFactory
from tests.support.peer import Reply


def _post(url, body, headers=None):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers or {}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_peer_answers_as_scripted_and_records_requests(peer):
    peer.script("heartbeat", [500, Reply(503), 204])
    statuses = [_post(peer.base_url + "/heartbeat", {"n": n}, {"X-Request-ID": f"r{n}"}) for n in range(4)]
    assert statuses == [500, 503, 204, 204]
    assert _post(peer.base_url + "/register", {}) == 204  # unscripted paths accept
    recorded = peer.wait_for("heartbeat", count=4)
    assert [r.body for r in recorded] == [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}]
    assert recorded[1].header("x-request-id") == "r1"


def test_oauth_peer_issues_tokens_and_rejects_calls_without_one(peer_factory):
    peer = peer_factory(oauth=True)
    assert _post(peer.base_url + "/heartbeat", {}) == 401
    form = "grant_type=client_credentials&client_id=peer-client&client_secret=peer-secret-value"
    request = urllib.request.Request(peer.token_url, data=form.encode(), method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        token = json.loads(response.read())["access_token"]
    assert _post(peer.base_url + "/heartbeat", {}, {"Authorization": f"Bearer {token}"}) == 204
    peer.revoke_tokens()
    assert _post(peer.base_url + "/heartbeat", {}, {"Authorization": f"Bearer {token}"}) == 401


@pytest.mark.postgres
@pytest.mark.redis
def test_web_server_serves_the_test_database(web_server):
    with urllib.request.urlopen(web_server.url + "/health/", timeout=5) as response:
        assert json.loads(response.read())["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.postgres
@pytest.mark.redis
def test_worker_runs_tasks_against_the_test_database(worker_factory, peer):
    partner = CapacityProviderFactory(base_url=peer.base_url, partner_token="token-for-the-peer-1")
    worker = worker_factory()
    message = outbox_enqueue(partner=partner, message_type="heartbeat", body={"offline_mode_at": "x"})
    [received] = peer.wait_for("heartbeat", timeout=15)  # the worker read the committed rows
    assert received.header("X-Request-ID") == message.request_id
    worker.stop()
    assert not worker.alive()
