"""What one capacity forecast costs the database: a fixed number of statements however many blocks
it carries and however much envelope it replaces. A change that adds a query per block or per
envelope row, or a query the intake can do without, fails here."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connections.models import Message, Partner
from connections.selectors import partner_for_token
from forecasts.models import Envelope, Forecast
from forecasts.selectors import envelope_in_force
from tests.connections.conftest import block
from tests.groups.factories import CapacityGroupFactory
from tests.support.reads import rows_read

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

PATH = "update_group_capacity_forecast"


def statements(captured) -> list[str]:
    """The statements run, without the savepoints of the test's own transaction."""
    return [q["sql"] for q in captured if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


def day_ahead(group, start: datetime, *, first: float, count: int = 96) -> dict:
    """A 24-hour forecast in quarter hours; the first block carries ``first`` kW."""
    blocks = [
        block(
            start=(start + timedelta(minutes=15 * i)).isoformat(),
            end=(start + timedelta(minutes=15 * (i + 1))).isoformat(),
            capacity=first if i == 0 else 40 + i % 7,
        )
        for i in range(count)
    ]
    return {"group_id": group.identifier, "type": "CONSUMPTION", "forecasted_blocks": blocks}


def now_quarter() -> datetime:
    now = datetime.now(UTC)
    return now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)


@pytest.mark.parametrize("count", [4, 96])
def test_a_forecast_costs_ten_statements_whatever_its_size(oscp, provider, provider_token, count):
    group = CapacityGroupFactory(owner=provider.owner, capacity_provider=provider)
    start = now_quarter()
    assert oscp.post(PATH, day_ahead(group, start, first=30, count=count), token=provider_token).status_code == 204
    Partner.objects.filter(pk=provider.pk).update(last_forecast_received_at=timezone.now())

    # Steady state: the next forecast replaces the envelope the last one built.
    with CaptureQueriesContext(connection) as captured:
        sent = oscp.post(PATH, day_ahead(group, start, first=55, count=count), token=provider_token)

    assert sent.status_code == 204
    # Partner by token (with the request id seen before), the group, the message log row, the
    # forecast with its blocks, the group's envelope state locked, the envelope over the
    # forecast's range, the envelope in force, the state, the log row's outcome.
    assert len(statements(captured)) == 9, "\n".join(statements(captured))
    assert len(Forecast.objects.get(request_id=sent.request_id).block_list()) == count
    assert envelope_in_force(group=group, at=datetime.now(UTC))["importLimits"][0]["value"] == 55
    assert Envelope.objects.filter(group=group).count() == count  # replaced, not added to


def test_the_partners_last_forecast_time_is_written_once_a_second(oscp, group, provider_token):
    """A provider sending its fleet's forecasts at once writes its partner row once a second, not
    once a forecast (every forecast would wait on that row's lock); the time stays exact to it."""
    provider = group.capacity_provider
    body = day_ahead(group, now_quarter(), first=30)
    two_seconds_ago = timezone.now() - timedelta(seconds=2)
    Partner.objects.filter(pk=provider.pk).update(last_forecast_received_at=two_seconds_ago)

    with CaptureQueriesContext(connection) as captured:
        first = oscp.post(PATH, body, token=provider_token)
    written = Message.objects.get(direction="in", request_id=first.request_id).created
    provider.refresh_from_db()
    assert provider.last_forecast_received_at == written
    assert sum('UPDATE "connections_partner"' in sql for sql in statements(captured)) == 1

    with CaptureQueriesContext(connection) as captured:
        second = oscp.post(PATH, body, token=provider_token)
    assert second.status_code == 204
    assert not any('UPDATE "connections_partner"' in sql for sql in statements(captured))
    provider.refresh_from_db()
    assert timezone.now() - provider.last_forecast_received_at < timedelta(seconds=2)


def test_forwarding_to_the_optimizer_adds_two_statements(oscp, group, provider_token):
    start = now_quarter()
    oscp.post(PATH, day_ahead(group, start, first=30), token=provider_token)
    Partner.objects.filter(pk=group.capacity_provider_id).update(last_forecast_received_at=timezone.now())

    with CaptureQueriesContext(connection) as captured:
        sent = oscp.post(PATH, day_ahead(group, start, first=55), token=provider_token)

    assert sent.status_code == 204
    assert len(statements(captured)) == 11  # the optimizer, the forwarded copy in the outbox
    forwarded = Message.objects.get(direction="out", partner=group.capacity_optimizer, request_id=sent.request_id)
    assert len(forwarded.body["forecasted_blocks"]) == 96


def test_a_repeated_request_id_costs_two_statements_and_changes_nothing(oscp, group, provider_token):
    body = day_ahead(group, now_quarter(), first=30)
    first = oscp.post(PATH, body, token=provider_token)

    with CaptureQueriesContext(connection) as captured:
        again = oscp.post(PATH, body, token=provider_token, request_id=first.request_id)

    assert again.status_code == 204
    assert len(statements(captured)) == 2  # the partner (request id seen), the duplicate's log row
    assert Forecast.objects.count() == 1


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [" ".join(row[0].split()) for row in cursor.fetchall()]


def prepared_statements_like(text: str) -> list[str]:
    return [statement for statement in prepared_statements() if text in statement]


def test_a_kept_connection_prepares_the_statements_a_forecast_repeats(oscp, provider, provider_token):
    group = CapacityGroupFactory(owner=provider.owner, capacity_provider=provider)
    start = now_quarter()
    for first in range(20, 27):
        assert oscp.post(PATH, day_ahead(group, start, first=first), token=provider_token).status_code == 204

    prepared = prepared_statements()
    # Parsed and planned once per connection, not once per forecast.
    assert any("FROM connections_partner p JOIN connections_inboundtoken t" in text for text in prepared), prepared
    assert any(
        text.startswith("WITH new AS MATERIALIZED") and "UPDATE forecasts_envelope" in text for text in prepared
    ), prepared


def test_the_token_lookup_reads_one_index_entry_of_the_log_once_prepared(provider, provider_token):
    """Every OSCP request asks whether its X-Request-ID was accepted before. A kept connection
    prepares that statement and PostgreSQL may run it on one generic plan, made once, without the
    parameters, for the log as it was then: even when made while the log was empty, the plan must
    find the answer in the partial unique index of accepted requests. It used to read the
    partner's whole log, 0.95 ms of every forecast once 2,000 had come in."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
    for _ in range(6):  # prepared after the fifth, planned for the log as it is now: empty
        assert not partner_for_token(token=provider_token, request_id="unseen").request_seen
    Message.objects.bulk_create(
        Message(partner=provider, direction="in", status="accepted", message_type=PATH, request_id=f"seen-{n}")
        for n in range(2000)
    )
    before = rows_read("connections_message")

    for _ in range(10):
        found = partner_for_token(token=provider_token, request_id="seen-1999")
        assert found == provider and found.request_seen
        assert not partner_for_token(token=provider_token, request_id="unseen").request_seen

    assert prepared_statements_like("FROM connections_partner p JOIN connections_inboundtoken t")
    assert rows_read("connections_message") - before <= 20


def test_the_envelope_rebuild_reads_only_its_groups_rows_once_prepared_on_a_small_table(oscp, provider, provider_token):
    """A kept connection prepares the envelope's replace statement within its first forecasts, and
    PostgreSQL may run it on one generic plan made for the table as it was then, nearly empty: the
    plan must still find the group's rows by its index once the fleet's envelopes fill the table,
    not scan them all (a version of the statement did, which took a 1,000-group fleet's intake
    from 0.36 to 0.23 x ``/health/``)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
    group = CapacityGroupFactory(owner=provider.owner, capacity_provider=provider)
    start = now_quarter()
    for first in range(20, 27):  # prepared after the fifth, planned for a table of this group's rows
        assert oscp.post(PATH, day_ahead(group, start, first=first), token=provider_token).status_code == 204
    others = CapacityGroupFactory.create_batch(20, owner=provider.owner, capacity_provider=provider)
    past = start - timedelta(days=30)
    Envelope.objects.bulk_create(
        Envelope(
            group=other,
            quantity="import",
            value=40,
            start=past + timedelta(minutes=15 * n),
            end=past + timedelta(minutes=15 * (n + 1)),
            reason="forecast",
        )
        for other in others
        for n in range(1000)
    )
    before = rows_read("forecasts_envelope")

    assert oscp.post(PATH, day_ahead(group, start, first=41), token=provider_token).status_code == 204
    read = rows_read("forecasts_envelope") - before

    assert envelope_in_force(group=group, at=start)["importLimits"][0]["value"] == 41
    assert prepared_statements_like("UPDATE forecasts_envelope")
    assert read <= 5000, read  # its 96 rows, with their versions of this transaction; not the 20,000 others


@pytest.mark.django_db(transaction=True)
def test_prepared_statements_survive_a_column_added_by_a_migration(oscp, provider, provider_token):
    """A deploy migrates while running processes keep their connections: their prepared
    statements must still run once a table they read gains a column."""
    import psycopg

    group = CapacityGroupFactory(owner=provider.owner, capacity_provider=provider)
    start = now_quarter()
    for first in range(20, 27):
        assert oscp.post(PATH, day_ahead(group, start, first=first), token=provider_token).status_code == 204
    settings = connection.settings_dict
    tables = ["connections_partner", "groups_capacitygroup", "forecasts_envelopestate", "forecasts_envelope"]
    other = psycopg.connect(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"], port=settings["PORT"], autocommit=True
    )
    try:
        for table in tables:
            other.execute(f"ALTER TABLE {table} ADD COLUMN added_by_migration integer")
        sent = oscp.post(PATH, day_ahead(group, start, first=41), token=provider_token)
        assert sent.status_code == 204, sent.content
        assert envelope_in_force(group=group, at=start)["importLimits"][0]["value"] == 41
    finally:
        for table in tables:
            other.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS added_by_migration")
        other.close()


def test_a_re_sent_forecast_updates_the_envelope_rows_of_its_quarter_hours_in_place(oscp, group, provider_token):
    """Providers re-send the next 24 hours every quarter hour: the rows of the 95 quarter hours
    both forecasts cover are updated where they are (no dead row left for the next forecast to
    step over), the new last one is added, and the first, which the new forecast no longer
    covers, stays as it was."""
    start = now_quarter()
    first = oscp.post(PATH, day_ahead(group, start, first=30), token=provider_token)
    before = {row.start: row for row in Envelope.objects.filter(group=group)}

    later = start + timedelta(minutes=15)
    second = oscp.post(PATH, day_ahead(group, later, first=55), token=provider_token)

    assert second.status_code == 204
    newer = Forecast.objects.get(request_id=second.request_id)
    after = {row.start: row for row in Envelope.objects.filter(group=group)}
    assert len(after) == 97
    assert after[start] == before[start] and after[start].forecast.request_id == first.request_id
    assert after[later].value == 55 and after[later].forecast == newer
    shared = [at for at in after if at in before and at != start]
    assert len(shared) == 95 and all(after[at].pk == before[at].pk for at in shared)
    assert all(after[at].forecast == newer for at in shared)
    assert envelope_in_force(group=group, at=later)["importLimits"][0]["value"] == 55


def test_deleting_a_forecast_takes_its_envelope_rows(oscp, provider, provider_token):
    """Envelope rows point at their forecast without a database constraint (one would check the
    forecast again for each of them at commit); Django's cascade still removes them with it, as
    staff deleting a forecast or its group expect."""
    group = CapacityGroupFactory(owner=provider.owner, capacity_provider=provider)
    hour_ago = now_quarter() - timedelta(hours=1)
    kept = oscp.post(PATH, day_ahead(group, hour_ago, first=30, count=4), token=provider_token)
    gone = oscp.post(PATH, day_ahead(group, now_quarter(), first=55), token=provider_token)
    assert kept.status_code == gone.status_code == 204
    forecast = Forecast.objects.get(request_id=gone.request_id)
    assert Envelope.objects.filter(forecast=forecast).exists()

    forecast.delete()

    assert not Envelope.objects.filter(forecast_id=forecast.id).exists()
    older = Forecast.objects.get(request_id=kept.request_id)
    assert len(older.block_list()) == 4
    assert Envelope.objects.filter(group=group, forecast=older).count() == 4  # its hour, not replaced
