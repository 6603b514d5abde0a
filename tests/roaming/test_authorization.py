import json

import pytest
import requests
import responses

from roaming.services import credentials_delete, location_save, token_put
from tests.roaming.test_locations import location_body
from tests.roaming.test_tokens import token_body

from .conftest import envelope
from .factories import registered_partner

pytestmark = pytest.mark.django_db
AUTHORIZE = "/solaruser/api/v1/sec/user/oscp/roaming/tokens/authorize"
EMSP_AUTHORIZE = "https://emsp.example.com/ocpi/2.2.1/tokens/012345678/authorize?type=RFID"


@pytest.fixture
def setup(user):
    """A's eMSP with a token (whitelist ALLOWED) and one of A's locations."""
    partner, _ = registered_partner(owner=user)
    token = token_put(partner=partner, data={**token_body(), "last_updated": "2024-02-01T10:00:00Z"})
    location_save(owner=user, data=location_body())
    return partner, token


def ask(api_client, **overrides):
    body = {"uid": "012345678", "type": "RFID", "locationId": "LOC1", "evseUids": ["EVSE1"], **overrides}
    response = api_client.post(AUTHORIZE, body, format="json")
    return response


@responses.activate
def test_the_emsps_decision_is_the_answer(api_client, setup, settings):
    partner, token = setup
    responses.post(
        EMSP_AUTHORIZE,
        json=envelope(
            {"allowed": "ALLOWED", "token": token_body(), "authorization_reference": "REF-1",
             "info": {"language": "en", "text": "Enjoy"}}
        ),
    )  # fmt: skip
    response = ask(api_client)
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert (data["authorized"], data["allowed"], data["source"]) == (True, "ALLOWED", "emsp")
    assert data["authorizationReference"] == "REF-1" and data["info"]["text"] == "Enjoy"
    assert (data["tokenConfigId"], data["partnerId"]) == (token.id, partner.id)
    sent = responses.calls[0].request
    assert json.loads(sent.body) == {"location_id": "LOC1", "evse_uids": ["EVSE1"]}
    assert sent.headers["OCPI-to-party-id"] == "EMS" and sent.headers["OCPI-from-party-id"] == "OSP"
    assert sent.headers["Authorization"].startswith("Token ") and "their-token-b" not in sent.headers["Authorization"]


@responses.activate
def test_a_blocked_answer_is_not_authorized(api_client, setup):
    responses.post(EMSP_AUTHORIZE, json=envelope({"allowed": "BLOCKED", "token": token_body()}))
    data = ask(api_client).json()["data"]
    assert (data["authorized"], data["allowed"], data["source"]) == (False, "BLOCKED", "emsp")


@pytest.mark.parametrize(
    ("whitelist", "valid", "allowed"),
    [("ALLOWED", True, "ALLOWED"), ("ALLOWED_OFFLINE", True, "ALLOWED"), ("NEVER", True, "NOT_ALLOWED"),
     ("ALLOWED", False, "NOT_ALLOWED")],
)  # fmt: skip
@responses.activate
def test_timeout_falls_back_to_the_whitelist(api_client, setup, settings, whitelist, valid, allowed):
    partner, _ = setup
    token_put(
        partner=partner, data={**token_body(whitelist=whitelist, valid=valid), "last_updated": "2024-02-02T10:00:00Z"}
    )
    settings.OCPI_AUTHORIZE_TIMEOUT_SECONDS = 0.5
    responses.post(EMSP_AUTHORIZE, body=requests.exceptions.ReadTimeout("slow"))
    data = ask(api_client).json()["data"]
    assert (data["allowed"], data["source"], data["whitelist"]) == (allowed, "whitelist", whitelist)
    assert "did not answer within 0.5 s" in data["reason"]


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 500, "body": "oops"},
        {"status": 404, "json": envelope(status_code=2004)},
        {"status": 200, "json": envelope({"allowed": "MAYBE", "token": {}})},
    ],
)
@responses.activate
def test_an_emsp_error_falls_back_to_the_whitelist(api_client, setup, answer):
    responses.post(EMSP_AUTHORIZE, **answer)
    data = ask(api_client).json()["data"]
    assert (data["allowed"], data["source"]) == ("ALLOWED", "whitelist") and data["reason"]


@responses.activate
def test_always_is_not_asked_and_unknown_or_unregistered_are_refused(api_client, setup):
    partner, _ = setup
    token_put(partner=partner, data={**token_body(whitelist="ALWAYS"), "last_updated": "2024-02-02T10:00:00Z"})
    data = ask(api_client).json()["data"]
    assert (data["allowed"], data["source"]) == ("ALLOWED", "whitelist") and not responses.calls
    data = ask(api_client, uid="NOPE").json()["data"]
    assert (data["authorized"], data["source"], data["reason"]) == (False, "refused", "unknown token")
    credentials_delete(partner=partner, reason="test")
    data = ask(api_client).json()["data"]
    assert (data["authorized"], data["source"]) == (False, "refused") and "unregistered" in data["reason"]
    assert not responses.calls


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"locationId": "NOPE"}, "locationId"), ({"evseUids": ["EVSE9"]}, "evseUids"), ({"type": "CARD"}, "type"),
     ({"uid": ""}, "uid")],
)  # fmt: skip
def test_bad_questions_name_the_field(api_client, setup, overrides, field):
    response = ask(api_client, **overrides)
    assert response.status_code == 400 and field in response.json()["message"], response.content


@responses.activate
def test_a_live_partners_token_wins_over_a_newer_copy_at_one_that_left(api_client, user, setup):
    partner, token = setup
    gone, _ = registered_partner(owner=user, base="https://gone.example.com/ocpi")
    token_put(partner=gone, data={**token_body(), "last_updated": "2024-03-01T10:00:00Z"})
    credentials_delete(partner=gone, reason="test")
    responses.post(EMSP_AUTHORIZE, json=envelope({"allowed": "ALLOWED", "token": token_body()}))
    data = ask(api_client).json()["data"]
    assert (data["source"], data["tokenConfigId"]) == ("emsp", token.id)
