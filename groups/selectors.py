"""Reads on capacity groups and assets."""

from django.db.models import Q

from .models import CapacityGroup


def group_for_partner(*, partner, identifier: str) -> CapacityGroup | None:
    """The group ``identifier`` names if ``partner`` is its Capacity Provider or Optimizer, else
    None: another account's group looks exactly like an unknown one."""
    return (
        CapacityGroup.objects.select_related("capacity_provider")
        .filter(identifier=identifier)
        .filter(Q(capacity_provider=partner) | Q(capacity_optimizer=partner))
        .first()
    )
