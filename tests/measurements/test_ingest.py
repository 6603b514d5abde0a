"""Readings in: POST .../oscp/datum (SolarNetwork datum shape), all or nothing, upsert per stream."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from measurements.models import Reading
from measurements.services import readings_prune
from tests.measurements.factories import ReadingFactory

pytestmark = pytest.mark.django_db

URL = "/solaruser/api/v1/sec/user/oscp/datum"


def datum(minute=0, node=123, source="charger/1", **extra):
    body = {
        "nodeId": node,
        "sourceId": source,
        "created": f"2026-11-21 10:{minute:02d}:00Z",
        "i": {"watts": 7200 + minute},
        "a": {"wattHours": 123456 + minute},
    }
    body.update(extra)
    return body


def test_readings_are_stored_for_the_posting_account(api_client, user):
    response = api_client.post(URL, [datum(0), datum(1), datum(0, source="charger/2")], format="json")

    assert response.status_code == 200
    assert response.json() == {"success": True, "data": {"stored": 3}}
    reading = Reading.objects.get(source_id="charger/1", ts=datetime(2026, 11, 21, 10, 1, tzinfo=UTC))
    assert reading.owner == user
    assert reading.node_id == 123
    assert reading.instantaneous == {"watts": 7201}
    assert reading.accumulating == {"wattHours": 123457}


def test_rfc3339_times_with_an_offset_are_stored_in_utc(api_client):
    response = api_client.post(URL, [datum(created="2026-11-21T18:00:00.250+08:00")], format="json")

    assert response.status_code == 200
    assert Reading.objects.get().ts == datetime(2026, 11, 21, 10, 0, 0, 250000, tzinfo=UTC)


def test_a_bad_reading_rejects_the_whole_request_naming_index_and_field(api_client):
    readings = [datum(0), datum(1), datum(2), datum(3, created="yesterday"), datum(4)]

    response = api_client.post(URL, readings, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert body["message"].startswith("[3].created: ")
    assert Reading.objects.count() == 0


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"nodeId": "123"}, "[0].nodeId"),
        ({"nodeId": True}, "[0].nodeId"),
        ({"sourceId": ""}, "[0].sourceId"),
        ({"sourceId": "x" * 65}, "[0].sourceId"),
        ({"created": "2026-11-21 10:00:00"}, "[0].created"),  # no zone
        ({"i": {"watts": "7200"}}, "[0].i.watts"),
        ({"a": [1, 2]}, "[0].a"),
        ({"i": {}, "a": {}}, "[0].i"),
    ],
)
def test_each_field_is_checked(api_client, bad, field):
    response = api_client.post(URL, [datum(**bad)], format="json")

    assert response.status_code == 400
    assert response.json()["message"].startswith(f"{field}: ")


def test_every_bad_reading_is_named(api_client):
    response = api_client.post(URL, [datum(0, nodeId=-1), datum(1), "x"], format="json")

    message = response.json()["message"]
    assert "[0].nodeId" in message
    assert "[2]: Expected a datum object." in message
    assert "[1]" not in message


def test_body_must_be_an_array_of_at_most_10000(api_client):
    assert api_client.post(URL, datum(0), format="json").status_code == 400
    too_many = [datum(0, sourceId=f"s/{n}") for n in range(10_001)]

    response = api_client.post(URL, too_many, format="json")

    assert response.status_code == 400
    assert "At most 10000 readings" in response.json()["message"]
    assert Reading.objects.count() == 0


def test_same_stream_and_time_replaces_the_earlier_reading(api_client):
    api_client.post(URL, [datum(0)], format="json")

    response = api_client.post(URL, [datum(0, i={"watts": 1}, a={"wattHours": 2})], format="json")

    assert response.json()["data"]["stored"] == 1
    reading = Reading.objects.get()
    assert (reading.instantaneous, reading.accumulating) == ({"watts": 1}, {"wattHours": 2})


def test_a_repeat_within_one_request_keeps_the_last(api_client):
    response = api_client.post(URL, [datum(0, i={"watts": 1}), datum(0, i={"watts": 2})], format="json")

    assert response.json()["data"]["stored"] == 1
    assert Reading.objects.get().instantaneous == {"watts": 2}


def test_accounts_do_not_overwrite_each_other(api_client, other_api_client, user, other_user):
    api_client.post(URL, [datum(0, i={"watts": 1})], format="json")
    other_api_client.post(URL, [datum(0, i={"watts": 2})], format="json")

    assert Reading.objects.get(owner=user).instantaneous == {"watts": 1}
    assert Reading.objects.get(owner=other_user).instantaneous == {"watts": 2}


def test_anonymous_posts_are_refused(client):
    response = client.post(URL, [datum(0)], content_type="application/json")

    assert response.status_code in (401, 403)
    assert Reading.objects.count() == 0


def test_a_large_request_takes_a_few_queries(api_client, django_assert_max_num_queries):
    readings = [datum(n % 60, sourceId=f"charger/{n // 60}") for n in range(5000)]
    # PostgreSQL: batches of 2,000 rows; SQLite caps statements at 999 parameters (166 rows).
    budget = 8 if connection.vendor == "postgresql" else 40

    with django_assert_max_num_queries(budget):
        response = api_client.post(URL, readings, format="json")

    assert response.json()["data"]["stored"] == 5000


def test_prune_deletes_readings_older_than_retention(user, settings):
    settings.MEASUREMENTS_READING_RETENTION_DAYS = 30
    now = datetime(2026, 11, 21, tzinfo=UTC)
    for days in (31, 29):
        ReadingFactory(owner=user, node_id=1, source_id="s", ts=now - timedelta(days=days))

    assert readings_prune(now=now) == 1
    assert list(Reading.objects.values_list("ts", flat=True)) == [now - timedelta(days=29)]


def test_readings_admin_lists_and_filters_read_only(admin_client, user, django_assert_max_num_queries):
    now = datetime.now(UTC)
    for n in range(30):
        ReadingFactory(owner=user, node_id=7, source_id=f"meter/{n}", ts=now - timedelta(hours=2 * n))

    with django_assert_max_num_queries(8):
        response = admin_client.get("/admin/measurements/reading/?recorded=day&q=meter/1")

    assert response.status_code == 200
    shown = {r.source_id for r in response.context["cl"].result_list}
    assert shown == {"meter/1", "meter/10", "meter/11"}  # meter/12 and later: over 24 hours old
    assert admin_client.get("/admin/measurements/reading/add/").status_code == 403


def test_a_full_request_with_many_properties_is_accepted(api_client):
    values = {f"phase{n}_watts": 1234.5 + n for n in range(8)}
    readings = [datum(n % 60, sourceId=f"charger/{n // 60}", i=values) for n in range(10_000)]
    body = json.dumps(readings)
    assert len(body) > 2.5 * 1024 * 1024  # above Django's default upload limit for form data

    response = api_client.post(URL, body, content_type="application/json")

    assert response.status_code == 200
    assert response.json()["data"]["stored"] == 10_000


def test_readings_with_copy_special_characters_are_stored_as_sent(api_client):
    source = "site\\1\tcharger\nA"
    values = {'phase "L1"\\watts': 1.5, "Leistung größe": 2}

    response = api_client.post(URL, [datum(0, sourceId=source, i=values)], format="json")

    assert response.status_code == 200
    reading = Reading.objects.get()
    assert (reading.source_id, reading.instantaneous) == (source, values)


def test_a_repeat_of_part_of_a_request_replaces_and_adds_in_one_go(api_client):
    api_client.post(URL, [datum(0), datum(1)], format="json")

    response = api_client.post(URL, [datum(1, i={"watts": 5}), datum(2)], format="json")

    assert response.json()["data"]["stored"] == 2
    stored = {r.ts.minute: r.instantaneous["watts"] for r in Reading.objects.all()}
    assert stored == {0: 7200, 1: 5, 2: 7202}


RAW_AT = '[{"nodeId": 1, "created": "2026-11-21 10:00:00Z", '


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (RAW_AT + '"sourceId": "a\\u0000", "i": {"w": 1}}]', "[0].sourceId"),
        (RAW_AT + '"sourceId": "a", "i": {"w\\u0000": 1}}]', "[0].i"),
        (RAW_AT + '"sourceId": "a", "i": {"w": NaN}}]', "JSON parse error"),
        (RAW_AT + '"sourceId": "a", "i": {"w": 1e999}}]', "JSON parse error"),
        (RAW_AT + '"sourceId": "\\ud800", "i": {"w": 1}}]', "JSON parse error"),
        ("[" * 5000 + "]" * 5000, "JSON parse error"),
    ],
    ids=["null-char-source", "null-char-property", "nan", "1e999", "surrogate", "deep"],
)
def test_readings_that_cannot_be_stored_are_400_naming_the_problem(api_client, raw, words):
    response = api_client.post(URL, raw, content_type="application/json")

    assert response.status_code == 400
    assert words in response.json()["message"]
    assert Reading.objects.count() == 0
