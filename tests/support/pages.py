"""Reading what admin pages carry, for tests."""

import json
import re

CHART_DATA = re.compile(r'<script id="group-chart-data" type="application/json">(.*?)</script>', re.S)


def chart_data(page: str) -> dict:
    """The data a group page hands to its chart (``forecasts.selectors.group_power_chart``)."""
    found = CHART_DATA.search(page)
    assert found, "no chart data on the page"
    return json.loads(found[1])
