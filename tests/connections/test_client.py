"""The partner client, with no network (``responses``)."""

import hashlib
import hmac
import json
import logging

import pytest
import requests
import responses
from responses import matchers

from connections import client
from connections.choices import RequestIdHeaderPolicy
from forecasts.services import webhook_enqueue, webhook_signature
from tests.connections.factories import CapacityProviderFactory
from tests.forecasts.factories import EnvelopeSubscriptionFactory
from tests.groups.factories import CapacityGroupFactory

BASE = "https://cp.example.com/oscp/cp/2.0"
TOKEN = "partner-token-abcdefgh1234"
SECRET = "client-secret-zyxw9876"
TOKEN_URL = "https://auth.example.com/oauth2/token"


@pytest.fixture
def token_partner(db):
    return CapacityProviderFactory(base_url=BASE, partner_token=TOKEN)


@pytest.fixture
def oauth_partner(db):
    return CapacityProviderFactory(
        base_url=BASE,
        service_props={"oauth-token-url": TOKEN_URL, "oauth-client-id": "client-123"},
        oauth_client_secret=SECRET,
    )


def _token_reply(access="access-1", expires_in=3600):
    return responses.Response(
        responses.POST,
        TOKEN_URL,
        json={"access_token": access, "token_type": "Bearer", "expires_in": expires_in},
    )


@responses.activate
def test_token_auth_sends_protocol_headers_and_body(token_partner, make_message):
    message = make_message(
        token_partner, "heartbeat", {"offline_mode_at": "2024-01-01T00:00:00Z"}, correlation_id="c-1"
    )
    responses.post(f"{BASE}/heartbeat", status=204)

    delivery = client.message_post(message=message)

    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == f"Token {TOKEN}"
    assert sent.headers["X-Request-ID"] == message.request_id
    assert sent.headers["X-Correlation-ID"] == "c-1"
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.body) == {"offline_mode_at": "2024-01-01T00:00:00Z"}
    assert delivery.status == 204 and delivery.url == f"{BASE}/heartbeat"
    assert delivery.headers["Authorization"] == "Token ••••1234"


@responses.activate
def test_sealed_body_is_sent_but_not_recorded(token_partner, make_message):
    message = make_message(
        token_partner, "register", {"token": "••••wxyz"}, sealed_body=json.dumps({"token": "our-secret-token-wxyz"})
    )
    responses.post(f"{BASE}/register", status=204)
    client.message_post(message=message)
    assert json.loads(responses.calls[0].request.body) == {"token": "our-secret-token-wxyz"}


@responses.activate
def test_path_override_replaces_message_path(token_partner, make_message):
    token_partner.path_overrides = {"handshake_acknowledge": "handshake_acknowledgment"}
    token_partner.save()
    responses.post(f"{BASE}/handshake_acknowledgment", status=204)
    delivery = client.message_post(message=make_message(token_partner, "handshake_acknowledge"))
    assert delivery.url == f"{BASE}/handshake_acknowledgment"


@responses.activate
def test_any_2xx_is_success_and_4xx_5xx_are_errors(token_partner, make_message):
    responses.post(f"{BASE}/heartbeat", status=200, body="ok")
    assert client.message_post(message=make_message(token_partner)).status == 200
    responses.replace(responses.POST, f"{BASE}/heartbeat", status=404, json={"message": "unknown group"})
    with pytest.raises(client.PartnerPermanentError) as permanent:
        client.message_post(message=make_message(token_partner))
    assert permanent.value.delivery.status == 404 and "unknown group" in str(permanent.value)
    responses.replace(responses.POST, f"{BASE}/heartbeat", status=503)
    with pytest.raises(client.PartnerTemporaryError) as temporary:
        client.message_post(message=make_message(token_partner))
    assert temporary.value.delivery.status == 503


@responses.activate
def test_timeouts_and_connection_errors_become_temporary_errors(token_partner, make_message):
    responses.post(f"{BASE}/heartbeat", body=requests.ConnectTimeout("slow"))
    with pytest.raises(client.PartnerTemporaryError, match="timeout"):
        client.message_post(message=make_message(token_partner))
    responses.replace(responses.POST, f"{BASE}/heartbeat", body=requests.ConnectionError("refused"))
    with pytest.raises(client.PartnerTemporaryError, match="connection failed"):
        client.message_post(message=make_message(token_partner))


@responses.activate
def test_static_headers_are_sent_and_masked_in_the_record(token_partner, make_message):
    token_partner.static_headers = json.dumps({"fp-id": "fp-42", "apikey": "api-key-secret-5555"})
    token_partner.save()
    responses.post(f"{BASE}/heartbeat", status=204)
    delivery = client.message_post(message=make_message(token_partner))
    sent = responses.calls[0].request.headers
    assert sent["apikey"] == "api-key-secret-5555" and sent["fp-id"] == "fp-42"
    assert delivery.headers["apikey"] == "••••5555"
    assert "api-key-secret-5555" not in json.dumps(delivery.headers)


@pytest.mark.parametrize(
    ("policy", "expected_source"),
    [(RequestIdHeaderPolicy.OURS, "ours"), (RequestIdHeaderPolicy.STATIC, "static")],
)
@responses.activate
def test_static_request_id_collision_follows_policy_and_is_recorded(
    token_partner, make_message, policy, expected_source
):
    token_partner.static_headers = json.dumps({"x-request-id": "static-request-id-0000"})
    token_partner.request_id_header_policy = policy
    token_partner.save()
    message = make_message(token_partner)
    responses.post(f"{BASE}/heartbeat", status=204)

    delivery = client.message_post(message=message)

    sent = responses.calls[0].request.headers
    request_ids = [v for k, v in sent.items() if k.lower() == "x-request-id"]
    wanted = message.request_id if expected_source == "ours" else "static-request-id-0000"
    assert request_ids == [wanted]  # exactly one, whatever the case of its name
    assert delivery.headers["X-Request-ID-Source"] == expected_source


@responses.activate
def test_static_headers_cannot_replace_authorization(token_partner, make_message):
    token_partner.static_headers = json.dumps({"authorization": "Token stolen-0000"})
    token_partner.save()
    responses.post(f"{BASE}/heartbeat", status=204)
    client.message_post(message=make_message(token_partner))
    assert responses.calls[0].request.headers["Authorization"] == f"Token {TOKEN}"


@responses.activate
def test_oauth_fetches_a_token_once_and_reuses_it(oauth_partner, make_message):
    responses.add(_token_reply("access-1"))
    responses.post(
        f"{BASE}/heartbeat", status=204, match=[matchers.header_matcher({"Authorization": "Bearer access-1"})]
    )

    first = client.message_post(message=make_message(oauth_partner))
    client.message_post(message=make_message(oauth_partner))

    token_calls = [c for c in responses.calls if c.request.url == TOKEN_URL]
    assert len(token_calls) == 1
    assert "grant_type=client_credentials" in token_calls[0].request.body
    assert first.headers["Authorization"] == "Bearer ••••"  # short tokens: nothing shown


@responses.activate
def test_oauth_refetches_the_token_once_on_401(oauth_partner, make_message):
    responses.add(_token_reply("access-old"))
    responses.add(_token_reply("access-new"))
    responses.post(
        f"{BASE}/heartbeat", status=401, match=[matchers.header_matcher({"Authorization": "Bearer access-old"})]
    )
    responses.post(
        f"{BASE}/heartbeat", status=204, match=[matchers.header_matcher({"Authorization": "Bearer access-new"})]
    )

    assert client.message_post(message=make_message(oauth_partner)).status == 204
    assert len([c for c in responses.calls if c.request.url == TOKEN_URL]) == 2


@responses.activate
def test_oauth_gives_up_after_one_refetch(oauth_partner, make_message):
    responses.add(_token_reply("access-1"))
    responses.add(_token_reply("access-2"))
    responses.post(f"{BASE}/heartbeat", status=401)
    with pytest.raises(client.PartnerPermanentError) as error:
        client.message_post(message=make_message(oauth_partner))
    assert error.value.delivery.status == 401
    assert len([c for c in responses.calls if c.request.url == TOKEN_URL]) == 2


@responses.activate
def test_oauth_bad_credentials_are_permanent_and_secret_is_masked(oauth_partner, make_message, caplog):
    responses.post(TOKEN_URL, status=401, json={"error": "invalid_client", "error_description": f"bad {SECRET}"})
    with caplog.at_level(logging.DEBUG), pytest.raises(client.PartnerPermanentError) as error:
        client.message_post(message=make_message(oauth_partner))
    assert len(responses.calls) == 1  # refused credentials: no second token request, no partner call
    assert SECRET not in str(error.value)
    assert SECRET not in caplog.text


@responses.activate
def test_secrets_never_reach_logs_or_error_texts(token_partner, make_message, caplog):
    token_partner.static_headers = json.dumps({"apikey": "api-key-secret-5555"})
    token_partner.save()
    responses.post(f"{BASE}/heartbeat", status=400, body=f"bad token {TOKEN} with key api-key-secret-5555")
    with caplog.at_level(logging.DEBUG), pytest.raises(client.PartnerPermanentError) as error:
        client.message_post(message=make_message(token_partner))
    for secret in (TOKEN, "api-key-secret-5555"):
        assert secret not in str(error.value)
        assert secret not in caplog.text
        assert secret not in json.dumps(error.value.delivery.headers)


@responses.activate
def test_webhook_is_signed_with_hmac_of_the_raw_body(db):
    group = CapacityGroupFactory()
    hook = EnvelopeSubscriptionFactory(group=group, url="https://tool.example.com/hook", secret="hook-secret-1")
    message = webhook_enqueue(subscription=hook, group=group, body={"group": "g-1", "limit": 5})
    message.refresh_from_db()
    responses.post("https://tool.example.com/hook", status=200)

    delivery = client.message_post(message=message)

    sent = responses.calls[0].request
    expected = hmac.new(b"hook-secret-1", sent.body, hashlib.sha256).hexdigest()
    assert sent.headers["X-Signature"] == f"sha256={expected}"
    assert sent.headers["X-Request-ID"] == message.request_id
    assert json.loads(sent.body) == {"group": "g-1", "limit": 5}
    assert expected not in json.dumps(delivery.headers) and expected not in json.dumps(message.headers)


@responses.activate
def test_missing_token_is_a_permanent_error(db, make_message):
    partner = CapacityProviderFactory(base_url=BASE, partner_token="")
    with pytest.raises(client.PartnerPermanentError, match="no token"):
        client.message_post(message=make_message(partner))
    assert len(responses.calls) == 0


def test_signature_is_hex_hmac_sha256():
    body = b'{"a": 1}'
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert webhook_signature("s3cret", body) == f"sha256={expected}"
