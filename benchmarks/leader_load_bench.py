"""A new leader's state load at scale (issue 11): 10,000 apps / 100,000 instances in ZooKeeper.

Starts its own ZooKeeper (Debian's package, as the tests do: ``tests/zookeeper_server.py``, with a 1 GB heap:
``--zk-heap``), then:

1. fills the ZooKeeper store the way the scheduler writes it (the runtime's namespaces and codecs, one
   znode per group node, app, app definition and instance): apps created in commits of ``--app-batch``
   apps (their group nodes, specs and definitions), instances written in commits of ``--instance-batch``
   (as a batch of status updates is), each instance RUNNING on one of ``--agents`` agents, and one running
   deployment (team00's apps restarted: a twentieth of the apps, the plan pruned as the runtime stores it).
   It counts the ZooKeeper transactions the commits took (each takes one zxid) and the largest commit's
   ``change_bytes``;
2. starts ``mesospaas serve --zk`` as the only (so the new) leader, with no Mesos master to talk to
   (``--master none``, the default: the figures are the load's alone) or a simulated localmesos
   (``--master local``: the leader then also reconciles instances on agents that cluster does not have),
   and measures the time from process start to state loaded (the runtime's "loaded N apps, M instances ...
   in X s" line, which also gives the load's own duration), to the first full ``GET /v2/apps`` (every app
   in the answer) and that GET's duration, and the leader's RSS after loading and after the first full GET,
   beside an empty leader's (so the RSS per 10,000 instances);
3. walks every znode under the ZooKeeper path (state, election, everything), once as seeded and once after
   the leader ran, and reports the largest ones.

Prints figures; asserts nothing. ``--quick`` is a tenth of the size for iteration.

Usage: .venv/bin/python benchmarks/leader_load_bench.py [--apps 10000] [--instances 100000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ha_bench import Serve, call, rss_mb, wait_for  # noqa: E402
from benchmarks.localmesos_bench import start_cluster, stop_cluster  # noqa: E402
from tests.zookeeper_server import ZooKeeperServer, free_port  # noqa: E402

BASE = "/mesospaas"
LOADED = re.compile(r"loaded (\d+) apps, (\d+) instances, .* in ([0-9.]+) s")


def app_specs(apps: int, instances: int) -> list[Any]:
    """Apps as users write them: env, labels, a constraint, a port; spread over 20 teams of groups."""
    from mesospaas.model import AppId, AppSpec
    from mesospaas.model.constraints import Constraint, Operator

    per_app, extra = divmod(instances, apps)
    return [AppSpec(id=AppId(f"/load/team{n % 20:02d}/svc{n // 20 % 10}/app{n:05d}"),
                    cmd=f"python3 -m http.server $PORT0 --directory /srv/app{n:05d}", cpus=0.1, mem=64,
                    instances=per_app + (1 if n < extra else 0),
                    env={"APP_NAME": f"app{n:05d}", "LOG_LEVEL": "info", "TEAM": f"team{n % 20:02d}"},
                    labels={"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": f"app{n:05d}.example.com",
                            "owner": f"team{n % 20:02d}@example.com"},
                    constraints=(Constraint("hostname", Operator.UNIQUE),))
            for n in range(apps)]


def definition(spec: Any) -> bytes:
    """The JSON a client POSTs for the app (the runtime keeps it as the app's definition)."""
    return json.dumps({"id": spec.id, "cmd": spec.cmd, "cpus": spec.cpus, "mem": spec.mem,
                       "instances": spec.instances, "env": dict(spec.env), "labels": dict(spec.labels),
                       "constraints": [["hostname", "UNIQUE"]], "portDefinitions": [{"port": 0}]}).encode()


class Seeder:
    """Commits through the store and counts the ZooKeeper transactions and their estimated sizes."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.commits = 0
        self.transactions = 0
        self.largest_commit_bytes = 0
        self.seconds = 0.0
        self.deployment_bytes = 0

    def commit(self, changes: Sequence[Any]) -> None:
        from scheduler.store.zookeeper import change_bytes

        before = self._zxid()
        t0 = time.perf_counter()
        self.store.commit(changes)
        self.seconds += time.perf_counter() - t0
        self.commits += 1
        self.transactions += self._zxid() - before
        self.largest_commit_bytes = max(self.largest_commit_bytes, sum(change_bytes(c) for c in changes))

    def _zxid(self) -> int:
        self.store.client.exists(self.store.base_path)  # every reply carries the server's last zxid
        zxid: int = self.store.client.last_zxid
        return zxid


def seed(hosts: str, apps: int, instances: int, agents: int, app_batch: int, instance_batch: int) -> Seeder:
    from mesospaas.deploy import assign_versions, plan, pruned
    from mesospaas.deploy.supervision import started
    from mesospaas.model.deployment import DeploymentPlan, random_deployment_ids
    from mesospaas.model import AgentId, Condition, Instance, InstanceId
    from mesospaas.model.agent import AgentInfo
    from mesospaas.model.group import Group
    from mesospaas.model.group_parts import split
    from scheduler.codecs import encode
    from scheduler.runtime import APPS, DEFINITIONS, DEPLOYMENTS, GROUPS, INSTANCES, RunningDeployment
    from scheduler.store import Put, ZooKeeperStore

    specs = app_specs(apps, instances)
    original = assign_versions(Group.of(), Group.of(specs), time.time() - 60)
    # One deployment in flight, as the runtime persists it: team00's apps restarted (a changed env).
    restarted = [replace(s, env={**s.env, "LOG_LEVEL": "debug"}) if s.id.startswith("/load/team00/") else s
                 for s in specs]
    root = assign_versions(original, Group.of(restarted), time.time())
    deployment = plan(original, root, time.time(), random_deployment_ids(random.Random(11)))
    assert isinstance(deployment, DeploymentPlan)
    running = RunningDeployment(pruned(deployment), supervision=started(time.time()))
    nodes, by_id = split(root)
    specs = list(by_id.values())
    hosts_of = [AgentInfo(agent_id=AgentId(f"a1b2c3d4-0000-4000-8000-{n:012d}-S0"), hostname=f"10.0.{n // 250}.{n % 250}")
                for n in range(agents)]
    store = ZooKeeperStore.connect(hosts, BASE + "/state")
    seeder = Seeder(store)
    try:
        for name in (GROUPS, APPS, DEFINITIONS, DEPLOYMENTS, INSTANCES):
            store.load(name)  # the runtime has loaded every namespace before it writes
        seeder.commit([Put(GROUPS, g, encode(node)) for g, node in nodes.items()])
        for first in range(0, len(specs), app_batch):
            changes: list[Any] = []
            for spec in specs[first:first + app_batch]:
                changes.append(Put(APPS, spec.id, encode(spec)))
                changes.append(Put(DEFINITIONS, f"{spec.id}@{spec.version}", definition(spec)))
            seeder.commit(changes)
        seeder.commit([Put(DEPLOYMENTS, running.plan.id, encode(running))])
        seeder.deployment_bytes = len(encode(running))
        batch: list[Any] = []
        now = time.time()
        n = 0
        for spec in specs:
            for index in range(spec.instances):
                agent = hosts_of[(n + index) % agents]
                inst = Instance(id=InstanceId(f"{spec.id.strip('/').replace('/', '_')}.instance-"
                                              f"{n:08x}-0000-4000-8000-{n:012x}"),
                                app_id=spec.id, app_version=spec.version, agent=agent, incarnation=1,
                                condition=Condition.RUNNING, since=now, staged_at=now - 2, started_at=now,
                                host_ports=(31000 + n % 1000,), ip_addresses=(agent.hostname,))
                n += 1
                batch.append(Put(INSTANCES, inst.id, encode(inst)))
                if len(batch) == instance_batch:
                    seeder.commit(batch)
                    batch = []
        if batch:
            seeder.commit(batch)
    finally:
        store.close()
    return seeder


def znode_sizes(hosts: str, root: str) -> Iterator[tuple[str, int]]:
    """``(path, data length)`` of every znode below ``root``, read level by level with batched reads."""
    from scheduler.store import ZooKeeperStore

    with ZooKeeperStore.connect(hosts, root) as store:
        level = [root]
        while level:
            stats = store._read_data(level)  # one multiRead per 256 znodes: (data, stat) or None
            parents = []
            for path, got in zip(level, stats):
                if got is not None:
                    yield path, got[1].dataLength
                    if got[1].numChildren:
                        parents.append(path)
            listings = store._read_children(parents)
            level = [f"{parent.rstrip('/')}/{child}" for parent, names in zip(parents, listings)
                     for child in names or ()]


def largest_znodes(hosts: str, when: str) -> None:
    t0 = time.monotonic()
    sizes = sorted(znode_sizes(hosts, BASE), key=lambda item: -item[1])
    print(f"  znodes under {BASE} {when}: {len(sizes)} (walked in {time.monotonic() - t0:.1f} s); largest "
          f"{sizes[0][1] / 1024:.1f} KiB ({sizes[0][0]})   target <= 64 KiB")
    for path, size in sizes[1:3]:
        print(f"    next: {size / 1024:.1f} KiB ({path})")


def empty_leader_rss(master: str, zk: ZooKeeperServer, work: Path) -> float:
    """The RSS of a leader with nothing stored, once it serves ``GET /v2/apps``."""
    serve = Serve(master, f"zk://{zk.hosts}/empty", work, "empty", 10)
    try:
        wait_for(lambda: call("GET", f"{serve.url}/v2/apps")[0] == 200, timeout=600)
        return rss_mb(serve.proc.pid)
    finally:
        serve.stop()


def measure_leader(zk: ZooKeeperServer, work: Path, apps: int, agents: int | None) -> None:
    """``agents``: a simulated localmesos of that many agents; None: no master (an unused port)."""
    cluster = None
    if agents is None:
        master = f"127.0.0.1:{free_port()}"
    else:
        cluster, master = start_cluster("--simulate", "true", "--agents", str(agents))
    serve: Serve | None = None
    try:
        baseline = empty_leader_rss(master, zk, work)
        serve = Serve(master, f"zk://{zk.hosts}{BASE}", work, "leader", 10)
        log_path = serve.log_path
        found = wait_for(lambda: LOADED.search(log_path.read_text()), timeout=600, interval=0.05)
        loaded_at = time.monotonic()
        rss_loaded = rss_mb(serve.proc.pid)
        url = serve.url

        def full_list() -> float | None:
            t0 = time.monotonic()
            status, body = call("GET", f"{url}/v2/apps", timeout=120)
            if status == 200 and len(body["apps"]) == apps:
                return time.monotonic() - t0
            return None

        took = wait_for(full_list, timeout=600, interval=0.05)
        served_at = time.monotonic()
        rss_served = rss_mb(serve.proc.pid)
        count = int(found.group(2))
        print(f"  loaded {found.group(1)} apps, {count} instances: the load took {float(found.group(3)):.2f} s; "
              f"state loaded {loaded_at - serve.started:.2f} s after the process started")
        print(f"  first full GET /v2/apps ({apps} apps) answered {served_at - serve.started:.2f} s after the "
              f"process started (that GET took {took:.2f} s)   target < 10 s")
        per = 10_000 / count if count else 0.0
        print(f"  leader RSS: {rss_loaded:.0f} MB after loading, {rss_served:.0f} MB after the first full GET "
              f"(target < 2048 MB); an empty leader's {baseline:.0f} MB; per 10,000 instances (with their "
              f"apps): {(rss_served - baseline) * per:.0f} MB above the empty leader, {rss_served * per:.0f} MB "
              "of the whole process")
    finally:
        if serve is not None:
            serve.stop()
        if cluster is not None:
            stop_cluster(cluster)


def java_with_heap(work: Path, heap: str) -> None:
    """Puts a ``java`` first on PATH that runs the real one with ``-Xmx<heap>`` instead of the tests' 256 MB.

    ``tests/zookeeper_server.py`` starts ZooKeeper with ``-Xmx256m`` (plenty for tests); 110,000 znodes of
    state fill that heap and the server stalls in full GCs until sessions time out."""
    real = shutil.which("java")
    if real is None:
        return  # ZooKeeperServer says that the package is missing
    shim = work / "java-bin"
    shim.mkdir()
    (shim / "java").write_text(f'#!/bin/sh\nfor a; do shift; [ "$a" = -Xmx256m ] && a=-Xmx{heap}; set -- "$@" "$a"; '
                               f'done\nexec {shlex.quote(real)} "$@"\n')
    (shim / "java").chmod(0o755)
    os.environ["PATH"] = f"{shim}{os.pathsep}{os.environ['PATH']}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--apps", type=int, default=10_000)
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--agents", type=int, default=500, help="simulated agents the instances run on")
    parser.add_argument("--app-batch", type=int, default=500, help="apps created per commit")
    parser.add_argument("--instance-batch", type=int, default=1_000, help="instances written per commit")
    parser.add_argument("--master", choices=("local", "none"), default="none",
                        help="local: the new leader subscribes to a simulated localmesos (it then reconciles "
                             "instances on agents that cluster does not have); none: no master, the load alone")
    parser.add_argument("--zk-heap", default="1g", help="ZooKeeper's Java heap (the tests' 256m is too small)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the apps and instances")
    args = parser.parse_args(argv)
    if args.quick:
        args.apps, args.instances = args.apps // 10, args.instances // 10
    print(f"leader load benchmark: {args.apps} apps, {args.instances} instances, python "
          f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        java_with_heap(Path(tmp), args.zk_heap)
        with ZooKeeperServer(Path(tmp) / "zk") as zk:
            run(args, zk, Path(tmp))
    return 0


def run(args: argparse.Namespace, zk: ZooKeeperServer, tmp: Path) -> None:
    t0 = time.monotonic()
    seeder = seed(zk.hosts, args.apps, args.instances, args.agents, args.app_batch, args.instance_batch)
    print(f"  seeded in {time.monotonic() - t0:.1f} s ({seeder.seconds:.1f} s in commits): {seeder.commits} "
          f"commits took {seeder.transactions} ZooKeeper transactions; largest commit "
          f"{seeder.largest_commit_bytes / 1024:.0f} KiB (change_bytes estimate); "
          f"the running deployment's value {seeder.deployment_bytes / 1024:.0f} KiB")
    largest_znodes(zk.hosts, "as seeded")
    measure_leader(zk, tmp, args.apps, 50 if args.master == "local" else None)
    largest_znodes(zk.hosts, "after the leader ran")
    print(f"  load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    raise SystemExit(main())
