"""High availability end to end: several ``mesospaas serve`` processes, a real ZooKeeper, a real localmesos
cluster with real task processes. Leaders are killed (-9), abdicate, lose ZooKeeper and get frozen (SIGSTOP);
no running task may be restarted and nothing acknowledged may be lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.localmesos.conftest import ThreadedCluster, make_config
from tests.polling import wait_for
from tests.zookeeper_server import ZooKeeperServer

SESSION_TIMEOUT = "2"


class Instance:
    """One ``mesospaas serve --zk`` process; its log goes to a file for post-mortems."""

    def __init__(self, name: str, zk_url: str, mesos: ThreadedCluster, tmp_path: Path,
                 master: str | None = None) -> None:
        self.name = name
        self.log_path = tmp_path / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scheduler.cli", "serve", "--master", master or mesos.address, "--zk", zk_url,
             "--zk-session-timeout", SESSION_TIMEOUT, "--http-port", "0", "--framework-name", "mesospaas-ha",
             "--work-dir", str(tmp_path / name), "--decline-offer-duration", "1", "--log-level", "INFO"],
            stdout=subprocess.PIPE, stderr=self._log)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        assert line.startswith("mesospaas API: "), (line, self.log())
        self.url = line.split(": ", 1)[1]
        self.address = self.url.removeprefix("http://")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)  # a frozen instance must be able to stop
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


def call(method: str, url: str, body: Any = None, timeout: float = 15) -> tuple[int, Any, dict[str, str]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None, dict(resp.headers)
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")
        return err.code, payload, dict(err.headers)
    except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
        return 0, str(err), {}


def leader_of(instances: list[Instance]) -> Instance | None:
    """The instance every live instance names as leader (None while they disagree or nobody leads)."""
    named = set()
    for inst in instances:
        if inst.proc.poll() is not None:
            continue
        status, body, _ = call("GET", f"{inst.url}/v2/leader", timeout=5)
        if status != 200:
            return None
        named.add(body["leader"])
    if len(named) != 1:
        return None
    address = named.pop()
    return next((i for i in instances if i.address == address and i.proc.poll() is None), None)


def app_tasks(url: str, app: str) -> dict[str, dict[str, Any]]:
    status, body, _ = call("GET", f"{url}/v2/apps{app}/tasks")
    assert status == 200, (status, body)
    return {t["id"]: t for t in body["tasks"]}


def running_ids(url: str, app: str, count: int) -> set[str] | None:
    status, body, _ = call("GET", f"{url}/v2/apps{app}/tasks")
    if status != 200:
        return None
    ids = {t["id"] for t in body["tasks"] if t["state"] == "TASK_RUNNING"}
    return ids if len(ids) == count else None


def mesos_running_tasks(mesos: ThreadedCluster) -> set[str]:
    state = json.loads(urllib.request.urlopen(f"{mesos.url}/master/state", timeout=5).read())
    return {t["id"] for f in state["frameworks"] for t in f["tasks"] if t["state"] == "TASK_RUNNING"}


def mesos_task_ids(mesos: ThreadedCluster) -> set[str]:
    """Every task id the Mesos master knows, in any state, of any framework (completed ones included)."""
    state = json.loads(urllib.request.urlopen(f"{mesos.url}/master/state", timeout=5).read())
    return {t["id"] for f in state["frameworks"] + state["completed_frameworks"]
            for key in ("tasks", "unreachable_tasks", "completed_tasks") for t in f.get(key, [])}


def sleeper(app: str, instances: int, cmd: str = "sleep 600", **extra: Any) -> dict[str, Any]:
    return {"id": app, "cmd": cmd, "cpus": 0.05, "mem": 16, "instances": instances, **extra}


@pytest.fixture
def zk_url(zookeeper_server: ZooKeeperServer) -> str:
    return f"zk://{zookeeper_server.hosts}/ha-{uuid.uuid4().hex[:10]}/mesospaas"


@pytest.fixture
def start(mesos: ThreadedCluster, tmp_path: Path) -> Iterator[Callable[[str, int], list[Instance]]]:
    started: list[Instance] = []

    def make(zk_url: str, count: int) -> list[Instance]:
        made = [Instance(f"mesospaas-{len(started) + n}", zk_url, mesos, tmp_path) for n in range(count)]
        started.extend(made)
        return made

    yield make
    for inst in started:
        inst.stop()


def test_kill_9_of_the_leader_loses_nothing(mesos: ThreadedCluster, zk_url: str,
                                            start: Callable[[str, int], list[Instance]]) -> None:
    instances = start(zk_url, 3)
    leader = wait_for(lambda: leader_of(instances), what="a leader")
    standby = next(i for i in instances if i is not leader)
    # Everything goes through a standby, which proxies to the leader.
    status, body, headers = call("POST", f"{standby.url}/v2/apps", sleeper("/keep", 2))
    assert status == 201, body
    assert headers.get("X-Marathon-Leader") == leader.url
    assert call("POST", f"{standby.url}/v2/apps", sleeper("/doomed", 1))[0] == 201
    slow_kill = "trap '' TERM; sleep 600"  # ignores SIGTERM: every kill waits out the grace period
    assert call("POST", f"{standby.url}/v2/apps",
                sleeper("/roll", 3, slow_kill, taskKillGracePeriodSeconds=3))[0] == 201
    keep = wait_for(lambda: running_ids(standby.url, "/keep", 2), what="/keep running")
    wait_for(lambda: running_ids(standby.url, "/roll", 3), what="/roll running")
    status, body, _ = call("DELETE", f"{standby.url}/v2/apps/doomed")
    assert status == 200, body
    status, body, _ = call("PUT", f"{standby.url}/v2/apps/roll", sleeper(
        "/roll", 3, slow_kill + " # v2", taskKillGracePeriodSeconds=3,
        upgradeStrategy={"minimumHealthCapacity": 0.6, "maximumOverCapacity": 0.0}))
    assert status == 200, body
    deployment = body["deploymentId"]
    status, body, _ = call("GET", f"{standby.url}/v2/deployments")
    assert deployment in {d["id"] for d in body}  # the rolling upgrade is under way (one kill takes 3 s)

    leader.proc.kill()  # kill -9: no goodbye, its ZooKeeper session has to expire
    leader.proc.wait()
    survivors = [i for i in instances if i is not leader]
    new_leader = wait_for(lambda: leader_of(survivors), timeout=30, what="a new leader")
    assert new_leader is not leader
    # The new leader answers writes and launches.
    assert call("POST", f"{standby.url}/v2/apps", sleeper("/after", 1))[0] == 201
    wait_for(lambda: running_ids(standby.url, "/after", 1), what="/after running")
    # The rolling deployment finishes where it was; untouched tasks were never restarted.
    wait_for(lambda: call("GET", f"{standby.url}/v2/deployments")[1] == [], timeout=60, what="deployment done")
    roll = app_tasks(standby.url, "/roll")
    status, app, _ = call("GET", f"{standby.url}/v2/apps/roll")
    assert len(roll) == 3 and {t["version"] for t in roll.values()} == {app["app"]["version"]}
    assert running_ids(standby.url, "/keep", 2) == keep
    assert keep <= mesos_running_tasks(mesos)
    assert call("GET", f"{standby.url}/v2/apps/doomed")[0] == 404  # deleted before the crash: stays deleted
    apps = {a["id"] for a in call("GET", f"{standby.url}/v2/apps")[1]["apps"]}
    assert apps == {"/keep", "/roll", "/after"}


def test_graceful_abdication_hands_over_without_restarting_tasks(
        mesos: ThreadedCluster, zk_url: str, start: Callable[[str, int], list[Instance]]) -> None:
    instances = start(zk_url, 2)
    leader = wait_for(lambda: leader_of(instances), what="a leader")
    other = next(i for i in instances if i is not leader)
    assert call("POST", f"{leader.url}/v2/apps", sleeper("/steady", 2))[0] == 201
    before = wait_for(lambda: running_ids(leader.url, "/steady", 2), what="/steady running")
    status, body, _ = call("DELETE", f"{leader.url}/v2/leader")
    assert status == 200, body
    wait_for(lambda: leader_of(instances) is other, what="the standby to take over")
    assert running_ids(other.url, "/steady", 2) == before
    assert call("POST", f"{leader.url}/v2/apps", sleeper("/next", 1))[0] == 201  # proxied to the new leader
    wait_for(lambda: running_ids(other.url, "/next", 1), what="/next running")
    assert running_ids(other.url, "/steady", 2) == before


def test_zookeeper_restart_under_a_running_leader(mesos: ThreadedCluster, own_zookeeper: ZooKeeperServer,
                                                 start: Callable[[str, int], list[Instance]]) -> None:
    instances = start(f"zk://{own_zookeeper.hosts}/mesospaas", 2)
    leader = wait_for(lambda: leader_of(instances), what="a leader")
    assert call("POST", f"{leader.url}/v2/apps", sleeper("/survivor", 2))[0] == 201
    before = wait_for(lambda: running_ids(leader.url, "/survivor", 2), what="/survivor running")
    own_zookeeper.restart()
    after_leader = wait_for(lambda: leader_of(instances), what="a leader after the restart")
    assert running_ids(after_leader.url, "/survivor", 2) == before
    assert call("POST", f"{after_leader.url}/v2/apps", sleeper("/post-restart", 1))[0] == 201
    wait_for(lambda: running_ids(after_leader.url, "/post-restart", 1), what="/post-restart running")
    assert running_ids(after_leader.url, "/survivor", 2) == before


def test_a_frozen_leader_does_not_act_when_it_wakes(mesos: ThreadedCluster, zk_url: str,
                                                   start: Callable[[str, int], list[Instance]]) -> None:
    instances = start(zk_url, 2)
    leader = wait_for(lambda: leader_of(instances), what="a leader")
    other = next(i for i in instances if i is not leader)
    assert call("POST", f"{leader.url}/v2/apps", sleeper("/calm", 2))[0] == 201
    before = wait_for(lambda: running_ids(leader.url, "/calm", 2), what="/calm running")
    os.kill(leader.proc.pid, signal.SIGSTOP)
    wait_for(lambda: call("GET", f"{other.url}/v2/leader", timeout=3)[1] == {"leader": other.address},
             timeout=30, what="the standby to lead")
    # While the old leader is frozen the new one changes state: the old one must not undo it on waking.
    assert call("DELETE", f"{other.url}/v2/apps/calm")[0] == 200
    assert call("POST", f"{other.url}/v2/apps", sleeper("/fresh", 1))[0] == 201
    fresh = wait_for(lambda: running_ids(other.url, "/fresh", 1), what="/fresh running")
    known = mesos_task_ids(mesos)
    assert before | fresh <= known
    os.kill(leader.proc.pid, signal.SIGCONT)
    wait_for(lambda: "leadership lost" in leader.log(), what="the woken leader to notice")
    wait_for(lambda: leader_of(instances) is other, what="both to agree on the new leader")
    assert call("GET", f"{leader.url}/v2/apps/calm")[0] == 404
    assert running_ids(leader.url, "/fresh", 1) == fresh
    assert not before & mesos_running_tasks(mesos)  # /calm's tasks were killed by the new leader only
    assert fresh <= mesos_running_tasks(mesos)
    # Nor did it launch anything under new ids: Mesos knows exactly the tasks it knew before the wake
    # (/calm's are still only the two killed ones, /fresh's only its one).
    assert mesos_task_ids(mesos) == known
    assert {t for t in known if t.startswith("calm.")} == before
    assert {t for t in known if t.startswith("fresh.")} == fresh
    # Nor did it re-subscribe to Mesos on waking (its stream had been failed over to the new leader): that
    # would have failed the new leader's subscription over in turn (scheduler.fenced_subscribe).
    assert "disconnected from the Mesos master" not in other.log_path.read_text(errors="replace"), other.log()


def test_the_mesos_master_is_found_through_zookeeper(zookeeper_server: ZooKeeperServer, tmp_path: Path) -> None:
    """``--master zk://.../mesos`` as in production: the embedded master registers there as Mesos masters do
    (``local-mesos --zk``), and the schedulers find it, elect a leader and run an app."""
    chroot = f"/zk-master-{uuid.uuid4().hex[:10]}"
    config = make_config(tmp_path, 2, resources="cpus:2;mem:2048;disk:1000")
    config.zk = f"zk://{zookeeper_server.hosts}{chroot}/mesos"
    mesos = ThreadedCluster(config)
    instances: list[Instance] = []
    try:
        instances = [Instance(f"zk-master-{n}", f"zk://{zookeeper_server.hosts}{chroot}/mesospaas", mesos, tmp_path,
                              master=config.zk) for n in range(2)]
        leader = wait_for(lambda: leader_of(instances), what="a leader")
        assert call("POST", f"{leader.url}/v2/apps", sleeper("/found", 2))[0] == 201
        ids = wait_for(lambda: running_ids(leader.url, "/found", 2), what="/found running")
        assert ids <= mesos_running_tasks(mesos)
    finally:
        for inst in instances:
            inst.stop()
        mesos.stop()


def test_a_new_leader_keeps_launch_backoff(mesos: ThreadedCluster, zk_url: str,
                                           start: Callable[[str, int], list[Instance]]) -> None:
    """Marathon lost backoff state on failover and relaunched crash-looping apps at once; we must not."""
    instances = start(zk_url, 2)
    leader = wait_for(lambda: leader_of(instances), what="a leader")
    other = next(i for i in instances if i is not leader)
    crashing = sleeper("/crashing", 1, "exit 1", backoffSeconds=120, backoffFactor=1.0, maxLaunchDelaySeconds=300)
    assert call("POST", f"{leader.url}/v2/apps", crashing)[0] == 201

    def delay_left(url: str) -> int | None:
        status, body, _ = call("GET", f"{url}/v2/queue")
        if status != 200:
            return None
        entries = [q for q in body["queue"] if q["app"]["id"] == "/crashing"]
        return entries[0]["delay"]["timeLeftSeconds"] if entries and not entries[0]["delay"]["overdue"] else None

    def launched() -> int:
        state = json.loads(urllib.request.urlopen(f"{mesos.url}/master/state", timeout=5).read())
        return len([t for f in state["frameworks"] for t in f["tasks"] + f["completed_tasks"]
                    if t["id"].startswith("crashing.")])

    before = wait_for(lambda: delay_left(leader.url), what="the crash to put /crashing into backoff")
    assert 0 < before <= 120
    launched_before = launched()
    assert launched_before >= 1
    leader.proc.kill()
    leader.proc.wait()
    wait_for(lambda: leader_of([other]) is other, what="the standby to lead")
    after = wait_for(lambda: delay_left(other.url), what="the new leader's queue")
    assert 0 < after <= before  # the same delay, counting down; not reset, not dropped
    assert launched() == launched_before  # nothing was launched again during the backoff
