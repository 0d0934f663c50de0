"""``--docker-registry`` on ``mesospaas local-mesos`` (and its ``MESOSPAAS_DOCKER_REGISTRY`` fallback) and on
``mesospaas local``: the agents of the started cluster run image tasks from that directory."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from pymesos import MesosSchedulerDriver

from scheduler.local import _cluster_config, add_arguments
from tests.containers.images import build_image
from tests.localmesos.test_pymesos_scheduler import RecordingScheduler, task_info


def test_local_mesos_runs_image_tasks_from_the_registry_given_in_the_environment(tmp_path: Path) -> None:
    build_image(tmp_path / "registry", files={"/etc/only-in-image": "yes\n"})
    proc = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "local-mesos", "--port", "0", "--agent-port",
                             "0", "--agents", "1", "--work-dir", str(tmp_path / "work")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "MESOSPAAS_DOCKER_REGISTRY": str(tmp_path / "registry")})
    driver: Any = None
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("localmesos master: http://"), line
        sched = RecordingScheduler()
        driver = MesosSchedulerDriver(sched, {"user": "root", "name": "registry-flag"}, line.split("http://", 1)[1],
                                      implicit_acknowledgements=False, failover=True)
        driver.start()
        offer = sched.offers.get(timeout=10)
        task = task_info(offer, "from-registry", "cat /etc/only-in-image")
        task["container"] = {"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": "busybox:1.36"}}}}
        driver.launchTasks(offer["id"], [task])
        assert sched.status_of("from-registry", "TASK_FINISHED")["message"] == "Command exited with status 0"
        (stdout,) = (tmp_path / "work").rglob("executors/from-registry/runs/latest/stdout")
        assert stdout.read_text() == "yes\n"
    finally:
        if driver is not None:
            driver.stop()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()


def test_local_passes_the_registry_to_its_agents(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--docker-registry", str(tmp_path)])
    assert _cluster_config(args, parser, tmp_path).docker_registry == tmp_path
