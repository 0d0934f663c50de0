"""Metrics over HTTP: ``GET /metrics/prometheus`` and ``GET /metrics`` (Marathon's paths), from one registry.

Owns ``METRICS`` (the app key of the process's meters, ``api.platform.MetricsView``), the request-metering
middleware and the two routes:

- ``GET /metrics/prometheus``: the Prometheus text format 0.0.4, or OpenMetrics 1.0 when the ``Accept``
  header asks for ``application/openmetrics-text``.
- ``GET /metrics``: the same meters in the Dropwizard-style JSON Marathon serves (and the released
  ``marathon`` client's ``get_metrics()`` returns): ``{"version", "counters", "gauges", "histograms",
  "meters", "timers"}``. Keys are the Prometheus sample names with their labels (``name{k="v"}``); counters
  are ``{"count"}``, gauges ``{"value"}``; histograms of seconds are timers, the others histograms, each
  ``{"count", "sum", "mean", "p50", "p75", "p95", "p98", "p99", "p999"}`` (quantiles interpolated inside
  the histogram's buckets, as PromQL's ``histogram_quantile`` does).
  There are no meters (no moving rates are kept): the map is empty.

Requests are counted by method, route template (``/v2/apps/{app_id}``, never the raw path, so the label set
stays bounded; ``unmatched`` for paths no route knows) and status, and timed by method and route.
Standbys answer both routes themselves (``api.leader_proxy.LOCAL_PATHS``). Fails: never raises into aiohttp.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web
from prometheus_client.core import Metric

from api.openapi import RouteSpec
from api.platform import MetricsView

METRICS = web.AppKey("metrics", MetricsView)
DROPWIZARD_VERSION = "4.0.0"
QUANTILES = (("p50", 0.5), ("p75", 0.75), ("p95", 0.95), ("p98", 0.98), ("p99", 0.99), ("p999", 0.999))
UNMATCHED = "unmatched"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_template(request: web.Request) -> str:
    """The template of the route that matched (``/v2/apps/{app_id}``), or ``unmatched``."""
    route = request.match_info.route
    resource = route.resource if route is not None else None
    canonical = resource.canonical if resource is not None else None
    return canonical or UNMATCHED


@web.middleware
async def metered_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts and times every request (the outermost middleware, so errors mapped inside are counted too)."""
    metrics = request.app[METRICS]
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = 499  # the client went away first (nginx's word for it)
        raise
    finally:
        route = route_template(request)
        metrics.api_requests.labels(request.method, route, str(status)).inc()
        metrics.api_duration.labels(request.method, route).observe(time.perf_counter() - started)


async def prometheus(request: web.Request) -> web.Response:
    body, content_type = await request.app[METRICS].render(request.headers.get("Accept"))
    mime, _, params = content_type.partition(";")
    charset = "utf-8" if "charset" in params else None
    response = web.Response(body=body, content_type=mime.strip(), charset=charset)
    response.headers["Content-Type"] = content_type
    return response


async def dropwizard(request: web.Request) -> web.Response:
    body = dropwizard_json(await request.app[METRICS].families())
    return web.Response(body=json.dumps(body, separators=(",", ":")).encode(), content_type="application/json")


def sample_key(name: str, labels: dict[str, str]) -> str:
    if not labels:
        return name
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def dropwizard_json(families: Iterable[Metric]) -> dict[str, Any]:
    """Marathon's Dropwizard-style metrics document from Prometheus families (see the module docstring)."""
    out: dict[str, Any] = {"version": DROPWIZARD_VERSION, "counters": {}, "gauges": {}, "histograms": {},
                           "meters": {}, "timers": {}}
    for family in families:
        if family.type == "counter":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    out["counters"][sample_key(sample.name, sample.labels)] = {"count": _number(sample.value)}
        elif family.type == "histogram":
            target = out["timers"] if family.name.endswith("_seconds") else out["histograms"]
            for labels, summary in _histograms(family).items():
                key = sample_key(family.name, dict(labels))
                if target is out["timers"]:
                    summary["duration_units"] = "seconds"
                target[key] = summary
        elif family.type in ("gauge", "untyped", "unknown", "info", "stateset"):
            for sample in family.samples:
                out["gauges"][sample_key(sample.name, sample.labels)] = {"value": _number(sample.value)}
    return out


def _histograms(family: Metric) -> dict[tuple[tuple[str, str], ...], dict[str, Any]]:
    series: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    for sample in family.samples:
        labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
        entry = series.setdefault(labels, {"buckets": [], "count": 0.0, "sum": 0.0})
        if sample.name.endswith("_bucket"):
            entry["buckets"].append((float(sample.labels["le"]), sample.value))
        elif sample.name.endswith("_count"):
            entry["count"] = sample.value
        elif sample.name.endswith("_sum"):
            entry["sum"] = sample.value
    out: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    for labels, entry in series.items():
        count, total = entry["count"], entry["sum"]
        buckets = sorted(entry["buckets"])
        summary: dict[str, Any] = {"count": int(count), "sum": _number(total),
                                   "mean": _number(total / count) if count else 0.0}
        for name, q in QUANTILES:
            summary[name] = _number(bucket_quantile(q, buckets))
        out[labels] = summary
    return out


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """The ``q`` quantile from cumulative ``(upper bound, count)`` buckets, interpolated linearly inside the
    bucket it falls in (0 for an empty histogram); past the last finite bound, that bound (as PromQL does)."""
    if not buckets or buckets[-1][1] <= 0:
        return 0.0
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if math.isinf(bound):
                return lower_bound
            if cumulative == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (cumulative - lower_count)
        lower_bound, lower_count = bound, cumulative
    return buckets[-1][0]


def _number(value: float) -> float | int | str:
    """JSON has no infinities or NaN: those become strings; whole numbers stay integers."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return int(value) if float(value).is_integer() else value


METRICS_ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("GET", "/metrics/prometheus", "Prometheus metrics (text 0.0.4; OpenMetrics when Accept asks for it)",
              tags=("metrics",), response_content_type="text/plain",
              description="Answered by every instance itself, standbys included (mesospaas_leader says which leads)."),
    RouteSpec("GET", "/metrics", "The same metrics as Marathon's Dropwizard-style JSON", tags=("metrics",),
              description="{version, counters, gauges, histograms, meters, timers}: what marathon-python's "
                          "get_metrics() returns. Answered by every instance itself."),
)
"""The entries of ``api.routes_docs.ROUTES`` for these routes."""


def register(app: web.Application) -> None:
    app.router.add_get("/metrics/prometheus", prometheus)
    app.router.add_get("/metrics", dropwizard)


__all__ = ["METRICS", "METRICS_ROUTES", "bucket_quantile", "dropwizard_json", "metered_requests", "register",
           "route_template"]
