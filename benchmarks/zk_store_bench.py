"""ZooKeeper store figures: write throughput, a new leader's cold state load, single-key commit latency.

Starts its own ZooKeeper (Debian's package, as the tests do: ``tests/zookeeper_server.py``), then:

- writes A app values (~3 KB) and I instance values (~600 B) in commits of B changes (the writer has loaded
  its namespaces first, as the runtime does), and prints values/s, MB/s, time per commit and the number of
  ZooKeeper transactions a commit took (a commit over the transaction budget is split);
- opens a fresh store on a new connection and times ``load`` of each namespace: the cold state load of a new
  leader (with ``--plain-reads``, also with znode-by-znode ``get_async`` reads instead of multiRead);
- times N single-key commits (an instance update, compare-and-set on its version): p50 / p99.

Prints figures; asserts nothing.

Usage: .venv/bin/python benchmarks/zk_store_bench.py [--apps 1000] [--instances 50000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scheduler.store import Put, ZooKeeperStore  # noqa: E402
from tests.zookeeper_server import ZooKeeperServer  # noqa: E402

BASE = "/mesospaas"


def pct(samples: Sequence[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def value(size: int) -> bytes:
    return os.urandom(size // 2).hex().encode()  # incompressible-ish text, like encoded state


def last_zxid(store: ZooKeeperStore) -> int:
    """The server's last transaction id (every reply carries it); each transaction takes one."""
    store.client.exists(BASE)
    zxid: int = store.client.last_zxid
    return zxid


def write(store: ZooKeeperStore, namespace: str, count: int, size: int, batch: int) -> None:
    store.load(namespace)  # the runtime loads every namespace before it writes
    keys = [f"{namespace}-{n:07d}" for n in range(count)]
    took: list[float] = []
    parts: list[int] = []
    for first in range(0, count, batch):
        changes = [Put(namespace, key, value(size)) for key in keys[first:first + batch]]
        zxid = last_zxid(store)
        t0 = time.perf_counter()
        store.commit(changes)
        took.append(time.perf_counter() - t0)
        parts.append(last_zxid(store) - zxid)
    total = sum(took)
    print(f"  write {namespace:<10} {count:>7} values of {size:>5} B in {len(took):>3} commits: {total:6.2f} s, "
          f"{count / total:>8.0f} values/s, {count * size / total / 1e6:5.1f} MB/s, per commit p50 "
          f"{pct(took, 50) * 1000:6.1f} ms, max {max(took) * 1000:6.1f} ms, {max(parts)} transaction(s) per commit")


def cold_load(hosts: str, namespaces: Sequence[str], batched: bool) -> None:
    label = "multiRead" if batched else "get_async"
    t0 = time.perf_counter()
    with ZooKeeperStore.connect(hosts, BASE, batched_reads=batched) as store:
        opened = time.perf_counter()
        total = 0
        for namespace in namespaces:
            t1 = time.perf_counter()
            values = store.load(namespace)
            took = time.perf_counter() - t1
            total += len(values)
            print(f"  cold load {namespace:<10} ({label}) {len(values):>7} values: {took:6.2f} s, "
                  f"{len(values) / took:>8.0f} values/s")
    print(f"  new leader ({label}): connect {opened - t0:.2f} s, whole state ({total} values) "
          f"{time.perf_counter() - opened:.2f} s")


def single_commits(hosts: str, count: int, size: int) -> None:
    with ZooKeeperStore.connect(hosts, BASE) as store:
        keys = sorted(store.load("instances"))[:count]
        took: list[float] = []
        for key in keys:
            change = [Put("instances", key, value(size))]
            t0 = time.perf_counter()
            store.commit(change)
            took.append(time.perf_counter() - t0)
    print(f"  single-key commits ({len(took)}, instance updates): p50 {pct(took, 50) * 1000:.2f} ms, "
          f"p99 {pct(took, 99) * 1000:.2f} ms, mean {statistics.fmean(took) * 1000:.2f} ms")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--apps", type=int, default=1_000)
    parser.add_argument("--instances", type=int, default=50_000)
    parser.add_argument("--app-bytes", type=int, default=3_000)
    parser.add_argument("--instance-bytes", type=int, default=600)
    parser.add_argument("--batch", type=int, default=1_000, help="changes per commit")
    parser.add_argument("--single", type=int, default=500, help="single-key commits to time")
    parser.add_argument("--plain-reads", action="store_true", help="also load znode by znode (get_async)")
    args = parser.parse_args(argv)
    print(f"ZooKeeper store benchmark: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory() as tmp, ZooKeeperServer(Path(tmp)) as server:
        hosts = server.connection_string("/bench")
        with ZooKeeperStore.connect(hosts, BASE) as store:
            write(store, "apps", args.apps, args.app_bytes, args.batch)
            write(store, "instances", args.instances, args.instance_bytes, args.batch)
        cold_load(hosts, ["apps", "instances"], batched=True)
        if args.plain_reads:
            cold_load(hosts, ["apps", "instances"], batched=False)
        single_commits(hosts, args.single, args.instance_bytes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
