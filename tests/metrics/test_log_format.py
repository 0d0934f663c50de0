"""Structured logs: ``JsonFormatter`` on records, and ``mesospaas local --log-format json`` end to end (every line
of its stderr a JSON object, the lines about a task carrying its app, instance and task ids), with the
composition root's metrics (``--metrics-max-apps``) scraped from the same process."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from scheduler.log_format import JsonFormatter, ids_in, log_context
from tests.integration.test_local_command import call
from tests.metrics.scrape import parse, value
from tests.polling import wait_for

TASK = "shop_web.instance-1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b._app.3"
INSTANCE = "shop_web.instance-1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b"
DEPLOYMENT = "0f7e8a9b-1c2d-4e5f-8a9b-0c1d2e3f4a5b"


def line(message: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    record = logging.LogRecord("scheduler.runtime", logging.INFO, __file__, 1, message, args, None)
    for key, val in kwargs.items():
        setattr(record, key, val)
    parsed: dict[str, Any] = json.loads(JsonFormatter().format(record))
    return parsed


def test_ids_are_found_among_the_arguments_by_their_shape() -> None:
    got = line("%s: task %s %s (%s)", "/shop/web", TASK, "TASK_FAILED", "boom")
    assert got["message"] == f"/shop/web: task {TASK} TASK_FAILED (boom)"
    assert (got["app_id"], got["instance_id"], got["task_id"]) == ("/shop/web", INSTANCE, TASK)
    assert got["level"] == "INFO" and got["logger"] == "scheduler.runtime" and got["time"].endswith("Z")
    assert line("deployment %s finished", DEPLOYMENT)["deployment_id"] == DEPLOYMENT
    assert line("instance %s gone", INSTANCE)["app_id"] == "/shop/web"
    assert ids_in(("TASK_RUNNING", 3, "/not a path", "/UPPER")) == {}
    plain = line("nothing to see")
    assert set(plain) == {"time", "level", "logger", "message"}


def test_extra_and_the_context_take_precedence_in_that_order() -> None:
    with log_context(deployment_id="d-1", app_id="/from/context"):
        got = line("%s", "/from/args", app_id="/from/extra")
        assert got["app_id"] == "/from/extra" and got["deployment_id"] == "d-1"
        assert line("%s", "/from/args")["app_id"] == "/from/context"
    assert line("%s", "/from/args")["app_id"] == "/from/args"
    with pytest.raises(ValueError):
        with log_context(colour="blue"):
            pass


def test_exceptions_are_inside_the_json_line() -> None:
    try:
        raise RuntimeError("kaputt")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", (TASK,), sys.exc_info())
    got = json.loads(JsonFormatter().format(record))
    assert "RuntimeError: kaputt" in got["exception"] and got["task_id"] == TASK


@pytest.mark.slow
def test_mesospaas_local_writes_json_lines_with_the_ids(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MESOSPAAS_LOG_FORMAT": "json"}
    stderr_path = tmp_path / "stderr.log"
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "local", "--http-port", "0", "--agents", "1",
                                 "--work-dir", str(tmp_path / "work"), "--metrics-max-apps", "1",
                                 "--log-level", "INFO"], stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline().strip()
        assert ready.startswith("mesospaas API: http://127.0.0.1:"), (ready, stderr_path.read_text())
        url = ready.split(": ", 1)[1]
        for app_id in ("/logs/a", "/logs/b"):
            status, body = call("POST", f"{url}/v2/apps", {"id": app_id, "cmd": "sleep 600", "cpus": 0.1, "mem": 16,
                                                            "instances": 1})
            assert status == 201, body

        def running_task() -> str | None:
            status, body = call("GET", f"{url}/v2/apps/logs/b/tasks")
            tasks = [t["id"] for t in body["tasks"] if t["state"] == "TASK_RUNNING"] if status == 200 else []
            return tasks[0] if tasks else None
        task = wait_for(running_task, 60, "/logs/b running")
        status, _ = call("DELETE", f"{url}/v2/apps/logs/b/tasks/{task}")  # killed: logged, then replaced
        assert status == 200
        # With --metrics-max-apps 1 the second app is summed under __other__ (its replacement task runs soon).
        samples = wait_for(lambda: (found := parse(fetch_text(f"{url}/metrics/prometheus"))) and value(
            found, "mesospaas_app_instances", app="__other__", condition="Running") is not None and found, 60,
            "the capped app's instances under app=__other__")
        assert "process_resident_memory_bytes" in {name for name, _ in samples}

        def logged_about_the_task() -> list[dict[str, Any]] | None:
            lines = [json.loads(raw) for raw in stderr_path.read_text().splitlines() if raw.strip()]
            about = [entry for entry in lines if entry.get("task_id") == task]
            return lines if about else None
        lines = wait_for(logged_about_the_task, 60, "a line about the killed task")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()
    every = [json.loads(raw) for raw in stderr_path.read_text().splitlines() if raw.strip()]  # each line is JSON
    assert len(every) >= len(lines) > 0
    about = [entry for entry in every if entry.get("task_id") == task]
    assert all(entry["app_id"] == "/logs/b" and entry["instance_id"] == task.rsplit("._app.", 1)[0]
               for entry in about)



def fetch_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=15) as response:
        text: str = response.read().decode()
        return text
