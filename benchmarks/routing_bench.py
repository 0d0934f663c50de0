"""Routing figures (issue 12). Prints figures; asserts nothing.

1. Render time of the HAProxy config (parse v2 JSON + services + render, and render alone) for 1,000 and
   10,000 apps with 3 tasks each (targets: < 100 ms and < 1 s).
2. End to end: `mesospaas local` (localmesos in process mode, scheduler, API) and `mesospaas lb --run-haproxy`
   as real processes; an HTTP app of 3 instances behind a vhost, a steady stream of GETs through HAProxy (a new
   connection each), then
   - N consecutive rolling deployments: requests failed out of the total (target 0);
   - a scale-up by one: time from its task shown healthy by the API to the first request it answers;
   - a task killed: time from the API showing it TASK_KILLING to the last request that reached it.

Usage: .venv/bin/python benchmarks/routing_bench.py [--deployments 20] [--rate 100] [--skip-e2e]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mesospaas.routing import RenderOptions, apps_from_json, build_services, default_templates, render  # noqa: E402
from tests.routing.lb_process import ROOT, LbProcess, graceful_app  # noqa: E402
from tests.zookeeper_server import free_port  # noqa: E402


def synthetic_apps(count: int) -> dict[str, Any]:
    apps = []
    for i in range(count):
        labels = {"HAPROXY_GROUP": "external"}
        if i % 2 == 0:
            labels["HAPROXY_0_VHOST"] = f"app{i}.example.com"
        apps.append({"id": f"/bench/app{i}", "labels": labels, "instances": 3,
                     "portDefinitions": [{"port": 10000 + i}],
                     "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0, "intervalSeconds": 5,
                                       "timeoutSeconds": 2, "maxConsecutiveFailures": 3}] if i % 3 == 0 else [],
                     "tasks": [{"id": f"app{i}.t{k}", "host": f"10.0.{k}.{i % 250}", "ports": [31000 + k],
                                "state": "TASK_RUNNING", "healthCheckResults": [{"alive": True}]}
                               for k in range(3)]})
    return {"apps": apps}


def render_figures() -> None:
    templates, options = default_templates(), RenderOptions()
    for count in (1000, 10000):
        body = synthetic_apps(count)
        full, alone, cpu_full, cpu_alone = [], [], [], []
        for _ in range(5):
            t0, c0 = time.perf_counter(), time.process_time()
            services = build_services(apps_from_json(body).apps, ["external"]).services
            t1, c1 = time.perf_counter(), time.process_time()
            text = render(services, templates, options).text
            t2, c2 = time.perf_counter(), time.process_time()
            full.append(t2 - t0)
            alone.append(t2 - t1)
            cpu_full.append(c2 - c0)
            cpu_alone.append(c2 - c1)
        ms = [statistics.median(v) * 1000 for v in (full, alone, cpu_full, cpu_alone)]
        print(f"render {count:>6} apps x 3 tasks: parse+services+render median {ms[0]:7.1f} ms wall / {ms[2]:7.1f} ms "
              f"CPU; render alone {ms[1]:7.1f} ms wall / {ms[3]:7.1f} ms CPU; {len(text) / 1e6:.1f} MB of config")


class Load(threading.Thread):
    """Steady GETs; per task id the first and last request start time it answered."""

    def __init__(self, port: int, vhost: str, rate: float) -> None:
        super().__init__(daemon=True)
        self.port, self.vhost, self.interval = port, vhost, 1.0 / rate
        self.ok = self.failed = 0
        self.errors: list[str] = []
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.running = True

    def run(self) -> None:
        while self.running:
            began = time.time()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                conn.request("GET", "/", headers={"Host": self.vhost})
                resp = conn.getresponse()
                body = resp.read().decode().strip()
                conn.close()
                if resp.status == 200:
                    self.ok += 1
                    task = body.split(" ", 1)[1]
                    self.first.setdefault(task, began)
                    self.last[task] = began
                else:
                    self.failed += 1
                    self.errors.append(f"HTTP {resp.status}")
            except (OSError, http.client.HTTPException) as exc:
                self.failed += 1
                self.errors.append(repr(exc))
            time.sleep(max(0.0, self.interval - (time.time() - began)))


def call(method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def wait(check: Any, timeout: float, what: str, interval: float = 0.02) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise RuntimeError(f"{what} not within {timeout} s")


def tasks(api: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = call("GET", f"{api}/v2/apps/web/tasks")["tasks"]
    return result


def e2e_figures(deployments: int, rate: float) -> None:
    with tempfile.TemporaryDirectory() as work:
        port = free_port()
        local = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "local", "--http-port", "0", "--work-dir",
                                  f"{work}/local", "--resources", "cpus:4;mem:4096;disk:10000"],
                                 cwd=ROOT, stdout=subprocess.PIPE, stderr=open(f"{work}/local.log", "wb"),
                                 start_new_session=True)
        lb = None
        try:
            assert local.stdout is not None
            line = local.stdout.readline().decode().strip()
            api = line.split(": ", 1)[1]
            call("POST", f"{api}/v2/apps", graceful_app("/web", port, 3))
            lb = LbProcess([api], Path(work) / "lb")
            wait(lambda: len([s for s in lb.servers(f"web_{port}") if s["state"] == "ready"]) == 3, 120, "3 servers")
            load = Load(lb.http_port, "web.test", rate)
            load.start()
            wait(lambda: load.ok > 50, 60, "load flowing")
            started = time.time()
            for n in range(deployments):
                call("PUT", f"{api}/v2/apps/web", graceful_app("/web", port, 3, version=f"v{n + 2}"))
                wait(lambda: call("GET", f"{api}/v2/deployments") == [], 180, f"deployment {n + 1}", 0.2)
            rolled = time.time() - started
            print(f"{deployments} rolling deployments of 3 instances in {rolled:.0f} s at {rate:.0f} req/s: "
                  f"{load.failed} failed of {load.ok + load.failed} requests {load.errors[:5]}")
            # healthy -> traffic
            before = {t["id"] for t in tasks(api)}
            call("PUT", f"{api}/v2/apps/web", {"instances": 4})
            new = wait(lambda: [t for t in tasks(api) if t["id"] not in before
                                and any(r.get("alive") for r in t.get("healthCheckResults", []))], 120, "healthy")
            healthy_at = time.time()
            task_id = new[0]["id"]
            wait(lambda: task_id in load.first, 60, "traffic to the new task")
            print(f"task healthy (API) -> first request answered by it: "
                  f"{(load.first[task_id] - healthy_at) * 1000:.0f} ms (API polled every 20 ms)")
            wait(lambda: call("GET", f"{api}/v2/deployments") == [], 120, "scale", 0.2)
            # TASK_KILLING -> no new requests
            victim = tasks(api)[0]["id"]
            call("DELETE", f"{api}/v2/apps/web/tasks/{victim}")
            wait(lambda: any(t["id"] == victim and t["state"] == "TASK_KILLING" for t in tasks(api)), 30,
                 "TASK_KILLING", 0.01)
            killing_at = time.time()
            time.sleep(3)
            last = load.last.get(victim, 0.0)
            print(f"TASK_KILLING (API) -> last request that reached the task: {(last - killing_at) * 1000:.0f} ms "
                  f"(negative: none after the API showed KILLING)")
            load.running = False
            load.join()
            status = lb.status()
            print(f"lb: {status['reloads']} reloads, {status['runtimeUpdates']} runtime API updates; "
                  f"total failed {load.failed} of {load.ok + load.failed}")
        finally:
            if lb is not None:
                lb.stop()
            local.send_signal(signal.SIGTERM)
            try:
                local.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(local.pid, signal.SIGKILL)
                local.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deployments", type=int, default=20)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--skip-e2e", action="store_true")
    args = parser.parse_args()
    render_figures()
    if not args.skip_e2e:
        e2e_figures(args.deployments, args.rate)


if __name__ == "__main__":
    main()
