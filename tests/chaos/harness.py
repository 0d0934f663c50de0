"""The chaos harness: every real process of a nemesis run, and the links between them through fault proxies.

Owns: a ZooKeeper ensemble of three (``zk_ensemble``), one ``mesospaas local-mesos`` process in process mode
(real task processes, agents with checkpointing: mesospaas subscribes with ``checkpoint: true``), three
``mesospaas serve`` instances on that ZooKeeper, and the ``FaultProxy``s: per instance one to the Mesos master
(its ``--master`` points there) and one per ZooKeeper node (its ``--zk`` lists those), so one instance's link
to the master or to ZooKeeper can be cut alone. Every process runs in its own process group and ``close``
kills them all (SIGCONT first: a frozen one must die too; task processes local-mesos could not stop are found
by their ``MESOS_SANDBOX`` under the harness' directory), on success and on failure.

Reading: ``leader_slot`` (the instance every answering instance names), ``master_state``, and ``http`` (one
request, classified as the clients record it). Fails: ``RuntimeError`` when a process does not come up;
``close`` logs what it could not stop and never raises.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, IO

from tests.chaos.proxy import FaultProxy, ProxyLoop
from tests.chaos.zk_ensemble import ZooKeeperEnsemble

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
SESSION_TIMEOUT = 3.0
"""``--zk-session-timeout`` of every instance: the pause and ZooKeeper-cut faults last longer than this."""
HEARTBEAT_INTERVAL = 2.0
"""The master's HEARTBEAT interval: the master-cut fault lasts several of these."""
AGENT_PING_TIMEOUT, MAX_AGENT_PING_TIMEOUTS = 5.0, 6
"""An agent is unreachable after 30 s without pings: the agent-bounce fault stays well below that."""
RECONCILIATION_INTERVAL = 15.0
FRAMEWORK = "mesospaas-chaos"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int  # 0 when no HTTP answer came
    body: Any
    outcome: str  # ok | fail | indeterminate
    error: str = ""


def http(method: str, url: str, body: Any = None, timeout: float = 15.0) -> Reply:
    """One request; a refused connection changed nothing (``fail``), a timeout or reset may have (indeterminate)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            raw = resp.read()
            return Reply(resp.status, json.loads(raw) if raw else None, "ok")
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            payload: Any = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")[:300]
        return Reply(err.code, payload, "fail")
    except urllib.error.URLError as err:
        if isinstance(err.reason, ConnectionRefusedError):
            return Reply(0, None, "fail", "connection refused")
        return Reply(0, None, "indeterminate", str(err.reason))
    except ConnectionRefusedError as err:
        return Reply(0, None, "fail", str(err))
    except (ConnectionError, TimeoutError, OSError, ValueError) as err:
        return Reply(0, None, "indeterminate", f"{type(err).__name__}: {err}")


def processes_with_env(prefix: str, exact: bool = False) -> list[int]:
    """Pids with an environment entry (``NAME=value``) that starts with ``prefix`` (or equals it, ``exact``),
    found through /proc."""
    wanted = prefix.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if any(item == wanted if exact else item.startswith(wanted) for item in environ.split(b"\0")):
            found.append(int(entry.name))
    return sorted(found)


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


class ServeInstance:
    """One ``mesospaas serve --zk`` process in a slot whose proxies outlive its restarts."""

    def __init__(self, slot: int, base: Path, master_proxy: FaultProxy, zk_proxies: list[FaultProxy]) -> None:
        self.slot = slot
        self.base = base
        self.master_proxy = master_proxy
        self.zk_proxies = zk_proxies
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.address = ""
        self.starts = 0
        self._log: IO[bytes] | None = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        self.starts += 1
        zk = ",".join(p.address for p in self.zk_proxies)
        self._log = open(self.base / f"serve-{self.slot}.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scheduler.cli", "serve", "--master", self.master_proxy.address,
             "--zk", f"zk://{zk}/chaos/mesospaas", "--zk-session-timeout", str(SESSION_TIMEOUT),
             "--http-port", "0", "--framework-name", FRAMEWORK, "--work-dir", str(self.base / f"work-{self.slot}"),
             "--decline-offer-duration", "1", "--reconciliation-interval", str(RECONCILIATION_INTERVAL),
             "--log-level", "INFO"],
            stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL, cwd=ROOT, start_new_session=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("mesospaas API: "):
            self.kill()
            raise RuntimeError(f"serve {self.slot} did not start: {line!r}; see {self.base}/serve-{self.slot}.log")
        self.url = line.split(": ", 1)[1]
        self.address = self.url.removeprefix("http://")

    def signal(self, sig: int) -> None:
        if self.proc is not None:
            _kill_group(self.proc, sig)

    def kill(self) -> None:
        """SIGKILL (after SIGCONT, so a frozen one goes too) and reap."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            _kill_group(self.proc, signal.SIGCONT)
            _kill_group(self.proc, signal.SIGKILL)
            self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._log is not None:
            self._log.close()
        self.proc = None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not go within 30 s."""
        if self.proc is not None and self.proc.poll() is None:
            _kill_group(self.proc, signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


class LocalMesosProcess:
    """``mesospaas local-mesos`` in process mode, in its own process group."""

    def __init__(self, base: Path, agents: int) -> None:
        self.base = base
        self.agents = agents
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.address = ""
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = open(self.base / "local-mesos.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scheduler.cli", "local-mesos", "--port", "0", "--agent-port", "0",
             "--agents", str(self.agents), "--resources", "cpus:8;mem:8192;disk:10000",
             "--work-dir", str(self.base / "cluster"), "--heartbeat-interval", str(HEARTBEAT_INTERVAL),
             "--agent-ping-timeout", str(AGENT_PING_TIMEOUT),
             "--max-agent-ping-timeouts", str(MAX_AGENT_PING_TIMEOUTS), "--offer-refuse-default", "1",
             "--log-level", "INFO",
             *(["--master-restart-downtime", "1"] if self.supports_master_restart() else [])],
            stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL, cwd=ROOT, start_new_session=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("localmesos master: "):
            self.stop()
            raise RuntimeError(f"local-mesos did not start: {line!r}; see {self.base}/local-mesos.log")
        self.url = line.split(": ", 1)[1]
        self.address = self.url.removeprefix("http://")
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read_stdout, args=(self.proc.stdout,), name="local-mesos-stdout",
                         daemon=True).start()

    def _read_stdout(self, stdout: IO[bytes]) -> None:
        try:
            for raw in stdout:
                self._lines.put(raw.decode(errors="replace").strip())
        except (OSError, ValueError):
            pass

    def supports_master_restart(self) -> bool:
        """Whether ``local-mesos`` restarts its master on SIGUSR1 / fails it over on SIGUSR2 (issue 18, part A)."""
        source = (ROOT / "localmesos" / "cli.py").read_text()
        return "SIGUSR1" in source and "localmesos master restarted" in source

    def restart_master(self, sig: int, proxies: list[FaultProxy], timeout: float = 120.0) -> str:
        """SIGUSR1 (restart) or SIGUSR2 (failover) and wait for the ``localmesos master restarted: ID URL`` (or
        ``failed over``) line; a failover moves the master to a new port, so ``proxies`` are pointed there
        (what a load balancer in front of the masters does). Returns the line."""
        assert self.proc is not None
        while not self._lines.empty():
            self._lines.get_nowait()
        self.proc.send_signal(sig)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"local-mesos did not report the master back within {timeout} s")
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if line.startswith(("localmesos master restarted: ", "localmesos master failed over: ")):
                break
        url = line.rsplit(" ", 1)[1]
        if url != self.url:
            self.url, self.address = url, url.removeprefix("http://")
            host, port = self.address.split(":")
            for proxy in proxies:
                proxy.retarget(host, int(port))
        return line

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the cluster kills its tasks on the way out
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                _kill_group(self.proc, signal.SIGKILL)
                self.proc.wait(timeout=30)
        _kill_group(self.proc, signal.SIGKILL)  # anything left in the group (task groups have their own)
        for pid in processes_with_env(f"MESOS_SANDBOX={self.base / 'cluster'}/"):  # tasks it could not stop
            try:
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._log is not None:
            self._log.close()
        self.proc = None


class Harness:
    def __init__(self, base: Path, instances: int = 3, agents: int = 3) -> None:
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        self.proxies = ProxyLoop()
        self.zk = ZooKeeperEnsemble(base / "zookeeper")
        self.mesos = LocalMesosProcess(base, agents)
        self.instances: list[ServeInstance] = []
        self._instance_count = instances

    def start(self) -> None:
        self.zk.start_all()
        self.mesos.start()
        host, port = self.mesos.address.split(":")
        for slot in range(self._instance_count):
            master = FaultProxy(self.proxies, host, int(port), name=f"serve-{slot}->master").start()
            zk = [FaultProxy(self.proxies, h, p, name=f"serve-{slot}->zk{n}").start()
                  for n, (h, p) in enumerate(self.zk.addresses, start=1)]
            self.instances.append(ServeInstance(slot, self.base, master, zk))
        for inst in self.instances:
            inst.start()

    def close(self) -> None:
        for inst in self.instances:
            try:
                inst.stop()
            except Exception:
                log.exception("stopping serve %d", inst.slot)
        try:
            self.mesos.stop()
        except Exception:
            log.exception("stopping local-mesos")
        try:
            self.zk.stop_all()
        except Exception:
            log.exception("stopping ZooKeeper")
        for inst in self.instances:
            for proxy in [inst.master_proxy, *inst.zk_proxies]:
                try:
                    proxy.stop()
                except Exception:
                    log.exception("stopping %s", proxy.name)
        self.proxies.close()

    def __enter__(self) -> Harness:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------------------------
    def live(self) -> list[ServeInstance]:
        return [i for i in self.instances if i.alive]

    def leader_views(self, timeout: float = 1.5) -> dict[int, str | None]:
        """Each live instance's answer to ``GET /v2/leader``: the leader's address, ``""`` when it answers
        without one, None when it does not answer (frozen, or busy past ``timeout``)."""
        views: dict[int, str | None] = {}
        for inst in self.live():
            reply = http("GET", f"{inst.url}/v2/leader", timeout=timeout)
            if reply.status == 200 and isinstance(reply.body, dict):
                views[inst.slot] = str(reply.body.get("leader") or "")
            else:
                views[inst.slot] = "" if reply.status else None
        return views

    def leader_slot(self, views: dict[int, str | None] | None = None) -> int | None:
        """The live slot that every answering instance names as leader, when a majority of all instances
        answers and none of them disagrees or answers without a leader."""
        views = self.leader_views() if views is None else views
        answers = [v for v in views.values() if v is not None]
        if len(answers) <= len(self.instances) // 2 or len(set(answers)) != 1 or answers[0] == "":
            return None
        return next((i.slot for i in self.live() if i.address == answers[0]), None)

    def master_state(self, timeout: float = 5.0) -> dict[str, Any] | None:
        reply = http("GET", f"{self.mesos.url}/master/state", timeout=timeout)
        return reply.body if reply.status == 200 else None

    def wait_leader(self, timeout: float = 120.0) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            slot = self.leader_slot()
            if slot is not None:
                return slot
            time.sleep(0.3)
        return None
