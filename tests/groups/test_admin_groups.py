"""Admin for capacity groups (assets inline) and assets."""

import pytest
from django.urls import reverse

from groups.models import Asset, CapacityGroup
from tests.connections.factories import CapacityOptimizerFactory, CapacityProviderFactory
from tests.groups.factories import AssetFactory, CapacityGroupFactory
from tests.support.pages import chart_data

pytestmark = pytest.mark.django_db


def _group_form(provider, **changes):
    data = {
        "owner": provider.owner_id,
        "name": "Site 1",
        "identifier": "site-1",
        "enabled": "on",
        "capacity_provider": provider.id,
        "capacity_provider_measurement_period": "FifteenMinute",
        "capacity_optimizer": "",
        "capacity_optimizer_measurement_period": "",
        "microgrid_id": "mg-1",
        "node_id": "7",
        "fallback_import_kw": "11.5",
        "fallback_export_kw": "",
        "combined_asset_id": "",
        "assets-TOTAL_FORMS": "1",
        "assets-INITIAL_FORMS": "0",
        "assets-MIN_NUM_FORMS": "0",
        "assets-MAX_NUM_FORMS": "1000",
        "assets-0-name": "Charger 1",
        "assets-0-identifier": "C1",
        "assets-0-audience": "CapacityProvider",
        "assets-0-enabled": "on",
        "assets-0-node_id": "7",
        "assets-0-source_id": "charger/1",
        "assets-0-category": "Charging",
        "assets-0-phase": "All",
    }
    data.update(changes)
    return data


def test_changelist_renders_within_budget(admin_client, django_assert_max_num_queries):
    for _ in range(15):
        group = CapacityGroupFactory(capacity_optimizer=CapacityOptimizerFactory())
        AssetFactory.create_batch(2, group=group)

    with django_assert_max_num_queries(10):
        response = admin_client.get(reverse("admin:groups_capacitygroup_changelist"))
    assert response.status_code == 200
    assert [g.assets_total for g in response.context["cl"].result_list] == [2] * 15

    with django_assert_max_num_queries(10):
        assert admin_client.get(reverse("admin:groups_asset_changelist")).status_code == 200


def test_change_add_and_history_pages_render(admin_client, django_assert_max_num_queries):
    group = CapacityGroupFactory()
    AssetFactory.create_batch(3, group=group)
    asset = group.assets.first()
    # The page carries the group's operation panel (envelope in force, 48-hour chart, measured
    # power): a fixed set of queries on top of the form, independent of rows.
    with django_assert_max_num_queries(30):
        response = admin_client.get(reverse("admin:groups_capacitygroup_change", args=[group.id]))
    assert response.status_code == 200
    assert asset.identifier in response.content.decode()  # inline
    operating_view = reverse("admin:forecasts_groupoperation_view", args=[group.id])
    assert operating_view in response.content.decode()
    assert admin_client.get(operating_view).status_code == 200
    with django_assert_max_num_queries(15):
        assert admin_client.get(reverse("admin:groups_capacitygroup_add")).status_code == 200
    with django_assert_max_num_queries(12):
        assert admin_client.get(reverse("admin:groups_capacitygroup_history", args=[group.id])).status_code == 200
    with django_assert_max_num_queries(15):
        assert admin_client.get(reverse("admin:groups_asset_change", args=[asset.id])).status_code == 200
    assert admin_client.get(reverse("admin:groups_asset_history", args=[asset.id])).status_code == 200


def test_add_group_with_an_inline_asset_records_the_user(admin_client, admin_user):
    provider = CapacityProviderFactory()
    response = admin_client.post(reverse("admin:groups_capacitygroup_add"), _group_form(provider))

    assert response.status_code == 302, response.context["adminform"].form.errors
    group = CapacityGroup.objects.get()
    assert group.identifier == "site-1" and str(group.fallback_import_kw) == "11.500"
    asset = group.assets.get()
    assert asset.source_id == "charger/1"
    assert group.history.get().history_user_id == admin_user.id
    assert asset.history.get().history_user_id == admin_user.id


def test_partners_must_belong_to_the_owner_and_play_their_role(admin_client):
    provider = CapacityProviderFactory()
    foreign_optimizer = CapacityOptimizerFactory()
    response = admin_client.post(
        reverse("admin:groups_capacitygroup_add"),
        _group_form(provider, capacity_optimizer=foreign_optimizer.id, capacity_optimizer_measurement_period="Hour"),
    )
    assert response.status_code == 200
    assert "capacity_optimizer" in response.context["adminform"].form.errors

    own_provider_as_optimizer = CapacityProviderFactory(owner=provider.owner)
    response = admin_client.post(
        reverse("admin:groups_capacitygroup_add"),
        _group_form(provider, capacity_optimizer=own_provider_as_optimizer.id),
    )
    assert "capacity_optimizer" in response.context["adminform"].form.errors
    assert not CapacityGroup.objects.exists()


def test_negative_fallback_limits_are_refused(admin_client):
    provider = CapacityProviderFactory()
    response = admin_client.post(
        reverse("admin:groups_capacitygroup_add"), _group_form(provider, fallback_export_kw="-2")
    )
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["fallback_export_kw"]
    assert not CapacityGroup.objects.exists()


def test_identifier_taken_on_change_is_refused_on_the_page(admin_client):
    group = CapacityGroupFactory()
    other = CapacityGroupFactory(capacity_provider=group.capacity_provider)
    data = _group_form(group.capacity_provider, identifier=other.identifier, **{"assets-TOTAL_FORMS": "0"})
    response = admin_client.post(reverse("admin:groups_capacitygroup_change", args=[group.id]), data)
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["identifier"]


def test_asset_settings_are_checked(admin_client):
    asset = AssetFactory()
    data = {
        "group": asset.group_id,
        "name": asset.name,
        "identifier": asset.identifier,
        "audience": asset.audience,
        "enabled": "on",
        "node_id": asset.node_id,
        "source_id": asset.source_id,
        "category": asset.category,
        "phase": asset.phase,
        "instantaneous": '{"propertyNames": ["watts"], "unit": "MW", "statisticType": "Maximum"}',
        "energy": "null",
    }
    url = reverse("admin:groups_asset_change", args=[asset.id])
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "instantaneous" in response.context["adminform"].form.errors

    data["instantaneous"] = '{"propertyNames": ["watts"], "unit": "kW", "statisticType": "Average"}'
    assert admin_client.post(url, data).status_code == 302
    asset.refresh_from_db()
    assert asset.instantaneous["unit"] == "kW" and asset.energy is None


def test_delete_group_in_admin(admin_client, admin_user):
    group = CapacityGroupFactory()
    AssetFactory(group=group)
    response = admin_client.post(reverse("admin:groups_capacitygroup_delete", args=[group.id]), {"post": "yes"})
    assert response.status_code == 302
    assert not CapacityGroup.objects.exists() and not Asset.objects.exists()
    assert CapacityGroup.history.get(history_type="-").history_user_id == admin_user.id


def test_group_page_shows_its_operation_and_last_reports(admin_client, django_assert_max_num_queries):
    """Support staff see, on the group page: mode, the envelope in force, the 48-hour chart and the
    last measurement period sent per audience with its outcome."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from forecasts.services import forecast_receive
    from tests.measurements.factories import ReportCursorFactory

    group = CapacityGroupFactory()
    now = timezone.now().replace(microsecond=0)
    block = {"capacity": Decimal(17), "phase": "ALL", "unit": "KW", "start_time": now - timedelta(minutes=5)}
    block["end_time"] = now + timedelta(hours=1)
    forecast_receive(
        group=group,
        sender=group.capacity_provider,
        forecast_type="CONSUMPTION",
        blocks=[block],
        request_id="cp-1",
        received_at=now,
    )
    ReportCursorFactory(
        group=group,
        last_period_end=now - timedelta(minutes=3),
        next_due_at=now + timedelta(minutes=12),
        last_outcome="queued",
        last_detail="update_group_measurements queued",
    )
    with django_assert_max_num_queries(30):
        page = admin_client.get(reverse("admin:groups_capacitygroup_change", args=[group.id])).content.decode()
    assert '<span class="badge badge-ok">normal</span>' in page
    assert "17 kW" in page and "forecast #" in page  # the envelope in force, from the forecast
    chart = chart_data(page)
    assert chart["unit"] == "kW" and chart["timeZone"] == "UTC"
    assert {(limit["source"], limit["value"]) for limit in chart["limits"] if limit["quantity"] == "import"} >= {
        ("forecast", 17.0)
    }
    assert "update_group_measurements queued" in page  # last report per audience
