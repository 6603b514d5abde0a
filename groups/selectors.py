"""Reads on capacity groups and their assets."""

from django.db.models import Q, QuerySet

from .models import Asset, CapacityGroup


def group_list(*, user) -> QuerySet[CapacityGroup]:
    """The capacity groups of ``user``'s account."""
    return CapacityGroup.objects.filter(owner=user)


def asset_list(*, user) -> QuerySet[Asset]:
    """The assets of ``user``'s groups, each with its group."""
    return Asset.objects.filter(group__owner=user).select_related("group")


def group_for_partner(*, partner, identifier: str) -> CapacityGroup | None:
    """The group ``identifier`` names if ``partner`` is its Capacity Provider or Optimizer, else
    None: another account's group looks exactly like an unknown one."""
    return (
        CapacityGroup.objects.select_related("capacity_provider")
        .filter(identifier=identifier)
        .filter(Q(capacity_provider=partner) | Q(capacity_optimizer=partner))
        .first()
    )
