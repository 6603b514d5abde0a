import json

import pytest

from connections.models import Message
from roaming.models import Location
from roaming.ocpi.client import authorization

from .factories import registered_partner
from .test_credentials import their_credentials

pytestmark = pytest.mark.django_db
API = "/solaruser/api/v1/sec/user/oscp/roaming"


def location_body(location_id="LOC1", **overrides):
    body = {
        "country_code": "NL",
        "party_id": "OSP",
        "id": location_id,
        "publish": True,
        "name": "Depot",
        "address": "Street 1",
        "city": "Utrecht",
        "country": "NLD",
        "coordinates": {"latitude": "52.09074", "longitude": "5.12142"},
        "time_zone": "Europe/Amsterdam",
        "opening_times": {"twentyfourseven": True},
        "evses": [
            {
                "uid": "EVSE1",
                "evse_id": "NL*OSP*E1",
                "status": "AVAILABLE",
                "capabilities": ["RFID_READER"],
                "connectors": [
                    {"id": "1", "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE",
                     "max_voltage": 230, "max_amperage": 32},
                ],
            }
        ],
    }  # fmt: skip
    body.update(overrides)
    return body


def test_create_update_and_evse_status_are_pushed_in_order(api_client, user, published):
    partner, _ = registered_partner(owner=user)
    response = api_client.post(f"{API}/locations", location_body(), format="json")
    assert response.status_code == 201, response.content
    config_id = response.json()["data"]["configId"]
    put = Message.objects.get(message_type="ocpi.locations.PUT")
    assert put.method == "PUT" and put.url == "https://emsp.example.com/ocpi/2.2.1/locations/NL/OSP/LOC1"
    assert put.body["evses"][0]["uid"] == "EVSE1" and put.headers["OCPI-to-party-id"] == "EMS"
    assert "their-token-b" not in str(put.headers) and put.sealed_headers

    response = api_client.put(f"{API}/locations/{config_id}", location_body(name="Depot 2"), format="json")
    assert response.status_code == 200, response.content
    patch = Message.objects.get(message_type="ocpi.locations.PATCH")
    assert set(patch.body) == {"name", "last_updated"} and patch.ordering_key == put.ordering_key

    response = api_client.patch(f"{API}/locations/{config_id}/evses/EVSE1", {"status": "CHARGING"}, format="json")
    assert response.status_code == 200, response.content
    status = Message.objects.filter(message_type="ocpi.locations.PATCH").order_by("-id").first()
    assert status.url.endswith("/NL/OSP/LOC1/EVSE1") and status.body["status"] == "CHARGING"


def test_bad_location_names_the_field_and_writes_nothing(api_client):
    body = location_body(coordinates={"latitude": "152.1", "longitude": "5.12142"})
    response = api_client.post(f"{API}/locations", body, format="json")
    assert response.status_code == 400 and "coordinates.latitude" in response.json()["message"]
    body = location_body()
    body["evses"][0]["connectors"][0]["standard"] = "NOPE"
    response = api_client.post(f"{API}/locations", body, format="json")
    assert "evses[0].connectors[0].standard" in response.json()["message"]
    response = api_client.post(f"{API}/locations", location_body(time_zone="Mars/Base"), format="json")
    assert "time_zone" in response.json()["message"]
    assert not Location.objects.exists() and not Message.objects.exists()


def test_partners_pull_pages_following_link(api_client, user, ocpi_client, settings):
    settings.OCPI_PAGE_LIMIT = 2
    partner, token = registered_partner(owner=user)
    for n in range(5):
        assert api_client.post(f"{API}/locations", location_body(f"L{n}"), format="json").status_code == 201
    client = ocpi_client(token)
    url, seen = "/ocpi/2.2.1/locations?limit=50", []
    while url:
        response = client.get(url)
        assert response["X-Total-Count"] == "5" and response["X-Limit"] == "2"
        seen += [loc["id"] for loc in response.json()["data"]]
        link = response.get("Link")
        url = link.split(">")[0].removeprefix("<http://127.0.0.1:8000") if link else None
    assert seen == ["L0", "L1", "L2", "L3", "L4"]
    assert client.get("/ocpi/2.2.1/locations/L1/EVSE1/1").json()["data"]["standard"] == "IEC_62196_T2"
    missing = client.get("/ocpi/2.2.1/locations/NOPE")
    assert missing.status_code == 404 and missing.json()["status_code"] == 2003
    bad = client.get("/ocpi/2.2.1/locations?date_from=yesterday")
    assert bad.json()["status_code"] == 2001 and "date_from" in bad.json()["status_message"]
    routed = ocpi_client(token, HTTP_OCPI_TO_COUNTRY_CODE="BE", HTTP_OCPI_TO_PARTY_ID="XYZ").get(
        "/ocpi/2.2.1/locations"
    )
    assert routed.json()["data"] == []


def test_a_partner_never_sees_another_accounts_locations(api_client, other_user, ocpi_client):
    api_client.post(f"{API}/locations", location_body(), format="json")
    _, token = registered_partner(owner=other_user, base="https://other.example.com/ocpi")
    response = ocpi_client(token).get("/ocpi/2.2.1/locations")
    assert response.json()["data"] == [] and response["X-Total-Count"] == "0"
    assert ocpi_client(token).get("/ocpi/2.2.1/locations/LOC1").json()["status_code"] == 2003


def test_tariff_is_validated_and_pushed(api_client, user, ocpi_client):
    _, token = registered_partner(owner=user)
    tariff = {
        "country_code": "NL", "party_id": "OSP", "id": "T1", "currency": "EUR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": 0.35, "step_size": 1}],
                      "restrictions": {"start_time": "08:00", "day_of_week": ["MONDAY"]}}],
    }  # fmt: skip
    response = api_client.post(f"{API}/tariffs", tariff, format="json")
    assert response.status_code == 201, response.content
    push = Message.objects.get(message_type="ocpi.tariffs.PUT")
    assert (
        push.url.endswith("/2.2.1/tariffs/NL/OSP/T1")
        and push.body["elements"][0]["price_components"][0]["price"] == 0.35
    )
    assert ocpi_client(token).get("/ocpi/2.2.1/tariffs").json()["data"][0]["id"] == "T1"
    tariff["elements"][0]["restrictions"]["start_time"] = "25:00"
    response = api_client.post(f"{API}/tariffs", {**tariff, "id": "T2"}, format="json")
    assert "elements[0].restrictions.start_time" in response.json()["message"]


def test_pushes_queued_before_a_rotation_go_with_the_new_token(api_client, user, ocpi_client, emsp_platform):
    """The partner rotates its credentials while a push waits in the outbox: the push is sent with
    the token the partner gave last, never with the retired one (which would answer 401)."""
    partner, token_c = registered_partner(owner=user)
    assert api_client.post(f"{API}/locations", location_body(), format="json").status_code == 201
    queued = Message.objects.get(message_type="ocpi.locations.PUT")
    assert json.loads(queued.sealed_headers) == {"Authorization": authorization("their-token-b")}

    rotated = {**their_credentials("their-token-b2")}
    assert ocpi_client(token_c).put("/ocpi/2.2.1/credentials", rotated, format="json").status_code == 200

    queued.refresh_from_db()
    assert json.loads(queued.sealed_headers) == {"Authorization": authorization("their-token-b2")}
