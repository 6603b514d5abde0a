"""Group modes: normal, forecast gap, partner offline (with and without fallback), protective
stop, recovery; the periodic check that moves groups between them."""

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from forecasts.models import Forecast, GroupModeChange
from forecasts.selectors import envelope_in_force, group_forecast_stale, groups_last_forecast_annotate
from forecasts.services import group_mode_refresh
from forecasts.tasks import groups_mode_check
from groups.models import CapacityGroup
from tests.forecasts.conftest import T0, blocks
from tests.forecasts.factories import ForecastFactory
from tests.groups.factories import CapacityGroupFactory
from tests.support.pages import chart_data
from tests.support.reads import rows_read

pytestmark = pytest.mark.django_db
Q = timedelta(minutes=15)


def refresh(group, now):
    envelope = group_mode_refresh(group_id=group.id, now=now)
    group.refresh_from_db()
    return envelope


def import_at(group, when):
    item = envelope_in_force(group=group, at=when)["importLimits"][0]
    return item["value"], item["reason"]


def test_normal_while_a_block_covers_now_then_forecast_gap(group, receive, at_time):
    at_time(T0 + Q)
    receive(group, "CONSUMPTION", blocks(count=4, capacity=10))
    group.refresh_from_db()
    assert group.mode == "normal"
    refresh(group, T0 + 4 * Q)
    assert group.mode == "forecast-gap"
    assert import_at(group, T0 + 4 * Q) == (0.0, "default")  # OSCP_DEFAULT_FALLBACK_IMPORT_KW
    changes = list(GroupModeChange.objects.filter(group=group).order_by("at").values_list("from_mode", "to_mode"))
    assert changes == [("forecast-gap", "normal"), ("normal", "forecast-gap")]


def test_forecast_gap_uses_the_group_fallback_limit(group, at_time):
    group.fallback_import_kw, group.fallback_export_kw = Decimal(22), Decimal(5)
    group.save()
    envelope = refresh(group, T0)
    assert group.mode == "forecast-gap"
    assert (envelope["importLimits"][0]["value"], envelope["importLimits"][0]["reason"]) == (22.0, "fallback")
    assert envelope["exportLimits"][0]["value"] == 5.0


def test_all_zero_profile_is_a_protective_stop_until_normal_profiles_resume(group, receive, at_time):
    at_time(T0)
    receive(group, "CONSUMPTION", blocks(capacity=0))
    group.refresh_from_db()
    assert group.mode == "protective-stop"
    assert import_at(group, T0) == (0.0, "protective-stop")
    receive(group, "CONSUMPTION", blocks(capacity=11))
    group.refresh_from_db()
    assert group.mode == "normal"
    assert import_at(group, T0) == (11.0, "forecast")


def go_offline(group, when):
    provider = group.capacity_provider
    provider.offline_mode_at = when
    provider.save()


def test_offline_keeps_received_block_until_it_ends_then_fallback_forecast(group, receive, at_time):
    at_time(T0)
    receive(group, "CONSUMPTION", blocks(count=8, capacity=10))
    receive(group, "FALLBACK_CONSUMPTION", blocks(count=8, capacity=3))
    receive(group, "FALLBACK_GENERATION", blocks(count=8, capacity=1))
    go_offline(group, T0 + timedelta(minutes=5))
    refresh(group, T0 + timedelta(minutes=6))
    assert group.mode == "partner-offline"
    assert import_at(group, T0 + timedelta(minutes=10)) == (10.0, "forecast")  # block in force until it ends
    assert import_at(group, T0 + Q) == (3.0, "fallback")
    assert envelope_in_force(group=group, at=T0 + Q)["exportLimits"][0]["value"] == 1.0


@pytest.mark.parametrize(("own", "expected"), [(Decimal(6), (6.0, "fallback")), (None, (0.0, "default"))])
def test_offline_without_fallback_forecast_uses_group_or_platform_fallback(group, receive, at_time, own, expected):
    group.fallback_import_kw = own
    group.save()
    at_time(T0)
    receive(group, "CONSUMPTION", blocks(count=8, capacity=10))
    go_offline(group, T0 + timedelta(minutes=5))
    refresh(group, T0 + timedelta(minutes=6))
    assert import_at(group, T0 + Q) == expected


def test_recovery_needs_a_new_handshake_and_then_a_new_forecast(group, receive, at_time):
    at_time(T0)
    receive(group, "CONSUMPTION", blocks(count=8, capacity=10))
    go_offline(group, T0 + timedelta(minutes=5))
    refresh(group, T0 + timedelta(minutes=6))
    provider = group.capacity_provider
    # Heartbeats resume, but no handshake yet: still offline.
    provider.offline_mode_at = T0 + timedelta(hours=1)
    provider.save()
    refresh(group, T0 + Q + Q)
    assert group.mode == "partner-offline"
    # Handshake done, no forecast yet: still offline.
    provider.handshake_completed_at = T0 + 2 * Q
    provider.save()
    refresh(group, T0 + 2 * Q + timedelta(minutes=1))
    assert group.mode == "partner-offline"
    assert import_at(group, T0 + 3 * Q) == (0.0, "default")
    # A new forecast: back to normal, and its limits apply.
    at_time(T0 + 2 * Q + timedelta(minutes=2))
    receive(group, "CONSUMPTION", blocks(start=T0 + 2 * Q, count=4, capacity=9), received_at=T0 + 2 * Q)
    group.refresh_from_db()
    assert group.mode == "normal"
    assert import_at(group, T0 + 3 * Q) == (9.0, "forecast")
    assert import_at(group, T0 + 7 * Q) == (10.0, "forecast")  # the older forecast applies again too
    modes = list(GroupModeChange.objects.filter(group=group).order_by("at").values_list("to_mode", flat=True))
    assert modes == ["normal", "partner-offline", "normal"]


def test_connection_marked_offline_counts_as_offline(group, receive, at_time):
    at_time(T0)
    receive(group, "CONSUMPTION", blocks(count=8, capacity=10))
    provider = group.capacity_provider
    provider.connection_state, provider.connection_state_changed_at = "offline", T0 + timedelta(minutes=1)
    provider.save()
    refresh(group, T0 + timedelta(minutes=2))
    assert group.mode == "partner-offline"
    assert "offline since" in group.mode_reason


def test_dispatcher_fans_out_one_check_per_enabled_group(group, django_capture_on_commit_callbacks):
    CapacityGroupFactory(owner=group.owner, enabled=False)
    with (
        mock.patch("forecasts.tasks.group_modes_check.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert groups_mode_check() == 1
    delay.assert_called_once_with([group.id])


def test_stale_when_the_provider_cadence_has_passed(group, receive):
    assert group_forecast_stale(group=group, now=T0) is None  # no cadence declared
    provider = group.capacity_provider
    provider.forecast_cadence_minutes = 15
    provider.save()
    receive(group, received_at=T0)
    assert group_forecast_stale(group=group, now=T0 + timedelta(minutes=10)) is False
    assert group_forecast_stale(group=group, now=T0 + timedelta(minutes=16)) is True


@pytest.mark.postgres
def test_a_groups_last_forecast_is_one_index_entry_however_many_its_provider_sent(group):
    """Staleness, on every group of a list and on the envelope API, reads the group's last forecast
    from its provider. A fleet's provider sends a forecast per group every quarter hour, kept for
    weeks: that read must not go through all of them (it read every forecast of the provider)."""
    provider = group.capacity_provider
    others = CapacityGroupFactory.create_batch(20, owner=group.owner, capacity_provider=provider)
    Forecast.objects.bulk_create(
        Forecast(group=other, sender=provider, type="CONSUMPTION", request_id=f"r-{n}", received_at=T0 + n * Q)
        for n in range(100)
        for other in others
    )
    newest = T0 + timedelta(days=3)
    for n, received_at in enumerate((T0, newest, T0 + Q)):
        ForecastFactory(group=group, sender=provider, request_id=f"mine-{n}", received_at=received_at)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE forecasts_forecast")
    before = rows_read("forecasts_forecast")

    annotated = groups_last_forecast_annotate(CapacityGroup.objects.filter(pk=group.pk)).get()

    assert annotated.last_forecast_at == newest
    assert rows_read("forecasts_forecast") - before <= 4


def test_admin_operating_view_shows_mode_envelope_and_chart(admin_client, group, receive, at_time):
    from django.utils import timezone

    now = timezone.now()
    receive(group, "CONSUMPTION", blocks(start=now - timedelta(minutes=5), capacity=13), received_at=now)
    group.refresh_from_db()
    page = admin_client.get(f"/admin/forecasts/groupoperation/{group.id}/operating/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "normal" in html and "13 kW" in html and "forecast #" in html
    assert html.count("<h1>") == 1  # the title once
    assert [limit["value"] for limit in chart_data(html)["limits"] if limit["source"] == "forecast"] == [13.0]
    listing = admin_client.get("/admin/forecasts/groupoperation/")
    assert listing.status_code == 200 and "Operating view" in listing.content.decode()


def test_admin_envelope_and_forecast_lists_load(admin_client, group, receive):
    receive(group, "CONSUMPTION", blocks(capacity=13))
    for url in ("/admin/forecasts/envelope/", "/admin/forecasts/forecast/", "/admin/forecasts/groupmodechange/"):
        assert admin_client.get(url).status_code == 200


def test_admin_forecast_page_shows_its_blocks(admin_client, group, receive):
    forecast = receive(group, "CONSUMPTION", blocks(count=1, capacity=13.5))
    html = admin_client.get(f"/admin/forecasts/forecast/{forecast.id}/change/").content.decode()
    [row] = [row for row in html.split("<tr>") if "13.5" in row]
    assert "ALL" in row and "KW" in row


def test_dispatcher_run_twice_in_one_round_queues_each_group_once(
    group, settings, at_time, django_capture_on_commit_callbacks
):
    settings.GROUP_MODE_CHECK_SECONDS = 10
    now = timezone.now()
    with (
        mock.patch("forecasts.tasks.group_modes_check.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        at_time(now)
        assert groups_mode_check() == 1
        assert groups_mode_check() == 0  # a second beat (or dispatcher) in the same round
        at_time(now + timedelta(seconds=5))
        assert groups_mode_check() == 1  # half an interval later: the next round
    assert [c.args for c in delay.call_args_list] == [([group.id],), ([group.id],)]


def test_a_forecast_handled_with_a_stale_group_does_not_record_the_mode_change_again(group, receive, at_time):
    from groups.models import CapacityGroup

    at_time(T0)
    stale = CapacityGroup.objects.get(id=group.id)  # read before the first forecast changed the mode
    receive(group, "CONSUMPTION", blocks(capacity=10))
    receive(stale, "CONSUMPTION", blocks(capacity=11))
    changes = list(GroupModeChange.objects.filter(group=group).values_list("from_mode", "to_mode"))
    assert changes == [("forecast-gap", "normal")]
