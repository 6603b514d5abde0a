"""Groups by mode, read at scrape time (``oscp_platform/metrics.py``)."""

from django.db.models import Count

from oscp_platform.metrics import gauge

from .models import CapacityGroup


def database_gauges():
    modes = CapacityGroup.objects.values_list("mode").annotate(n=Count("id"))
    yield gauge(
        "oscp_groups",
        "Capacity groups by mode (which limits are in force)",
        ["mode"],
        {(mode,): n for mode, n in modes},
    )
