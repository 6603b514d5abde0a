import base64

import pytest
import responses
from rest_framework.test import APIClient

EMSP = "https://emsp.example.com/ocpi"


def ocpi_auth(token: str, *, plain: bool = False) -> str:
    return "Token " + (token if plain else base64.b64encode(token.encode()).decode())


@pytest.fixture
def ocpi_client():
    """An OCPI client: ``ocpi_client(token)`` answers an APIClient calling with that token."""

    def make(token: str | None = None, *, plain: bool = False, **headers) -> APIClient:
        client = APIClient()
        if token:
            client.credentials(HTTP_AUTHORIZATION=ocpi_auth(token, plain=plain), **headers)
        return client

    return make


def envelope(data=None, status_code=1000):
    body = {"status_code": status_code, "status_message": "ok", "timestamp": "2024-01-01T00:00:00Z"}
    if data is not None:
        body["data"] = data
    return body


@pytest.fixture
def emsp_platform():
    """The eMSP's versions and details, served by ``responses``."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{EMSP}/versions", json=envelope([{"version": "2.2.1", "url": f"{EMSP}/2.2.1"}]))
        mock.get(
            f"{EMSP}/2.2.1",
            json=envelope(
                {
                    "version": "2.2.1",
                    "endpoints": [
                        {"identifier": "credentials", "role": "RECEIVER", "url": f"{EMSP}/2.2.1/credentials"},
                        {"identifier": "locations", "role": "RECEIVER", "url": f"{EMSP}/2.2.1/locations"},
                        {"identifier": "tokens", "role": "SENDER", "url": f"{EMSP}/2.2.1/tokens"},
                    ],
                }
            ),
        )
        yield mock
