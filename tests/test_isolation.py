"""Isolation between accounts and between partners.

Management API: every route under ``/solaruser/`` is found by walking the URL resolver, and every
method of it has a case below in which a second account tries to read, list, change, delete or act
on the first account's objects: ids answer 404, lists and queries never show them, references in
bodies are refused as unknown, and nothing of the first account changes. A route added later
without a case fails ``test_every_management_route_has_an_isolation_case``.

OSCP: a partner's token never reaches a group it is not provider or optimizer of (404, word for
word like an unknown group), on every group-scoped message, and a partner of another account whose
group has the same identifier only ever touches its own group."""

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
import responses
from django.urls import reverse
from django.utils import timezone

from connections.choices import ConnectionState, MessageDirection, MessageStatus, RegistrationStatus
from connections.models import InboundOAuthClient, Message, Partner
from connections.oauth import partner_oauth_client_issue
from connections.services import inbound_token_issue
from forecasts.compliance import compliance_error_raise
from forecasts.models import AdjustmentRequest, ComplianceError, EnvelopeSubscription, Forecast, Instruction
from forecasts.services import adjustment_request, forecast_receive, subscription_create
from groups.models import Asset, CapacityGroup
from measurements.aggregation import window_measure
from measurements.models import Reading
from measurements.selectors import group_power_series
from roaming.services import token_put
from tests.connections.conftest import OscpClient, block
from tests.connections.factories import CapacityOptimizerFactory, CapacityProviderFactory
from tests.groups.factories import AssetFactory, CapacityGroupFactory
from tests.roaming.factories import registered_partner
from tests.roaming.test_tokens import token_body
from tests.support.routes import case_name, routes_under

pytestmark = pytest.mark.django_db


MANAGEMENT_ROUTES = routes_under("solaruser/")


# --- two accounts ---------------------------------------------------------------------------------


def _registered(factory, owner, **extra):
    return factory(
        owner=owner,
        connection_state=ConnectionState.ONLINE,
        registration_status=RegistrationStatus.REGISTERED,
        partner_token=f"their-token-{uuid.uuid4().hex}",
        **extra,
    )


@dataclass
class World:
    a: object  # API client of the first account
    b: object  # API client of the second account
    user_a: object
    user_b: object
    pa: Partner  # A's provider
    oa: Partner  # A's optimizer
    ga: CapacityGroup  # A's group "site-1" on mg-1/123
    ga_only: CapacityGroup  # A's group whose identifier B has no group for
    aa: Asset
    forecast: Forecast
    subscription: EnvelopeSubscription
    adjustment: AdjustmentRequest
    compliance: ComplianceError
    dead: Message
    instruction: Instruction
    oauth_client_id: str
    pb: Partner
    ob: Partner
    gb: CapacityGroup  # B's group, same identifier and binding as ga
    ab: Asset
    tokens: dict


def _a_snapshot(w: World) -> dict:
    """Everything of account A a stray write could change."""
    return {
        "partners": list(Partner.objects.filter(owner=w.user_a).order_by("id").values()),
        "groups": list(CapacityGroup.objects.filter(owner=w.user_a).order_by("id").values()),
        "assets": list(Asset.objects.filter(group__owner=w.user_a).order_by("id").values()),
        "subscriptions": list(EnvelopeSubscription.objects.filter(group__owner=w.user_a).values("id", "url", "group")),
        "messages": list(Message.objects.filter(partner__owner=w.user_a).values("id", "status", "next_attempt_at")),
        "adjustments": AdjustmentRequest.objects.filter(group__owner=w.user_a).count(),
        "compliance": ComplianceError.objects.filter(group__owner=w.user_a).count(),
        "forecasts": Forecast.objects.filter(group__owner=w.user_a).count(),
        "oauth": list(InboundOAuthClient.objects.filter(partner__owner=w.user_a).values("application__client_id")),
        "readings": Reading.objects.filter(owner=w.user_a).count(),
        "instructions": Instruction.objects.filter(owner=w.user_a).count(),
    }


@pytest.fixture
def world(user, other_user, api_client, other_api_client, published):
    now = timezone.now()
    pa = _registered(CapacityProviderFactory, user)
    oa = _registered(CapacityOptimizerFactory, user)
    ga = CapacityGroupFactory(
        owner=user, capacity_provider=pa, capacity_optimizer=oa, identifier="site-1", microgrid_id="mg-1", node_id=123
    )
    ga_only = CapacityGroupFactory(
        owner=user, capacity_provider=pa, capacity_optimizer=oa, identifier="only-a", microgrid_id="mg-a", node_id=7
    )
    aa = AssetFactory(group=ga, identifier="meter-1", node_id=123, source_id="charger/1")
    blocks = [
        {
            "capacity": Decimal("10"),
            "phase": "ALL",
            "unit": "KW",
            "start_time": now - timedelta(hours=1),
            "end_time": now + timedelta(hours=1),
        }
    ]
    forecast = forecast_receive(
        group=ga, sender=pa, forecast_type="CONSUMPTION", blocks=blocks, request_id="fc-a", received_at=now
    )
    subscription, _ = subscription_create(group=ga, url="https://hooks.a.example/envelope")
    adjustment = adjustment_request(group=ga, forecast_type="CONSUMPTION", blocks=blocks, requested_by=user)
    compliance = compliance_error_raise(group=ga, forecast=forecast, message="cannot", raised_by=user)
    dead = Message.objects.create(
        partner=pa,
        group=ga,
        direction=MessageDirection.OUTBOUND,
        message_type="heartbeat",
        request_id=str(uuid.uuid4()),
        status=MessageStatus.DEAD,
        body={},
        deadline=now + timedelta(hours=1),
    )
    issued = partner_oauth_client_issue(partner=pa, actor=user)
    instruction_body = {
        "nodeId": "1",
        "params": {
            "coId": str(oa.id),
            "cgIdentifier": "site-1",
            "action": "Handshake",
            "msg": json.dumps({"required_behaviour": {"heartbeat_interval": 60}}),
        },
    }
    response = api_client.post("/solaruser/api/v1/sec/instr/add/OSCP_v20", instruction_body, format="json")
    assert response.status_code == 200, response.content
    instruction = Instruction.objects.get(id=response.json()["data"]["id"])

    pb = _registered(CapacityProviderFactory, other_user)
    ob = _registered(CapacityOptimizerFactory, other_user)
    gb = CapacityGroupFactory(
        owner=other_user,
        capacity_provider=pb,
        capacity_optimizer=ob,
        identifier="site-1",
        microgrid_id="mg-1",
        node_id=123,
    )
    ab = AssetFactory(group=gb, identifier="meter-1", node_id=123, source_id="charger/1")
    tokens = {p: inbound_token_issue(partner=p) for p in (pa, oa, pb, ob)}
    return World(
        a=api_client,
        b=other_api_client,
        user_a=user,
        user_b=other_user,
        pa=pa,
        oa=oa,
        ga=ga,
        ga_only=ga_only,
        aa=aa,
        forecast=forecast,
        subscription=subscription,
        adjustment=adjustment,
        compliance=compliance,
        dead=dead,
        instruction=instruction,
        oauth_client_id=issued.client_id,
        pb=pb,
        ob=ob,
        gb=gb,
        ab=ab,
        tokens=tokens,
    )


# --- what B tries, per route and method ------------------------------------------------------------


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    rows = data["results"] if isinstance(data, dict) and "results" in data else data
    return {row.get("configId", row.get("id")) for row in rows}


def _not_found(response):
    assert response.status_code == 404, (response.status_code, response.content)


def _partner_body(w, name="Hijack"):
    return {"name": name, "baseUrl": "https://evil.example/oscp/2.0", "enabled": True}


def _group_body(w, **overrides):
    body = {
        "name": "Mine now",
        "identifier": "hijack",
        "enabled": True,
        "capacityProviderId": w.pb.id,
        "capacityProviderMeasurementPeriod": "FifteenMinute",
        "microgridId": "mg-9",
        "nodeId": 9,
    }
    return body | overrides


def _asset_body(w, **overrides):
    body = {
        "name": "Meter",
        "identifier": "m-9",
        "enabled": True,
        "capacityGroupId": w.gb.id,
        "audience": "CapacityProvider",
        "nodeId": 123,
        "sourceId": "charger/9",
        "category": "Charging",
        "phase": "All",
        "instantaneous": {"propertyNames": ["watts"], "unit": "W", "multiplier": 1, "statisticType": "Maximum"},
        "energy": {
            "propertyNames": ["wattHours"],
            "unit": "Wh",
            "multiplier": 1,
            "statisticType": "Difference",
            "type": "Total",
            "direction": "Import",
        },
    }
    return body | overrides


def partner_list_get(w, url, partner):
    assert partner.id not in _ids(w.b.get(url()))
    assert partner.id not in _ids(w.b.get(url() + f"?name={partner.name}"))


def partner_list_post(w, url, partner):
    # B's new partner is B's: A's list never shows it, and A's partners are untouched.
    response = w.b.post(url(), _partner_body(w), format="json")
    assert response.status_code == 201, response.content
    created = response.json()["data"]["configId"]
    assert Partner.objects.get(id=created).owner == w.user_b
    assert created not in _ids(w.a.get(url()))


def partner_detail(method):
    def case(w, url, partner, key):
        kwargs = {key: partner.id}
        if method == "get":
            _not_found(w.b.get(url(**kwargs)))
        elif method == "put":
            _not_found(w.b.put(url(**kwargs), _partner_body(w), format="json"))
        else:
            _not_found(w.b.delete(url(**kwargs)))

    return case


def partner_action(w, url, partner):
    before = Message.objects.filter(partner=partner).count()
    _not_found(w.b.post(url(pk=partner.id)))
    assert Message.objects.filter(partner=partner).count() == before


def oauth_client(method):
    def case(w, url, partner):
        response = getattr(w.b, method)(url(pk=partner.id))
        _not_found(response)
        assert "clientSecret" not in response.content.decode()

    return case


def messages_get(w, url):
    mine = set(Message.objects.filter(partner__owner=w.user_a).values_list("id", flat=True))
    assert mine
    for query in ("", f"?partner={w.pa.id}", f"?group={w.ga.id}", "?status=dead", f"?requestId={w.dead.request_id}"):
        assert not (_ids(w.b.get(url() + query)) & mine), query
    assert _ids(w.b.get(url() + f"?partner={w.pa.id}")) == set()


def message_get(w, url):
    _not_found(w.b.get(url(pk=w.dead.id)))


def message_retry(w, url):
    _not_found(w.b.post(url(pk=w.dead.id)))


def group_assets_get(w, url):
    _not_found(w.b.get(url(groupId=w.ga.id)))


def groups_get(w, url):
    assert w.ga.id not in _ids(w.b.get(url()))
    assert _ids(w.b.get(url() + f"?capacityProviderId={w.pa.id}")) == set()
    assert _ids(w.b.get(url() + "?identifier=site-1")) == {w.gb.id}


def groups_post(w, url):
    response = w.b.post(url(), _group_body(w, capacityProviderId=w.pa.id), format="json")
    assert response.status_code == 400 and "capacityProviderId" in response.json()["errors"], response.content
    response = w.b.post(url(), _group_body(w, capacityOptimizerId=w.oa.id), format="json")
    assert response.status_code == 400 and "capacityOptimizerId" in response.json()["errors"], response.content


def group_detail(method):
    def case(w, url):
        if method == "get":
            _not_found(w.b.get(url(groupId=w.ga.id)))
        elif method == "put":
            _not_found(w.b.put(url(groupId=w.ga.id), _group_body(w, identifier="site-1"), format="json"))
            # Nor can B point its own group at A's provider.
            response = w.b.put(url(groupId=w.gb.id), _group_body(w, capacityProviderId=w.pa.id), format="json")
            assert response.status_code == 400 and "capacityProviderId" in response.json()["errors"]
        else:
            _not_found(w.b.delete(url(groupId=w.ga.id)))

    return case


def assets_get(w, url):
    assert w.aa.id not in _ids(w.b.get(url()))
    assert _ids(w.b.get(url() + f"?capacityGroupId={w.ga.id}")) == set()


def assets_post(w, url):
    response = w.b.post(url(), _asset_body(w, capacityGroupId=w.ga.id), format="json")
    assert response.status_code == 400 and "capacityGroupId" in response.json()["errors"], response.content


def asset_detail(method):
    def case(w, url):
        if method == "get":
            _not_found(w.b.get(url(assetId=w.aa.id)))
        elif method == "put":
            _not_found(w.b.put(url(assetId=w.aa.id), _asset_body(w), format="json"))
            response = w.b.put(url(assetId=w.ab.id), _asset_body(w, capacityGroupId=w.ga.id), format="json")
            assert response.status_code == 400 and "capacityGroupId" in response.json()["errors"]
        else:
            _not_found(w.b.delete(url(assetId=w.aa.id)))

    return case


def envelopes_get(w, url):
    # Same binding in both accounts: B sees its own group, on fallback, never A's forecast.
    response = w.b.get(url() + "?microgridId=mg-1&nodeId=123")
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["groupId"] == w.gb.id and data["reason"] != "forecast"
    _not_found(w.b.get(url() + f"?groupId={w.ga.id}"))
    _not_found(w.b.get(url() + f"?microgridId={w.ga_only.microgrid_id}&groupId={w.ga_only.id}"))
    now = timezone.now()
    span = f"&from={(now - timedelta(hours=2)):%Y-%m-%d %H:%M:%SZ}&to={(now + timedelta(hours=2)):%Y-%m-%d %H:%M:%SZ}"
    response = w.b.get(url() + "?microgridId=mg-1&nodeId=123" + span)
    assert response.status_code == 200, response.content
    rows = response.json()["data"]
    assert rows and {row["groupId"] for row in rows} == {w.gb.id}
    assert all(row["reason"] != "forecast" for row in rows)


def subscriptions_get(w, url):
    assert w.subscription.id not in _ids(w.b.get(url()))


def subscriptions_post(w, url):
    response = w.b.post(url(), {"groupId": w.ga.id, "url": "https://evil.example/hook"}, format="json")
    assert response.status_code == 400 and "groupId" in response.json()["errors"], response.content


def subscription_detail(method):
    def case(w, url):
        target = url(subscription_id=w.subscription.id)
        body = {"groupId": w.gb.id, "url": "https://evil.example/hook"}
        if method == "get":
            _not_found(w.b.get(target))
        elif method == "delete":
            _not_found(w.b.delete(target))
        else:
            _not_found(getattr(w.b, method)(target, body, format="json"))
            # B's own subscription cannot be moved onto A's group.
            own, _ = subscription_create(group=w.gb, url="https://hooks.b.example/envelope")
            response = getattr(w.b, method)(url(subscription_id=own.id), body | {"groupId": w.ga.id}, format="json")
            assert response.status_code == 400 and "groupId" in response.json()["errors"], response.content

    return case


def _adjust_body():
    return {
        "type": "CONSUMPTION",
        "forecastedBlocks": [
            {
                "capacity": 5,
                "phase": "ALL",
                "unit": "KW",
                "startTime": "2030-01-01 10:00:00Z",
                "endTime": "2030-01-01 10:15:00Z",
            }
        ],
    }


def adjust_get(w, url):
    _not_found(w.b.get(url(group_id=w.ga.id)))


def adjust_post(w, url):
    _not_found(w.b.post(url(group_id=w.ga.id), _adjust_body(), format="json"))


def power_series_get(w, url):
    _not_found(w.b.get(url(group_id=w.ga.id)))


def compliance_get(w, url):
    _not_found(w.b.get(url(group_id=w.ga.id)))


def compliance_post(w, url):
    _not_found(w.b.post(url(group_id=w.ga.id), {"message": "no"}, format="json"))
    # A's forecast named from B's own group is unknown.
    response = w.b.post(url(group_id=w.gb.id), {"message": "no", "forecastId": w.forecast.id}, format="json")
    assert response.status_code == 400 and "forecastId" in response.json()["errors"], response.content


def datum_post(w, url):
    # B posts readings for the very node and source A's asset reads.
    now = timezone.now().replace(second=0, microsecond=0)
    readings = [
        {"nodeId": 123, "sourceId": "charger/1", "created": f"{now - timedelta(minutes=m):%Y-%m-%d %H:%M:%SZ}"}
        | {"i": {"watts": 7200 + m}, "a": {"wattHours": 100000 - m * 100}}
        for m in range(0, 30, 5)
    ]
    response = w.b.post(url(), readings, format="json")
    assert response.status_code == 200, response.content
    assert Reading.objects.filter(owner=w.user_b).count() == len(readings)
    start, end = now - timedelta(hours=1), now + timedelta(minutes=1)
    assert window_measure(assets=[w.aa], start=start, end=end) == {}
    assert group_power_series(group=w.ga, start=start, end=end) == []
    # ... while they do feed B's asset on the same stream.
    assert w.ab.id in window_measure(assets=[w.ab], start=start, end=end)


def report_send(w, url):
    body = {"audience": "CapacityProvider", "periodStart": "2030-01-01 10:00:00Z"}
    _not_found(w.b.post(url(group_id=w.ga.id), body, format="json"))


def instruction_add(w, url):
    body = {
        "nodeId": "1",
        "topic": "OSCP_v20",
        "params": {
            "coId": str(w.oa.id),
            "cgIdentifier": "site-1",  # B has a group of this name too
            "action": "Handshake",
            "msg": json.dumps({"required_behaviour": {"heartbeat_interval": 60}}),
        },
    }
    response = w.b.post(url(), body, format="json")
    assert response.status_code == 400, response.content
    assert "coId" in json.dumps(response.json()["errors"]), response.content
    # A's group through B's own optimizer: unknown to B (B's "site-1" is not A's "only-a").
    body["params"] |= {"coId": str(w.ob.id), "cgIdentifier": "only-a"}
    response = w.b.post(url(), body, format="json")
    assert response.status_code == 400 and "cgIdentifier" in json.dumps(response.json()["errors"]), response.content


def instruction_add_topic(w, url):
    instruction_add(w, lambda: url(topic="OSCP_v20"))


def instruction_view(w, url):
    _not_found(w.b.get(url() + f"?id={w.instruction.id}"))


ROAMING_LOCATION = {
    "country_code": "NL", "party_id": "OSP", "id": "LOC-A", "publish": True, "address": "Street 1", "city": "Utrecht",
    "country": "NLD", "coordinates": {"latitude": "52.09074", "longitude": "5.12142"}, "time_zone": "Europe/Amsterdam",
    "evses": [{"uid": "E1", "status": "AVAILABLE", "connectors": [{"id": "1", "standard": "IEC_62196_T2",
               "format": "SOCKET", "power_type": "AC_3_PHASE", "max_voltage": 230, "max_amperage": 32}]}],
}  # fmt: skip
ROAMING_TARIFF = {
    "country_code": "NL", "party_id": "OSP", "id": "T-A", "currency": "EUR",
    "elements": [{"price_components": [{"type": "ENERGY", "price": 0.3, "step_size": 1}]}],
}  # fmt: skip


def _roaming(w, kind):
    body = ROAMING_LOCATION if kind == "locations" else ROAMING_TARIFF
    base = f"/solaruser/api/v1/sec/user/oscp/roaming/{kind}"
    response = w.a.post(base, body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["data"]["configId"], body


def roaming_list(kind):
    def case(w, url):
        config_id, body = _roaming(w, kind)
        if kind == "locations":
            # B may not name A's capacity group
            response = w.b.post(url(), {**body, "id": "B1", "capacityGroupId": w.ga.id}, format="json")
            assert response.status_code == 400 and "capacityGroupId" in response.json()["message"]
        assert config_id not in _ids(w.b.get(url()))

    return case


def roaming_list_post(kind):
    def case(w, url):
        _, body = _roaming(w, kind)
        response = w.b.post(url(), body, format="json")  # A's OCPI id is taken: refused, nothing changes
        assert response.status_code == 400, response.content

    return case


def roaming_detail(kind, method):
    def case(w, url):
        config_id, body = _roaming(w, kind)
        if method == "get":
            _not_found(w.b.get(url(pk=config_id)))
        elif method == "put":
            _not_found(w.b.put(url(pk=config_id), body, format="json"))
        else:
            _not_found(w.b.delete(url(pk=config_id)))

    return case


def roaming_evse(w, url):
    config_id, _ = _roaming(w, "locations")
    _not_found(w.b.patch(url(pk=config_id, evse_uid="E1"), {"status": "CHARGING"}, format="json"))


def _roaming_token(w):
    """A token A's eMSP pushed to us; B has an eMSP of the same party with a token of the same uid."""
    partner_a, _ = registered_partner(owner=w.user_a)
    partner_b, _ = registered_partner(owner=w.user_b, base="https://other.example.com/ocpi")
    body = {**token_body("SHARED"), "last_updated": timezone.now()}
    return token_put(partner=partner_a, data=body), token_put(partner=partner_b, data=body)


def roaming_tokens_get(w, url):
    token_a, token_b = _roaming_token(w)
    for query in ("", "?uid=SHARED", f"?partnerId={token_a.partner_id}"):
        assert token_a.id not in _ids(w.b.get(url() + query))
    assert _ids(w.b.get(url())) == {token_b.id}


def roaming_token_get(w, url):
    token_a, _ = _roaming_token(w)
    _not_found(w.b.get(url(pk=token_a.id)))


def roaming_authorize(w, url):
    """B may not ask about A's location, and A's token is unknown to B (nobody is called)."""
    _roaming_token(w)
    _roaming(w, "locations")
    body = {"uid": "SHARED-A", "type": "RFID", "locationId": "LOC-A"}
    token_put(
        partner=registered_partner(owner=w.user_a)[0], data={**token_body("SHARED-A"), "last_updated": timezone.now()}
    )
    response = w.b.post(url(), body, format="json")
    assert response.status_code == 400 and "locationId" in response.json()["message"], response.content
    location_b = {**ROAMING_LOCATION, "id": "LOC-B", "party_id": "OSB"}
    assert w.b.post("/solaruser/api/v1/sec/user/oscp/roaming/locations", location_b, format="json").status_code == 201
    with responses.RequestsMock() as mock:
        response = w.b.post(url(), {**body, "locationId": "LOC-B"}, format="json")
        assert not mock.calls
    data = response.json()["data"]
    assert (data["authorized"], data["source"], data["tokenConfigId"]) == (False, "refused", None)


def _on(partner_attr, case, key=None):
    def run(w, url):
        partner = getattr(w, partner_attr)
        return case(w, url, partner, key) if key else case(w, url, partner)

    return run


CASES = {
    ("capacity-provider-list", "get"): _on("pa", partner_list_get),
    ("capacity-provider-list", "post"): _on("pa", partner_list_post),
    ("capacity-optimizer-list", "get"): _on("oa", partner_list_get),
    ("capacity-optimizer-list", "post"): _on("oa", partner_list_post),
    **{("capacity-provider-detail", m): _on("pa", partner_detail(m), "providerId") for m in ("get", "put", "delete")},
    **{("capacity-optimizer-detail", m): _on("oa", partner_detail(m), "optimizerId") for m in ("get", "put", "delete")},
    ("provider-register", "post"): _on("pa", partner_action),
    ("provider-handshake", "post"): _on("pa", partner_action),
    ("optimizer-register", "post"): _on("oa", partner_action),
    ("optimizer-handshake", "post"): _on("oa", partner_action),
    **{("provider-oauth-client", m): _on("pa", oauth_client(m)) for m in ("get", "post", "delete")},
    **{("optimizer-oauth-client", m): _on("oa", oauth_client(m)) for m in ("get", "post", "delete")},
    ("oscp-messages", "get"): messages_get,
    ("oscp-message", "get"): message_get,
    ("message-retry", "post"): message_retry,
    ("capacity-group-assets", "get"): group_assets_get,
    ("capacity-group-list", "get"): groups_get,
    ("capacity-group-list", "post"): groups_post,
    **{("capacity-group-detail", m): group_detail(m) for m in ("get", "put", "delete")},
    ("asset-list", "get"): assets_get,
    ("asset-list", "post"): assets_post,
    **{("asset-detail", m): asset_detail(m) for m in ("get", "put", "delete")},
    ("envelopes", "get"): envelopes_get,
    ("envelope-subscriptions", "get"): subscriptions_get,
    ("envelope-subscriptions", "post"): subscriptions_post,
    **{("envelope-subscription", m): subscription_detail(m) for m in ("get", "put", "patch", "delete")},
    ("group-adjust", "get"): adjust_get,
    ("group-adjust", "post"): adjust_post,
    ("group-power-series", "get"): power_series_get,
    ("group-compliance-errors", "get"): compliance_get,
    ("group-compliance-errors", "post"): compliance_post,
    ("measurements-datum", "post"): datum_post,
    ("measurements-report-send", "post"): report_send,
    ("instruction-add", "post"): instruction_add,
    ("instruction-add-topic", "post"): instruction_add_topic,
    ("instruction-view", "get"): instruction_view,
    ("roaming-location-list", "get"): roaming_list("locations"),
    ("roaming-location-list", "post"): roaming_list_post("locations"),
    **{("roaming-location-detail", m): roaming_detail("locations", m) for m in ("get", "put", "delete")},
    ("roaming-location-evse", "patch"): roaming_evse,
    ("roaming-tariff-list", "get"): roaming_list("tariffs"),
    ("roaming-tariff-list", "post"): roaming_list_post("tariffs"),
    **{("roaming-tariff-detail", m): roaming_detail("tariffs", m) for m in ("get", "put", "delete")},
    ("roaming-token-list", "get"): roaming_tokens_get,
    ("roaming-token-detail", "get"): roaming_token_get,
    ("roaming-token-authorize", "post"): roaming_authorize,
}


def test_every_management_route_has_an_isolation_case():
    assert MANAGEMENT_ROUTES, "the resolver walk found no management routes"
    missing = sorted({(n, m) for n, m in MANAGEMENT_ROUTES if (case_name(n), m) not in CASES})
    assert not missing, f"routes without an isolation case: {missing}"
    stale = sorted(set(CASES) - {(case_name(n), m) for n, m in MANAGEMENT_ROUTES})
    assert not stale, f"isolation cases for routes that no longer exist: {stale}"


@pytest.mark.parametrize(("name", "method"), MANAGEMENT_ROUTES, ids=[f"{m.upper()} {n}" for n, m in MANAGEMENT_ROUTES])
def test_another_account_cannot_reach_the_first_accounts_objects(world, name, method):
    case = CASES.get((case_name(name), method))
    if case is None:
        pytest.fail(f"no isolation case for {method.upper()} {name}")
    before = _a_snapshot(world)

    def url(**kwargs):
        return reverse(name, kwargs=kwargs or None)

    case(world, url)
    assert _a_snapshot(world) == before, "the second account changed the first account's data"
    # A still sees all of it, so the snapshot compared what matters.
    assert world.ga.id in _ids(world.a.get("/solaruser/api/v1/sec/user/oscp/capacity-groups"))


def test_first_account_sees_what_the_cases_hide(world):
    """The cases above would pass vacuously if A could not see its own objects either."""
    a, base = world.a, "/solaruser/api/v1/sec/user/oscp/"
    assert a.get(f"{base}capacity-providers/{world.pa.id}").status_code == 200
    assert a.get(f"{base}messages/{world.dead.id}").status_code == 200
    assert a.get(f"{base}envelope-subscriptions/{world.subscription.id}").status_code == 200
    assert a.get(f"{base}capacity-groups/{world.ga.id}/adjust").status_code == 200
    assert a.get(f"{base}capacity-groups/{world.ga.id}/compliance-errors").status_code == 200
    assert a.get(f"{base}capacity-providers/{world.pa.id}/oauth-client").status_code == 200
    assert a.get(f"/solaruser/api/v1/sec/instr/view?id={world.instruction.id}").status_code == 200
    envelope = a.get(f"{base}envelopes?microgridId=mg-1&nodeId=123").json()["data"]
    assert (envelope["groupId"], envelope["reason"]) == (world.ga.id, "forecast")


# --- OSCP: partners and groups ---------------------------------------------------------------------

OSCP_ROUTES = routes_under("oscp/fp/2.0/")
NOT_GROUP_SCOPED = {
    "register",
    "handshake",
    "handshake_acknowledge",
    "handshake_acknowledgment",
    "handshake_acknowledgement",
    "heartbeat",
}
# message -> (sending role, body for group identifier)
GROUP_SCOPED = {
    "update_group_capacity_forecast": (
        "provider",
        lambda gid: {"group_id": gid, "type": "CONSUMPTION", "forecasted_blocks": [block(capacity=3)]},
    ),
    "adjust_group_capacity_forecast": (
        "optimizer",
        lambda gid: {"group_id": gid, "type": "CONSUMPTION", "forecasted_blocks": [block(capacity=3)]},
    ),
    "group_capacity_compliance_error": (
        "optimizer",
        lambda gid: {"group_id": gid, "message": "cannot", "forecasted_blocks": [block(capacity=3)]},
    ),
    "update_group_measurements": ("optimizer", lambda gid: {"group_id": gid, "measurements": []}),
    "update_asset_measurements": ("optimizer", lambda gid: {"group_id": gid, "measurements": []}),
}


def test_every_oscp_message_is_classified():
    names = {name for name, method in OSCP_ROUTES if method == "post"}  # GET schema/ is no message
    assert names, "the resolver walk found no OSCP routes"
    assert names == NOT_GROUP_SCOPED | set(GROUP_SCOPED)


def _oscp_a_state(w):
    return {
        "forecasts": Forecast.objects.filter(group__owner=w.user_a).count(),
        "compliance": ComplianceError.objects.filter(group__owner=w.user_a).count(),
        "adjustments": AdjustmentRequest.objects.filter(group__owner=w.user_a).count(),
        "out": Message.objects.filter(partner__owner=w.user_a, direction="out").count(),
        "envelope": world_envelope(w),
    }


def world_envelope(w):
    from forecasts.selectors import envelope_in_force

    return envelope_in_force(group=w.ga, at=timezone.now().replace(microsecond=0))["importLimits"]


@pytest.mark.parametrize("message", sorted(GROUP_SCOPED))
def test_a_partner_never_reaches_another_accounts_group(world, message):
    role, body = GROUP_SCOPED[message]
    token = world.tokens[world.pb if role == "provider" else world.ob]
    oscp = OscpClient()
    unknown = oscp.post(message, body("no-such-group"), token=token)
    assert unknown.status_code == 404
    before = _oscp_a_state(world)
    sent = oscp.post(message, body("only-a"), token=token)
    assert sent.status_code == 404
    assert sent.json()["message"] == unknown.json()["message"].replace("no-such-group", "only-a")
    assert _oscp_a_state(world) == before


@pytest.mark.parametrize("message", sorted(GROUP_SCOPED))
def test_a_partner_of_the_same_account_without_the_group_gets_404(world, message):
    role, body = GROUP_SCOPED[message]
    factory = CapacityProviderFactory if role == "provider" else CapacityOptimizerFactory
    stranger = _registered(factory, world.user_a)
    before = _oscp_a_state(world)
    sent = OscpClient().post(message, body("site-1"), token=inbound_token_issue(partner=stranger))
    assert sent.status_code == 404, sent.json()
    assert "unknown group" in sent.json()["message"]
    assert _oscp_a_state(world) == before


@pytest.mark.parametrize("message", sorted(GROUP_SCOPED))
def test_same_group_identifier_in_another_account_is_never_confused(world, message):
    role, body = GROUP_SCOPED[message]
    token = world.tokens[world.pb if role == "provider" else world.ob]
    before = _oscp_a_state(world)
    b_out = Message.objects.filter(partner__owner=world.user_b, direction="out").count()
    b_in = Message.objects.filter(partner__owner=world.user_b, direction="in", group=world.gb).count()
    sent = OscpClient().post(message, body("site-1"), token=token)
    assert sent.status_code == 204, sent.json()
    assert _oscp_a_state(world) == before
    # It landed on B's group: logged there, and relays go to B's provider only.
    assert Message.objects.filter(partner__owner=world.user_b, direction="in", group=world.gb).count() == b_in + 1
    if role == "optimizer":
        assert Message.objects.filter(partner__owner=world.user_b, direction="out").count() == b_out + 1
    else:
        assert Forecast.objects.filter(group=world.gb).count() == 1


def test_compliance_error_correlated_to_another_accounts_forecast_is_unknown(world):
    """Without group_id, the group comes from the forecast X-Correlation-ID names: another
    account's forecast request id is not found."""
    before = _oscp_a_state(world)
    sent = OscpClient().post(
        "group_capacity_compliance_error",
        {"message": "cannot"},
        token=world.tokens[world.ob],
        headers={"X-Correlation-ID": world.forecast.request_id},
    )
    assert sent.status_code in (400, 404), sent.json()
    assert _oscp_a_state(world) == before


def test_partner_tokens_identify_only_their_own_partner(world):
    """A's provider token used on B's group identifier reaches A's group, never B's."""
    b_forecasts = Forecast.objects.filter(group=world.gb).count()
    body = {"group_id": "site-1", "type": "CONSUMPTION", "forecasted_blocks": [block(capacity=3)]}
    sent = OscpClient().post("update_group_capacity_forecast", body, token=world.tokens[world.pa])
    assert sent.status_code == 204
    assert Forecast.objects.filter(group=world.gb).count() == b_forecasts
    assert Forecast.objects.filter(group=world.ga, sender=world.pa).count() == 2
