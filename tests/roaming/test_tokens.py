import pytest

from roaming.models import Token
from roaming.services import token_put

from .factories import registered_partner

pytestmark = pytest.mark.django_db
API = "/solaruser/api/v1/sec/user/oscp/roaming"
URL = "/ocpi/2.2.1/tokens/DE/EMS"


def token_body(uid="012345678", **overrides):
    body = {
        "country_code": "DE",
        "party_id": "EMS",
        "uid": uid,
        "type": "RFID",
        "contract_id": "DE8ACC12E46L89",
        "visual_number": "DF000-2001-8999-1",
        "issuer": "TheNewMotion",
        "group_id": "DF000-2001-8999",
        "valid": True,
        "whitelist": "ALLOWED",
        "language": "de",
        "energy_contract": {"supplier_name": "Greenpeace Energy eG", "contract_id": "0123456789"},
        "last_updated": "2024-02-01T10:00:00Z",
    }
    body.update(overrides)
    return body


def test_put_patch_and_get_a_token(user, ocpi_client, api_client):
    partner, token = registered_partner(owner=user)
    client = ocpi_client(token)
    response = client.put(f"{URL}/012345678", token_body(), format="json")
    assert response.status_code == 200 and response.json()["status_code"] == 1000, response.content
    stored = Token.objects.get()
    assert (stored.partner, stored.whitelist, stored.data["issuer"]) == (partner, "ALLOWED", "TheNewMotion")

    response = client.patch(
        f"{URL}/012345678?type=RFID", {"valid": False, "last_updated": "2024-02-02T10:00:00Z"}, format="json"
    )
    assert response.json()["status_code"] == 1000, response.content
    got = client.get(f"{URL}/012345678").json()
    assert got["status_code"] == 1000 and got["data"]["valid"] is False
    assert got["data"]["energy_contract"]["supplier_name"] == "Greenpeace Energy eG"
    assert got["data"]["last_updated"] == "2024-02-02T10:00:00Z"

    unknown = client.get(f"{URL}/012345678?type=APP_USER")
    assert unknown.status_code == 404 and unknown.json()["status_code"] == 2004

    listed = api_client.get(f"{API}/tokens?uid=012345678&valid=false")
    assert [t["uid"] for t in listed.json()["data"]] == ["012345678"] and listed["X-Total-Count"] == "1"
    assert api_client.get(f"{API}/tokens?valid=true").json()["data"] == []
    shown = api_client.get(f"{API}/tokens/{stored.id}").json()["data"]
    assert shown["partnerId"] == partner.id and shown["contract_id"] == "DE8ACC12E46L89"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("012345678", token_body(whitelist="SOMETIMES"), "whitelist"),
        ("012345678", token_body(contract_id=None), "contract_id"),
        ("012345678", {k: v for k, v in token_body().items() if k != "issuer"}, "issuer"),
        ("012345678", token_body(energy_contract={"contract_id": "x"}), "energy_contract.supplier_name"),
        ("012345678", token_body(last_updated="yesterday"), "last_updated"),
        ("012345678", token_body(uid="other"), "uid"),
        ("012345678?type=APP_USER", token_body(), "type"),
        ("012345678?type=CARD", token_body(), "type"),
    ],
)
def test_bad_tokens_name_the_field_and_write_nothing(user, ocpi_client, path, body, field):
    _, token = registered_partner(owner=user)
    response = ocpi_client(token).put(f"{URL}/{path}", body, format="json")
    assert response.status_code == 400 and response.json()["status_code"] == 2001, response.content
    assert response.json()["status_message"].startswith(field), response.json()
    assert not Token.objects.exists()


def test_patch_needs_last_updated_and_a_stored_token(user, ocpi_client):
    _, token = registered_partner(owner=user)
    client = ocpi_client(token)
    response = client.patch(f"{URL}/012345678", {"valid": False, "last_updated": "2024-02-02T10:00:00Z"}, format="json")
    assert response.status_code == 404 and response.json()["status_code"] == 2004
    client.put(f"{URL}/012345678", token_body(), format="json")
    response = client.patch(f"{URL}/012345678", {"valid": False}, format="json")
    assert response.json()["status_code"] == 2001 and "last_updated" in response.json()["status_message"]
    assert Token.objects.get().valid is True


def test_a_partner_only_reaches_its_own_partys_tokens(user, other_user, ocpi_client, api_client, other_api_client):
    _, token_a = registered_partner(owner=user)
    _, token_b = registered_partner(owner=other_user, base="https://other.example.com/ocpi")
    ocpi_client(token_a).put(f"{URL}/012345678", token_body(), format="json")
    # B speaks for the same party (DE*EMS) on another account: it never sees A's row.
    got = ocpi_client(token_b).get(f"{URL}/012345678")
    assert got.status_code == 404 and got.json()["status_code"] == 2004
    # A party that is not the partner's own is refused, naming the keys.
    foreign = ocpi_client(token_a).put(
        "/ocpi/2.2.1/tokens/NL/XYZ/1", token_body(country_code="NL", party_id="XYZ"), format="json"
    )
    assert foreign.json()["status_code"] == 2001 and "party_id" in foreign.json()["status_message"]
    assert Token.objects.count() == 1
    assert other_api_client.get(f"{API}/tokens").json()["data"] == []
    assert len(api_client.get(f"{API}/tokens").json()["data"]) == 1


def test_a_hub_writes_tokens_of_the_parties_it_reported(user, ocpi_client):
    hub, token = registered_partner(owner=user)
    hub.roles.all().delete()
    hub.roles.create(role="HUB", country_code="DE", party_id="HUB")
    client = ocpi_client(token)
    client.put(
        "/ocpi/2.2.1/hubclientinfo/FR/MSP",
        {"country_code": "FR", "party_id": "MSP", "role": "EMSP", "status": "CONNECTED",
         "last_updated": "2024-01-01T00:00:00Z"},
        format="json",
    )  # fmt: skip
    response = client.put(
        "/ocpi/2.2.1/tokens/FR/MSP/abc", token_body("abc", country_code="FR", party_id="MSP"), format="json"
    )
    assert response.json()["status_code"] == 1000, response.content
    assert Token.objects.get().party_id == "MSP"


def test_details_list_the_tokens_receiver(user, ocpi_client):
    _, token = registered_partner(owner=user)
    endpoints = ocpi_client(token).get("/ocpi/2.2.1").json()["data"]["endpoints"]
    assert {"identifier": "tokens", "role": "RECEIVER", "url": "http://127.0.0.1:8000/ocpi/2.2.1/tokens"} in endpoints


def test_token_list_pages_within_a_query_budget(user, api_client, django_assert_max_num_queries):
    partner, _ = registered_partner(owner=user)
    for n in range(12):
        token_put(partner=partner, data={**token_body(f"UID{n}"), "last_updated": "2024-02-01T10:00:00Z"})
    with django_assert_max_num_queries(4):
        response = api_client.get(f"{API}/tokens?max=5&offset=5")
    assert response["X-Total-Count"] == "12"
    assert [t["uid"] for t in response.json()["data"]] == [f"UID{n}" for n in range(5, 10)]


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize(
    "raw",
    ["not json", "[]", '"text"', "null", '{"energy_contract": "x", "last_updated": 5}', '{"valid": {"a": 1}}'],
)
def test_malformed_token_bodies_answer_2001(user, ocpi_client, method, raw):
    _, token = registered_partner(owner=user)
    client = ocpi_client(token)
    client.put(f"{URL}/012345678", token_body(), format="json")
    response = getattr(client, method)(f"{URL}/012345678", raw, content_type="application/json")
    assert response.status_code == 400 and response.json()["status_code"] == 2001, response.content
    assert Token.objects.get().data["issuer"] == "TheNewMotion" and Token.objects.get().valid is True
