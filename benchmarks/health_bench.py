"""Health check figures (issue 10): leader-run checks per second one scheduler process sustains, and the p99
delay they add to the runtime's event handling (what an offer round waits for) and to GET /v2/apps/{id}.

Setup: a stub fleet in its own process (one asyncio server listening on P ports of 127.0.0.2, answering every
request with 200) stands in for the tasks. The scheduler runtime runs in this process without a Mesos master:
A apps of T instances each (HTTP checks, intervalSeconds I) are created through the runtime's own deploy path,
then their instances are marked RUNNING on an agent 127.0.0.2 with host ports spread over the fleet's ports.
The runtime's loop, its health checking (probe pool, batches applied through the pure step) and the Marathon
API (aiohttp, real TCP) all share this process's event loop, as in ``mesospaas serve``.

Measured twice, without and with health checking, for D seconds each:
- runtime command latency (a no-op submitted every 20 ms: the queueing an offer or status batch sees), p50/p99;
- GET /v2/apps/{id} latency (sequential requests from this process), p50/p99;
- with checks: checks per second applied, and the outcome counts (``Unknown`` = the scheduler was late).
Prints figures; asserts nothing.

``--probes worker`` (the default, as in ``mesospaas serve``) runs the probes in their own process
(``scheduler.health_worker``); ``--probes in-process`` on the scheduler's loop.

Usage: .venv/bin/python benchmarks/health_bench.py --apps 1000 --tasks-per-app 10 --interval 10 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from api.app import ApiConfig, build_api_app  # noqa: E402
from api.schemas import load_app  # noqa: E402
from mesospaas.model import AgentId, AgentInfo, Condition  # noqa: E402
from mesospaas.model.group import Group  # noqa: E402
from scheduler.runtime import RuntimeSettings, SchedulerRuntime  # noqa: E402
from scheduler.store import LocalDirectoryStore  # noqa: E402

FLEET = r'''
import asyncio, socket, sys
HOST, COUNT = sys.argv[1], int(sys.argv[2])
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
async def handle(reader, writer):
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(RESPONSE)
        await writer.drain()
    except Exception:
        pass
    finally:
        writer.close()
async def main():
    servers = [await asyncio.start_server(handle, HOST, 0, backlog=1024) for _ in range(COUNT)]
    print(" ".join(str(s.sockets[0].getsockname()[1]) for s in servers), flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
'''


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


async def measure(runtime: SchedulerRuntime, base: str, app_id: str, seconds: float) -> dict[str, float]:
    submits: list[float] = []
    gets: list[float] = []
    stop = time.monotonic() + seconds

    async def noop() -> None:
        return None

    async def submitter() -> None:
        while time.monotonic() < stop:
            started = time.perf_counter()
            await runtime.submit(noop)
            submits.append(time.perf_counter() - started)
            await asyncio.sleep(0.02)

    async def getter(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < stop:
            started = time.perf_counter()
            async with session.get(f"{base}/v2/apps{app_id}") as resp:
                await resp.read()
                assert resp.status == 200
            gets.append(time.perf_counter() - started)
            await asyncio.sleep(0.05)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(submitter(), getter(session))
    return {"submit_p50_ms": pct(submits, 0.5) * 1e3, "submit_p99_ms": pct(submits, 0.99) * 1e3,
            "get_p50_ms": pct(gets, 0.5) * 1e3, "get_p99_ms": pct(gets, 0.99) * 1e3, "gets": len(gets)}


async def run(args: argparse.Namespace) -> None:
    fleet = subprocess.Popen([sys.executable, "-c", FLEET, "127.0.0.2", str(args.ports)], stdout=subprocess.PIPE,
                             text=True)
    assert fleet.stdout is not None
    ports = [int(p) for p in fleet.stdout.readline().split()]
    try:
        with tempfile.TemporaryDirectory() as work:
            store = LocalDirectoryStore(Path(work) / "state")
            runtime = SchedulerRuntime(store, RuntimeSettings(master="127.0.0.1:1", seed=1,
                                                              health_probe_worker=args.probes == "worker"))
            await runtime._load()
            loop = asyncio.get_running_loop()
            runtime._tasks = [loop.create_task(runtime._run(), name="scheduler-runtime")]
            check = {"protocol": "HTTP", "path": "/health", "portIndex": 0, "intervalSeconds": args.interval,
                     "timeoutSeconds": 5, "gracePeriodSeconds": 300, "maxConsecutiveFailures": 3}
            apps = [load_app({"id": f"/bench/app-{a:05d}", "cmd": "sleep 1d", "cpus": 0.01, "mem": 8,
                              "instances": args.tasks_per_app, "healthChecks": [check]}) for a in range(args.apps)]

            def edit(root: Group) -> Group:
                for app in apps:
                    root = root.update_app(app.spec)
                return root
            started = time.monotonic()
            await runtime.deploy(edit, definitions={a.spec.id: json.dumps(a.definition).encode() for a in apps})
            now = runtime.clock()
            agent = AgentInfo(AgentId("bench-agent"), "127.0.0.2")
            for n, (iid, instance) in enumerate(sorted(runtime.state.instances.items())):
                runtime.state.instances[iid] = replace(instance, condition=Condition.RUNNING, incarnation=1,
                                                       agent=agent, host_ports=(ports[n % len(ports)],),
                                                       since=now - 60, staged_at=now - 61, started_at=now - 60)
            runtime.state.deployments.clear()
            runtime.generation += 1
            print(f"{len(runtime.state.instances)} running instances in {len(runtime.state.apps)} apps "
                  f"({time.monotonic() - started:.1f} s to set up); fleet of {len(ports)} ports")
            server = web.AppRunner(build_api_app(runtime, runtime.events, ApiConfig(master="127.0.0.1:1")))
            await server.setup()
            site = web.TCPSite(server, "127.0.0.1", 0)
            await site.start()
            base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
            app_id = "/bench/app-00000"
            baseline = await measure(runtime, base, app_id, args.seconds)
            print("without health checks:", {k: round(v, 2) for k, v in baseline.items()})
            await runtime.health.start()
            await asyncio.sleep(args.interval + 2)  # every task got its first check
            applied, outcomes = runtime.health.results_applied, dict(runtime.health.outcomes)
            t0 = time.monotonic()
            loaded = await measure(runtime, base, app_id, args.seconds)
            elapsed = time.monotonic() - t0
            rate = (runtime.health.results_applied - applied) / elapsed
            delta = {k: runtime.health.outcomes.get(k, 0) - outcomes.get(k, 0) for k in runtime.health.outcomes}
            print("with health checks:   ", {k: round(v, 2) for k, v in loaded.items()})
            print(f"checks applied: {rate:.0f}/s (expected {len(runtime.state.instances) / args.interval:.0f}/s); "
                  f"outcomes in the window: {delta}; batches: {runtime.health.batches}")
            print(f"added p99: runtime command +{loaded['submit_p99_ms'] - baseline['submit_p99_ms']:.1f} ms, "
                  f"GET /v2/apps/{{id}} +{loaded['get_p99_ms'] - baseline['get_p99_ms']:.1f} ms")
            healthy = sum(1 for i in runtime.state.instances.values() if i.healthy)
            print(f"healthy instances: {healthy}/{len(runtime.state.instances)}")
            await runtime.health.stop()
            await server.cleanup()
            runtime._events.put_nowait(None)
            await asyncio.gather(*runtime._tasks, return_exceptions=True)
            store.close()
    finally:
        fleet.kill()
        fleet.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--tasks-per-app", type=int, default=10)
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--ports", type=int, default=2000, help="ports the stub fleet listens on")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--probes", choices=("worker", "in-process"), default="worker",
                        help="probe in a worker process (serve's default) or on the scheduler's own loop")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
