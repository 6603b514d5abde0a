"""Reads on report cursors and the assets a report covers."""

from datetime import datetime

from django.db.models import Q, QuerySet

from groups.choices import Audience

from .models import ReportCursor

AUDIENCE_FIELDS = {
    Audience.CAPACITY_PROVIDER: ("capacity_provider", "capacity_provider_measurement_period"),
    Audience.CAPACITY_OPTIMIZER: ("capacity_optimizer", "capacity_optimizer_measurement_period"),
}


def report_cursors_due(*, closed_by: datetime) -> QuerySet[ReportCursor]:
    """Cursors of enabled groups and partners whose next period closed by ``closed_by``, locked
    for the caller's transaction; rows another worker holds are skipped."""
    partner_enabled = Q()
    for audience, (partner_field, _) in AUDIENCE_FIELDS.items():
        partner_enabled |= Q(audience=audience, **{f"group__{partner_field}__enabled": True})
    return (
        ReportCursor.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(partner_enabled, group__enabled=True, next_due_at__lte=closed_by)
        .order_by("next_due_at")
    )


def report_assets(*, group, audience: str) -> list:
    """The enabled assets of ``group`` reported to ``audience``."""
    return list(group.assets.filter(audience=audience, enabled=True).select_related("group"))
