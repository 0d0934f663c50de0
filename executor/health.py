"""Mesos-level health checks of a task, run by the executor next to it: probes and the check loop.

Owns: ``check_spec`` (a Mesos ``TaskInfo.health_check`` -> the core's ``HealthCheckSpec``), the probes
(``COMMAND`` in the task's environment and sandbox, ``MESOS_HTTP``/``MESOS_HTTPS`` as a GET of
``127.0.0.1:port/path`` with certificates not verified, ``MESOS_TCP`` as a connect to ``127.0.0.1:port``), and
``HealthLoop``, which probes on Mesos' schedule (first ``delay_seconds`` after RUNNING, then ``interval_seconds``
after each probe ended) and judges every result with the core's rules (``mesospaas.health.next_health``: grace
period, first success, consecutive failures, the kill): the logic exists once, in the core.

What it reports (through the ``report`` callback), as Mesos' executors do: the first success and the first
success after failures (``healthy`` true), every counted failure (``healthy`` false); ``kill`` is called once
when the rules say so. Fails: never raises out of a probe (every error is a failed outcome).
"""

from __future__ import annotations

import http.client
import logging
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from executor.reaper import Reaper
from mesospaas.health import PASSED, CheckHealth, Failed, Outcome, TaskFacts, Verdict, http_outcome, next_health
from mesospaas.model.app import HealthCheckSpec

log = logging.getLogger(__name__)
HOST = "127.0.0.1"


def check_spec(health_check: dict[str, Any]) -> HealthCheckSpec:
    """The Mesos HealthCheck JSON of a task as the core's spec (Mesos' defaults for what is unset)."""
    kind = health_check.get("type") or ("COMMAND" if "command" in health_check else "HTTP")
    http = health_check.get("http") or {}
    tcp = health_check.get("tcp") or {}
    if kind == "HTTP":
        protocol = "MESOS_HTTPS" if http.get("scheme") == "https" else "MESOS_HTTP"
        port: int | None = int(http["port"])
    elif kind == "TCP":
        protocol, port = "MESOS_TCP", int(tcp["port"])
    elif kind == "COMMAND":
        protocol, port = "COMMAND", None
    else:
        raise ValueError(f"unsupported health check type {kind!r}")
    command = (health_check.get("command") or {}).get("value")
    return HealthCheckSpec(protocol=protocol, path=http.get("path") or "/", port=port, port_index=None,
                           command=command, delay_seconds=float(health_check.get("delay_seconds", 15.0)),
                           interval_seconds=float(health_check.get("interval_seconds", 10.0)),
                           timeout_seconds=float(health_check.get("timeout_seconds", 20.0)),
                           max_consecutive_failures=int(health_check.get("consecutive_failures", 3)),
                           grace_period_seconds=float(health_check.get("grace_period_seconds", 10.0)))


def probe_http(spec: HealthCheckSpec, timeout: float | None) -> Outcome:
    assert spec.port is not None
    if spec.protocol == "MESOS_HTTPS":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(HOST, spec.port, timeout=timeout,
                                                                       context=context)
    else:
        conn = http.client.HTTPConnection(HOST, spec.port, timeout=timeout)
    try:
        conn.request("GET", spec.path or "/", headers={"User-Agent": "mesospaas-executor"})
        response = conn.getresponse()
        response.read(64 * 1024)
        return http_outcome(response.status, False, response.reason)
    except (OSError, http.client.HTTPException) as exc:
        return Failed(f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


def probe_tcp(spec: HealthCheckSpec, timeout: float | None) -> Outcome:
    assert spec.port is not None
    try:
        with socket.create_connection((HOST, spec.port), timeout=timeout):
            return PASSED
    except OSError as exc:
        return Failed(f"Connection to {HOST}:{spec.port} failed: {exc}")


def probe_command(spec: HealthCheckSpec, timeout: float | None, reaper: Reaper, cwd: Path,
                  env: dict[str, str]) -> Outcome:
    assert spec.command is not None
    try:
        child = reaper.spawn(["/bin/sh", "-c", spec.command], cwd=str(cwd), env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        return Failed(f"Failed to run the health check command: {exc}")
    code = child.wait(timeout)
    if code is None:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        child.wait()
        return Failed(f"Command timed out after {timeout:g} seconds")
    if code == 0:
        return PASSED
    if code < 0:
        return Failed(f"Command terminated with signal {signal.strsignal(-code)}")
    return Failed(f"Command exited with status {code}")


class HealthLoop:
    """Probes one task until ``stop``; judges each result with the core's rules."""

    def __init__(self, task_id: str, spec: HealthCheckSpec, running_since: float,
                 report: Callable[[CheckHealth, bool], None], kill: Callable[[str], None], reaper: Reaper,
                 cwd: Path, env: dict[str, str], clock: Callable[[], float] = time.time) -> None:
        self.task_id = task_id
        self.spec = spec
        self.running_since = running_since
        self.record = CheckHealth()
        self._report = report
        self._kill = kill
        self._reaper = reaper
        self._cwd = cwd
        self._env = env
        self._clock = clock
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"health-{task_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def probe(self) -> Outcome:
        timeout = self.spec.timeout_seconds or None  # Mesos: 0 = no timeout
        if self.spec.protocol in ("MESOS_HTTP", "MESOS_HTTPS"):
            return probe_http(self.spec, timeout)
        if self.spec.protocol == "MESOS_TCP":
            return probe_tcp(self.spec, timeout)
        return probe_command(self.spec, timeout, self._reaper, self._cwd, self._env)

    def judge(self, outcome: Outcome, now: float) -> None:
        """One result through the core's rules; reports and kills as Mesos' executors do."""
        before = self.record
        transition = next_health(before, outcome, TaskFacts(running=True, running_since=self.running_since),
                                 self.spec, now)
        self.record = transition.record
        if transition.counted_failure:
            self._report(self.record, False)
        elif self.record.alive and not before.alive:
            self._report(self.record, True)  # the first success, or the first after failures
        if transition.verdict is Verdict.KILL:
            self.stop()
            self._kill(f"{self.spec.protocol} health check failed {self.record.consecutive_failures} times "
                       f"in a row: {self.record.last_failure_cause}")

    def _run(self) -> None:
        if self._stopped.wait(self.spec.delay_seconds):
            return
        while not self._stopped.is_set():
            outcome = self.probe()
            if self._stopped.is_set():
                return
            try:
                self.judge(outcome, self._clock())
            except Exception:  # a reporting failure must not end the checks
                log.exception("health check of %s", self.task_id)
            if self._stopped.wait(self.spec.interval_seconds):
                return
