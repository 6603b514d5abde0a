import json

import pytest
import requests
import responses

from connections.client import http_session
from roaming.choices import CredentialsTokenKind, RoamingState
from roaming.models import CredentialsToken, RoamingPartner
from roaming.services import RoamingError, partner_register, partner_rotate, partner_unregister, token_a_issue

from .conftest import EMSP, envelope
from .factories import RoamingPartnerFactory, registered_partner

pytestmark = pytest.mark.django_db


def their_credentials(token="their-token-b"):
    return {
        "token": token,
        "url": f"{EMSP}/versions",
        "roles": [
            {"role": "EMSP", "party_id": "EMS", "country_code": "DE", "business_details": {"name": "An eMSP"}},
        ],
    }


def test_versions_and_details_in_the_ocpi_envelope(ocpi_client):
    partner = RoamingPartnerFactory()
    token_a = token_a_issue(partner=partner)
    client = ocpi_client(token_a, HTTP_X_REQUEST_ID="req-1", HTTP_X_CORRELATION_ID="cor-1")

    response = client.get("/ocpi/versions")
    assert response.status_code == 200
    body = response.json()
    assert body["status_code"] == 1000 and body["timestamp"].endswith("Z")
    assert body["data"] == [{"version": "2.2.1", "url": "http://127.0.0.1:8000/ocpi/2.2.1"}]
    assert response["X-Request-ID"] == "req-1" and response["X-Correlation-ID"] == "cor-1"

    details = client.get("/ocpi/2.2.1").json()["data"]
    roles = {(e["identifier"], e["role"]) for e in details["endpoints"]}
    assert {("credentials", "SENDER"), ("locations", "SENDER"), ("tariffs", "SENDER"), ("tokens", "RECEIVER")} <= roles


def test_without_or_with_an_unknown_token_401_in_the_envelope(ocpi_client):
    response = ocpi_client().get("/ocpi/versions")
    assert response.status_code == 401 and response.json()["status_code"] == 2000
    response = ocpi_client("nope").get("/ocpi/versions")
    assert response.status_code == 401 and "timestamp" in response.json()


def test_token_a_opens_only_versions_details_and_credentials(ocpi_client):
    token_a = token_a_issue(partner=RoamingPartnerFactory())
    response = ocpi_client(token_a).put("/ocpi/2.2.1/hubclientinfo/DE/EMS", {}, format="json")
    assert response.status_code == 403 and response.json()["status_code"] == 2000


def test_partner_registers_with_token_a(ocpi_client, emsp_platform):
    partner = RoamingPartnerFactory()
    token_a = token_a_issue(partner=partner)

    response = ocpi_client(token_a).post("/ocpi/2.2.1/credentials", their_credentials(), format="json")

    assert response.status_code == 200, response.content
    ours = response.json()["data"]
    assert ours["url"] == "http://127.0.0.1:8000/ocpi/versions"
    assert ours["roles"][0]["role"] == "CPO"
    token_c = ours["token"]
    fetched = [call.request for call in emsp_platform.calls]
    assert fetched[0].headers["Authorization"] == "Token dGhlaXItdG9rZW4tYg=="  # base64("their-token-b")
    partner.refresh_from_db()
    assert partner.state == RoamingState.REGISTERED and partner.partner_token == "their-token-b"
    assert {(r.role, r.country_code, r.party_id) for r in partner.roles.all()} == {("EMSP", "DE", "EMS")}
    assert partner.endpoint("locations", "RECEIVER") == f"{EMSP}/2.2.1/locations"
    # token A is spent, token C works
    assert ocpi_client(token_a).get("/ocpi/versions").status_code == 401
    assert ocpi_client(token_c).get("/ocpi/2.2.1/credentials").json()["data"]["token"] == token_c


def test_bad_credentials_name_the_field_and_write_nothing(ocpi_client):
    partner = RoamingPartnerFactory()
    token_a = token_a_issue(partner=partner)
    body = their_credentials()
    body["roles"][0]["party_id"] = "TOOLONG"
    response = ocpi_client(token_a).post("/ocpi/2.2.1/credentials", body, format="json")
    assert response.status_code == 400
    answer = response.json()
    assert answer["status_code"] == 2001 and "roles[0].party_id" in answer["status_message"]
    partner.refresh_from_db()
    assert partner.state == RoamingState.NEW and partner.roles.count() == 0
    response = ocpi_client(token_a).post("/ocpi/2.2.1/credentials", b"{not json", content_type="application/json")
    assert response.json()["status_code"] == 2001


def test_unreachable_partner_answers_3001_and_token_a_keeps_working(ocpi_client):
    partner = RoamingPartnerFactory()
    token_a = token_a_issue(partner=partner)
    with responses.RequestsMock() as mock:
        mock.get(f"{EMSP}/versions", status=500)
        response = ocpi_client(token_a).post("/ocpi/2.2.1/credentials", their_credentials(), format="json")
    assert response.json()["status_code"] == 3001
    assert "their-token-b" not in response.content.decode()
    partner.refresh_from_db()
    assert partner.state == RoamingState.NEW and partner.partner_token == ""
    assert ocpi_client(token_a).get("/ocpi/versions").status_code == 200


def test_no_common_version_answers_3002(ocpi_client):
    token_a = token_a_issue(partner=RoamingPartnerFactory())
    with responses.RequestsMock() as mock:
        mock.get(f"{EMSP}/versions", json=envelope([{"version": "2.1.1", "url": f"{EMSP}/2.1.1"}]))
        response = ocpi_client(token_a).post("/ocpi/2.2.1/credentials", their_credentials(), format="json")
    assert response.json()["status_code"] == 3002


def test_plain_token_is_accepted_and_recorded(ocpi_client):
    partner, token_c = registered_partner()
    assert ocpi_client(token_c, plain=True).get("/ocpi/versions").status_code == 200
    partner.refresh_from_db()
    assert partner.plain_token_seen_at is not None


def test_partner_rotates_old_token_works_until_the_new_one_is_used(ocpi_client, emsp_platform):
    partner, old_c = registered_partner()
    response = ocpi_client(old_c).put("/ocpi/2.2.1/credentials", their_credentials("their-token-b2"), format="json")
    assert response.status_code == 200, response.content
    new_c = response.json()["data"]["token"]
    partner.refresh_from_db()
    assert partner.partner_token == "their-token-b2"
    assert ocpi_client(old_c).get("/ocpi/versions").status_code == 200  # not yet used the new one
    assert ocpi_client(new_c).get("/ocpi/versions").status_code == 200
    assert ocpi_client(old_c).get("/ocpi/versions").status_code == 401


def test_failed_rotation_leaves_old_credentials(ocpi_client):
    partner, old_c = registered_partner()
    with responses.RequestsMock() as mock:
        mock.get(f"{EMSP}/versions", body=requests.ConnectionError("down"))
        response = ocpi_client(old_c).put("/ocpi/2.2.1/credentials", their_credentials("b2"), format="json")
    assert response.json()["status_code"] == 3001
    partner.refresh_from_db()
    assert partner.partner_token == "their-token-b"
    assert CredentialsToken.objects.filter(partner=partner).count() == 1
    assert ocpi_client(old_c).get("/ocpi/versions").status_code == 200


def test_post_when_registered_is_405_and_put_before_is_405(ocpi_client):
    partner, token_c = registered_partner()
    response = ocpi_client(token_c).post("/ocpi/2.2.1/credentials", their_credentials(), format="json")
    assert response.status_code == 405
    token_a = token_a_issue(partner=RoamingPartnerFactory())
    response = ocpi_client(token_a).put("/ocpi/2.2.1/credentials", their_credentials(), format="json")
    assert response.status_code == 405


def test_partner_deletes_credentials_then_its_token_is_refused(ocpi_client):
    partner, token_c = registered_partner()
    response = ocpi_client(token_c).delete("/ocpi/2.2.1/credentials")
    assert response.status_code == 200 and response.json()["status_code"] == 1000
    partner.refresh_from_db()
    assert partner.state == RoamingState.UNREGISTERED and partner.partner_token == ""
    assert ocpi_client(token_c).get("/ocpi/versions").status_code == 401


def test_we_register_with_the_partner(emsp_platform, ocpi_client):
    partner = RoamingPartnerFactory(versions_url=f"{EMSP}/versions", partner_token="their-token-a")
    emsp_platform.post(f"{EMSP}/2.2.1/credentials", json=envelope(their_credentials("their-token-b")))

    partner_register(partner=partner)

    post = next(c.request for c in emsp_platform.calls if c.request.method == "POST")
    assert post.headers["Authorization"] == "Token dGhlaXItdG9rZW4tYQ=="
    sent = json.loads(post.body)
    partner.refresh_from_db()
    assert partner.state == RoamingState.REGISTERED and partner.partner_token == "their-token-b"
    assert sent["roles"][0]["party_id"] == "OSP"
    assert ocpi_client(sent["token"]).get("/ocpi/versions").status_code == 200


def test_our_rotation_fails_and_nothing_changes(emsp_platform):
    partner, token_c = registered_partner()
    emsp_platform.put(f"{EMSP}/2.2.1/credentials", status=500)
    with pytest.raises(RoamingError):
        partner_rotate(partner=partner)
    partner.refresh_from_db()
    assert partner.partner_token == "their-token-b"
    assert list(CredentialsToken.objects.filter(partner=partner).values_list("kind", flat=True)) == ["C"]


def test_our_rotation_and_unregister(emsp_platform, ocpi_client):
    partner, old_c = registered_partner()
    emsp_platform.put(f"{EMSP}/2.2.1/credentials", json=envelope(their_credentials("their-token-b3")))
    emsp_platform.delete(f"{EMSP}/2.2.1/credentials", json=envelope())
    partner_rotate(partner=partner)
    partner.refresh_from_db()
    assert partner.partner_token == "their-token-b3"
    put = next(c.request for c in emsp_platform.calls if c.request.method == "PUT")
    new_c = json.loads(put.body)["token"]
    assert ocpi_client(new_c).get("/ocpi/versions").status_code == 200
    assert ocpi_client(old_c).get("/ocpi/versions").status_code == 401

    partner_unregister(partner=partner)
    assert any(c.request.method == "DELETE" for c in emsp_platform.calls)
    assert ocpi_client(new_c).get("/ocpi/versions").status_code == 401
    assert RoamingPartner.objects.get(id=partner.id).state == RoamingState.UNREGISTERED


def test_token_a_is_stored_as_a_digest_only():
    partner = RoamingPartnerFactory()
    token = token_a_issue(partner=partner)
    row = CredentialsToken.objects.get(partner=partner)
    assert row.kind == CredentialsTokenKind.A and token not in row.digest and row.last4 == token[-4:]
    assert http_session() is http_session()


def test_hub_client_info_is_stored(ocpi_client):
    partner, token = registered_partner()
    info = {"party_id": "ABC", "country_code": "FR", "role": "EMSP", "status": "CONNECTED"}
    info["last_updated"] = "2024-01-01T00:00:00Z"
    response = ocpi_client(token).put("/ocpi/2.2.1/hubclientinfo/FR/ABC", info, format="json")
    assert response.status_code == 200, response.content
    assert partner.hub_clients.get().status == "CONNECTED"
    got = ocpi_client(token).get("/ocpi/2.2.1/hubclientinfo/FR/ABC").json()["data"]
    assert got["status"] == "CONNECTED"
    response = ocpi_client(token).put("/ocpi/2.2.1/hubclientinfo/FR/XYZ", info, format="json")
    assert response.json()["status_code"] == 2001
    response = ocpi_client(token).put("/ocpi/2.2.1/hubclientinfo/FR/ABC", {**info, "status": "?"}, format="json")
    assert response.json()["status_code"] == 2001 and "status" in response.json()["status_message"]
