"""SolarUser instruction API for OSCP (seed 002): the seed's examples, form encoding, split
messages, bad input naming the parameter, account isolation, and the instruction's state."""

import json
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from connections.choices import ConnectionState
from connections.models import Message
from forecasts.models import AdjustmentRequest, ComplianceError, Instruction
from tests.connections.factories import CapacityOptimizerFactory, CapacityProviderFactory
from tests.forecasts.conftest import T0, blocks
from tests.groups.factories import CapacityGroupFactory

pytestmark = pytest.mark.django_db

ADD = "/solaruser/api/v1/sec/instr/add/OSCP_v20"
ADD_PLAIN = "/solaruser/api/v1/sec/instr/add"
VIEW = "/solaruser/api/v1/sec/instr/view"
CORRELATION = "sdldkj0-1lk3j389-flk4230fhfg"

# The request bodies of seed 002, verbatim (coId is replaced by the optimizer the test creates).
SEED_ADJUST = r"""{
"nodeId" : "1",
"params" : {
"coId" : "1",
"cgIdentifier" : "foo-group",
"action" : "AdjustGroupCapacityForecast",
"msg" : "{\"group_id\":\"foo-group\",\"type\":\"CONSUMPTION\",\"forecasted_blocks\":[{\"capacity\":123.456,\"unit\":\"KW\",\"phase\":\"ALL\",\"start_time\":\"2022-10-08T18:00:00Z\",\"end_time\":\"2022-10-08T18:15:00Z\"}]}",
"correlationId" : "sdldkj0-1lk3j389-flk4230fhfg"
}
}"""  # noqa: E501 (verbatim)
SEED_COMPLIANCE = r"""{
"nodeId" : "1",
"params" : {
"coId" : "1",
"cgIdentifier" : "foo-group",
"action" : "GroupCapacityComplianceError",
"msg" : "{\"message\":\"Whoops!\",\"forecasted_blocks\":[{\"capacity\":123.456,\"unit\":\"KW\",\"phase\":\"ALL\",\"start_time\":\"2022-10-08T18:00:00Z\",\"end_time\":\"2022-10-08T18:15:00Z\"}]}",
"correlationId" : "sdldkj0-1lk3j389-flk4230fhfg"
}
}"""  # noqa: E501 (verbatim)
SEED_HANDSHAKE = r"""{
"nodeId" : "1",
"params" : {
"coId" : "1",
"cgIdentifier" : "foo-group",
"action" : "Handshake",
"msg": "{\"required_behaviour\":{\"heartbeat_interval\":60,\"measurement_configuration\":[\"CONTINUOUS\"]}}"
}
}"""
SEED_BLOCK = {
    "capacity": 123.456,
    "unit": "KW",
    "phase": "ALL",
    "start_time": "2022-10-08T18:00:00Z",
    "end_time": "2022-10-08T18:15:00Z",
}


@pytest.fixture
def optimizer(user):
    return CapacityOptimizerFactory(owner=user)


@pytest.fixture
def group(user, optimizer):
    provider = CapacityProviderFactory(owner=user, connection_state=ConnectionState.ONLINE)
    return CapacityGroupFactory(
        owner=user, capacity_provider=provider, capacity_optimizer=optimizer, identifier="foo-group"
    )


def seed(text: str, optimizer) -> str:
    body = json.loads(text)
    assert body["params"]["coId"] == "1"
    return text.replace('"coId" : "1"', f'"coId" : "{optimizer.id}"')


def post_json(client, text: str, url: str = ADD):
    return client.post(url, data=text, content_type="application/json")


def params(optimizer, action="AdjustGroupCapacityForecast", msg=None, **extra) -> dict:
    if msg is None:
        msg = json.dumps({"group_id": "foo-group", "type": "CONSUMPTION", "forecasted_blocks": [SEED_BLOCK]})
    return {"coId": str(optimizer.id), "cgIdentifier": "foo-group", "action": action, "msg": msg} | extra


def assert_nothing_written():
    """No instruction, adjustment or compliance error, and no message other than forecasts the
    provider sent that were forwarded to the optimizer."""
    assert not Message.objects.exclude(message_type="update_group_capacity_forecast").exists()
    assert not Instruction.objects.exists()
    assert not AdjustmentRequest.objects.exists()
    assert not ComplianceError.objects.exists()


def test_seed_adjust_sends_the_adjustment_to_the_groups_provider(
    api_client, group, optimizer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_json(api_client, seed(SEED_ADJUST, optimizer))
    assert response.status_code == 200, response.content
    assert len(callbacks) == 1  # the outbox send, queued after commit
    data = response.json()["data"]
    assert (data["topic"], data["nodeId"], data["state"]) == ("OSCP_v20", 1, "Queued")
    message = Message.objects.get()
    assert (message.partner, message.direction, message.message_type) == (
        group.capacity_provider,
        "out",
        "adjust_group_capacity_forecast",
    )
    assert message.correlation_id == CORRELATION
    assert message.body == {"group_id": "foo-group", "type": "CONSUMPTION", "forecasted_blocks": [SEED_BLOCK]}
    adjustment = AdjustmentRequest.objects.get()
    assert adjustment.outbound_message == message and adjustment.status == "awaiting"
    instruction = Instruction.objects.get()
    assert (instruction.id, instruction.message, instruction.group) == (data["id"], message, group)
    assert data["resultParameters"]["requestId"] == message.request_id


def test_seed_compliance_error_names_the_forecast_by_its_request_id(api_client, group, optimizer, receive):
    forecast = receive(group, "CONSUMPTION", blocks(), request_id=CORRELATION)
    receive(group, "CONSUMPTION", blocks(), request_id="a-later-one")
    response = post_json(api_client, seed(SEED_COMPLIANCE, optimizer))
    assert response.status_code == 200, response.content
    message = Message.objects.get(message_type="group_capacity_compliance_error")
    assert message.partner == group.capacity_provider and message.correlation_id == CORRELATION
    assert message.body == {"message": "Whoops!", "forecasted_blocks": [SEED_BLOCK]}
    error = ComplianceError.objects.get()
    assert (error.forecast, error.origin, error.outbound_message) == (forecast, "tool", message)


def test_seed_handshake_sends_the_behaviour_asked_for(api_client, group, optimizer):
    provider = group.capacity_provider
    provider.required_heartbeat_seconds = 300
    provider.save()
    response = post_json(api_client, seed(SEED_HANDSHAKE, optimizer))
    assert response.status_code == 200, response.content
    message = Message.objects.get()
    assert (message.partner, message.message_type) == (provider, "handshake")
    assert message.body == {
        "required_behaviour": {"heartbeat_interval": 60, "measurement_configuration": ["CONTINUOUS"]}
    }
    provider.refresh_from_db()
    assert provider.connection_state == ConnectionState.HANDSHAKING
    parameters = response.json()["data"]["parameters"]
    assert [p["name"] for p in parameters] == ["action", "coId", "cgIdentifier", "msg"]


def test_handshake_to_a_provider_still_registering_is_refused(api_client, group, optimizer):
    group.capacity_provider.connection_state = ConnectionState.REGISTERING
    group.capacity_provider.save()
    response = post_json(api_client, seed(SEED_HANDSHAKE, optimizer))
    assert response.status_code == 400
    assert "params.cgIdentifier" in response.json()["message"]
    assert_nothing_written()


def test_topic_in_the_body_at_the_plain_add_url(api_client, group, optimizer):
    body = json.loads(seed(SEED_ADJUST, optimizer)) | {"topic": "OSCP_v20"}
    response = api_client.post(ADD_PLAIN, body, format="json")
    assert response.status_code == 200, response.content
    assert Message.objects.get().message_type == "adjust_group_capacity_forecast"

    response = api_client.post(ADD_PLAIN, body | {"topic": "Mock"}, format="json")
    assert response.status_code == 400
    assert "topic" in response.json()["errors"]
    assert Instruction.objects.count() == 1


def test_long_msg_in_parts_is_joined_in_order(api_client, group, optimizer):
    many = [
        SEED_BLOCK | {"start_time": f"2022-10-08T{h:02d}:00:00Z", "end_time": f"2022-10-08T{h:02d}:15:00Z"}
        for h in range(10)
    ]
    msg = json.dumps({"group_id": "foo-group", "type": "CONSUMPTION", "forecasted_blocks": many})
    parts = [msg[i : i + 256] for i in range(0, len(msg), 256)]
    assert len(parts) > 3
    response = api_client.post(ADD, {"nodeId": 1, "params": params(optimizer, msg=parts)}, format="json")
    assert response.status_code == 200, response.content
    assert Message.objects.get().body["forecasted_blocks"] == many
    # Listed back as SolarNetwork does: msg split in parts of at most 256 characters.
    listed = [p["value"] for p in response.json()["data"]["parameters"] if p["name"] == "msg"]
    assert listed == parts


def test_form_encoded_request_like_solarnetwork_tools_send(api_client, group, optimizer):
    msg = json.dumps({"group_id": "foo-group", "type": "GENERATION", "forecasted_blocks": [SEED_BLOCK] * 3})
    parts = [msg[i : i + 256] for i in range(0, len(msg), 256)]
    fields = [
        ("topic", "OSCP_v20"),
        ("nodeId", "1"),
        ("params.action", "AdjustGroupCapacityForecast"),
        ("params.coId", str(optimizer.id)),
        ("params.cgIdentifier", "foo-group"),
        *[("params.msg", part) for part in parts],
        ("params.correlationId", "fc-7"),
    ]
    response = api_client.post(ADD_PLAIN, urlencode(fields), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200, response.content
    message = Message.objects.get()
    assert message.body["type"] == "GENERATION" and len(message.body["forecasted_blocks"]) == 3
    assert message.correlation_id == "fc-7"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"action": "Heartbeat"}, "params.action"),
        ({"msg": "{not json"}, "params.msg"),
        ({"msg": "[1, 2]"}, "params.msg"),
        ({"msg": {"group_id": "foo-group"}}, "params.msg"),
        (
            {"msg": json.dumps({"group_id": "foo-group", "type": "CONSUMPTION", "forecasted_blocks": []})},
            "params.msg.forecasted_blocks",
        ),
        (
            {
                "msg": json.dumps(
                    {
                        "group_id": "foo-group",
                        "type": "CONSUMPTION",
                        "forecasted_blocks": [SEED_BLOCK | {"end_time": "2022-10-08T17:00:00Z"}],
                    }
                )
            },
            "params.msg.forecasted_blocks[0].end_time",
        ),
        (
            {
                "msg": json.dumps(
                    {
                        "group_id": "foo-group",
                        "type": "CONSUMPTION",
                        "forecasted_blocks": [SEED_BLOCK | {"start_time": "2022-10-08T18:00:00"}],
                    }
                )
            },
            "params.msg.forecasted_blocks[0].start_time",
        ),
        (
            {"msg": json.dumps({"group_id": "bar-group", "type": "CONSUMPTION", "forecasted_blocks": [SEED_BLOCK]})},
            "params.msg.group_id",
        ),
        ({"coId": "99999999"}, "params.coId"),
        ({"coId": "abc"}, "params.coId"),
        ({"cgIdentifier": "no-such-group"}, "params.cgIdentifier"),
        ({"correlationId": "x" * 129}, "params.correlationId"),
    ],
)
def test_bad_input_names_the_parameter_and_writes_nothing(
    api_client, group, optimizer, change, field, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.post(ADD, {"nodeId": "1", "params": params(optimizer) | change}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["success"] is False
    assert f"{field}:" in body["message"]
    assert not callbacks
    assert_nothing_written()


@pytest.mark.parametrize(
    ("drop", "change", "field"),
    [
        ("nodeId", {}, "nodeId"),
        ("", {"nodeId": "one"}, "nodeId"),
        ("", {"nodeId": 0}, "nodeId"),
        ("params", {}, "params"),
        ("", {"topic": "OSCP_v10"}, "topic"),
    ],
)
def test_missing_or_bad_node_params_and_topic(api_client, group, optimizer, drop, change, field):
    body = {"nodeId": 1, "params": params(optimizer)} | change
    body.pop(drop, None)
    response = api_client.post(ADD, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert_nothing_written()


def test_compliance_error_for_an_unknown_forecast_is_relayed_and_not_linked(api_client, group, optimizer, receive):
    # Seed 002's own example names an arbitrary id: tools written for SolarNetwork send such ones.
    receive(group, "CONSUMPTION", blocks(), request_id="some-other-forecast")
    response = post_json(api_client, seed(SEED_COMPLIANCE, optimizer))
    assert response.status_code == 200, response.content
    message = Message.objects.get(message_type="group_capacity_compliance_error")
    assert (message.partner, message.correlation_id) == (group.capacity_provider, CORRELATION)
    error = ComplianceError.objects.get()
    assert (error.forecast, error.correlation_id, error.outbound_message) == (None, CORRELATION, message)


@pytest.mark.parametrize(
    ("action", "message_type", "entry"),
    [
        (
            "UpdateGroupMeasurements",
            "update_group_measurements",
            {
                "value": 1.5,
                "phase": "ALL",
                "unit": "KWH",
                "direction": "IMPORT",
                "measure_time": "2024-05-01T10:00:00+08:00",
            },
        ),
        (
            "UpdateAssetMeasurements",
            "update_asset_measurements",
            {
                "asset_id": "site1",
                "asset_category": "CHARGING",
                "instantaneous_measurement": {
                    "value": 7.2,
                    "phase": "ALL",
                    "unit": "KW",
                    "measure_time": "2024-05-01T02:00:00Z",
                },
            },
        ),
    ],
)
def test_measurement_instructions_go_to_the_groups_provider(api_client, group, optimizer, action, message_type, entry):
    msg = json.dumps({"group_id": "foo-group", "measurements": [entry]})
    body = {
        "topic": "OSCP_v20",
        "nodeId": "1",
        "params": params(optimizer, action=action, msg=msg, correlationId="c-1"),
    }
    response = api_client.post(ADD, body, format="json")
    assert response.status_code == 200, response.content
    message = Message.objects.get(message_type=message_type)
    assert (message.partner, message.group, message.correlation_id) == (group.capacity_provider, group, "c-1")
    sent = message.body["measurements"][0]
    times = [sent.get("measure_time"), (sent.get("instantaneous_measurement") or {}).get("measure_time")]
    assert "2024-05-01T02:00:00Z" in times
    bad = {"group_id": "foo-group", "measurements": [{}]}
    body["params"]["msg"] = json.dumps(bad)
    assert api_client.post(ADD, body, format="json").status_code == 400


def test_compliance_error_without_correlation_id_is_about_the_forecast_in_force(
    api_client, group, optimizer, receive, at_time
):
    at_time(T0)
    receive(group, "CONSUMPTION", blocks(), request_id="in-force")
    msg = json.dumps({"message": "Cannot stop charging"})
    response = api_client.post(
        ADD, {"nodeId": 1, "params": params(optimizer, action="GroupCapacityComplianceError", msg=msg)}, format="json"
    )
    assert response.status_code == 200, response.content
    message = Message.objects.get(message_type="group_capacity_compliance_error")
    assert message.partner == group.capacity_provider
    assert message.correlation_id == "in-force" and message.body == {"message": "Cannot stop charging"}


def test_optimizer_of_another_group_is_refused(api_client, user, group):
    stranger = CapacityOptimizerFactory(owner=user)
    response = api_client.post(ADD, {"nodeId": 1, "params": params(stranger)}, format="json")
    assert response.status_code == 400
    assert "params.coId: Not the Capacity Optimizer of group foo-group" in response.json()["message"]
    assert_nothing_written()


def test_provider_id_is_not_an_optimizer(api_client, group, optimizer):
    body = {"nodeId": 1, "params": params(optimizer) | {"coId": str(group.capacity_provider_id)}}
    response = api_client.post(ADD, body, format="json")
    assert response.status_code == 400 and "params.coId" in response.json()["message"]
    assert_nothing_written()


def test_another_account_cannot_use_my_group_or_optimizer(other_api_client, other_user, group, optimizer):
    # Same identifier in the other account, but my optimizer: refused as unknown (no existence leak).
    CapacityGroupFactory(owner=other_user, capacity_provider__owner=other_user, identifier="foo-group")
    response = post_json(other_api_client, seed(SEED_ADJUST, optimizer))
    assert response.status_code == 400
    assert "params.coId: No Capacity Optimizer with this configId in your account" in response.json()["message"]
    # My group is not theirs at all.
    response = other_api_client.post(
        ADD, {"nodeId": 1, "params": params(optimizer) | {"cgIdentifier": "bar"}}, format="json"
    )
    assert response.status_code == 400 and "params.cgIdentifier" in response.json()["message"]
    assert_nothing_written()


def test_view_shows_the_instruction_and_follows_the_message(api_client, other_api_client, group, optimizer):
    created = post_json(api_client, seed(SEED_ADJUST, optimizer)).json()["data"]
    response = api_client.get(VIEW, {"id": created["id"]})
    assert response.status_code == 200
    data = response.json()["data"]
    assert data == created
    assert data["state"] == "Queued"
    assert {p["name"]: p["value"] for p in data["parameters"]} == {
        "action": "AdjustGroupCapacityForecast",
        "coId": str(optimizer.id),
        "cgIdentifier": "foo-group",
        "msg": json.loads(SEED_ADJUST)["params"]["msg"],
        "correlationId": CORRELATION,
    }

    message = Message.objects.get()
    message.status, message.completed_at = "sent", timezone.now()
    message.save()
    data = api_client.get(VIEW, {"id": created["id"]}).json()["data"]
    assert data["state"] == "Completed" and data["statusDate"] != data["created"]

    message.status, message.error = "dead", "HTTP 400: unknown group"
    message.save()
    data = api_client.get(VIEW, {"id": created["id"]}).json()["data"]
    assert data["state"] == "Declined" and data["resultParameters"]["message"] == "HTTP 400: unknown group"

    message.delete()  # pruned from the message log
    assert api_client.get(VIEW, {"id": created["id"]}).json()["data"]["state"] == "Unknown"

    # Another account does not see it; a missing id is named.
    assert other_api_client.get(VIEW, {"id": created["id"]}).status_code == 404
    response = api_client.get(VIEW)
    assert response.status_code == 400 and "id" in response.json()["errors"]


def test_unauthenticated_calls_are_refused(client, group):
    assert client.post(ADD, {}, content_type="application/json").status_code in (401, 403)
    assert client.get(VIEW, {"id": 1}).status_code in (401, 403)


def test_query_string_and_bracketed_names_are_read_too(api_client, group, optimizer):
    msg = json.dumps({"required_behaviour": None})
    query = urlencode(
        [
            ("nodeId", "5"),
            ("params[action]", "Handshake"),
            ("params[coId]", str(optimizer.id)),
            ("params[cgIdentifier]", "foo-group"),
            ("params[msg]", msg[:10]),
            ("params[msg]", msg[10:]),
        ]
    )
    response = api_client.post(f"{ADD}?{query}")
    assert response.status_code == 200, response.content
    assert response.json()["data"]["nodeId"] == 5
    # No behaviour named: the provider's profile decides, as for the admin's handshake.
    assert Message.objects.get().body == {"required_behaviour": {"measurement_configuration": []}}


def test_admin_lists_instructions_with_their_state(admin_client, user, group, optimizer, django_assert_max_num_queries):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    for _ in range(3):
        assert post_json(client, seed(SEED_ADJUST, optimizer)).status_code == 200
    Message.objects.filter(id=Message.objects.order_by("id").first().id).update(status="dead")
    with django_assert_max_num_queries(8):
        response = admin_client.get("/admin/forecasts/instruction/")
    assert response.status_code == 200
    text = response.content.decode()
    assert text.count("Queued") == 2 and text.count("Declined") == 1
    instruction = Instruction.objects.order_by("id").first()
    detail = admin_client.get(f"/admin/forecasts/instruction/{instruction.id}/change/")
    assert detail.status_code == 200 and "AdjustGroupCapacityForecast" in detail.content.decode()


def test_a_json_body_that_is_not_an_object_is_refused(api_client, group):
    response = api_client.post(ADD, data="[1, 2]", content_type="application/json")
    assert response.status_code == 400 and "Expected a JSON object" in response.json()["message"]
    assert_nothing_written()
