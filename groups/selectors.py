"""Reads on capacity groups and their assets."""

from django.db.models import QuerySet

from .models import Asset, CapacityGroup


def group_list(*, user) -> QuerySet[CapacityGroup]:
    """The capacity groups of ``user``'s account."""
    return CapacityGroup.objects.filter(owner=user)


def asset_list(*, user) -> QuerySet[Asset]:
    """The assets of ``user``'s groups, each with its group."""
    return Asset.objects.filter(group__owner=user).select_related("group")
