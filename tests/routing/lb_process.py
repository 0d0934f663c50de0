"""``mesospaas lb --run-haproxy`` as a real process on loopback and free ports, for end-to-end tests and benchmarks.

``LbProcess`` starts it in its own session (so its HAProxy is stopped with it), exposes the ports and the
``/status`` JSON, and ``stop()`` ends both (SIGTERM, then SIGKILL of the whole group)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tests.polling import wait_for
from tests.zookeeper_server import free_port

ROOT = Path(__file__).resolve().parents[2]
GRACEFUL_SERVER = Path(__file__).parent / "data" / "graceful_server.py"


class LbProcess:
    def __init__(self, api_urls: list[str], work: Path, *, group: str = "external", extra_env: dict[str, str] | None = None) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.config = work / "haproxy.cfg"
        self.http_port, self.stats_port, self.status_port, appid = free_port(), free_port(), free_port(), free_port()
        env = dict(os.environ)
        env.update({"MESOSPAAS_LB_API": ",".join(api_urls), "MESOSPAAS_LB_LOG_LEVEL": "INFO",
                    "HAPROXY_HTTP_FRONTEND_APPID_HEAD":
                        f"\\nfrontend marathon_http_appid_in\\n  bind 127.0.0.1:{appid}\\n  mode http\\n"})
        env.update(extra_env or {})
        self.log_path = work / "lb.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scheduler.cli", "lb", "--group", group, "--config", str(self.config),
             "--run-haproxy", "--http-port", f"127.0.0.1:{self.http_port}",
             "--stats-port", f"127.0.0.1:{self.stats_port}", "--status-port", f"127.0.0.1:{self.status_port}"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._status_or_none, 30, "lb /status answering")

    def _status_or_none(self) -> dict[str, Any] | None:
        if self.proc.poll() is not None:
            raise AssertionError(f"lb exited {self.proc.returncode}: {self.log()}")
        try:
            return self.status()
        except OSError:
            return None

    def status(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.status_port}/status", timeout=5) as resp:
            body: dict[str, Any] = json.loads(resp.read())
            return body

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.status_port}/metrics/prometheus", timeout=5) as resp:
            return resp.read().decode()

    def servers(self, backend: str) -> list[dict[str, Any]]:
        return list(self.status()["servers"].get(backend, []))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever of the group is left (its haproxy)
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.wait()
        self._log.close()


def graceful_app(app_id: str, service_port: int, instances: int, *, version: str = "v1", grace: float = 2.0,
                 vhost: str = "web.test", labels: dict[str, str] | None = None) -> dict[str, Any]:
    """An app behind ``vhost`` that keeps serving ``grace`` s after SIGTERM; a MESOS_TCP check gates it."""
    return {"id": app_id, "cmd": f"exec {sys.executable} {GRACEFUL_SERVER}", "cpus": 0.05, "mem": 32,
            "instances": instances, "env": {"VERSION": version, "GRACE": str(grace)},
            "portDefinitions": [{"port": service_port, "protocol": "tcp"}],
            "taskKillGracePeriodSeconds": int(grace) + 3,
            "healthChecks": [{"protocol": "MESOS_TCP", "portIndex": 0, "gracePeriodSeconds": 30,
                              "intervalSeconds": 1, "timeoutSeconds": 1, "maxConsecutiveFailures": 3}],
            "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
            "labels": {"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": vhost, "HAPROXY_0_BIND_ADDR": "127.0.0.1",
                       **(labels or {})}}
