"""Reports out: message shapes per partner, units, zero values, catch-up, exactly once."""

import logging
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from connections.choices import MeasurementMessage
from connections.models import Message
from groups.choices import Audience, MeasurementPeriod, Phase
from measurements import services, tasks
from measurements.choices import ReportOutcome
from measurements.models import ReportCursor
from measurements.services import report_cursors_dispatch, report_cursors_ensure
from tests.connections.factories import CapacityOptimizerFactory
from tests.groups.factories import AssetFactory, CapacityGroupFactory
from tests.measurements.factories import ReportCursorFactory

from .conftest import T0

M = timedelta(minutes=1)
END = T0 + 15 * M


def report_cursor_advance(**kwargs) -> list[Message]:
    """The messages the service wrote (it returns their ids), in the order of its ids."""
    return _messages(services.report_cursor_advance(**kwargs))


def report_cursors_advance(**kwargs) -> list[Message]:
    return _messages(services.report_cursors_advance(**kwargs))


def _messages(ids: list[int]) -> list[Message]:
    found = Message.objects.in_bulk(ids)
    return [found[message_id] for message_id in ids]


@pytest.fixture(autouse=True)
def _no_delay(settings):
    settings.MEASUREMENT_REPORT_DELAY_SECONDS = 0
    settings.MEASUREMENT_CATCHUP_PERIODS = 4


def cursor_for(group, audience=Audience.CAPACITY_PROVIDER, last_end=T0, period=MeasurementPeriod.FIFTEEN_MINUTE):
    return ReportCursorFactory(
        group=group, audience=audience, period=period, last_period_end=last_end, next_due_at=last_end + 15 * M
    )


def charge(add_reading, asset, wh_per_minute=10.0, watts=600.0, minutes=range(-1, 17)):
    for minute in minutes:
        add_reading(asset, T0 + minute * M, i={"watts": watts}, a={"wattHours": 1000 + wh_per_minute * minute})


def sent(group=None):
    messages = Message.objects.filter(direction="out").order_by("id")
    return list(messages.filter(group=group) if group else messages)


@pytest.mark.django_db
def test_group_measurements_sum_energy_per_phase_direction_and_type(add_reading):
    group = CapacityGroupFactory(identifier="site-1")
    one, two = AssetFactory(group=group), AssetFactory(group=group)
    phase_a = AssetFactory(group=group, phase=Phase.A)
    charge(add_reading, one, wh_per_minute=10)
    charge(add_reading, two, wh_per_minute=20)
    charge(add_reading, phase_a, wh_per_minute=2)
    cursor = cursor_for(group)

    [message] = report_cursor_advance(cursor_id=cursor.id, now=END)

    assert message.partner == group.capacity_provider
    assert message.message_type == "update_group_measurements"
    assert message.body["group_id"] == "site-1"
    by_phase = {m["phase"]: m for m in message.body["measurements"]}
    assert by_phase["ALL"] == {
        "value": 450.0,
        "phase": "ALL",
        "unit": "WH",
        "direction": "IMPORT",
        "energy_type": "TOTAL",
        "measure_time": "2026-11-21T10:15:00Z",
        "initial_measure_time": "2026-11-21T10:00:00Z",
    }
    assert by_phase["ONE"]["value"] == 30.0
    cursor.refresh_from_db()
    assert (cursor.last_period_end, cursor.last_outcome, cursor.last_message) == (END, ReportOutcome.QUEUED, message)


@pytest.mark.django_db
def test_asset_measurements_one_entry_per_asset(add_reading):
    group = CapacityGroupFactory(capacity_provider__measurement_message=MeasurementMessage.ASSET)
    watts = AssetFactory(group=group, identifier="charger-1")
    kilowatts = AssetFactory(
        group=group,
        identifier="charger-2",
        phase=Phase.B,
        instantaneous={"propertyNames": ["watts"], "unit": "kW", "multiplier": 0.001, "statisticType": "Average"},
    )
    charge(add_reading, watts, watts=7200)
    charge(add_reading, kilowatts, watts=3600)

    [message] = report_cursor_advance(cursor_id=cursor_for(group).id, now=END)

    assert message.message_type == "update_asset_measurements"
    entries = {m["asset_id"]: m for m in message.body["measurements"]}
    assert entries["charger-1"]["asset_category"] == "CHARGING"
    assert entries["charger-1"]["instantaneous_measurement"] == {
        "value": 7200.0,
        "phase": "ALL",
        "unit": "W",
        "measure_time": "2026-11-21T10:15:00Z",
    }
    assert entries["charger-1"]["energy_measurement"]["value"] == 150.0
    assert entries["charger-2"]["instantaneous_measurement"]["unit"] == "KW"
    assert entries["charger-2"]["instantaneous_measurement"]["value"] == 3.6
    assert entries["charger-2"]["energy_measurement"]["phase"] == "TWO"


@pytest.mark.django_db
def test_combined_asset_sums_everything_into_one_in_watts(add_reading, caplog):
    group = CapacityGroupFactory(
        capacity_provider__measurement_message=MeasurementMessage.ASSET,
        capacity_provider__combined_asset_id="PARTNER-SITE",
        combined_asset_id="SITE42",
    )
    in_watts = AssetFactory(group=group)
    in_kw = AssetFactory(
        group=group,
        instantaneous={"propertyNames": ["watts"], "unit": "kW", "multiplier": 0.001, "statisticType": "Maximum"},
        energy={
            "propertyNames": ["wattHours"],
            "unit": "kWh",
            "multiplier": 0.001,
            "statisticType": "Difference",
            "type": "Total",
            "direction": "Import",
        },
    )
    in_amps = AssetFactory(
        group=group, instantaneous={"propertyNames": ["amps"], "unit": "A", "statisticType": "Maximum"}
    )
    charge(add_reading, in_watts, watts=1000, wh_per_minute=100)
    charge(add_reading, in_kw, watts=2500, wh_per_minute=200)
    for minute in range(15):
        add_reading(in_amps, T0 + minute * M, i={"amps": 16})

    with caplog.at_level(logging.WARNING):
        [message] = report_cursor_advance(cursor_id=cursor_for(group).id, now=END)

    [entry] = message.body["measurements"]
    assert entry["asset_id"] == "SITE42"  # the group's id overrides the partner's
    assert entry["instantaneous_measurement"]["unit"] == "W"
    assert entry["instantaneous_measurement"]["value"] == 3500.0  # the A asset is left out
    assert entry["energy_measurement"]["unit"] == "KWH"  # mixed Wh and kWh
    assert entry["energy_measurement"]["value"] == 4.5
    assert f"Asset {in_amps.id}: instantaneous unit 'A'" in caplog.text


@pytest.mark.django_db
def test_partner_combined_asset_id_applies_when_the_group_has_none(add_reading):
    group = CapacityGroupFactory(
        capacity_provider__measurement_message=MeasurementMessage.ASSET,
        capacity_provider__combined_asset_id="PARTNER-SITE",
    )
    charge(add_reading, AssetFactory(group=group))
    charge(add_reading, AssetFactory(group=group))

    [message] = report_cursor_advance(cursor_id=cursor_for(group).id, now=END)

    assert [m["asset_id"] for m in message.body["measurements"]] == ["PARTNER-SITE"]
    assert message.body["measurements"][0]["energy_measurement"]["value"] == 300.0


@pytest.mark.django_db
def test_no_data_sends_nothing_unless_the_group_reports_zeros(add_reading):
    quiet = CapacityGroupFactory()
    AssetFactory(group=quiet)
    zeros = CapacityGroupFactory(report_zero_when_no_data=True, capacity_provider__measurement_message="asset")
    AssetFactory(group=zeros, identifier="idle-charger")
    quiet_cursor, zeros_cursor = cursor_for(quiet), cursor_for(zeros)

    assert report_cursor_advance(cursor_id=quiet_cursor.id, now=END) == []
    [message] = report_cursor_advance(cursor_id=zeros_cursor.id, now=END)

    quiet_cursor.refresh_from_db()
    assert (quiet_cursor.last_period_end, quiet_cursor.last_outcome) == (END, ReportOutcome.NO_DATA)
    [entry] = message.body["measurements"]
    assert entry["asset_id"] == "idle-charger"
    assert entry["energy_measurement"]["value"] == 0
    assert entry["instantaneous_measurement"]["value"] == 0


@pytest.mark.django_db
def test_missed_periods_are_sent_in_order_up_to_the_catch_up_limit(add_reading):
    group = CapacityGroupFactory(report_zero_when_no_data=True)
    AssetFactory(group=group)
    cursor = cursor_for(group)

    messages = report_cursor_advance(cursor_id=cursor.id, now=T0 + 2 * 60 * M + 5 * M)

    ends = [m.body["measurements"][0]["measure_time"] for m in messages]
    assert ends == ["2026-11-21T11:15:00Z", "2026-11-21T11:30:00Z", "2026-11-21T11:45:00Z", "2026-11-21T12:00:00Z"]
    assert [m.id for m in messages] == sorted(m.id for m in messages)
    cursor.refresh_from_db()
    assert cursor.last_period_end == T0 + 2 * 60 * M
    assert cursor.last_detail.startswith("4 older period(s) dropped")
    assert report_cursor_advance(cursor_id=cursor.id, now=T0 + 2 * 60 * M + 14 * M) == []


@pytest.mark.django_db
def test_each_audience_gets_its_own_assets_and_period(add_reading):
    group = CapacityGroupFactory(
        capacity_optimizer=CapacityOptimizerFactory(measurement_message="asset"),
        capacity_optimizer_measurement_period=MeasurementPeriod.FIVE_MINUTE,
    )
    charge(add_reading, AssetFactory(group=group, identifier="for-cp"))
    charge(add_reading, AssetFactory(group=group, identifier="for-co", audience=Audience.CAPACITY_OPTIMIZER))
    report_cursors_ensure(now=T0 + timedelta(seconds=30))

    cp, co = (
        ReportCursor.objects.get(audience="CapacityProvider"),
        ReportCursor.objects.get(audience="CapacityOptimizer"),
    )
    cp_messages = report_cursor_advance(cursor_id=cp.id, now=END)
    co_messages = report_cursor_advance(cursor_id=co.id, now=END)

    assert [m.partner for m in cp_messages] == [group.capacity_provider]
    assert [m.partner for m in co_messages] == [group.capacity_optimizer] * 3
    assert {e["asset_id"] for m in co_messages for e in m.body["measurements"]} == {"for-co"}
    assert cp_messages[0].body["measurements"][0]["value"] == 150.0


@pytest.mark.django_db
def test_dispatcher_queues_only_closed_periods_of_enabled_groups(
    settings, published, django_capture_on_commit_callbacks
):
    settings.MEASUREMENT_REPORT_DELAY_SECONDS = 30
    live = CapacityGroupFactory()
    CapacityGroupFactory(enabled=False)
    CapacityGroupFactory(capacity_provider__enabled=False)

    report_cursors_dispatch(now=T0 + 7 * M)
    assert ReportCursor.objects.count() == 2  # none for the disabled group
    live_cursor = ReportCursor.objects.get(group=live)
    assert live_cursor.last_period_end == T0
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.reports_queue(now=END + 29 * timedelta(seconds=1)) == []
    with django_capture_on_commit_callbacks(execute=True):
        due = tasks.reports_queue(now=END + 30 * timedelta(seconds=1))

    assert due == [live_cursor.id]
    assert [call.args for call in published if call.name == "measurements.reports_run"] == [([live_cursor.id],)]


@pytest.mark.django_db
def test_a_period_change_is_followed(add_reading):
    group = CapacityGroupFactory(report_zero_when_no_data=True)
    AssetFactory(group=group)
    report_cursors_ensure(now=T0)
    group.capacity_provider_measurement_period = MeasurementPeriod.FIVE_MINUTE
    group.save()

    report_cursors_ensure(now=T0 + M)
    cursor = ReportCursor.objects.get()

    assert (cursor.period, cursor.next_due_at) == (MeasurementPeriod.FIVE_MINUTE, T0 + 5 * M)
    assert len(report_cursor_advance(cursor_id=cursor.id, now=T0 + 10 * M)) == 2


@pytest.mark.django_db
def test_capacity_provider_reports_feed_the_compliance_check(
    add_reading, published, django_capture_on_commit_callbacks
):
    group = CapacityGroupFactory()
    charge(add_reading, AssetFactory(group=group), wh_per_minute=100)  # 1.5 kWh in 15 minutes

    with django_capture_on_commit_callbacks(execute=True):
        report_cursor_advance(cursor_id=cursor_for(group).id, now=END)

    checks = [call.args for call in published if call.name == "forecasts.compliance_checks"]
    assert checks == [([[group.id, T0.isoformat(), END.isoformat(), pytest.approx(6.0)]],)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_each_period_is_sent_once_with_concurrent_workers():
    now = T0 + 3 * 15 * M
    rounds = 5
    cursors = [cursor_for(CapacityGroupFactory(report_zero_when_no_data=True)) for _ in range(rounds)]
    for cursor in cursors:
        AssetFactory(group=cursor.group)

    def worker(cursor_id, barrier, results):
        try:
            barrier.wait()
            results.append(len(report_cursor_advance(cursor_id=cursor_id, now=now)))
        finally:
            connection.close()

    for cursor in cursors:
        barrier, results = threading.Barrier(2), []
        threads = [threading.Thread(target=worker, args=(cursor.id, barrier, results)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == [0, 3]
        assert len(sent(cursor.group)) == 3


@pytest.mark.django_db
def test_admin_lists_cursors_and_resends_a_period(admin_client, add_reading, django_assert_max_num_queries):
    group = CapacityGroupFactory(name="Depot")
    charge(add_reading, AssetFactory(group=group))
    cursor = cursor_for(group, last_end=END)
    for _ in range(5):
        cursor_for(CapacityGroupFactory())

    with django_assert_max_num_queries(8):
        listing = admin_client.get("/admin/measurements/reportcursor/")
    form = admin_client.post(
        "/admin/measurements/reportcursor/", {"action": "send_period", "_selected_action": [cursor.id]}
    )
    done = admin_client.post(
        "/admin/measurements/reportcursor/",
        {"action": "send_period", "_selected_action": [cursor.id], "apply": "1", "period_start": ""},
        follow=True,
    )

    assert listing.status_code == 200
    assert b"Depot" in listing.content
    assert b"period_start" in form.content
    [message] = sent(group)
    assert message.body["measurements"][0]["measure_time"] == "2026-11-21T10:15:00Z"
    assert "update_group_measurements queued" in done.content.decode()


@pytest.mark.django_db
def test_a_group_without_assets_for_the_audience_is_skipped(add_reading):
    group = CapacityGroupFactory(report_zero_when_no_data=True)
    AssetFactory(group=group, audience=Audience.CAPACITY_OPTIMIZER)
    cursor = cursor_for(group)

    assert report_cursor_advance(cursor_id=cursor.id, now=END) == []

    cursor.refresh_from_db()
    assert (cursor.last_period_end, cursor.last_outcome) == (END, ReportOutcome.SKIPPED)
    assert cursor.last_detail == "No enabled assets for this audience."


@pytest.mark.django_db
def test_one_asset_per_group_reports_the_site_as_one_asset_named_by_the_group(add_reading):
    # Vector DERMS: a site's chargers stay separate assets here; the provider sees one per group.
    group = CapacityGroupFactory(
        identifier="SITE7",
        capacity_provider__measurement_message=MeasurementMessage.ASSET,
        capacity_provider__one_asset_per_group=True,
    )
    one, two = AssetFactory(group=group), AssetFactory(group=group)
    charge(add_reading, one, watts=1000)
    charge(add_reading, two, watts=2000)

    [message] = report_cursor_advance(cursor_id=cursor_for(group).id, now=END)

    assert message.message_type == "update_asset_measurements"
    [entry] = message.body["measurements"]
    assert entry["asset_id"] == "SITE7"
    assert entry["instantaneous_measurement"]["unit"] in ("W", "KW")


@pytest.mark.django_db
def test_empty_measurement_lists_are_sent_only_where_the_partner_wants_them():
    quiet = CapacityGroupFactory(identifier="quiet")
    AssetFactory(group=quiet)
    assert report_cursor_advance(cursor_id=cursor_for(quiet).id, now=END) == []

    wants_empty = CapacityGroupFactory(identifier="empty", capacity_provider__send_empty_measurements=True)
    AssetFactory(group=wants_empty)
    [message] = report_cursor_advance(cursor_id=cursor_for(wants_empty).id, now=END)
    assert message.body == {"group_id": "empty", "measurements": []}


def _fleet(add_reading, count):
    """``count`` groups of several kinds (group and asset messages, a combined site Maximum, a
    five-minute period) with their provider cursors, two fifteen-minute periods behind."""
    cursors = []
    for n in range(count):
        kind = n % 4
        group = CapacityGroupFactory(
            identifier=f"site-{n}",
            capacity_provider__measurement_message="asset" if kind in (1, 2) else "group",
            combined_asset_id="SITE" if kind == 2 else "",
            capacity_provider_measurement_period=MeasurementPeriod.FIVE_MINUTE if kind == 3 else "FifteenMinute",
        )
        for _ in range(2):
            asset = AssetFactory(
                group=group,
                instantaneous={"propertyNames": ["watts"], "unit": "W", "statisticType": "Maximum"},
            )
            charge(add_reading, asset, minutes=range(-1, 31))
        if kind == 3:
            cursors.append(cursor_for(group, period=MeasurementPeriod.FIVE_MINUTE))
        else:
            cursors.append(cursor_for(group))
    return cursors


@pytest.mark.django_db
def test_a_batch_of_cursors_costs_the_same_few_queries_however_many_groups(add_reading, django_assert_num_queries):
    small, large = _fleet(add_reading, 4), _fleet(add_reading, 12)
    now = T0 + 30 * M

    with CaptureQueriesContext(connection) as first:
        services.report_cursors_advance(cursor_ids=[c.id for c in small], now=now)
    with django_assert_num_queries(len(first)):
        written = services.report_cursors_advance(cursor_ids=[c.id for c in large], now=now)
    messages = _messages(written)

    assert len(first) <= 12
    # Fifteen-minute groups: 2 periods each; five-minute groups: the last 4 of 6 (catch-up limit).
    assert len(messages) == 9 * 2 + 3 * 4
    by_group = {}
    for message in messages:
        by_group.setdefault(message.group_id, []).append(message)
    for cursor in large:
        cursor.refresh_from_db()
        assert cursor.last_period_end == now
        assert cursor.last_message == by_group[cursor.group_id][-1]
        assert cursor.last_outcome == ReportOutcome.QUEUED
        assert cursor.last_detail.startswith("2 older period(s) dropped") == (cursor.period == "FiveMinute")
    site = next(m for m in messages if m.body["group_id"] == "site-6")  # combined: the site's Maximum
    assert site.body["measurements"][0]["instantaneous_measurement"]["value"] == 1200.0
    assert site.body["measurements"][0]["energy_measurement"]["value"] == 300.0


@pytest.mark.django_db
def test_the_dispatcher_publishes_one_task_per_batch_of_cursors(
    settings, published, django_capture_on_commit_callbacks
):
    settings.MEASUREMENT_REPORT_BATCH = 2
    cursors = [cursor_for(CapacityGroupFactory()) for _ in range(5)]

    with django_capture_on_commit_callbacks(execute=True):
        due = tasks.reports_queue(now=END)

    batches = [call.args[0] for call in published if call.name == "measurements.reports_run"]
    assert sorted(due) == sorted(c.id for c in cursors)
    assert [len(batch) for batch in batches] == [2, 2, 1]
    assert sorted(i for batch in batches for i in batch) == sorted(due)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_overlapping_batches_on_concurrent_workers_send_each_period_once():
    now = T0 + 2 * 15 * M
    cursors = [cursor_for(CapacityGroupFactory(report_zero_when_no_data=True)) for _ in range(6)]
    for cursor in cursors:
        AssetFactory(group=cursor.group)
    ids = [c.id for c in cursors]
    barrier, results = threading.Barrier(3), []

    def worker(batch):
        try:
            barrier.wait()
            results.append(len(report_cursors_advance(cursor_ids=batch, now=now)))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(batch,)) for batch in (ids[:4], ids[2:], ids[::-1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(results) == 6 * 2
    for cursor in cursors:
        ends = [m.body["measurements"][0]["measure_time"] for m in sent(cursor.group)]
        assert ends == ["2026-11-21T10:15:00Z", "2026-11-21T10:30:00Z"]
