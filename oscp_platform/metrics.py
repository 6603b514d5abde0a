"""Prometheus metrics (prometheus-client), served at ``/metrics``.

Two kinds:
- **Counted** where things happen — request latencies (``RequestMetricsMiddleware``), outbox send
  latency and outcomes per partner (``connections``), forecasts received (``forecasts``). Each
  process counts its own; with ``PROMETHEUS_MULTIPROC_DIR`` set (one directory per machine,
  emptied at boot, shared by gunicorn workers and Celery workers there) ``/metrics`` adds up
  every process of the machine.
- **Read at scrape time** from the database — outbox messages by status and the oldest due age,
  partners by connection state, groups by mode. Apps register these from ``AppConfig.ready()``
  with ``database_gauge_register`` (this package imports no app).

``METRICS_TOKEN``, when set, must come as ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

REQUEST_SECONDS = Histogram(
    "oscp_http_request_duration_seconds",
    "Time to answer an HTTP request, by route pattern, method and status",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

DatabaseGauges = Callable[[], Iterable[Metric]]
DATABASE_GAUGES: list[DatabaseGauges] = []


def database_gauge_register(read: DatabaseGauges) -> None:
    """Add metrics read from the database at scrape time (``read`` yields metric families)."""
    DATABASE_GAUGES.append(read)


def gauge(name: str, documentation: str, labels: list[str], values: dict[tuple, float]) -> GaugeMetricFamily:
    """A gauge family from ``{label values: value}``."""
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for label_values, value in values.items():
        family.add_metric(list(label_values), value)
    return family


class DatabaseCollector:
    def collect(self):
        for read in DATABASE_GAUGES:
            yield from read()


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


def metrics(request):
    token = settings.METRICS_TOKEN
    if token and not hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
        return HttpResponse("Metrics need Authorization: Bearer <METRICS_TOKEN>\n", status=401)
    registry = _registry()
    body = generate_latest(registry)
    database = CollectorRegistry()
    database.register(DatabaseCollector())
    return HttpResponse(body + generate_latest(database), content_type=CONTENT_TYPE_LATEST)


class RequestMetricsMiddleware:
    """Observes every request's duration by its URL pattern (never the raw path: bounded labels)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = (match.route or match.view_name) if match else "unmatched"
        REQUEST_SECONDS.labels(route, request.method, str(response.status_code)).observe(time.perf_counter() - started)
        return response
