"""``mesospaas local-mesos``: flags, environment fallbacks, the ready line, and a clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .test_agent_faults import alive, wait_dead
from .test_pymesos_scheduler import RecordingScheduler, task_info

MESOSPAAS = [sys.executable, "-m", "scheduler.cli"]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(MESOSPAAS + list(args), capture_output=True, text=True, timeout=30,
                          env={**os.environ, **(env or {})})


def test_bad_flags_exit_2_with_usage() -> None:
    result = run_cli("local-mesos", "--agents", "many")
    assert result.returncode == 2
    assert "usage:" in result.stderr and "--agents" in result.stderr
    result = run_cli("local-mesos", "--no-such-flag")
    assert result.returncode == 2 and "unrecognized arguments" in result.stderr
    result = run_cli("local-mesos", "--resources", "cpus:lots")
    assert result.returncode == 2 and "not a number" in result.stderr
    result = run_cli()
    assert result.returncode == 2


def test_environment_variables_are_read() -> None:
    result = run_cli("local-mesos", env={"MESOSPAAS_PORT": "not-a-port"})
    assert result.returncode == 2 and "--port" in result.stderr
    result = run_cli("local-mesos", "--help", env={"MESOSPAAS_AGENTS": "7"})
    assert result.returncode == 0 and "MESOSPAAS_AGENTS" in result.stdout


def test_serves_and_stops_everything_on_sigterm(tmp_path: Path) -> None:
    from pymesos import MesosSchedulerDriver

    proc = subprocess.Popen(MESOSPAAS + ["local-mesos", "--port", "0", "--agent-port", "0", "--agents", "2",
                                         "--work-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    driver: Any = None
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("localmesos master: http://127.0.0.1:"), line
        address = line.split("http://", 1)[1]
        sched = RecordingScheduler()
        driver = MesosSchedulerDriver(sched, {"user": "root", "name": "cli", "failover_timeout": 60}, address,
                                      implicit_acknowledgements=False, failover=True)
        driver.start()
        offer = sched.offers.get(timeout=10)
        driver.launchTasks(offer["id"], [task_info(offer, "held", "sleep 120")])
        pid = sched.status_of("held", "TASK_RUNNING")["container_status"]["executor_pid"]
        assert alive(pid)
        driver.stop(failover=True)
        driver.join()
        driver = None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert wait_dead(pid, timeout=5)
    finally:
        if driver is not None:
            driver.stop(failover=True)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
