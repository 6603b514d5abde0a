"""Secrets never leave: after a scenario that creates and uses every kind of secret the platform
holds, no plaintext of any of them appears in anything a user or operator can see — every
management API GET (routes walked from the resolver), every admin page (changelist, change and
history of every registered model), the message log rows, every historical table, the log output
at DEBUG, the OpenAPI schema — nor anywhere in the database: secret columns are encrypted, tokens
kept only as digests."""

import json
import logging
import re
from datetime import timedelta

import pytest
import responses
from django.contrib import admin
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from simple_history.models import registered_models

from connections import outbox
from connections.choices import MessageDirection, MessageStatus
from connections.models import InboundToken, Message, Partner
from connections.services import partner_update
from forecasts.models import EnvelopeSubscription, Instruction
from forecasts.services import forecast_receive
from groups.models import Asset, CapacityGroup
from oscp_platform.crypto import token_digest
from roaming.models import Location, Tariff
from roaming.models import Token as RoamingToken
from tests.connections.factories import UserFactory
from tests.forecasts.conftest import blocks
from tests.support.routes import case_name, routes_under

pytestmark = pytest.mark.django_db

API = "/solaruser/api/v1/sec/user/oscp/"
OSCP = "/oscp/fp/2.0/"
CP_BASE = "https://cp.example.com/oscp/cp/2.0"
CO_BASE = "https://co.example.com/oscp/co/2.0"
CP_TOKEN_URL = "https://auth.cp.example.com/oauth2/token"
HOOK_URL = "https://tool.example.com/envelope-hook"

# Secrets we are given (chosen here so they can be searched for).
CP_OAUTH_SECRET = "cp-oauth-client-secret-Q7W8E9R0T1Y2"
CP_STATIC = "cp-static-apikey-A1S2D3F4G5H6"
CO_STATIC = "co-static-apikey-Z9X8C7V6B5N4"
CO_TOKEN_FOR_US = "co-token-for-us-P0O9I8U7Y6T5"  # the optimizer's token, sent at its registration
CP_TOKEN_FOR_US = "cp-token-for-us-R5E4W3Q2A1S0"  # the provider's token, set by staff
CP_ACCESS = "cp-issued-access-token-M1N2B3V4C5X6"  # what the provider's token URL gives us
HOOK_SECRET = "webhook-secret-L1K2J3H4G5F6"


def _echo(request):
    """A hostile partner: its 4xx error repeats everything we sent, credentials included."""
    headers = "; ".join(f"{k}={v}" for k, v in request.headers.items())
    return 400, {}, f"rejected body={request.body.decode()} headers={headers}"


def _echo_5xx(request):
    status, headers, text = _echo(request)
    return 500, headers, text


@pytest.fixture
def scenario(published, caplog):
    """Run everything once; return the secrets that came into being and the clients to look with."""
    caplog.set_level(logging.DEBUG)  # as with LOG_LEVEL=DEBUG
    staff = UserFactory(is_staff=True, is_superuser=True)
    staff.save()  # the factory's password, so an admin session stays valid
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    secrets = {}

    # Partners with an OAuth secret, static headers; their initial tokens (shown once).
    response = api.post(
        API + "capacity-providers",
        {
            "name": "Grid CP",
            "baseUrl": CP_BASE,
            "serviceProps": {
                "oauth-token-url": CP_TOKEN_URL,
                "oauth-client-id": "cp-client",
                "oauth-client-secret": CP_OAUTH_SECRET,
            },
            "staticHeaders": {"apikey": CP_STATIC},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    provider = Partner.objects.get(id=response.json()["data"]["configId"])
    secrets["provider initial token"] = response.json()["data"]["token"]
    response = api.post(
        API + "capacity-optimizers",
        {"name": "Fleet CO", "baseUrl": CO_BASE, "staticHeaders": {"x-api-key": CO_STATIC}},
        format="json",
    )
    assert response.status_code == 201, response.content
    optimizer = Partner.objects.get(id=response.json()["data"]["configId"])
    secrets["optimizer initial token"] = response.json()["data"]["token"]
    response = api.post(
        API + "capacity-groups",
        {
            "name": "Depot",
            "identifier": "depot-1",
            "enabled": True,
            "capacityProviderId": provider.id,
            "capacityOptimizerId": optimizer.id,
            "capacityProviderMeasurementPeriod": "FifteenMinute",
            "capacityOptimizerMeasurementPeriod": "FifteenMinute",
            "microgridId": "mg-1",
            "nodeId": 1,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    group_id = response.json()["data"]["configId"]

    # The optimizer registers with us (its token for us; our reply carries our new token for it).
    oscp = Client()
    body = {"token": CO_TOKEN_FOR_US, "version_url": [{"version": "2.0", "base_url": CO_BASE}]}
    headers = {"Authorization": f"Token {secrets['optimizer initial token']}", "X-Request-ID": "co-reg-1"}
    response = oscp.post(OSCP + "register", json.dumps(body), content_type="application/json", headers=headers)
    assert response.status_code == 204, response.content
    # Staff set the token the provider gave us; we register with it (our token in the body).
    partner_update(partner=provider, actor=staff, partner_token=CP_TOKEN_FOR_US)
    assert api.post(API + f"capacity-providers/{provider.id}/register").status_code == 200

    # OAuth client credentials for the optimizer to call us; it fetches an access token and calls.
    response = api.post(API + f"capacity-optimizers/{optimizer.id}/oauth-client")
    assert response.status_code == 201, response.content
    issued = response.json()["data"]
    secrets["issued client secret"] = issued["clientSecret"]
    response = oscp.post(
        "/oscp/oauth/token",
        {"grant_type": "client_credentials", "client_id": issued["clientId"], "client_secret": issued["clientSecret"]},
    )
    assert response.status_code == 200, response.content
    secrets["issued access token"] = response.json()["access_token"]
    response = oscp.post(
        OSCP + "heartbeat",
        json.dumps({"offline_mode_at": (timezone.now() + timedelta(minutes=5)).isoformat()}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {secrets['issued access token']}", "X-Request-ID": "co-hb-1"},
    )
    assert response.status_code in (204, 403), response.content  # logged either way

    # A webhook subscription with its secret; a forecast changes the envelope and notifies it.
    response = api.post(
        API + "envelope-subscriptions", {"groupId": group_id, "url": HOOK_URL, "secret": HOOK_SECRET}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["data"]["secret"] == HOOK_SECRET
    now = timezone.now()
    forecast_receive(
        group=CapacityGroup.objects.get(id=group_id),
        sender=provider,
        forecast_type="CONSUMPTION",
        blocks=blocks(start=now - timedelta(minutes=15)),
        request_id="fc-1",
        received_at=now,
    )

    # Send everything: the provider echoes what we sent in its 4xx, the webhook in a 5xx.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(
            CP_TOKEN_URL,
            json={"access_token": CP_ACCESS, "token_type": "Bearer", "expires_in": 3600},
        )
        mock.add_callback(responses.POST, re.compile(re.escape(CP_BASE) + ".*"), callback=_echo)
        mock.add_callback(responses.POST, re.compile(re.escape(CO_BASE) + "/register"), callback=_echo)
        mock.add(responses.POST, re.compile(re.escape(CO_BASE) + ".*"), status=204)
        mock.add_callback(responses.POST, HOOK_URL, callback=_echo_5xx)
        for message in Message.objects.filter(direction=MessageDirection.OUTBOUND, status=MessageStatus.PENDING):
            outbox.messages_deliver(message_ids=[message.id])
        sent = [call.request for call in mock.calls]
    assert any(r.url.startswith(CP_BASE) for r in sent), "nothing reached the provider"
    assert any(r.url == HOOK_URL for r in sent), "the webhook was not called"
    # Our tokens for the partners went out in the register bodies.
    for request in sent:
        if request.url.endswith("/register"):
            who = "provider" if request.url.startswith(CP_BASE) else "optimizer"
            secrets[f"our token for the {who}"] = json.loads(request.body)["token"]
    assert {"our token for the provider", "our token for the optimizer"} <= set(secrets)
    # Retry by hand once (dead messages), as staff would.
    for message in Message.objects.filter(status=MessageStatus.DEAD)[:1]:
        assert api.post(API + f"messages/{message.id}/retry").status_code == 200

    secrets |= {
        "provider OAuth client secret": CP_OAUTH_SECRET,
        "provider static header": CP_STATIC,
        "optimizer static header": CO_STATIC,
        "optimizer token for us": CO_TOKEN_FOR_US,
        "provider token for us": CP_TOKEN_FOR_US,
        "provider access token": CP_ACCESS,
        "webhook secret": HOOK_SECRET,
    }
    return {
        "secrets": secrets,
        "api": api,
        "staff": staff,
        "caplog": caplog,
        "provider": provider,
        "optimizer": optimizer,
    }


def _leaks(secrets: dict, where: str, text: str) -> list[str]:
    return [f"{name} in {where}" for name, value in secrets.items() if value in text]


# --- every management API GET ------------------------------------------------------------------


def _ids(model, **filters):
    return list(model.objects.filter(**filters).values_list("id", flat=True))


def _get_urls(name: str) -> list[str]:
    partners = {"capacity-provider": "CapacityProvider", "capacity-optimizer": "CapacityOptimizer"}
    builders = {
        "capacity-provider-list": lambda: [reverse(name)],
        "capacity-optimizer-list": lambda: [reverse(name)],
        "capacity-group-list": lambda: [reverse(name)],
        "asset-list": lambda: [reverse(name)],
        "oscp-messages": lambda: [reverse(name), reverse(name) + "?status=dead", reverse(name) + "?direction=in"],
        "envelope-subscriptions": lambda: [reverse(name)],
        "capacity-provider-detail": lambda: [
            reverse(name, kwargs={"providerId": i}) for i in _ids(Partner, role=partners["capacity-provider"])
        ],
        "capacity-optimizer-detail": lambda: [
            reverse(name, kwargs={"optimizerId": i}) for i in _ids(Partner, role=partners["capacity-optimizer"])
        ],
        "provider-oauth-client": lambda: [reverse(name, kwargs={"pk": i}) for i in _ids(Partner)],
        "optimizer-oauth-client": lambda: [reverse(name, kwargs={"pk": i}) for i in _ids(Partner)],
        "oscp-message": lambda: [reverse(name, kwargs={"pk": i}) for i in _ids(Message)],
        "capacity-group-assets": lambda: [reverse(name, kwargs={"groupId": i}) for i in _ids(CapacityGroup)],
        "capacity-group-detail": lambda: [reverse(name, kwargs={"groupId": i}) for i in _ids(CapacityGroup)],
        "asset-detail": lambda: [reverse(name, kwargs={"assetId": i}) for i in _ids(Asset)],
        "envelopes": lambda: [reverse(name) + f"?groupId={i}" for i in _ids(CapacityGroup)],
        "envelope-subscription": lambda: [
            reverse(name, kwargs={"subscription_id": i}) for i in _ids(EnvelopeSubscription)
        ],
        "group-adjust": lambda: [reverse(name, kwargs={"group_id": i}) for i in _ids(CapacityGroup)],
        "group-compliance-errors": lambda: [reverse(name, kwargs={"group_id": i}) for i in _ids(CapacityGroup)],
        "group-power-series": lambda: [reverse(name, kwargs={"group_id": i}) for i in _ids(CapacityGroup)],
        "instruction-view": lambda: [reverse(name) + f"?id={i}" for i in _ids(Instruction)],
        "roaming-location-list": lambda: [reverse(name)],
        "roaming-tariff-list": lambda: [reverse(name)],
        "roaming-location-detail": lambda: [reverse(name, kwargs={"pk": i}) for i in _ids(Location)],
        "roaming-tariff-detail": lambda: [reverse(name, kwargs={"pk": i}) for i in _ids(Tariff)],
        "roaming-token-list": lambda: [reverse(name)],
        "roaming-token-detail": lambda: [reverse(name, kwargs={"pk": i}) for i in _ids(RoamingToken)],
    }
    builder = builders.get(case_name(name))
    if builder is None:
        pytest.fail(f"no secrets case for GET {name}: add it to _get_urls")
    return builder()


def test_no_management_api_get_shows_a_secret(scenario):
    secrets, api = scenario["secrets"], scenario["api"]
    leaks, seen = [], 0
    for name in sorted({case_name(n) for n, method in routes_under("solaruser/") if method == "get"}):
        for url in _get_urls(name):
            response = api.get(url)
            assert response.status_code in (200, 404), (url, response.status_code)
            seen += response.status_code == 200
            leaks += _leaks(secrets, f"GET {url}", response.content.decode())
    assert seen > 20
    assert not leaks


# --- every admin page --------------------------------------------------------------------------


def test_no_admin_page_shows_a_secret(scenario):
    secrets, web = scenario["secrets"], Client()
    web.force_login(scenario["staff"])
    leaks, pages = [], 0
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        urls = [reverse("admin:{}_{}_changelist".format(*info))]
        for pk in [obj.pk for obj in model_admin.get_queryset(_request(scenario["staff"]))[:30]]:
            urls += [
                reverse("admin:{}_{}_change".format(*info), args=[pk]),
                reverse("admin:{}_{}_history".format(*info), args=[pk]),
            ]
        for url in urls:
            response = web.get(url)
            assert response.status_code == 200, (url, response.status_code)
            pages += 1
            leaks += _leaks(secrets, url, response.content.decode())
    assert pages > 30
    assert not leaks


def _request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


# --- message log, history, logs, schema ----------------------------------------------------------


def test_message_log_rows_show_no_secret(scenario):
    secrets = scenario["secrets"]
    leaks = []
    rows = list(Message.objects.values("id", "url", "headers", "body", "error"))
    assert any(row["error"] for row in rows), "no failed delivery in the scenario"
    for row in rows:
        leaks += _leaks(secrets, f"message {row['id']}", json.dumps(row, default=str, ensure_ascii=False))
    assert not leaks


def test_history_tables_hold_no_secret(scenario):
    secrets = scenario["secrets"]
    leaks = []
    for model in registered_models.values():
        history = model.history.model
        for row in history.objects.values():
            leaks += _leaks(secrets, history._meta.db_table, json.dumps(row, default=str, ensure_ascii=False))
    assert leaks == []


def test_debug_log_output_holds_no_secret(scenario):
    records = scenario["caplog"].get_records("setup")  # the scenario runs while the fixture sets up
    assert any(record.levelno == logging.DEBUG for record in records), "DEBUG was not captured"
    text = "\n".join(f"{record.getMessage()} {record.exc_text or ''} {record.args}" for record in records)
    assert "Sending" in text or "Sent" in text, "the scenario logged nothing about sending"
    assert _leaks(scenario["secrets"], "the log", text) == []


def test_openapi_schema_holds_no_secret(scenario):
    response = scenario["api"].get("/api/schema/")
    assert response.status_code == 200
    assert _leaks(scenario["secrets"], "the schema", response.content.decode()) == []


# --- at rest ---------------------------------------------------------------------------------------


def test_no_table_holds_a_secret_in_plaintext(scenario):
    """Every column of every table, read raw: secrets are encrypted, hashed or digested."""
    secrets = scenario["secrets"]
    leaks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - our own table names
            for row in cursor.fetchall():
                leaks += _leaks(secrets, table, " ".join(str(value) for value in row))
    assert leaks == []


def test_secret_columns_are_encrypted_and_tokens_digests(scenario):
    provider, optimizer = scenario["provider"], scenario["optimizer"]
    provider.refresh_from_db()
    optimizer.refresh_from_db()
    assert provider.oauth_client_secret == CP_OAUTH_SECRET  # readable by the platform ...
    assert optimizer.partner_token == CO_TOKEN_FOR_US
    with connection.cursor() as cursor:  # ... but not in the column
        cursor.execute(
            "SELECT oauth_client_secret, partner_token, static_headers FROM connections_partner WHERE id = %s",
            [optimizer.id],
        )
        raw = cursor.fetchone()
        assert raw[1] and CO_TOKEN_FOR_US not in raw[1] and CO_STATIC not in raw[2]
        cursor.execute("SELECT secret FROM forecasts_envelopesubscription")
        assert HOOK_SECRET not in cursor.fetchone()[0]
    secrets = scenario["secrets"]
    for name in ("provider initial token", "optimizer initial token", "our token for the optimizer"):
        token = secrets[name]
        stored = InboundToken.objects.get(digest=token_digest(token))
        assert stored.last4 == token[-4:] and token not in stored.digest
