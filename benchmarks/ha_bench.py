"""High-availability figures (issue 5). Prints numbers; asserts nothing.

  failover  Two or three `mesospaas serve --zk` instances on a process-mode localmesos with apps running.
            kill -9 of the leader: time until the new leader answers POST /v2/apps with 201 and that app's
            task is RUNNING. Then graceful abdication (DELETE /v2/leader): the same time. Counts tasks
            restarted (task ids that were running before and are not after).
  load      The state load of a new leader: 1,000 apps and 50,000 instances written into the ZooKeeper store
            (with the runtime's own codecs), then `mesospaas serve --zk` started: time from election to state
            loaded (the runtime logs it), RSS right after, and the time until the API answers.
  create    Sustained app creation rate through the API of an HA leader (ZooKeeper store), C concurrent POSTs.

Usage: .venv/bin/python benchmarks/ha_bench.py failover --session-timeout 5
       .venv/bin/python benchmarks/ha_bench.py load --apps 1000 --instances 50000
       .venv/bin/python benchmarks/ha_bench.py create --apps 500 --concurrency 16
ZooKeeper is Debian's package, started on a free port (as in the tests).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.localmesos_bench import start_cluster, stop_cluster  # noqa: E402
from tests.zookeeper_server import ZooKeeperServer  # noqa: E402


class Serve:
    def __init__(self, master: str, zk: str, work: Path, name: str, session_timeout: float) -> None:
        self.log_path = work / f"{name}.log"
        self.log = open(self.log_path, "wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scheduler.cli", "serve", "--master", master, "--zk", zk, "--http-port", "0",
             "--zk-session-timeout", str(session_timeout), "--work-dir", str(work / name),
             "--decline-offer-duration", "1", "--log-level", "INFO"], stdout=subprocess.PIPE, stderr=self.log)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("mesospaas API: "):
            raise SystemExit(f"serve did not start: {line!r}: {self.log_path.read_text()[-2000:]}")
        self.url = line.split(": ", 1)[1]
        self.address = self.url.removeprefix("http://")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def call(method: str, url: str, body: Any = None, timeout: float = 10) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as err:
        return 0, str(err)


def wait_for(check: Any, timeout: float = 120, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit("timed out")


def leader(instances: list[Serve]) -> Serve | None:
    for inst in instances:
        if inst.proc.poll() is None:
            status, body = call("GET", f"{inst.url}/v2/leader", timeout=2)
            if status == 200:
                return next((i for i in instances if i.address == body["leader"] and i.proc.poll() is None), None)
    return None


def running_tasks(url: str) -> set[str]:
    status, body = call("GET", f"{url}/v2/tasks?status=running")
    return {t["id"] for t in body["tasks"]} if status == 200 else set()


def app(app_id: str, instances: int = 1) -> dict[str, Any]:
    return {"id": app_id, "cmd": "sleep 600", "cpus": 0.01, "mem": 8, "instances": instances}


def time_to_serve(via: Serve, app_id: str, start: float) -> tuple[float, float]:
    """Seconds from ``start`` until POST answers 201, and until the app's task is RUNNING."""
    posted = wait_for(lambda: call("POST", f"{via.url}/v2/apps", app(app_id), timeout=5)[0] == 201 and time.monotonic())
    running = wait_for(lambda: any(t.startswith(app_id.strip("/").replace("/", "_"))
                                   for t in running_tasks(via.url)) and time.monotonic())
    return posted - start, running - start


def failover(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp())
    with ZooKeeperServer(work / "zk") as zk:
        cluster, master = start_cluster("--agents", "3")
        instances: list[Serve] = []
        try:
            zk_url = f"zk://{zk.hosts}/mesospaas"
            instances = [Serve(master, zk_url, work, f"m{n}", args.session_timeout) for n in range(args.instances)]
            first = wait_for(lambda: leader(instances))
            for n in range(args.apps):
                assert call("POST", f"{first.url}/v2/apps", app(f"/bench/a{n}", 2))[0] == 201
            before = wait_for(lambda: (t := running_tasks(first.url)) and len(t) == 2 * args.apps and t)
            print(f"{args.instances} instances, session timeout {args.session_timeout} s, "
                  f"{len(before)} tasks running")
            first.proc.kill()
            killed = time.monotonic()
            first.proc.wait()
            survivors = [i for i in instances if i is not first]
            second = wait_for(lambda: leader(survivors))
            elected = time.monotonic() - killed
            posted, launched = time_to_serve(survivors[0], "/bench/after-crash", killed)
            after = running_tasks(second.url)
            print(f"  kill -9: new leader known after {elected:.2f} s, POST /v2/apps 201 after {posted:.2f} s, "
                  f"its task RUNNING after {launched:.2f} s; tasks restarted: {len(before - after)}")
            before = after
            standby = next(i for i in survivors if i is not second) if len(survivors) > 1 else second
            t0 = time.monotonic()
            assert call("DELETE", f"{second.url}/v2/leader")[0] == 200
            third = wait_for(lambda: (lead := leader(survivors)) is not None and lead is not second and lead)
            elected = time.monotonic() - t0
            posted, launched = time_to_serve(standby if standby is not second else third, "/bench/after-abdication", t0)
            after = running_tasks(third.url)
            print(f"  abdication: new leader known after {elected:.2f} s, POST /v2/apps 201 after {posted:.2f} s, "
                  f"its task RUNNING after {launched:.2f} s; tasks restarted: {len(before - after)}")
        finally:
            for inst in instances:
                inst.stop()
            stop_cluster(cluster)


def seed_state(zk_hosts: str, base: str, apps: int, instances: int) -> None:
    from mesospaas.deploy import assign_versions
    from mesospaas.model import AppId, AppSpec, Condition, Instance, InstanceId
    from mesospaas.model.agent import AgentInfo
    from mesospaas.model.group import Group
    from mesospaas.model.group_parts import split
    from scheduler.codecs import encode
    from scheduler.runtime import APPS, DEFINITIONS, GROUPS, INSTANCES
    from scheduler.store import Put, ZooKeeperStore

    specs = [AppSpec(id=AppId(f"/load/team{n % 20}/app{n:04d}"), cmd="sleep 600", cpus=0.01, mem=8,
                     instances=instances // apps) for n in range(apps)]
    root = assign_versions(Group.of(), Group.of(specs), time.time())
    nodes, by_id = split(root)
    store = ZooKeeperStore.connect(zk_hosts, base + "/state")
    try:
        changes: list[Any] = [Put(GROUPS, g, encode(n)) for g, n in nodes.items()]
        for spec in by_id.values():
            changes.append(Put(APPS, spec.id, encode(spec)))
            changes.append(Put(DEFINITIONS, f"{spec.id}@{spec.version}", json.dumps(
                {"id": spec.id, "cmd": spec.cmd, "cpus": spec.cpus, "mem": spec.mem,
                 "instances": spec.instances}).encode()))
        store.commit(changes)
        batch: list[Any] = []
        now = time.time()
        for n, spec in enumerate(s for s in by_id.values() for _ in range(s.instances)):
            agent = AgentInfo(agent_id=f"agent-{n % 500}", hostname=f"10.0.{n % 500 // 250}.{n % 250}")
            inst = Instance(id=InstanceId(f"{spec.id.strip('/').replace('/', '_')}.instance-{n:08d}"),
                            app_id=spec.id, app_version=spec.version, agent=agent, incarnation=1,
                            condition=Condition.RUNNING, since=now, staged_at=now, started_at=now,
                            host_ports=(31000 + n % 1000,))
            batch.append(Put(INSTANCES, inst.id, encode(inst)))
            if len(batch) == 1000:
                store.commit(batch)
                batch = []
        if batch:
            store.commit(batch)
    finally:
        store.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def load(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp())
    with ZooKeeperServer(work / "zk") as zk:
        t0 = time.monotonic()
        seed_state(zk.hosts, "/mesospaas", args.apps, args.instances)
        print(f"seeded {args.apps} apps and {args.instances} instances in ZooKeeper in {time.monotonic() - t0:.1f} s")
        cluster, master = start_cluster("--simulate", "true", "--agents", "10")
        serve: Serve | None = None
        try:
            serve = Serve(master, f"zk://{zk.hosts}/mesospaas", work, "leader", 10)
            pattern = re.compile(r"loaded (\d+) apps, (\d+) instances, .* in ([0-9.]+) s")
            found = wait_for(lambda: pattern.search(serve.log_path.read_text()) if serve else None, timeout=300)
            rss = rss_mb(serve.proc.pid)
            answered = wait_for(lambda: call("GET", f"{serve.url}/v2/apps/load/team0/app0000")[0] == 200
                                and time.monotonic(), timeout=300)
            print(f"  state load: {found.group(1)} apps, {found.group(2)} instances in {float(found.group(3)):.2f} s; "
                  f"leader RSS after loading {rss:.0f} MB; API answering {answered - serve.started:.1f} s "
                  f"after the process started")
        finally:
            if serve is not None:
                serve.stop()
            stop_cluster(cluster)


async def create_rate(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp())
    with ZooKeeperServer(work / "zk") as zk:
        cluster, master = start_cluster("--simulate", "true", "--agents", "100")
        serve: Serve | None = None
        try:
            serve = Serve(master, f"zk://{zk.hosts}/mesospaas", work, "leader", 10)
            wait_for(lambda: call("GET", f"{serve.url}/v2/leader")[0] == 200 if serve else False)
            wait_for(lambda: call("GET", f"{serve.url}/v2/apps")[0] == 200 if serve else False)
            latencies: list[float] = []
            sem = asyncio.Semaphore(args.concurrency)
            async with aiohttp.ClientSession() as session:
                async def post(n: int) -> None:
                    async with sem:
                        t = time.perf_counter()
                        async with session.post(f"{serve.url}/v2/apps", json=app(f"/rate/app{n:05d}")) as resp:
                            await resp.read()
                            assert resp.status == 201, resp.status
                        latencies.append(time.perf_counter() - t)
                t0 = time.perf_counter()
                await asyncio.gather(*(post(n) for n in range(args.apps)))
                elapsed = time.perf_counter() - t0
            latencies.sort()
            print(f"  app creation with the ZooKeeper store: {args.apps} apps in {elapsed:.1f} s = "
                  f"{args.apps / elapsed:.0f} apps/s ({args.concurrency} concurrent); POST p50 "
                  f"{latencies[len(latencies) // 2] * 1000:.0f} ms, p99 {latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms")
        finally:
            if serve is not None:
                serve.stop()
            stop_cluster(cluster)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("failover")
    f.add_argument("--instances", type=int, default=3)
    f.add_argument("--apps", type=int, default=5)
    f.add_argument("--session-timeout", type=float, default=5.0)
    ld = sub.add_parser("load")
    ld.add_argument("--apps", type=int, default=1000)
    ld.add_argument("--instances", type=int, default=50000)
    c = sub.add_parser("create")
    c.add_argument("--apps", type=int, default=500)
    c.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if args.command == "failover":
        failover(args)
    elif args.command == "load":
        load(args)
    else:
        asyncio.run(create_rate(args))


if __name__ == "__main__":
    main()
