"""Writes on capacity groups and their assets (management API and admin share these)."""

from collections.abc import Collection
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from connections.choices import PartnerRole
from oscp_platform.history import history_by

from .choices import Audience
from .models import Asset, CapacityGroup

GROUP_CONFIG_FIELDS = frozenset(
    {
        "name",
        "identifier",
        "capacity_provider",
        "capacity_provider_measurement_period",
        "capacity_optimizer",
        "capacity_optimizer_measurement_period",
        "enabled",
        "microgrid_id",
        "node_id",
        "fallback_import_kw",
        "fallback_export_kw",
        "report_zero_when_no_data",
        "combined_asset_id",
        "report_compliance_breaches",
    }
)

ASSET_CONFIG_FIELDS = (
    "group",
    "name",
    "identifier",
    "audience",
    "enabled",
    "node_id",
    "source_id",
    "category",
    "phase",
    "instantaneous",
    "energy",
)


def _assign(instance, values: dict[str, Any], allowed: Collection[str]) -> None:
    unknown = set(values) - set(allowed)
    if unknown:
        raise TypeError(f"Not {type(instance).__name__} configuration: {', '.join(sorted(unknown))}")
    for field, value in values.items():
        setattr(instance, field, value)


def _group_check(group: CapacityGroup) -> None:
    """The partners of a group belong to its owner and play the right role."""
    errors = {}
    provider = group.capacity_provider
    if provider.owner_id != group.owner_id or provider.role != PartnerRole.CAPACITY_PROVIDER:
        errors["capacity_provider"] = "Must be a Capacity Provider of the group's owner."
    optimizer = group.capacity_optimizer
    if optimizer is not None:
        if optimizer.owner_id != group.owner_id or optimizer.role != PartnerRole.CAPACITY_OPTIMIZER:
            errors["capacity_optimizer"] = "Must be a Capacity Optimizer of the group's owner."
        elif not group.capacity_optimizer_measurement_period:
            errors["capacity_optimizer_measurement_period"] = "Required when the group has a Capacity Optimizer."
    if errors:
        raise ValidationError(errors)


def _save_unique(instance, field: str, message: str) -> None:
    """Save; a unique-constraint race becomes a validation error on ``field``."""
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:
        raise ValidationError({field: message}) from exc


@transaction.atomic
def group_create(
    *,
    owner: AbstractBaseUser,
    name: str,
    identifier: str,
    capacity_provider,
    actor: AbstractBaseUser | None = None,
    **config: Any,
) -> CapacityGroup:
    """Create a capacity group. It starts in forecast-gap mode until its first forecast arrives."""
    group = CapacityGroup(owner=owner, mode_since=timezone.now(), mode_reason="created, no forecast yet")
    _assign(
        group,
        {"name": name, "identifier": identifier, "capacity_provider": capacity_provider, **config},
        GROUP_CONFIG_FIELDS,
    )
    _group_check(group)
    history_by(group, actor, "created")
    _save_unique(group, "identifier", "A capacity group with this identifier already exists.")
    return group


@transaction.atomic
def group_update(*, group: CapacityGroup, actor: AbstractBaseUser | None = None, **changes: Any) -> CapacityGroup:
    """Set the given configuration fields (the management API passes all of them: full replace)."""
    _assign(group, changes, GROUP_CONFIG_FIELDS)
    _group_check(group)
    history_by(group, actor, "updated")
    _save_unique(group, "identifier", "A capacity group with this identifier already exists.")
    return group


@transaction.atomic
def group_delete(*, group: CapacityGroup, actor: AbstractBaseUser | None = None) -> None:
    """Delete a group with its assets, forecasts and subscriptions."""
    for asset in group.assets.all():
        asset_delete(asset=asset, actor=actor)
    history_by(group, actor, "deleted")
    group.delete()


def _asset_check(asset: Asset) -> None:
    if asset.audience == Audience.CAPACITY_OPTIMIZER and asset.group.capacity_optimizer_id is None:
        raise ValidationError({"audience": "The asset's group has no Capacity Optimizer."})


@transaction.atomic
def asset_create(
    *,
    group: CapacityGroup,
    name: str,
    identifier: str,
    audience: str,
    node_id: int,
    source_id: str,
    category: str,
    actor: AbstractBaseUser | None = None,
    **config: Any,
) -> Asset:
    asset = Asset()
    values = {
        "group": group,
        "name": name,
        "identifier": identifier,
        "audience": audience,
        "node_id": node_id,
        "source_id": source_id,
        "category": category,
        **config,
    }
    _assign(asset, values, ASSET_CONFIG_FIELDS)
    _asset_check(asset)
    history_by(asset, actor, "created")
    _save_unique(asset, "identifier", "An asset with this identifier already exists in the group.")
    return asset


@transaction.atomic
def asset_update(*, asset: Asset, actor: AbstractBaseUser | None = None, **changes: Any) -> Asset:
    """Set the given configuration fields (the management API passes all of them: full replace)."""
    _assign(asset, changes, ASSET_CONFIG_FIELDS)
    _asset_check(asset)
    history_by(asset, actor, "updated")
    _save_unique(asset, "identifier", "An asset with this identifier already exists in the group.")
    return asset


@transaction.atomic
def asset_delete(*, asset: Asset, actor: AbstractBaseUser | None = None) -> None:
    history_by(asset, actor, "deleted")
    asset.delete()
