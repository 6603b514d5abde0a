"""Adjustment requests and compliance errors: API, outbox rows, correlation ids, self check."""

from datetime import timedelta
from decimal import Decimal

import pytest

from connections.models import Message
from forecasts.compliance import compliance_check
from forecasts.models import AdjustmentRequest, ComplianceError
from forecasts.tasks import compliance_checks
from tests.forecasts.conftest import T0, blocks
from tests.forecasts.factories import ForecastFactory
from tests.groups.factories import CapacityGroupFactory

pytestmark = pytest.mark.django_db
Q = timedelta(minutes=15)
BLOCK = {
    "capacity": 20,
    "phase": "ALL",
    "unit": "KW",
    "startTime": "2030-01-01 10:00:00Z",
    "endTime": "2030-01-01T10:15:00Z",
}


def adjust_url(group):
    return f"/solaruser/api/v1/sec/user/oscp/capacity-groups/{group.id}/adjust"


def errors_url(group):
    return f"/solaruser/api/v1/sec/user/oscp/capacity-groups/{group.id}/compliance-errors"


def test_adjust_round_trip(api_client, group, receive):
    response = api_client.post(
        adjust_url(group), {"type": "CONSUMPTION", "forecastedBlocks": [BLOCK], "correlationId": "fc-1"}, format="json"
    )
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["status"] == "awaiting"
    message = Message.objects.get(message_type="adjust_group_capacity_forecast")
    assert message.partner == group.capacity_provider and message.direction == "out"
    assert message.request_id == data["requestId"] and message.correlation_id == "fc-1"
    assert message.body == {
        "group_id": group.identifier,
        "type": "CONSUMPTION",
        "forecasted_blocks": [
            {
                "capacity": 20.0,
                "phase": "ALL",
                "unit": "KW",
                "start_time": "2030-01-01T10:00:00Z",
                "end_time": "2030-01-01T10:15:00Z",
            }
        ],
    }
    # The provider's next forecast answers it.
    answer = receive(group, "CONSUMPTION", blocks(capacity=20))
    adjustment = AdjustmentRequest.objects.get()
    assert (adjustment.status, adjustment.answer) == ("answered", answer)
    listed = api_client.get(adjust_url(group)).json()["data"]
    assert listed[0]["answerForecastId"] == answer.id


def test_forecast_correlated_to_one_adjustment_answers_only_that_one(api_client, group, receive):
    for _ in range(2):
        api_client.post(adjust_url(group), {"type": "CONSUMPTION", "forecastedBlocks": [BLOCK]}, format="json")
    first, second = AdjustmentRequest.objects.order_by("id")
    receive(group, "CONSUMPTION", blocks(), correlation_id=second.request_id)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("awaiting", "answered")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "MAXIMUM", "forecastedBlocks": [BLOCK]}, "type"),
        ({"type": "CONSUMPTION", "forecastedBlocks": []}, "forecastedBlocks"),
        ({"type": "CONSUMPTION", "forecastedBlocks": [BLOCK | {"unit": "MW"}]}, "forecastedBlocks"),
        (
            {"type": "CONSUMPTION", "forecastedBlocks": [BLOCK | {"endTime": "2030-01-01 09:00:00Z"}]},
            "forecastedBlocks",
        ),
        (
            {"type": "CONSUMPTION", "forecastedBlocks": [BLOCK | {"startTime": "2030-01-01 10:00:00"}]},
            "forecastedBlocks",
        ),
    ],
)
def test_bad_adjustment_is_a_400_and_sends_nothing(api_client, group, body, field):
    response = api_client.post(adjust_url(group), body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Message.objects.exists() and not AdjustmentRequest.objects.exists()


def test_other_account_cannot_adjust(other_api_client, group):
    response = other_api_client.post(
        adjust_url(group), {"type": "CONSUMPTION", "forecastedBlocks": [BLOCK]}, format="json"
    )
    assert response.status_code == 404


def test_compliance_error_is_correlated_to_the_forecast(api_client, group, receive):
    forecast = receive(group, "CONSUMPTION", blocks(), request_id="cp-req-9")
    response = api_client.post(
        errors_url(group),
        {"message": "Cannot stop charging", "forecastId": forecast.id, "forecastedBlocks": [BLOCK]},
        format="json",
    )
    assert response.status_code == 201
    message = Message.objects.get(message_type="group_capacity_compliance_error")
    assert message.correlation_id == "cp-req-9" and message.partner == group.capacity_provider
    assert message.body["message"] == "Cannot stop charging"
    assert message.body["forecasted_blocks"][0]["capacity"] == 20.0
    assert ComplianceError.objects.get().origin == "tool"


def test_compliance_error_defaults_to_the_forecast_in_force(api_client, group, receive, at_time):
    at_time(T0)
    receive(group, "CONSUMPTION", blocks(), request_id="cp-now")
    assert api_client.post(errors_url(group), {"message": "No"}, format="json").status_code == 201
    assert Message.objects.get(message_type="group_capacity_compliance_error").correlation_id == "cp-now"


def test_compliance_error_needs_a_forecast(api_client, group, other_user):
    response = api_client.post(errors_url(group), {"message": "No"}, format="json")
    assert response.status_code == 400 and "forecastId" in response.json()["errors"]
    foreign = ForecastFactory(group=group, request_id="x", received_at=T0)
    response = api_client.post(errors_url(group), {"message": "", "forecastId": foreign.id + 1}, format="json")
    assert set(response.json()["errors"]) == {"message", "forecastId"}
    assert not Message.objects.exists()


@pytest.mark.parametrize("report", [True, False])
def test_self_check_records_a_breach_and_reports_when_asked(group, receive, report):
    group.report_compliance_breaches = report
    group.save()
    receive(group, "CONSUMPTION", blocks(capacity=10), request_id="cp-7")
    assert compliance_check(group=group, period_start=T0, period_end=T0 + Q, measured_kw=9.5) is None
    breach = compliance_check(group=group, period_start=T0, period_end=T0 + Q, measured_kw=Decimal("10.5"))
    assert breach.limit_kw == 10 and breach.origin == "self-check"
    sent = Message.objects.filter(message_type="group_capacity_compliance_error")
    assert sent.count() == (1 if report else 0)
    if report:
        assert sent.get().correlation_id == "cp-7"
    # The same period again records nothing new.
    compliance_check(group=group, period_start=T0, period_end=T0 + Q, measured_kw=11)
    assert ComplianceError.objects.count() == 1


def test_self_check_weighs_a_limit_that_changes_within_the_period(group, receive):
    receive(group, "CONSUMPTION", blocks(capacity=[10, 20], minutes=5, count=2))
    # 5 min at 10 kW + 5 min at 20 kW: 15 kW on average over the 10 minutes.
    assert compliance_check(group=group, period_start=T0, period_end=T0 + timedelta(minutes=10), measured_kw=14) is None
    assert compliance_check(group=group, period_start=T0, period_end=T0 + timedelta(minutes=10), measured_kw=16)


def test_self_check_skips_amp_limits(group, receive):
    receive(group, "CONSUMPTION", blocks(capacity=16, unit="A", phase="ONE"))
    assert compliance_check(group=group, period_start=T0, period_end=T0 + Q, measured_kw=100) is None


def test_measurement_reports_task_records_a_breach(group, receive):
    """The measurements side hands each reported period to the check through a Celery task."""
    from forecasts.tasks import compliance_check as task

    receive(group, "CONSUMPTION", blocks(capacity=10), request_id="cp-8")
    task(group.id, T0.isoformat(), (T0 + Q).isoformat(), 12.0)
    breach = ComplianceError.objects.get()
    assert (breach.measured_kw, breach.limit_kw, breach.period_start) == (12, 10, T0)


def test_measurement_reports_hand_a_batch_of_periods_to_one_task(group, receive):
    receive(group, "CONSUMPTION", blocks(capacity=10), request_id="cp-9")
    period = [T0.isoformat(), (T0 + Q).isoformat()]
    compliance_checks([[group.id, *period, 9.0], [group.id + 1000, *period, 50.0], [group.id, *period, 12.5]])
    breach = ComplianceError.objects.get()
    assert (breach.group, breach.measured_kw, breach.limit_kw) == (group, Decimal("12.5"), 10)


def test_a_batch_of_checks_reads_every_limit_at_once(group, receive, django_assert_max_num_queries):
    """One batch over many groups and two periods: each check is held to its own group's limit in
    its own period, and the limits cost the same queries for eight groups as for one."""
    others = [CapacityGroupFactory(owner=group.owner, capacity_provider=group.capacity_provider) for _ in range(7)]
    for n, each in enumerate([group, *others]):
        receive(each, "CONSUMPTION", blocks(capacity=[10 + n, 20 + n], count=2))
    first, second = [T0.isoformat(), (T0 + Q).isoformat()], [(T0 + Q).isoformat(), (T0 + 2 * Q).isoformat()]
    within = [[each.id, *period, 9.0] for each in [group, *others] for period in (first, second)]
    with django_assert_max_num_queries(4):  # the groups, the envelope pieces, a savepoint and its release
        compliance_checks(within)
    assert not ComplianceError.objects.exists()

    compliance_checks([[group.id, *first, 10.5], [others[0].id, *first, 10.5], [others[0].id, *second, 21.5]])
    breaches = {(e.group_id, e.period_start, e.limit_kw) for e in ComplianceError.objects.all()}
    assert breaches == {(group.id, T0, 10), (others[0].id, T0 + Q, 21)}
