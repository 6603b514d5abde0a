"""The periodic group mode check under concurrency (PostgreSQL, real threads with their own
connections): two dispatchers running at once queue each group once per round, and two checks of
the same group record its mode change once."""

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from connections.models import Partner
from forecasts import services
from forecasts.models import GroupModeChange
from forecasts.services import forecast_receive, group_mode_refresh
from forecasts.tasks import group_modes_check, groups_mode_check
from groups.models import CapacityGroup
from tests.connections.factories import CapacityProviderFactory
from tests.groups.factories import CapacityGroupFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

GROUPS = 40
ROUNDS = 5


@pytest.fixture
def groups():
    """Groups whose provider went quiet a minute ago: each check moves one to partner-offline."""
    provider = CapacityProviderFactory(offline_mode_at=timezone.now() - timedelta(minutes=1))
    made = [CapacityGroupFactory(capacity_provider=provider) for _ in range(GROUPS)]
    CapacityGroupFactory(capacity_provider=provider, enabled=False)
    return made


def run_together(*targets):
    """Run each target in its own thread (own database connection), released at the same moment."""
    barrier = threading.Barrier(len(targets))
    errors = []

    def run(target):
        try:
            barrier.wait(10)
            target()
        except Exception as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(t,), name=f"t{i}") for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors


def test_two_dispatchers_at_once_queue_each_group_once_per_round(groups, settings):
    settings.GROUP_MODE_CHECK_SECONDS = 10
    queued: list[tuple[int, str, int]] = []  # (round, dispatcher thread, group id)
    lock = threading.Lock()
    clock = {"now": timezone.now()}
    current = {"round": 0}

    def record(group_ids):
        with lock:
            queued.extend((current["round"], threading.current_thread().name, group_id) for group_id in group_ids)

    with (
        mock.patch.object(group_modes_check, "delay", side_effect=record),
        mock.patch("django.utils.timezone.now", side_effect=lambda: clock["now"]),
    ):
        for number in range(ROUNDS):
            current["round"] = number
            run_together(groups_mode_check, groups_mode_check)
            clock["now"] += timedelta(seconds=settings.GROUP_MODE_CHECK_SECONDS)

    enabled = sorted(g.id for g in groups)
    for number in range(ROUNDS):
        ids = sorted(group_id for round_, _, group_id in queued if round_ == number)
        assert ids == enabled, f"round {number}: {len(ids)} checks queued for {len(enabled)} groups"


def test_a_round_interrupted_is_picked_up_by_the_next_one(groups, settings):
    """A claim lasts half an interval: checks a lost task never ran are queued again next round."""
    settings.GROUP_MODE_CHECK_SECONDS = 10
    now = timezone.now()

    def checked(delay) -> list[int]:
        return sorted(group_id for call in delay.call_args_list for group_id in call.args[0])

    with (
        mock.patch.object(group_modes_check, "delay") as delay,
        mock.patch("django.utils.timezone.now", return_value=now),
    ):
        run_together(groups_mode_check)
    assert len(checked(delay)) == GROUPS
    with mock.patch.object(group_modes_check, "delay") as delay:
        with mock.patch("django.utils.timezone.now", return_value=now + timedelta(seconds=4)):
            run_together(groups_mode_check)
        assert checked(delay) == []  # the same round
        with mock.patch("django.utils.timezone.now", return_value=now + timedelta(seconds=5)):
            run_together(groups_mode_check)
        assert len(checked(delay)) == GROUPS


def test_checks_of_the_same_groups_at_once_record_each_mode_change_once(groups):
    ids = [g.id for g in groups]

    def check_all():
        group_modes_check(ids)

    run_together(check_all, check_all, lambda: check_all() or check_all())

    assert set(CapacityGroup.objects.filter(id__in=ids).values_list("mode", flat=True)) == {"partner-offline"}
    per_group = GroupModeChange.objects.filter(group_id__in=ids).values_list("group_id", "to_mode")
    assert sorted(per_group) == sorted((group_id, "partner-offline") for group_id in ids)


def test_a_check_that_read_the_group_just_before_another_committed_records_nothing_twice(groups):
    """Check B reads the group, check A changes its mode and commits, then B takes the lock: B
    must judge on the committed mode, not the one it read, or the change is recorded twice."""
    group = groups[0]
    b_has_read, a_committed = threading.Event(), threading.Event()
    original = services._state_lock

    def late_lock(**kwargs):
        if threading.current_thread().name == "t0":
            b_has_read.set()
            a_committed.wait(10)
        return original(**kwargs)

    def check_a():
        assert b_has_read.wait(10)
        group_mode_refresh(group_id=group.id)
        a_committed.set()

    with mock.patch.object(services, "_state_lock", side_effect=late_lock):
        run_together(lambda: group_mode_refresh(group_id=group.id), check_a)

    assert list(GroupModeChange.objects.filter(group=group).values_list("to_mode", flat=True)) == ["partner-offline"]


def test_a_check_that_read_the_provider_just_before_it_recovered_does_not_put_the_group_offline_again(groups):
    """Check B reads the group and its provider (offline), then the provider handshakes and sends
    a forecast (recovered: normal), then B takes the lock: B must see the recovered provider."""
    group = groups[0]
    group_mode_refresh(group_id=group.id)  # offline since a minute ago
    b_has_read, a_committed = threading.Event(), threading.Event()
    original = services._state_lock

    def late_lock(**kwargs):
        if threading.current_thread().name == "t0":
            b_has_read.set()
            a_committed.wait(10)
        return original(**kwargs)

    def recover():
        assert b_has_read.wait(10)
        now = timezone.now()
        Partner.objects.filter(id=group.capacity_provider_id).update(handshake_completed_at=now, offline_mode_at=None)
        block = {"capacity": 9, "phase": "ALL", "unit": "KW", "start_time": now, "end_time": now + timedelta(hours=1)}
        fresh = CapacityGroup.objects.get(id=group.id)
        forecast_receive(
            group=fresh,
            sender=fresh.capacity_provider,
            forecast_type="CONSUMPTION",
            blocks=[block],
            request_id="after-handshake",
            received_at=now,
        )
        a_committed.set()

    with mock.patch.object(services, "_state_lock", side_effect=late_lock):
        run_together(lambda: group_mode_refresh(group_id=group.id), recover)

    group.refresh_from_db()
    assert group.mode == "normal"
    modes = list(GroupModeChange.objects.filter(group=group).order_by("id").values_list("to_mode", flat=True))
    assert modes == ["partner-offline", "normal"]
