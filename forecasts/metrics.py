"""Forecast counters (``oscp_platform/metrics.py``)."""

from prometheus_client import Counter

FORECASTS_RECEIVED = Counter(
    "oscp_forecasts_received", "Forecasts received, by forecast type and message", ["type", "message_type"]
)
