"""OCPI 2.2.1 end to end over real HTTP: the platform served by gunicorn with a real Celery worker,
two eMSPs each a process of its own (``tests/support/ocpi_emsp.py``).

- We register with the first eMSP (staff entered its versions URL and token A); the second
  registers with us (with the token A staff issued) and rotates its credentials: the old token is
  refused once the new one is used.
- A new location, an EVSE status change and a tariff reach both eMSPs through the outbox (PUT,
  PATCH of that EVSE, PUT), in order.
- The second eMSP pulls all locations page by page, following ``Link``.
- It pushes a token; an internal system asks whether the token may charge at a location: the
  eMSP's decision first, then (the eMSP too slow) the token's whitelist rule.
- It unregisters: its token is refused from then on, and so is an authorization of its token.
"""

import base64
import time

import pytest
import requests
from rest_framework.authtoken.models import Token

from roaming.choices import RoamingState
from roaming.models import CredentialsToken, RoamingPartner
from roaming.services import partner_register, token_a_issue
from tests.connections.factories import UserFactory
from tests.roaming.test_locations import location_body
from tests.support.processes import start_ocpi_emsp, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

API = "/solaruser/api/v1/sec/user/oscp/roaming"
TOKEN = {
    "country_code": "DE", "party_id": "EMS", "uid": "04A1B2C3", "type": "RFID", "contract_id": "DE8ACC12E46L89",
    "issuer": "Peer eMSP", "valid": True, "whitelist": "ALLOWED", "last_updated": "2024-02-01T10:00:00Z",
}  # fmt: skip
TARIFF = {
    "country_code": "NL", "party_id": "OSP", "id": "T1", "currency": "EUR",
    "elements": [{"price_components": [{"type": "ENERGY", "price": 0.35, "step_size": 1}]}],
}  # fmt: skip


@pytest.fixture
def process_settings():
    return {
        "OCPI_AUTHORIZE_TIMEOUT_SECONDS": "1",
        "OCPI_PAGE_LIMIT": "2",
        "OSCP_RETRY_BASE_SECONDS": "0.4",
        "OSCP_RETRY_MAX_SECONDS": "1",
        "OSCP_OUTBOX_SWEEP_SECONDS": "2",
    }


@pytest.fixture
def emsps(process_log_dir):
    started = []

    def make(name: str, token_a: str):
        started.append(start_ocpi_emsp(log_dir=process_log_dir, token_a=token_a, name=name))
        return started[-1]

    yield make
    for process in started:
        process.stop()


def control(emsp, action: str, body: dict | None = None) -> dict:
    response = requests.post(f"{emsp.url}/control/{action}", json=body or {}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def received(emsp, method: str, path: str) -> list[dict]:
    state = requests.get(f"{emsp.url}/control/state", timeout=10).json()
    return [r for r in state["received"] if r["method"] == method and r["path"].endswith(path)]


def test_an_emsp_roams_with_us_end_to_end(web_server, real_worker, emsps, settings):
    settings.OCPI_PUBLIC_BASE_URL = f"{web_server.url}/ocpi"  # what we send in our credentials
    owner = UserFactory()
    api = requests.Session()
    api.headers["Authorization"] = f"Token {Token.objects.create(user=owner).key}"
    ocpi = f"{web_server.url}/ocpi"

    # --- we register with the first eMSP ---------------------------------------------------------
    first = emsps("emsp-first", "first-token-a")
    ours = RoamingPartner.objects.create(owner=owner, name="First eMSP")
    partner_register(partner=ours, versions_url=f"{first.url}/ocpi/versions", token_a="first-token-a")
    ours.refresh_from_db()
    assert ours.state == RoamingState.REGISTERED and ours.endpoint("tokens", "SENDER").startswith(first.url)
    assert ours.roles.get().party_id == "EMS"
    assert control(first, "state")["their_token"]  # it holds our token C and called us with it

    # --- the second eMSP registers with us and rotates ---------------------------------------------
    emsp = emsps("emsp", "unused-token-a")
    partner = RoamingPartner.objects.create(owner=owner, name="Second eMSP")
    token_a = token_a_issue(partner=partner)
    answer = control(emsp, "register", {"versions_url": f"{ocpi}/versions", "token": token_a})
    assert answer["body"]["status_code"] == 1000, answer
    partner.refresh_from_db()
    assert partner.state == RoamingState.REGISTERED and partner.roles.get().country_code == "DE"
    old_c = control(emsp, "state")["their_token"]
    answer = control(emsp, "rotate")
    assert answer["body"]["status_code"] == 1000, answer
    new_c = control(emsp, "state")["their_token"]
    assert new_c != old_c
    current = control(emsp, "call", {"method": "GET", "url": f"{ocpi}/2.2.1/locations"})
    assert current["body"]["status_code"] == 1000
    old_header = "Token " + base64.b64encode(old_c.encode()).decode()
    old = requests.get(f"{ocpi}/2.2.1/locations", headers={"Authorization": old_header}, timeout=10)
    assert old.status_code == 401 and old.json()["status_code"] == 2000
    assert CredentialsToken.objects.filter(partner=partner, retired_at__isnull=True).count() == 1

    # --- a new location, an EVSE status change and a tariff are pushed -----------------------------
    response = api.post(f"{web_server.url}{API}/locations", json=location_body())
    assert response.status_code == 201, response.text
    config_id = response.json()["data"]["configId"]
    response = api.patch(f"{web_server.url}{API}/locations/{config_id}/evses/EVSE1", json={"status": "CHARGING"})
    assert response.status_code == 200, response.text
    assert api.post(f"{web_server.url}{API}/tariffs", json=TARIFF).status_code == 201
    for peer in (emsp, first):
        wait_until(lambda peer=peer: received(peer, "PUT", "/tariffs/NL/OSP/T1"), 30, 0.3, "tariff not pushed")
        wait_until(lambda peer=peer: received(peer, "PATCH", "/locations/NL/OSP/LOC1/EVSE1"), 30, 0.3, "no PATCH")
        put = received(peer, "PUT", "/locations/NL/OSP/LOC1")[0]
        patch = received(peer, "PATCH", "/locations/NL/OSP/LOC1/EVSE1")[0]
        assert put["body"]["evses"][0]["status"] == "AVAILABLE" and patch["body"]["status"] == "CHARGING"
        assert put["headers"]["OCPI-to-party-id"] == "EMS" and put["headers"]["Authorization"].startswith("Token ")
    order = [r["path"] for r in requests.get(f"{emsp.url}/control/state", timeout=10).json()["received"]]
    assert order.index("/ocpi/2.2.1/locations/NL/OSP/LOC1") < order.index("/ocpi/2.2.1/locations/NL/OSP/LOC1/EVSE1")

    # --- it pulls all locations, page by page --------------------------------------------------------
    for n in range(2, 6):
        assert api.post(f"{web_server.url}{API}/locations", json=location_body(f"LOC{n}")).status_code == 201
    pages = control(emsp, "pull", {"url": f"{ocpi}/2.2.1/locations"})["pages"]
    assert [page["ids"] for page in pages] == [["LOC1", "LOC2"], ["LOC3", "LOC4"], ["LOC5"]]
    assert {page["total"] for page in pages} == {"5"} and {page["limit"] for page in pages} == {"2"}

    # --- it pushes a token; real-time authorization, then the whitelist fallback ---------------------
    url = f"{ocpi}/2.2.1/tokens/DE/EMS/04A1B2C3?type=RFID"
    answer = control(emsp, "call", {"method": "PUT", "url": url, "body": TOKEN})
    assert answer["body"]["status_code"] == 1000, answer
    tokens = api.get(f"{web_server.url}{API}/tokens?uid=04A1B2C3").json()["data"]
    assert [(t["partnerId"], t["whitelist"]) for t in tokens] == [(partner.id, "ALLOWED")]
    question = {"uid": "04A1B2C3", "type": "RFID", "locationId": "LOC1", "evseUids": ["EVSE1"]}
    decision = api.post(f"{web_server.url}{API}/tokens/authorize", json=question).json()["data"]
    assert (decision["authorized"], decision["source"], decision["authorizationReference"]) == (True, "emsp", "REF-1")
    asked = received(emsp, "POST", "/tokens/04A1B2C3/authorize")[0]
    assert asked["query"] == "type=RFID" and asked["body"] == {"location_id": "LOC1", "evse_uids": ["EVSE1"]}

    control(emsp, "authorize", {"delay": 4})
    started = time.monotonic()
    decision = api.post(f"{web_server.url}{API}/tokens/authorize", json=question).json()["data"]
    assert time.monotonic() - started < 3.5
    assert (decision["authorized"], decision["source"], decision["whitelist"]) == (True, "whitelist", "ALLOWED")
    assert "did not answer within 1 s" in decision["reason"]

    # --- it unregisters: its token is refused from then on ------------------------------------------
    answer = control(emsp, "call", {"method": "DELETE", "url": f"{ocpi}/2.2.1/credentials"})
    assert answer["body"]["status_code"] == 1000, answer
    partner.refresh_from_db()
    assert partner.state == RoamingState.UNREGISTERED
    answer = control(emsp, "call", {"method": "PUT", "url": url, "body": TOKEN})
    assert answer["status"] == 401 and answer["body"]["status_code"] == 2000
    decision = api.post(f"{web_server.url}{API}/tokens/authorize", json=question).json()["data"]
    assert (decision["authorized"], decision["source"]) == (False, "refused")
    assert "unregistered" in decision["reason"]
