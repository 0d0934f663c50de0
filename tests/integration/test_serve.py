"""``mesospaas serve`` as a process against localmesos: registers, fails over cleanly, keeps its framework id."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tests.localmesos.conftest import ThreadedCluster
from tests.polling import wait_for


def frameworks(mesos: ThreadedCluster) -> list[dict[str, Any]]:
    state = json.loads(urllib.request.urlopen(f"{mesos.url}/master/state", timeout=5).read())
    return [f for f in state["frameworks"] if f["name"] == "mesospaas-test"]


def start_serve(mesos: ThreadedCluster, work_dir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "scheduler.cli", "serve", "--master", mesos.address,
                             "--work-dir", str(work_dir), "--framework-name", "mesospaas-test", "--http-port", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def test_serve_registers_and_fails_over_with_the_same_id(mesos: ThreadedCluster, tmp_path: Path) -> None:
    proc = start_serve(mesos, tmp_path)
    try:
        first = wait_for(lambda: [f for f in frameworks(mesos) if f["connected"]])
        info = first[0]
        assert info["checkpoint"] is True and info["failover_timeout"] == 604800.0
        assert {"PARTITION_AWARE", "TASK_KILLING_STATE", "MULTI_ROLE"} <= set(info["capabilities"])
    finally:
        assert stop(proc) == 0
    # Stopped with failover: the framework stays registered, disconnected, for the next scheduler.
    after = wait_for(lambda: [f for f in frameworks(mesos) if not f["connected"]])
    assert after[0]["id"] == info["id"]
    again = start_serve(mesos, tmp_path)
    try:
        back = wait_for(lambda: [f for f in frameworks(mesos) if f["connected"]])
        assert back[0]["id"] == info["id"] and len(frameworks(mesos)) == 1
    finally:
        assert stop(again) == 0


def test_second_scheduler_on_the_same_state_is_refused(mesos: ThreadedCluster, tmp_path: Path) -> None:
    proc = start_serve(mesos, tmp_path)
    try:
        wait_for(lambda: [f for f in frameworks(mesos) if f["connected"]])
        second = start_serve(mesos, tmp_path)
        assert second.wait(timeout=30) == 1
        assert second.stderr is not None and b"in use by another process" in second.stderr.read()
        second.stderr.close()
    finally:
        assert stop(proc) == 0
