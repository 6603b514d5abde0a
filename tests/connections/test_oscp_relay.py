"""Messages from a Capacity Optimizer that are stored and relayed to the group's Capacity Provider."""

import pytest

from connections.models import Message
from forecasts.models import ComplianceError, Forecast
from tests.connections.conftest import block
from tests.groups.factories import CapacityGroupFactory

pytestmark = pytest.mark.django_db


def relayed(provider):
    return Message.objects.filter(direction="out", partner=provider)


def energy(**overrides):
    return {
        "value": 12.5,
        "phase": "ALL",
        "unit": "KWH",
        "direction": "IMPORT",
        "measure_time": "2024-05-01T10:15:00+08:00",
        **overrides,
    }


def test_adjustment_stored_and_relayed_with_optimizer_request_id(oscp, group, provider, optimizer_token):
    body = {
        "group_id": group.identifier,
        "type": "CONSUMPTION",
        "forecasted_blocks": [block(start="2024-05-01T08:00:00+08:00")],
    }
    sent = oscp.post(
        "adjust_group_capacity_forecast", body, token=optimizer_token, headers={"X-Correlation-ID": "fc-9"}
    )
    assert sent.status_code == 204
    stored = Forecast.objects.get()
    assert (stored.message_type, stored.correlation_id) == ("adjust_group_capacity_forecast", "fc-9")
    out = relayed(provider).get()
    assert (out.message_type, out.request_id, out.group, out.status) == (
        "adjust_group_capacity_forecast",
        sent.request_id,
        group,
        "pending",
    )
    # Same body, times normalised to UTC.
    assert out.body["forecasted_blocks"][0]["start_time"] == "2024-05-01T00:00:00Z"
    assert out.body["forecasted_blocks"][0]["capacity"] == 10.5
    assert out.body["group_id"] == group.identifier and out.body["type"] == "CONSUMPTION"


def test_relay_is_queued_on_commit(oscp, group, optimizer_token, django_capture_on_commit_callbacks):
    body = {"group_id": group.identifier, "measurements": []}
    with django_capture_on_commit_callbacks() as callbacks:
        oscp.post("update_group_measurements", body, token=optimizer_token)
    assert len(callbacks) == 1


def test_compliance_error_found_by_correlation_id(oscp, group, provider, provider_token, optimizer_token):
    fc = oscp.post(
        "update_group_capacity_forecast",
        {"group_id": group.identifier, "type": "CONSUMPTION", "forecasted_blocks": [block()]},
        token=provider_token,
    )
    body = {"message": "Cannot meet 10.5 kW", "forecasted_blocks": [block()]}
    sent = oscp.post(
        "group_capacity_compliance_error", body, token=optimizer_token, headers={"X-Correlation-ID": fc.request_id}
    )
    assert sent.status_code == 204
    error = ComplianceError.objects.get()
    assert (error.group, error.forecast.request_id, error.message) == (group, fc.request_id, "Cannot meet 10.5 kW")
    assert error.forecasted_blocks[0]["start_time"] == "2024-05-01T00:00:00Z"
    out = relayed(provider).get()
    assert (out.message_type, out.request_id, out.correlation_id) == (
        "group_capacity_compliance_error",
        sent.request_id,
        fc.request_id,
    )
    assert out.body == {"message": "Cannot meet 10.5 kW", "forecasted_blocks": error.forecasted_blocks}


def test_compliance_error_with_group_id(oscp, group, optimizer_token):
    body = {"message": "Whoops!", "group_id": group.identifier}
    assert oscp.post("group_capacity_compliance_error", body, token=optimizer_token).status_code == 204
    assert ComplianceError.objects.get().forecast is None


@pytest.mark.parametrize(
    "body, headers, status, expected",
    [
        ({"forecasted_blocks": []}, {}, 400, "message: This field is required."),
        ({"message": "x"}, {}, 400, "group_id: required when X-Correlation-ID"),
        ({"message": "x"}, {"X-Correlation-ID": "no-such-forecast"}, 400, "group_id:"),
        ({"message": "x", "group_id": "nope"}, {}, 404, "group_id: unknown group"),
    ],
)
def test_invalid_compliance_error(oscp, group, provider, optimizer_token, body, headers, status, expected):
    sent = oscp.post("group_capacity_compliance_error", body, token=optimizer_token, headers=headers)
    assert sent.status_code == status
    assert sent.json()["message"].startswith(expected)
    assert not ComplianceError.objects.exists() and not relayed(provider).exists()


def test_group_measurements_relayed(oscp, group, provider, optimizer_token):
    body = {"group_id": group.identifier, "measurements": [energy(), energy(energy_type="FLEXIBLE", value=3)]}
    sent = oscp.post("update_group_measurements", body, token=optimizer_token)
    assert sent.status_code == 204
    out = relayed(provider).get()
    assert out.request_id == sent.request_id
    assert out.body["measurements"][0] == {**energy(), "measure_time": "2024-05-01T02:15:00Z"}
    assert out.body["measurements"][1]["energy_type"] == "FLEXIBLE"


def test_empty_measurement_lists_are_valid(oscp, group, provider, optimizer_token):
    for message in ("update_group_measurements", "update_asset_measurements"):
        assert (
            oscp.post(message, {"group_id": group.identifier, "measurements": []}, token=optimizer_token).status_code
            == 204
        )
    assert [m.body["measurements"] for m in relayed(provider)] == [[], []]


def test_asset_measurements_relayed(oscp, group, provider, optimizer_token):
    asset = {
        "asset_id": "site1",
        "asset_category": "CHARGING",
        "energy_measurement": energy(),
        "instantaneous_measurement": {
            "value": 7.2,
            "phase": "ALL",
            "unit": "KW",
            "measure_time": "2024-05-01T02:15:00Z",
        },
    }
    sent = oscp.post(
        "update_asset_measurements", {"group_id": group.identifier, "measurements": [asset]}, token=optimizer_token
    )
    assert sent.status_code == 204
    assert relayed(provider).get().body["measurements"][0]["instantaneous_measurement"]["unit"] == "KW"


@pytest.mark.parametrize(
    "measurement, expected",
    [
        (energy(unit="KW"), "measurements[0].unit:"),
        (energy(direction="IN"), "measurements[0].direction:"),
        (energy(energy_type="GREEN"), "measurements[0].energy_type:"),
        ({k: v for k, v in energy().items() if k != "value"}, "measurements[0].value: This field is required."),
        (energy(measure_time="2024-05-01T10:15:00"), "measurements[0].measure_time:"),
    ],
)
def test_invalid_group_measurements(oscp, group, provider, optimizer_token, measurement, expected):
    sent = oscp.post(
        "update_group_measurements",
        {"group_id": group.identifier, "measurements": [measurement]},
        token=optimizer_token,
    )
    assert sent.status_code == 400
    assert sent.json()["message"].startswith(expected)
    assert not relayed(provider).exists()


def test_initial_measure_time_required_when_we_asked_for_intermittent(oscp, group, optimizer, optimizer_token):
    optimizer.required_measurement_styles = ["Intermittent"]
    optimizer.save()
    body = {"group_id": group.identifier, "measurements": [energy()]}
    sent = oscp.post("update_group_measurements", body, token=optimizer_token)
    assert sent.status_code == 400
    assert sent.json()["message"].startswith("measurements[0].initial_measure_time:")
    body["measurements"][0]["initial_measure_time"] = "2024-05-01T10:00:00+08:00"
    assert oscp.post("update_group_measurements", body, token=optimizer_token).status_code == 204


def test_invalid_asset_measurement(oscp, group, optimizer_token):
    body = {"group_id": group.identifier, "measurements": [{"asset_id": "a", "asset_category": "EV"}]}
    sent = oscp.post("update_asset_measurements", body, token=optimizer_token)
    assert sent.status_code == 400
    assert sent.json()["message"].startswith("measurements[0].asset_category:")


def test_optimizer_of_another_group_gets_404(oscp, provider, optimizer_token):
    foreign = CapacityGroupFactory(capacity_provider=provider, owner=provider.owner)  # no optimizer
    sent = oscp.post(
        "update_group_measurements", {"group_id": foreign.identifier, "measurements": []}, token=optimizer_token
    )
    assert sent.status_code == 404
    assert not relayed(provider).exists()
