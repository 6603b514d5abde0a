"""OAuth2 client credentials for partners calling us (Vector DERMS): staff issue a client id and
secret, the partner fetches an access token at /oscp/oauth/token and calls the OSCP endpoints with
``Authorization: Bearer <access token>``."""

import base64
import hashlib
import json
import logging
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from connections.models import InboundOAuthClient, Message, Partner
from connections.oauth import partner_oauth_client_issue, partner_oauth_client_revoke
from connections.services import inbound_token_issue, partner_delete, partner_update
from connections.tasks import oauth_access_tokens_prune as oauth_access_tokens_prune_task
from forecasts.models import Forecast
from tests.connections.conftest import block
from tests.connections.factories import CapacityOptimizerFactory, CapacityProviderFactory, UserFactory
from tests.groups.factories import CapacityGroupFactory

pytestmark = pytest.mark.django_db

TOKEN_URL = "/oscp/oauth/token"
API = "/solaruser/api/v1/sec/user/oscp"


def token_request(client_id, client_secret, *, grant_type="client_credentials", basic=False, **extra):
    data = {"grant_type": grant_type, **extra} if grant_type is not None else dict(extra)
    headers = {}
    if basic:
        pair = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        headers["Authorization"] = f"Basic {pair}"
    else:
        data.update({"client_id": client_id, "client_secret": client_secret})
    return Client().post(TOKEN_URL, data, headers=headers)


def access_token_for(partner) -> str:
    issued = partner_oauth_client_issue(partner=partner)
    response = token_request(issued.client_id, issued.client_secret)
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def altered(token: str) -> str:
    """The token with its last character changed: never the token itself, whatever it ends with."""
    return token[:-1] + ("y" if token.endswith("x") else "x")


def forecast_body(group):
    return {"group_id": group.identifier, "type": "CONSUMPTION", "forecasted_blocks": [block()]}


def post_forecast(oscp, group, access_token, scheme="Bearer"):
    return oscp.post(
        "update_group_capacity_forecast", forecast_body(group), headers={"Authorization": f"{scheme} {access_token}"}
    )


# --- The token endpoint -------------------------------------------------------------------------


@pytest.mark.parametrize("basic", [False, True], ids=["credentials-in-body", "http-basic"])
def test_right_credentials_get_a_bearer_token_for_the_configured_lifetime(provider, basic):
    issued = partner_oauth_client_issue(partner=provider)

    response = token_request(issued.client_id, issued.client_secret, basic=basic)

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.OSCP_OAUTH_ACCESS_TOKEN_SECONDS == 3600
    assert body["scope"] == "oscp"
    assert "refresh_token" not in body
    assert response["Cache-Control"] == "no-store"
    stored = AccessToken.objects.get()
    assert stored.application.oscp_client.partner == provider
    expected_expiry = timezone.now() + timedelta(seconds=settings.OSCP_OAUTH_ACCESS_TOKEN_SECONDS)
    assert abs((stored.expires - expected_expiry).total_seconds()) < 30


def test_wrong_secret_or_unknown_client_is_401(provider):
    issued = partner_oauth_client_issue(partner=provider)

    wrong_secret = token_request(issued.client_id, issued.client_secret + "x")
    unknown_client = token_request("no-such-client", issued.client_secret)
    wrong_basic = token_request(issued.client_id, "nope", basic=True)

    for response in (wrong_secret, unknown_client, wrong_basic):
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize(
    "grant_type, extra",
    [
        ("password", {"username": "admin", "password": "secret"}),
        ("authorization_code", {"code": "abc", "redirect_uri": "https://example.com/cb"}),
        ("refresh_token", {"refresh_token": "abc"}),
        ("urn:ietf:params:oauth:grant-type:device_code", {"device_code": "abc"}),
        (None, {}),
    ],
)
def test_other_grant_types_are_refused(provider, grant_type, extra):
    issued = partner_oauth_client_issue(partner=provider)

    response = token_request(issued.client_id, issued.client_secret, grant_type=grant_type, **extra)

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
    assert "client_credentials" in response.json()["error_description"]
    assert not AccessToken.objects.exists()


def test_token_endpoint_answers_only_post_and_the_toolkit_s_other_endpoints_are_not_served(client):
    assert client.get(TOKEN_URL).status_code == 405
    for path in ("/o/authorize/", "/o/token/", "/oscp/oauth/authorize", "/oscp/oauth/revoke_token", "/o/applications/"):
        assert client.get(path).status_code == 404, path


def test_client_secret_is_stored_hashed_and_access_tokens_only_as_checksums(provider):
    issued = partner_oauth_client_issue(partner=provider)
    token = token_request(issued.client_id, issued.client_secret).json()["access_token"]

    application = Application.objects.get(client_id=issued.client_id)
    assert application.client_secret.startswith("pbkdf2_sha256_client_secret$1000$")
    assert check_password(issued.client_secret, application.client_secret)
    stored = AccessToken.objects.get()
    assert stored.token == ""  # RFC 9700: the bearer token itself is not kept at rest
    assert token not in json.dumps(list(AccessToken.objects.values()), default=str)


def test_neither_secret_nor_access_token_reaches_the_logs_even_at_debug(provider, group, oscp, caplog):
    caplog.set_level(logging.DEBUG)
    issued = partner_oauth_client_issue(partner=provider)
    token = token_request(issued.client_id, issued.client_secret).json()["access_token"]
    token_request(issued.client_id, "wrong-secret")
    assert post_forecast(oscp, group, token).status_code == 204
    assert post_forecast(oscp, group, altered(token)).status_code == 403

    assert token not in caplog.text
    assert issued.client_secret not in caplog.text


# --- Calling the OSCP endpoints with the access token -------------------------------------------


def test_forecast_posted_with_the_bearer_token_is_stored_for_that_partner(provider, group, oscp):
    token = access_token_for(provider)

    sent = post_forecast(oscp, group, token)

    assert sent.status_code == 204
    stored = Forecast.objects.get()
    assert (stored.group, stored.sender, stored.request_id) == (group, provider, sent.request_id)
    logged = Message.objects.get(direction="in", request_id=sent.request_id)
    assert logged.partner == provider and logged.status == "accepted"


def test_an_optimizer_authenticates_as_itself(optimizer, group, oscp):
    token = access_token_for(optimizer)
    body = {**forecast_body(group), "type": "OPTIMUM"}

    sent = oscp.post("update_group_capacity_forecast", body, headers={"Authorization": f"Bearer {token}"})

    assert sent.status_code == 204
    assert Forecast.objects.get().sender == optimizer


def test_message_log_masks_the_bearer_token(provider, group, oscp):
    token = access_token_for(provider)
    accepted = post_forecast(oscp, group, token)
    rejected = oscp.post(
        "update_group_capacity_forecast", {"group_id": "nope"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert (accepted.status_code, rejected.status_code) == (204, 400)

    rows = list(Message.objects.filter(direction="in").values())
    assert len(rows) == 2
    assert token not in json.dumps(rows, default=str)
    assert {row["headers"]["Authorization"] for row in rows} == {f"Bearer ••••{token[-4:]}"}


def test_expired_access_token_is_403_and_says_where_to_get_a_new_one(provider, group, oscp):
    token = access_token_for(provider)
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))

    sent = post_forecast(oscp, group, token)

    assert sent.status_code == 403
    assert "expired" in sent.json()["message"]
    assert settings.OSCP_OAUTH_TOKEN_URL in sent.json()["message"]
    assert not Forecast.objects.exists()
    assert Message.objects.get(direction="in").partner == provider  # the refusal is on its log


def test_unknown_access_token_is_403(provider, group, oscp):
    token = access_token_for(provider)
    sent = post_forecast(oscp, group, altered(token))
    assert sent.status_code == 403
    assert sent.json() == {"message": "Token unknown or no longer valid."}


def test_access_token_must_be_sent_as_bearer(provider, group, oscp):
    token = access_token_for(provider)
    assert post_forecast(oscp, group, token, scheme="Token").status_code == 403
    assert post_forecast(oscp, group, token, scheme="bearer").status_code == 204


def test_revoked_credentials_end_their_access_tokens(provider, group, oscp):
    token = access_token_for(provider)
    assert partner_oauth_client_revoke(partner=provider) is True

    assert post_forecast(oscp, group, token).status_code == 403
    assert not Application.objects.exists() and not AccessToken.objects.exists()
    assert partner_oauth_client_revoke(partner=provider) is False


def test_reissued_credentials_replace_the_old_ones_and_their_tokens(provider, group, oscp):
    old = partner_oauth_client_issue(partner=provider)
    old_token = token_request(old.client_id, old.client_secret).json()["access_token"]

    new = partner_oauth_client_issue(partner=provider)

    assert new.client_id != old.client_id
    assert post_forecast(oscp, group, old_token).status_code == 403
    assert token_request(old.client_id, old.client_secret).status_code == 401
    new_token = token_request(new.client_id, new.client_secret).json()["access_token"]
    assert post_forecast(oscp, group, new_token).status_code == 204
    assert InboundOAuthClient.objects.get().application.client_id == new.client_id


def test_token_of_partner_a_cannot_touch_partner_b_groups(provider, group, oscp):
    other = CapacityProviderFactory()
    other_group = CapacityGroupFactory(owner=other.owner, capacity_provider=other)
    token = access_token_for(provider)

    sent = post_forecast(oscp, other_group, token)

    assert sent.status_code == 404
    assert sent.json()["message"] == f"group_id: unknown group {other_group.identifier!r}."
    assert not Forecast.objects.exists()


def test_disabled_partner_is_403(provider, group, oscp):
    token = access_token_for(provider)
    partner_update(partner=provider, enabled=False)

    sent = post_forecast(oscp, group, token)

    assert sent.status_code == 403
    assert sent.json() == {"message": "This partner is disabled."}
    assert not Forecast.objects.exists()


def test_access_token_of_an_application_no_partner_owns_is_403(group, oscp):
    application = Application.objects.create(
        name="made in the toolkit's admin",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret="a-secret-of-forty-characters-or-so-0000",
    )
    response = token_request(application.client_id, "a-secret-of-forty-characters-or-so-0000")
    assert response.status_code == 200

    assert post_forecast(oscp, group, response.json()["access_token"]).status_code == 403


def test_our_own_token_still_works_as_token_or_bearer(provider, group, oscp):
    ours = inbound_token_issue(partner=provider)
    partner_oauth_client_issue(partner=provider)
    assert post_forecast(oscp, group, ours, scheme="Token").status_code == 204
    assert post_forecast(oscp, group, ours, scheme="Bearer").status_code == 204


def test_deleting_the_partner_deletes_its_oauth_client_and_tokens(owner):
    partner = CapacityProviderFactory(owner=owner)
    access_token_for(partner)

    partner_delete(partner=partner)

    assert not Application.objects.exists()
    assert not AccessToken.objects.exists()


# --- Issued by staff: admin action, management API; the secret is shown once -----------------


def test_admin_action_shows_the_secret_once_never_again_never_in_history(admin_client, admin_user, group, oscp):
    provider = group.capacity_provider
    changelist = reverse("admin:connections_capacityprovider_changelist")

    response = admin_client.post(
        changelist, {"action": "issue_oauth_client", "_selected_action": [provider.id]}, follow=True
    )

    assert response.redirect_chain == [(changelist, 302)]
    [shown] = [str(m) for m in response.context["messages"]]
    link = InboundOAuthClient.objects.get(partner=provider)
    client_id = link.application.client_id
    secret = re.search(r'<code id="oauth-client-secret-\d+">([^<]+)</code><button[^>]+class="copy-button"', shown)[1]
    assert settings.OSCP_OAUTH_TOKEN_URL in shown and client_id in shown
    # The credentials in the message work.
    token = token_request(client_id, secret).json()["access_token"]
    assert post_forecast(oscp, group, token).status_code == 204

    change_page = admin_client.get(reverse("admin:connections_capacityprovider_change", args=[provider.id]))
    page = change_page.content.decode()
    assert client_id in page and settings.OSCP_OAUTH_TOKEN_URL in page
    assert secret not in page
    history_page = admin_client.get(reverse("admin:connections_capacityprovider_history", args=[provider.id]))
    assert "OAuth client credentials issued" in history_page.content.decode()
    assert secret not in history_page.content.decode()
    rows = list(Partner.history.filter(id=provider.id).values())
    assert secret not in json.dumps(rows, default=str)
    assert rows[0]["history_user_id"] == admin_user.id
    assert rows[0]["history_change_reason"] == f"OAuth client credentials issued (client id {client_id})"


def test_admin_change_page_shows_the_token_url_before_any_credentials(admin_client):
    partner = CapacityOptimizerFactory()
    page = admin_client.get(reverse("admin:connections_capacityoptimizer_change", args=[partner.id]))
    assert "None issued" in page.content.decode()
    assert settings.OSCP_OAUTH_TOKEN_URL in page.content.decode()


def test_admin_revoke_action_ends_the_access_tokens(admin_client, group, oscp):
    provider = group.capacity_provider
    token = access_token_for(provider)
    changelist = reverse("admin:connections_capacityprovider_changelist")

    admin_client.post(changelist, {"action": "revoke_oauth_client", "_selected_action": [provider.id]})

    assert post_forecast(oscp, group, token).status_code == 403
    assert not InboundOAuthClient.objects.exists()


@pytest.mark.parametrize(
    "role_path, factory",
    [("capacity-providers", CapacityProviderFactory), ("capacity-optimizers", CapacityOptimizerFactory)],
)
def test_api_issues_credentials_once_then_shows_only_the_client_id(api_client, user, role_path, factory):
    partner = factory(owner=user)
    url = f"{API}/{role_path}/{partner.id}/oauth-client"
    assert api_client.get(url).status_code == 404

    issued = api_client.post(url)

    assert issued.status_code == 201
    data = issued.json()["data"]
    assert set(data) == {"clientId", "clientSecret", "tokenUrl", "grantType", "accessTokenSeconds", "created"}
    assert data["tokenUrl"] == settings.OSCP_OAUTH_TOKEN_URL
    assert data["grantType"] == "client_credentials"
    assert token_request(data["clientId"], data["clientSecret"]).status_code == 200
    shown = api_client.get(url)
    assert shown.status_code == 200
    assert shown.json()["data"]["clientId"] == data["clientId"]
    assert "clientSecret" not in shown.json()["data"]
    assert data["clientSecret"] not in shown.content.decode()
    partner_page = api_client.get(f"{API}/{role_path}/{partner.id}")
    assert data["clientSecret"] not in partner_page.content.decode()
    history = list(Partner.history.filter(id=partner.id).values())
    assert data["clientSecret"] not in json.dumps(history, default=str)
    assert history[0]["history_user_id"] == user.id


def test_api_delete_revokes_and_other_accounts_get_404(api_client, other_api_client, user, oscp):
    partner = CapacityProviderFactory(owner=user)
    group = CapacityGroupFactory(owner=user, capacity_provider=partner)
    url = f"{API}/capacity-providers/{partner.id}/oauth-client"
    data = api_client.post(url).json()["data"]
    token = token_request(data["clientId"], data["clientSecret"]).json()["access_token"]

    assert other_api_client.post(url).status_code == 404
    assert other_api_client.get(url).status_code == 404
    assert other_api_client.delete(url).status_code == 404
    assert api_client.post(f"{API}/capacity-optimizers/{partner.id}/oauth-client").status_code == 404
    assert post_forecast(oscp, group, token).status_code == 204  # untouched by the refused calls

    assert api_client.delete(url).status_code == 204
    assert post_forecast(oscp, group, token).status_code == 403
    assert api_client.get(url).status_code == 404
    assert api_client.delete(url).status_code == 404


def test_expired_access_tokens_are_pruned_live_ones_kept(provider, group, oscp):
    issued = partner_oauth_client_issue(partner=provider)
    old, new = (token_request(issued.client_id, issued.client_secret).json()["access_token"] for _ in range(2))
    AccessToken.objects.filter(token_checksum=hashlib.sha256(old.encode()).hexdigest()).update(
        expires=timezone.now() - timedelta(minutes=1)
    )

    assert oauth_access_tokens_prune_task() == 1

    assert AccessToken.objects.count() == 1
    assert post_forecast(oscp, group, new).status_code == 204
    assert post_forecast(oscp, group, old).status_code == 403


def test_staff_who_may_only_view_partners_cannot_issue_credentials(client, provider):
    viewer = UserFactory(is_staff=True)
    viewer.save()  # the factory sets the password after saving
    viewer.user_permissions.add(Permission.objects.get(codename="view_capacityprovider"))
    client.force_login(viewer)
    changelist = reverse("admin:connections_capacityprovider_changelist")
    assert client.get(changelist).status_code == 200

    client.post(changelist, {"action": "issue_oauth_client", "_selected_action": [provider.id]})

    assert not InboundOAuthClient.objects.exists()
