"""No input may produce a 500: bodies that cannot be stored (NaN, Infinity, 1e999, null characters,
lone surrogates, deep nesting), out-of-range times, and errors that would leak internals. Every case
answers 400 naming the place and the problem, and writes nothing but the message log row."""

import json
import uuid

import pytest
from django.db import DataError
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from connections.choices import ConnectionState, MessageStatus, RegistrationStatus
from connections.models import Message, Partner
from connections.oscp import pipeline
from connections.services import inbound_token_issue
from forecasts.models import Forecast
from groups.models import CapacityGroup
from measurements.models import Reading
from oscp_platform.parsing import json_problem
from tests.connections.factories import CapacityProviderFactory
from tests.groups.factories import CapacityGroupFactory

MGMT = "/solaruser/api/v1/sec/user/oscp/"

# (raw JSON text, words the error must contain)
UNSTORABLE = {
    "nan": ('{"offline_mode_at": NaN}', "NaN is not allowed"),
    "infinity": ('{"offline_mode_at": -Infinity}', "-Infinity is not allowed"),
    "1e999": ('{"offline_mode_at": 1e999}', "too large"),
    "null-char": ('{"offline_mode_at": "2024-01-01T00:00:00Z\\u0000"}', "offline_mode_at: null characters"),
    "surrogate": ('{"x": {"y": "\\ud800"}}', "x.y: invalid Unicode"),
    "null-char-key": ('{"a\\u0000": 1}', "property name has null characters"),
    "deep": ("[" * 5000 + "]" * 5000, "nested deeper than"),
    "deep-object": ('{"a": ' * 40 + "1" + "}" * 40, "nested deeper than"),
}


@pytest.fixture
def provider(db):
    return CapacityProviderFactory(
        connection_state=ConnectionState.ONLINE, registration_status=RegistrationStatus.REGISTERED
    )


@pytest.fixture
def provider_token(provider):
    return inbound_token_issue(partner=provider)


def oscp_post(message, raw, token):
    headers = {"Authorization": f"Token {token}", "X-Request-ID": str(uuid.uuid4())}
    return Client().post(f"/oscp/fp/2.0/{message}", data=raw, content_type="application/json", headers=headers)


@pytest.mark.parametrize("case", UNSTORABLE.values(), ids=UNSTORABLE.keys())
def test_oscp_unstorable_json_is_400_and_logged(provider, provider_token, case):
    raw, words = case
    response = oscp_post("heartbeat", raw, provider_token)
    assert response.status_code == 400
    assert words in response.json()["message"]
    logged = Message.objects.get(partner=provider)
    assert (logged.status, logged.http_status) == (MessageStatus.REJECTED, 400)


def test_oscp_raw_null_byte_in_malformed_body_is_400_and_logged(provider, provider_token):
    response = oscp_post("heartbeat", '{"offline_mode_at": "\x00', provider_token)
    assert response.status_code == 400
    assert "null characters" in response.json()["message"]
    assert Message.objects.filter(partner=provider, http_status=400).count() == 1


def test_oscp_integer_beyond_64_bits_is_400_and_logged_as_sent(provider, provider_token):
    huge = 10**40
    response = oscp_post("heartbeat", json.dumps({"offline_mode_at": huge, "note": "ü"}), provider_token)
    assert response.status_code == 400 and "offline_mode_at" in response.json()["message"]
    logged = Message.objects.get(partner=provider)
    assert logged.http_status == 400 and logged.body == {"offline_mode_at": huge, "note": "ü"}


@pytest.mark.parametrize(
    "start",
    ["0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00.5+01:00"],
)
def test_oscp_time_before_year_one_in_utc_is_400(provider, provider_token, start):
    group = CapacityGroupFactory(capacity_provider=provider, owner=provider.owner)
    body = {
        "group_id": group.identifier,
        "type": "CONSUMPTION",
        "forecasted_blocks": [
            {"capacity": 1, "phase": "ALL", "unit": "KW", "start_time": start, "end_time": "2024-01-01T00:00:00Z"}
        ],
    }
    response = oscp_post("update_group_capacity_forecast", json.dumps(body), provider_token)
    assert response.status_code == 400
    assert "forecasted_blocks[0].start_time" in response.json()["message"]
    assert not Forecast.objects.exists()


def test_oscp_failure_while_logging_a_rejection_does_not_leak_internals(provider, provider_token, monkeypatch):
    def broken_insert(instances):
        raise DataError('invalid input syntax for type json LINE 1: INSERT INTO "connections_message"')

    monkeypatch.setattr(pipeline, "instances_insert", broken_insert)
    response = oscp_post("heartbeat", "not json", provider_token)
    assert response.status_code == 500
    assert response.json() == {"message": "Internal error; please retry later."}


# --- Management API ---------------------------------------------------------------------------

PROVIDER_BODY = {"name": "CP", "baseUrl": "https://cp.example.com/oscp/cp/2.0", "token": "their-token-1234"}


def _with(raw_value: str) -> str:
    """The provider body with serviceProps replaced by ``raw_value`` (raw JSON text)."""
    return json.dumps(PROVIDER_BODY)[:-1] + f', "serviceProps": {raw_value}}}'


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (_with('{"x": NaN}'), "NaN is not allowed"),
        (_with('{"x": 1e999}'), "too large"),
        (_with('{"x": "a\\u0000b"}'), "serviceProps.x: null characters"),
        (_with('{"x": "\\udfff"}'), "serviceProps.x: invalid Unicode"),
        (_with('{"x": ' * 40 + "1" + "}" * 40), "nested deeper than"),
        ("[" * 5000 + "]" * 5000, "nested deeper than"),
    ],
    ids=["nan", "1e999", "null-char", "surrogate", "deep", "very-deep"],
)
@pytest.mark.parametrize("path", ["capacity-providers", "capacity-groups", "assets", "envelope-subscriptions"])
def test_management_unstorable_json_is_400_naming_the_place(api_client, path, raw, words):
    response = api_client.post(MGMT + path, data=raw, content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert words in body["message"]
    assert not Partner.objects.exists()
    assert not CapacityGroup.objects.exists()


@pytest.mark.parametrize("created", ["0001-01-01T00:00:00+14:00", "0001-01-01 00:00:00.1+00:01"])
def test_datum_time_before_year_one_in_utc_is_400(api_client, created):
    readings = [{"nodeId": 1, "sourceId": "a", "created": created, "i": {"watts": 1}}]
    response = api_client.post(MGMT + "datum", data=readings, content_type="application/json")
    assert response.status_code == 400
    assert "[0].created" in response.json()["message"]
    assert not Reading.objects.exists()


def test_instruction_body_with_nan_is_400(api_client):
    response = api_client.post(
        "/solaruser/api/v1/sec/instr/add/OSCP_v20", data='{"nodeId": NaN}', content_type="application/json"
    )
    assert response.status_code == 400
    assert "NaN is not allowed" in response.json()["message"]


# --- Schema: what responses really look like ------------------------------------------------


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("messages", "get"),
        ("envelope-subscriptions", "get"),
        ("capacity-groups/{group_id}/adjust", "get"),
        ("capacity-groups/{group_id}/adjust", "post"),
        ("capacity-groups/{group_id}/compliance-errors", "get"),
    ],
)
def test_schema_shows_the_success_envelope(schema, path, method):
    responses = schema["paths"]["/solaruser/api/v1/sec/user/oscp/" + path][method]["responses"]
    ok = next(code for code in responses if code.startswith("2"))
    shown = responses[ok]["content"]["application/json"]["schema"]
    assert set(shown["properties"]) == {"success", "data"}


def test_schema_documents_error_responses_of_every_management_operation(schema):
    missing = [
        f"{method.upper()} {path} {code}"
        for path, operations in schema["paths"].items()
        if path.startswith("/solaruser/")
        for method, operation in operations.items()
        for code in ("400", "401", "403", "404")
        if code not in operation["responses"]
    ]
    assert missing == []
    error = schema["components"]["schemas"]["ApiError"]
    assert {"success", "message"} <= set(error["required"])


@pytest.mark.postgres
def test_partner_delete_locks_the_partner_before_deleting_its_oauth_client(provider):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from connections.services import partner_delete

    with CaptureQueriesContext(connection) as queries:
        partner_delete(partner=provider)
    statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert "FOR UPDATE" in statements[0]
    assert '"connections_partner"' in statements[0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path, body",
    [
        ("/solaruser/api/v1/sec/user/oscp/assets/abc", {"success": False}),
        ("/solaruser/api/v1/sec/user/oscp/no-such-thing", {"success": False}),
        ("/oscp/fp/2.0/no_such_message", {}),
    ],
)
def test_unknown_api_urls_answer_json_404(client, path, body):
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert body.items() <= response.json().items() and path in response.json()["message"]


@pytest.mark.parametrize(
    "bury, words",
    [
        (lambda block: block.update(phase="ALL\x00"), "forecasted_blocks[50].phase: null characters"),
        (lambda block: block.update({"unit\x00": 1}), "forecasted_blocks[50]: a property name has null characters"),
        (lambda block: block.update(extra=["ok", "\ud800"]), "forecasted_blocks[50].extra[1]: invalid Unicode"),
        (lambda block: block.update(deep=json.loads("[" * 40 + "]" * 40)), "nested deeper than 32 levels"),
    ],
)
def test_a_problem_deep_in_a_large_body_is_found_at_its_place(bury, words):
    body = {"group_id": "g", "type": "CONSUMPTION", "forecasted_blocks": [{"capacity": 4.5, "phase": "ALL"}] * 96}
    assert json_problem(body) is None and json_problem({"name": "Zürich ✓"}) is None
    body["forecasted_blocks"] = [dict(block) for block in body["forecasted_blocks"]]
    bury(body["forecasted_blocks"][50])
    assert words in json_problem(body)
