"""Writes on capacity groups and their assets (management API and admin share these)."""

from collections.abc import Collection, Mapping
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from connections.choices import PartnerRole
from connections.presets import group_identifier_problem, unit_problems
from oscp_platform.history import history_by

from .choices import Audience
from .models import Asset, CapacityGroup

GROUP_CONFIG_FIELDS = (
    "name",
    "identifier",
    "enabled",
    "capacity_provider",
    "capacity_provider_measurement_period",
    "capacity_optimizer",
    "capacity_optimizer_measurement_period",
    "microgrid_id",
    "node_id",
    "fallback_import_kw",
    "fallback_export_kw",
    "report_zero_when_no_data",
    "combined_asset_id",
    "report_compliance_breaches",
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


GROUP_PARTNER_ROLES = {
    "capacity_provider": (PartnerRole.CAPACITY_PROVIDER, "Capacity Provider"),
    "capacity_optimizer": (PartnerRole.CAPACITY_OPTIMIZER, "Capacity Optimizer"),
}


def group_config_validate(*, owner_id: int | None, config: Mapping[str, Any], group_id: int | None = None) -> None:
    """The rules of a capacity group's configuration, whoever writes it (API, admin, tasks). Raise
    a ValidationError naming each bad field (model field names; the API shows its own names).

    ``config`` may lack fields (a form whose fields did not validate: nothing to check there);
    ``owner_id`` None (not chosen yet) skips the rules that need the owner. ``group_id`` is the
    group being changed, None for a new one."""
    errors = {}
    for field, (role, label) in GROUP_PARTNER_ROLES.items():
        partner = config.get(field)
        foreign = owner_id is not None and partner is not None and partner.owner_id != owner_id
        if partner is not None and (partner.role != role or foreign):
            errors[field] = f"Must be a {label} of the group's owner."
    if config.get("capacity_optimizer") is not None and "capacity_optimizer" not in errors:
        if not config.get("capacity_optimizer_measurement_period"):
            errors["capacity_optimizer_measurement_period"] = "Required when the group has a Capacity Optimizer."
    for field in ("fallback_import_kw", "fallback_export_kw"):
        value = config.get(field)
        if value is not None and value < 0:
            errors[field] = "Must not be negative."
    identifier = config.get("identifier")
    for field in GROUP_PARTNER_ROLES:
        partner = config.get(field)
        problem = group_identifier_problem(partner=partner, identifier=identifier) if identifier else None
        if problem and "identifier" not in errors and field not in errors:
            errors["identifier"] = problem
    if group_id is not None:
        for asset in Asset.objects.filter(group_id=group_id, enabled=True).order_by("id"):
            partner = config.get(_AUDIENCE_PARTNER[asset.audience])
            for problem in _asset_unit_problems(asset, partner).values():
                errors.setdefault(_AUDIENCE_PARTNER[asset.audience], f"Asset {asset.identifier!r}: {problem}")
    if owner_id is not None and identifier:
        taken = CapacityGroup.objects.filter(owner_id=owner_id, identifier=identifier).exclude(pk=group_id)
        if taken.exists():
            errors["identifier"] = f"A capacity group with identifier {identifier!r} already exists."
    if errors:
        raise ValidationError(errors)


def _group_check(group: CapacityGroup) -> None:
    config = {field: getattr(group, field) for field in GROUP_CONFIG_FIELDS}
    group_config_validate(owner_id=group.owner_id, config=config, group_id=group.pk)


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


_AUDIENCE_PARTNER = {Audience.CAPACITY_PROVIDER: "capacity_provider", Audience.CAPACITY_OPTIMIZER: "capacity_optimizer"}


def _asset_unit_problems(asset: Asset, partner) -> dict[str, str]:
    """The asset's units its partner does not accept (the partner's dialect rules, by setting)."""
    return unit_problems(
        partner=partner,
        instantaneous_unit=(asset.instantaneous or {}).get("unit"),
        energy_unit=(asset.energy or {}).get("unit"),
    )


def _asset_check(asset: Asset) -> None:
    if asset.audience == Audience.CAPACITY_OPTIMIZER and asset.group.capacity_optimizer_id is None:
        raise ValidationError({"audience": "The asset's group has no Capacity Optimizer."})
    problems = _asset_unit_problems(asset, getattr(asset.group, _AUDIENCE_PARTNER[asset.audience]))
    if problems:
        raise ValidationError({f"{key}.unit": problem for key, problem in problems.items()})


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
