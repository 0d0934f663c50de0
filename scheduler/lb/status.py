"""The lb's own small HTTP endpoint (``--status-port``): ``/status`` and ``/metrics/prometheus``.

Owns: ``LbMetrics`` (prometheus-client on its own ``CollectorRegistry``, so nothing global leaks between
instances or tests) and ``status_app``. It is served by the lb's own event loop, not by HAProxy, so it
answers while HAProxy is down.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class LbMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.reloads = Counter("mesospaas_lb_reloads", "HAProxy reloads", registry=r)
        self.reload_failures = Counter("mesospaas_lb_reload_failures", "HAProxy reloads that failed", registry=r)
        self.runtime_updates = Counter("mesospaas_lb_runtime_updates",
                                       "Server-only changes applied through the runtime API", registry=r)
        self.invalid_configs = Counter("mesospaas_lb_invalid_configs",
                                       "Candidate configs haproxy -c rejected", registry=r)
        self.excluded_apps = Gauge("mesospaas_lb_excluded_apps", "Apps left out of the config", registry=r)
        self.stream_reconnects = Counter("mesospaas_lb_event_stream_reconnects",
                                         "Event stream (re)connections", registry=r)
        self.syncs = Counter("mesospaas_lb_syncs", "Full fetches of /v2/apps", registry=r)
        self.haproxy_up = Gauge("mesospaas_lb_haproxy_up", "1 while the HAProxy the lb runs is up", registry=r)
        self.render_seconds = Histogram("mesospaas_lb_render_seconds", "Time to render the config", registry=r)
        self.last_apply = Gauge("mesospaas_lb_last_apply_timestamp_seconds", "When a config was last applied",
                                registry=r)


def status_app(status: Callable[[], dict[str, Any]], metrics: LbMetrics) -> web.Application:
    async def get_status(_: web.Request) -> web.Response:
        return web.json_response(status())

    async def get_metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/status", get_status)
    app.router.add_get("/metrics/prometheus", get_metrics)
    return app
