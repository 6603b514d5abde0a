"""Vector DERMS end to end, OAuth2 both ways, over real HTTP: the platform served by gunicorn with a
real Celery worker, Vector a real local peer with its own token endpoint.

Staff issue our client credentials through the management API; Vector fetches an access token at
our token URL with requests-oauthlib (HTTP Basic client authentication, as OAuth client libraries
do), handshakes and sends a forecast with ``Authorization: Bearer``; our acknowledgement reaches
Vector with the access token we fetched from *its* token endpoint. Reissuing the credentials ends
the old access token. Prints how long a token request and a Bearer-authenticated forecast take.
"""

import statistics
import time
import uuid

import pytest
import requests
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session
from rest_framework.authtoken.models import Token

from connections.choices import ConnectionState, RegistrationStatus
from connections.services import inbound_token_issue
from forecasts.models import Forecast
from tests.connections.factories import CapacityProviderFactory, UserFactory
from tests.groups.factories import CapacityGroupFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

API = "/solaruser/api/v1/sec/user/oscp"
BLOCK = {
    "capacity": 11,
    "phase": "ALL",
    "unit": "KW",
    "start_time": "2030-01-01T00:00:00Z",
    "end_time": "2030-01-01T00:15:00Z",
}


@pytest.fixture
def process_settings():
    # Plain http on 127.0.0.1: our worker fetches Vector's token from the local peer.
    return {"OAUTHLIB_INSECURE_TRANSPORT": "1", "OSCP_RETRY_BASE_SECONDS": "0.4", "OSCP_RETRY_MAX_SECONDS": "1"}


def median_ms(call, times: int) -> float:
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        spent.append((time.perf_counter() - started) * 1000)
    return statistics.median(spent)


def test_vector_calls_us_with_our_access_token_and_we_call_it_with_its_own(
    peer_factory, web_server, real_worker, monkeypatch
):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # Vector's client, on plain http too
    vector = peer_factory(oauth=True, client_id="fp-at-vector", client_secret="vector-gave-us-this-0001")
    user = UserFactory()
    provider = CapacityProviderFactory(
        owner=user,
        name="Vector",
        base_url=vector.base_url,
        registration_status=RegistrationStatus.REGISTERED,  # no register flow: configured out of band
        connection_state=ConnectionState.REGISTERED,
        service_props={"oauth-token-url": vector.token_url, "oauth-client-id": "fp-at-vector"},
        oauth_client_secret="vector-gave-us-this-0001",
    )
    CapacityGroupFactory(owner=user, capacity_provider=provider, identifier="site1")
    stranger = CapacityProviderFactory()
    CapacityGroupFactory(owner=stranger.owner, capacity_provider=stranger, identifier="site2")
    staff = requests.Session()
    staff.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"
    oauth_client_url = f"{web_server.url}{API}/capacity-providers/{provider.id}/oauth-client"

    issued = staff.post(oauth_client_url, timeout=10)
    assert issued.status_code == 201, issued.text
    credentials = issued.json()["data"]
    token_url = web_server.url + "/oscp/oauth/token"

    session = OAuth2Session(client=BackendApplicationClient(client_id=credentials["clientId"]))
    token = session.fetch_token(token_url, client_secret=credentials["clientSecret"], timeout=10)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
    oscp = f"{web_server.url}/oscp/fp/2.0"

    def post(message, body, request_id=None):
        headers = {"X-Request-ID": request_id or str(uuid.uuid4())}
        return session.post(f"{oscp}/{message}", json=body, headers=headers, timeout=10)

    handshake = post("handshake", {"required_behaviour": {"measurement_configuration": []}}, "vector-hs-1")
    assert handshake.status_code == 204, handshake.text
    [ack] = vector.wait_for("handshake_acknowledge", timeout=15)
    assert ack.header("X-Correlation-ID") == "vector-hs-1"
    assert ack.header("Authorization") == "Bearer access-1"  # fetched from Vector's token endpoint

    forecast = {"group_id": "site1", "type": "CONSUMPTION", "forecasted_blocks": [BLOCK]}
    assert post("update_group_capacity_forecast", forecast, "vector-fc-1").status_code == 204
    stored = Forecast.objects.get(request_id="vector-fc-1")
    assert stored.sender_id == provider.id and stored.group.identifier == "site1"
    elsewhere = post("update_group_capacity_forecast", {**forecast, "group_id": "site2"})
    assert elsewhere.status_code == 404

    # Figures: a token request (client secret checked with the test hasher, MD5; production uses
    # PBKDF2, measured separately) and a forecast with our access token vs our own token.
    fetch_ms = median_ms(lambda: session.fetch_token(token_url, client_secret=credentials["clientSecret"]), 10)
    bearer_ms = median_ms(lambda: post("update_group_capacity_forecast", forecast), 20)
    own = requests.Session()
    own.headers["Authorization"] = f"Token {inbound_token_issue(partner=provider)}"
    token_ms = median_ms(
        lambda: own.post(
            f"{oscp}/update_group_capacity_forecast", json=forecast, headers={"X-Request-ID": str(uuid.uuid4())}
        ),
        20,
    )
    print(
        f"\nOAuth inbound over HTTP (gunicorn): token request median {fetch_ms:.1f} ms; forecast with "
        f"Bearer access token median {bearer_ms:.1f} ms vs with our own Token {token_ms:.1f} ms"
    )

    old_access_token = session.token["access_token"]
    assert staff.post(oauth_client_url, timeout=10).status_code == 201  # reissued
    refused = requests.post(
        f"{oscp}/update_group_capacity_forecast",
        json=forecast,
        headers={"Authorization": f"Bearer {old_access_token}", "X-Request-ID": str(uuid.uuid4())},
        timeout=10,
    )
    assert refused.status_code == 403
    old_credentials = requests.post(
        token_url,
        data={"grant_type": "client_credentials"},
        auth=(credentials["clientId"], credentials["clientSecret"]),
        timeout=10,
    )
    assert old_credentials.status_code == 401
