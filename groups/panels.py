"""What the group pages show from the apps above groups. Forecasts and measurements may not import
each other, nor may groups import them: each plugs in here what it adds (from its admin module or
``AppConfig.ready()``), and the group admin and the operating view read it from here."""

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class GroupPanels:
    # Admin inlines shown on a group's change page after its assets (e.g. the report cursors).
    admin_inlines: list = field(default_factory=list)
    # (group) -> dict: the operating section of the group's change page (forecasts).
    operating_context: Callable | None = None
    # (group) -> HTML: the link to the group's operating view (forecasts).
    operating_view_link: Callable | None = None
    # (group=, start=, end=) -> [(time, kW)]: measured power for the chart (measurements).
    power_series: Callable | None = None
    # (queryset) -> queryset with ``last_forecast_at`` per group: when its provider last sent a
    # forecast (forecasts), for ``forecastStale`` in the API.
    last_forecast_annotate: Callable | None = None


PANELS = GroupPanels()
