"""The rules of a group's configuration live in groups.services, whoever writes it."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from groups.models import CapacityGroup
from groups.services import group_create, group_update
from tests.connections.factories import CapacityOptimizerFactory, CapacityProviderFactory
from tests.groups.factories import CapacityGroupFactory

pytestmark = pytest.mark.django_db


def _create(provider, **config):
    return group_create(
        owner=provider.owner,
        name="Site",
        identifier="site",
        capacity_provider=provider,
        capacity_provider_measurement_period="FifteenMinute",
        **config,
    )


@pytest.mark.parametrize("field", ["fallback_import_kw", "fallback_export_kw"])
def test_negative_fallback_limits_are_refused_naming_the_field(field):
    with pytest.raises(ValidationError) as refused:
        _create(CapacityProviderFactory(), **{field: Decimal("-0.001")})
    assert refused.value.message_dict == {field: ["Must not be negative."]}
    assert not CapacityGroup.objects.exists()


def test_zero_fallback_limits_are_fine():
    group = _create(CapacityProviderFactory(), fallback_import_kw=Decimal(0), fallback_export_kw=Decimal(0))
    assert group.fallback_import_kw == 0 and group.fallback_export_kw == 0


def test_update_refuses_a_negative_fallback_limit():
    group = CapacityGroupFactory(fallback_import_kw=Decimal(3))
    with pytest.raises(ValidationError) as refused:
        group_update(group=group, fallback_import_kw=Decimal(-1))
    assert list(refused.value.message_dict) == ["fallback_import_kw"]
    group.refresh_from_db()
    assert group.fallback_import_kw == 3


def test_partners_belong_to_the_owner_and_play_their_role():
    provider = CapacityProviderFactory()
    foreign_optimizer = CapacityOptimizerFactory()
    with pytest.raises(ValidationError) as refused:
        _create(provider, capacity_optimizer=foreign_optimizer, capacity_optimizer_measurement_period="Hour")
    assert list(refused.value.message_dict) == ["capacity_optimizer"]
    with pytest.raises(ValidationError) as refused:
        _create(CapacityOptimizerFactory())
    assert list(refused.value.message_dict) == ["capacity_provider"]


def test_an_optimizer_needs_its_measurement_period():
    provider = CapacityProviderFactory()
    optimizer = CapacityOptimizerFactory(owner=provider.owner)
    with pytest.raises(ValidationError) as refused:
        _create(provider, capacity_optimizer=optimizer)
    assert list(refused.value.message_dict) == ["capacity_optimizer_measurement_period"]


def test_identifier_is_unique_per_owner():
    provider = CapacityProviderFactory()
    group = _create(provider)
    with pytest.raises(ValidationError) as refused:
        _create(provider)
    assert list(refused.value.message_dict) == ["identifier"]
    assert group_update(group=group, identifier="site", name="Renamed").name == "Renamed"
    assert _create(CapacityProviderFactory()).identifier == "site"  # another account
