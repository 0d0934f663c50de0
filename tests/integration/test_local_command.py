"""``mesospaas local`` as a newcomer runs it: POST the example app, see it RUNNING, curl it, scale it, delete it,
stop with SIGTERM leaving no process behind, and find the app again after a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from localmesos.process_stats import process_tree_pids
from tests.polling import wait_for

# `mesospaas local` offers its default agent ports (31000+), which its task listens on: tests that run such a
# cluster share one xdist group, so they never run beside each other (see tests/host_ports.py).
pytestmark = pytest.mark.xdist_group("default-agent-ports")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello-web.json"


def call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


class Local:
    def __init__(self, work_dir: Path, *flags: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "local", "--http-port", "0",
                                      *(flags or ("--agents", "2")), "--work-dir", str(work_dir)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        assert line.startswith("mesospaas API: http://127."), line  # 127.0.0.1 unless --http-address says
        self.url = line.split(": ", 1)[1]

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stdout:
                self.proc.stdout.close()


def running_tasks(local: Local) -> list[dict[str, Any]]:
    status, body = call("GET", f"{local.url}/v2/apps/hello/web")
    if status != 200:
        return []
    return [t for t in body["app"]["tasks"] if t["state"] == "TASK_RUNNING"]


def test_newcomer_flow_and_restart(tmp_path: Path) -> None:
    local = Local(tmp_path)
    pids: list[int] = []
    try:
        status, created = call("POST", f"{local.url}/v2/apps", json.loads(EXAMPLE.read_text()))
        assert status == 201, created
        tasks = wait_for(lambda: (t := running_tasks(local)) and len(t) == 2 and t)
        assert len({t["host"] for t in tasks}) == 2  # UNIQUE hostname
        # RUNNING comes when the process starts; the health check says when it serves.
        healthy = wait_for(lambda: all((t.get("healthCheckResults") or [{}])[0].get("alive")
                                       for t in running_tasks(local)) and running_tasks(local))
        assert len(healthy) == 2
        for task in healthy:  # the app really serves on the host and port the API reports
            with urllib.request.urlopen(f"http://{task['host']}:{task['ports'][0]}/", timeout=10) as resp:
                assert resp.status == 200
        assert call("PUT", f"{local.url}/v2/apps/hello/web", {"instances": 1})[0] == 200
        wait_for(lambda: len(running_tasks(local)) == 1)
        # This test's task processes only: the HTTP servers among the descendants of its `mesospaas local`.
        pids = [p for p in process_tree_pids(local.proc.pid) if "http.server" in cmdline(p)]
        assert pids
    finally:
        assert local.stop() == 0
    assert not [p for p in pids if alive(p)]  # every task process is gone with it

    again = Local(tmp_path)
    try:
        # The app came back from the work directory and its task was launched again.
        wait_for(lambda: len(running_tasks(again)) == 1)
        assert call("DELETE", f"{again.url}/v2/apps/hello/web")[0] == 200
        wait_for(lambda: call("GET", f"{again.url}/v2/apps/hello/web")[0] == 404)
    finally:
        assert again.stop() == 0
