"""The lb's loop: events in, HAProxy changed, never a dropped request and never a stuck config.

Owns: ``Edge`` and ``EdgeSettings``. One worker applies at a time; events only mark the state dirty, so a
burst of events collapses into one fetch of ``/v2/apps?embed=apps.tasks`` (and events arriving during a
fetch cause exactly one more). A (re)connected event stream and a periodic resync (``resync_interval``)
also mark it dirty, so a missed event is caught up.

Applying a render:
1. unchanged text -> nothing;
2. ``haproxy -c`` on the candidate; when it fails, the apps that make it fail are found by validating each
   app alone (changed apps first), left out (``excluded`` with HAProxy's words, log, metric) and the rest
   is applied: one bad label never blocks later updates (marathon-lb 234);
3. the full config is installed on disk (atomic), then HAProxy gets it through the runtime API when only
   servers changed (``mesospaas.routing.runtime_plan``), else by a master-worker reload.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import ipaddress
import logging
import random
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mesospaas.routing import (RenderOptions, Rendered, Service, Templates, apps_from_json, build_services,
                               default_templates, render)
from mesospaas.routing.apps import RoutedApp
from mesospaas.routing.render import ServerSlot, TemplateError
from mesospaas.routing.runtime_plan import runtime_plan
from scheduler.lb.client import ApiClient, ApiUnavailable, StreamSilent
from scheduler.lb.haproxy import HAProxy, ReloadFailed, RuntimeApiError
from scheduler.lb.status import LbMetrics

log = logging.getLogger("mesospaas.lb")
RELEVANT = frozenset({"api_post_event", "health_status_changed_event", "status_update_event",
                      "deployment_step_success", "deployment_success", "app_terminated_event",
                      "event_stream_attached"})


@dataclass
class EdgeSettings:
    groups: tuple[str, ...] = ("external",)
    health_gating: bool = True
    render: RenderOptions = field(default_factory=RenderOptions)
    templates: Templates | None = None
    resync_interval: float = 300.0
    silence: float = 60.0
    max_backoff: float = 300.0


def _iso(at: float | None) -> str | None:
    return None if at is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


class Resolver:
    """Host name -> IPv4, cached (marathon-lb resolves ``task.host`` too); IP literals pass through."""

    def __init__(self) -> None:
        self.cache: dict[str, str] = {}

    async def resolve(self, hosts: Iterable[str]) -> dict[str, str]:
        loop = asyncio.get_running_loop()
        out: dict[str, str] = {}
        for host in set(hosts):
            if not host:
                continue
            try:
                out[host] = str(ipaddress.ip_address(host))
                continue
            except ValueError:
                pass
            if host not in self.cache:
                try:
                    info = await loop.getaddrinfo(host, None, family=socket.AF_INET)
                    self.cache[host] = str(info[0][4][0])
                except OSError:
                    log.warning("cannot resolve task host %s", host)
                    continue
            out[host] = self.cache[host]
        return out


class Edge:
    def __init__(self, client: ApiClient, haproxy: HAProxy | None, settings: EdgeSettings,
                 metrics: LbMetrics | None = None) -> None:
        self.client = client
        self.haproxy = haproxy
        self.settings = settings
        self.templates = settings.templates or default_templates()
        self.metrics = metrics or LbMetrics()
        self.resolver = Resolver()
        self.dirty = asyncio.Event()
        self.applied: Rendered | None = None
        self.applied_services: dict[str, tuple[Service, ...]] = {}
        self.applied_at: float | None = None
        self.running_skeleton = ""
        self.running_slots: dict[str, tuple[ServerSlot, ...]] = {}
        self.excluded: dict[str, str] = {}
        self.last_reload: dict[str, Any] | None = None
        self.last_error: str | None = None
        self.stream_connected = False
        self.runtime_updates = 0
        self.reloads = 0
        self.applies = 0
        self._tasks: list[asyncio.Task[None]] = []

    # -- status ----------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        text = self.applied.text if self.applied else None
        return {
            "api": self.client.url,
            "eventStream": {"connected": self.stream_connected},
            "haproxy": {"managed": bool(self.haproxy and self.haproxy.run),
                        "running": bool(self.haproxy and self.haproxy.running),
                        "restarts": self.haproxy.restarts if self.haproxy else 0},
            "lastApplied": None if text is None else {
                "at": _iso(self.applied_at), "sha256": hashlib.sha256(text.encode()).hexdigest(), "config": text},
            "lastReload": self.last_reload,
            "excluded": [{"appId": app, "reason": why} for app, why in sorted(self.excluded.items())],
            "runtimeUpdates": self.runtime_updates, "reloads": self.reloads, "applies": self.applies,
            "servers": {b: [{"name": s.name, "address": f"{s.ip}:{s.port}", "state": s.state.value,
                             "taskId": s.task_id} for s in slots if s.task_id]
                        for b, slots in sorted(self.running_slots.items())},
            "lastError": self.last_error,
        }

    # -- loops -----------------------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._apply_loop(), name="lb-apply"),
                       loop.create_task(self._event_loop(), name="lb-events"),
                       loop.create_task(self._resync_loop(), name="lb-resync")]
        if self.haproxy is not None and self.haproxy.run:
            self._tasks.append(loop.create_task(self.haproxy.supervise(), name="lb-haproxy"))
        self.dirty.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.haproxy is not None and self.haproxy.run:
            await self.haproxy.stop()

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.resync_interval)
            self.dirty.set()

    async def _event_loop(self) -> None:
        ceiling = 3.0
        while True:
            started = time.monotonic()
            try:
                self.metrics.stream_reconnects.inc()
                async for event in self.client.events(self.settings.silence):
                    if not self.stream_connected:
                        self.stream_connected = True
                        self.dirty.set()  # whatever happened while we were away
                    if event.get("eventType") in RELEVANT:
                        self.dirty.set()
                log.warning("event stream from %s ended", self.client.url)
            except (ApiUnavailable, StreamSilent) as exc:
                log.warning("event stream: %s", exc)
            except Exception as exc:  # noqa: BLE001 - a broken stream must never end the loop
                log.warning("event stream failed: %r", exc)
            self.stream_connected = False
            if time.monotonic() - started > 600:
                ceiling = 3.0
            await asyncio.sleep(random.uniform(0, ceiling))
            ceiling = min(ceiling * 1.5, self.settings.max_backoff)

    async def _apply_loop(self) -> None:
        while True:
            await self.dirty.wait()
            self.dirty.clear()
            try:
                self.metrics.syncs.inc()
                body = await self.client.apps()
                await self.apply(body)
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the loop must survive anything and say so
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("applying the config failed")
                await asyncio.sleep(1.0)
                self.dirty.set()

    # -- one apply --------------------------------------------------------------------------------------
    def _render(self, apps: tuple[RoutedApp, ...], resolve: dict[str, str],
                excluded: dict[str, str], skip: set[str]) -> tuple[Rendered, tuple[Service, ...]]:
        while True:
            built = build_services(apps, self.settings.groups, health_gating=self.settings.health_gating,
                                   resolve=resolve, skip=skip)
            for item in built.excluded:
                excluded[item.app_id] = item.reason
            try:
                gc.disable()  # a render allocates many short-lived objects: no generational sweeps meanwhile
                with self.metrics.render_seconds.time():
                    return render(built.services, self.templates, self.settings.render), built.services
            except TemplateError as exc:
                members = self._members(apps, exc.app_id)
                skip.update(members)
                for member in members:
                    excluded[member] = str(exc)
            finally:
                gc.enable()

    @staticmethod
    def _members(apps: tuple[RoutedApp, ...], service_app_id: str) -> set[str]:
        """Real app ids behind a service's app id (a blue/green pair is served as ``/<group>``)."""
        members = {a.id for a in apps if a.id == service_app_id
                   or f"/{a.labels.get('HAPROXY_DEPLOYMENT_GROUP', '')}" == service_app_id}
        return members or {service_app_id}

    async def _offenders(self, apps: tuple[RoutedApp, ...], services: tuple[Service, ...],
                         candidates: list[str]) -> dict[str, str]:
        assert self.haproxy is not None
        found: dict[str, str] = {}
        for app_id in candidates:
            alone = render([s for s in services if s.app_id == app_id], self.templates, self.settings.render)
            problem = await self.haproxy.validate(alone.text)
            if problem is not None:
                for member in self._members(apps, app_id):
                    found[member] = f"HAProxy rejects its config: {problem[-400:]}"
        return found

    async def apply(self, body: dict[str, Any]) -> Rendered:
        parsed = apps_from_json(body)
        resolve = await self.resolver.resolve(t.host for a in parsed.apps for t in a.tasks)
        excluded: dict[str, str] = dict(parsed.unreadable)
        skip: set[str] = set()
        rendered, services = self._render(parsed.apps, resolve, excluded, skip)
        if self.applied is not None and rendered.text == self.applied.text:
            self._set_excluded(excluded)
            return rendered
        if self.haproxy is not None:
            problem = await self.haproxy.validate(rendered.text)
            if problem is not None:
                self.metrics.invalid_configs.inc()
                log.error("candidate config rejected by haproxy -c: %s", problem[-1000:])
                by_app: dict[str, tuple[Service, ...]] = {}
                for service in services:
                    by_app[service.app_id] = by_app.get(service.app_id, ()) + (service,)
                changed = sorted(a for a in by_app if self.applied_services.get(a) != by_app[a])
                offenders = await self._offenders(parsed.apps, services, changed)
                rest = sorted(a for a in by_app if a not in changed)
                while True:
                    skip.update(offenders)
                    excluded.update(offenders)
                    rendered, services = self._render(parsed.apps, resolve, excluded, skip)
                    problem = await self.haproxy.validate(rendered.text)
                    if problem is None:
                        break
                    if not rest:
                        self._set_excluded(excluded)
                        raise RuntimeError(f"no valid config even without the offending apps: {problem[-500:]}")
                    offenders = await self._offenders(parsed.apps, services, rest)
                    rest = []
                    if not offenders:
                        self._set_excluded(excluded)
                        raise RuntimeError(f"config invalid, no single app to blame: {problem[-500:]}")
                for app_id, why in sorted(offenders.items()):
                    log.error("left out app %s: %s", app_id, why)
        self._set_excluded(excluded)
        await self._commit(rendered)
        self.applied_services = {}
        for service in services:
            self.applied_services[service.app_id] = self.applied_services.get(service.app_id, ()) + (service,)
        return rendered

    def _set_excluded(self, excluded: dict[str, str]) -> None:
        for app_id in sorted(set(excluded) - set(self.excluded)):
            log.warning("app %s left out: %s", app_id, excluded[app_id])
        self.excluded = excluded
        self.metrics.excluded_apps.set(len(excluded))

    async def _commit(self, rendered: Rendered) -> None:
        haproxy = self.haproxy
        if haproxy is None:
            self.applied = rendered
            return
        haproxy.install(rendered.text)
        self.applied, self.applied_at = rendered, time.time()
        self.applies += 1
        self.metrics.last_apply.set(self.applied_at)
        managed_and_up = haproxy.running if haproxy.run else (haproxy.admin_socket.exists() and bool(
            self.running_skeleton))
        plan = runtime_plan(self.running_skeleton, self.running_slots, rendered) if managed_and_up else None
        if plan is not None:
            try:
                await haproxy.runtime(plan.commands)
                self.running_slots = dict(plan.running)
                if plan.commands:
                    self.runtime_updates += 1
                    self.metrics.runtime_updates.inc()
                    log.info("runtime update: %s", "; ".join(plan.commands))
                return
            except (RuntimeApiError, OSError, asyncio.TimeoutError) as exc:
                log.warning("runtime update failed (%s); reloading instead", exc)
        if not haproxy.run and not haproxy.reload_command:
            return
        began = time.time()
        try:
            await haproxy.reload()
        except (ReloadFailed, OSError) as exc:
            self.metrics.reload_failures.inc()
            self.last_reload = {"at": _iso(began), "ok": False, "error": str(exc)}
            raise
        self.reloads += 1
        self.metrics.reloads.inc()
        self.metrics.haproxy_up.set(1 if haproxy.running or not haproxy.run else 0)
        self.last_reload = {"at": _iso(began), "ok": True, "seconds": round(time.time() - began, 3)}
        self.running_skeleton, self.running_slots = rendered.skeleton, dict(rendered.slots)
        log.info("haproxy reloaded (%d backends)", len(rendered.slots))
