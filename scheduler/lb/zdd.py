"""``mesospaas lb zdd``: zero-downtime blue/green deployment, as marathon-lb's ``zdd.py``.

Creates the next colour of an app (``mesospaas.routing.blue_green.new_colour``), then in rounds of
``--step-delay`` until done: waits for the new colour's deployment, reads the lb's HAProxy stats
(``<--marathon-lb>/haproxy?stats;csv``), kills the old tasks the lb has taken out of rotation (MAINT, no
sessions) with ``POST /v2/tasks/delete?scale=true``, grows the new colour (x1.5, or linearly) while all its
tasks are healthy, and once the new colour has its target count and the old one no tasks, deletes the old
app. ``--new-instances K`` stops at K new instances (hybrid). Exit 0 on success, 1 with a message otherwise;
a round that takes longer than ``--max-wait`` fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

from mesospaas.routing.blue_green import (GROUP, BlueGreenError, deployment_group_apps, listeners, new_colour,
                                          next_instances)
from scheduler.lb.client import ApiClient, ApiError, ApiUnavailable
from scheduler.lb.edge import Resolver

log = logging.getLogger("mesospaas.lb.zdd")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"


async def _stats(url: str) -> str:
    """The lb's HAProxy stats as CSV (urllib keeps the ``;`` of ``?stats;csv`` as it is)."""
    def fetch() -> str:
        with urllib.request.urlopen(f"{url.rstrip('/')}/haproxy?stats;csv", timeout=10) as resp:
            return str(resp.read().decode("utf-8", "replace"))
    return await asyncio.to_thread(fetch)


async def _app(client: ApiClient, app_id: str) -> dict[str, Any] | None:
    try:
        body = await client.request("GET", f"/v2/apps{app_id}", embed="app.tasks")
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    app: dict[str, Any] = body["app"]
    return app


async def deploy(client: ApiClient, args: argparse.Namespace) -> None:
    definition = json.loads(Path(args.json).read_text())
    apps = (await client.request("GET", "/v2/apps"))["apps"]
    pair = deployment_group_apps(definition, apps)
    if len(pair) > 1:
        raise BlueGreenError(f"a blue/green deployment is already under way: {[a['id'] for a in pair]}")
    old = pair[0] if pair else None
    new = new_colour(definition, old, _now(), args.initial_instances, args.new_instances)
    await client.request("POST", "/v2/apps", new)
    log.info("created %s with %d instances", new["id"], new["instances"])
    target = int(new["labels"]["HAPROXY_DEPLOYMENT_TARGET_INSTANCES"])
    stop_at = args.new_instances or target
    backend = f"{new['labels'][GROUP]}_{new['labels']['HAPROXY_0_PORT']}"
    resolver = Resolver()
    killed: set[str] = set()
    round_started = time.monotonic()
    while True:
        await asyncio.sleep(args.step_delay)
        if time.monotonic() - round_started > args.max_wait:
            raise BlueGreenError(f"no progress within {args.max_wait} s (backend {backend})")
        current = await _app(client, new["id"])
        if current is None:
            raise BlueGreenError(f"{new['id']} disappeared")
        if current.get("deployments"):
            continue
        if old is None:
            log.info("first colour %s deployed", new["id"])
            return
        previous = await _app(client, old["id"])
        old_tasks = previous.get("tasks", []) if previous else []
        stats = listeners(await _stats(args.marathon_lb), backend)
        ips = await resolver.resolve(t.get("host", "") for t in old_tasks)
        by_address = {f"{ips.get(t.get('host', ''), t.get('host'))}:{(t.get('ports') or [0])[0]}": t["id"]
                      for t in old_tasks}
        log.debug("round: %d listeners of %s (%s), old tasks at %s", len(stats), backend,
                 ", ".join(f"{s.address} {s.status}" for s in stats), sorted(by_address))
        drained = sorted(by_address[s.address] for s in stats
                         if s.address in by_address and s.status.startswith("MAINT") and not s.sessions
                         and not s.queued and by_address[s.address] not in killed)
        if drained and not (previous or {}).get("deployments"):
            killed.update(drained)
            log.info("killing drained old tasks %s", drained)
            await client.request("POST", "/v2/tasks/delete?scale=true", {"ids": drained})
            round_started = time.monotonic()
        instances = int(current.get("instances", 0))
        healthy = int(current.get("tasksHealthy", 0)) if current.get("healthChecks") else int(
            current.get("tasksRunning", 0))
        if instances < stop_at and healthy >= instances:
            grown = min(stop_at, next_instances(instances, target, args.initial_instances, args.linear_increase))
            log.info("scaling %s to %d", new["id"], grown)
            await client.request("PUT", f"/v2/apps{new['id']}", {"instances": grown})
            round_started = time.monotonic()
            continue
        if args.new_instances and instances >= stop_at:
            log.info("hybrid: %d new instances beside the old colour", instances)
            return
        if instances >= target and healthy >= target and previous is not None and not old_tasks:
            await client.request("DELETE", f"/v2/apps{old['id']}")
            log.info("deleted %s; %s serves", old["id"], new["id"])
            return
        if previous is None:
            return


async def main(args: argparse.Namespace, urls: list[str]) -> int:
    async with aiohttp.ClientSession() as session:
        client = ApiClient(urls, session)
        try:
            await deploy(client, args)
        except (BlueGreenError, ApiError, ApiUnavailable, OSError, aiohttp.ClientError, ValueError, KeyError) as exc:
            log.error("zdd failed: %s", exc)
            return 1
    return 0
