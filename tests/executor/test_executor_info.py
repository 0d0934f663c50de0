"""The ExecutorInfo the scheduler builds for ``executor: "//mesospaas"`` (``scheduler.executor_info``), checked
against the Mesos rules a real master applies (protocol reference 4.2/4.3)."""

from __future__ import annotations

import argparse
import base64
import shlex
import sys
from dataclasses import replace
from typing import Any

import pytest

from mesospaas.executor_protocol import LogRotation, decode_task_spec
from mesospaas.model import AppId, AppSpec
from mesospaas.model.app import CommandExecutor, CustomExecutor, FetchUri
from mesospaas.model.resources import Resource
from scheduler.executor_info import (ExecutorConfigError, ExecutorSettings, add_executor_arguments,
                                     executor_settings_from_args, parse_env)
from scheduler.mesos_adapter import AdapterError, task_info
from scheduler.serve import add_flag
from tests.executor.test_protocol import launch_of

OURS = CustomExecutor("//mesospaas")


def scalars(resources: list[dict[str, Any]]) -> dict[str, float]:
    return {str(r["name"]): float(r["scalar"]["value"]) for r in resources if r["type"] == "SCALAR"}


def test_one_executor_per_task_and_never_both_command_and_executor() -> None:
    app = AppSpec(id=AppId("/web"), cmd="sleep 600", executor=OURS, task_kill_grace_period_seconds=20.0,
                  fetch=(FetchUri(uri="http://example.invalid/app.tgz"),))
    info = task_info(launch_of(app), app, "*")
    assert "command" not in info  # Mesos: exactly one of command / executor
    executor = info["executor"]
    assert executor["executor_id"] == info["task_id"] and executor["type"] == "CUSTOM"
    assert executor["command"]["value"] == f"{shlex.quote(sys.executable)} -P -m executor"
    assert executor["labels"] == {"labels": [{"key": "MESOSPAAS_APP_ID", "value": "/web"}]}
    assert [u["value"] for u in executor["command"]["uris"]] == ["http://example.invalid/app.tgz"]
    # The shutdown grace period leaves room for the task's kill grace period.
    assert executor["shutdown_grace_period"]["nanoseconds"] >= 20e9
    assert info["kill_policy"] == {"grace_period": {"nanoseconds": 20_000_000_000}}


def test_the_executors_resources_come_out_of_the_tasks() -> None:
    app = AppSpec(id=AppId("/web"), cmd="sleep 600", executor=OURS)
    plain = task_info(launch_of(app), AppSpec(id=AppId("/web"), cmd="sleep 600"), "*")
    info = task_info(launch_of(app), app, "*")
    task, executor = scalars(info["resources"]), scalars(info["executor"]["resources"])
    assert executor == {"cpus": 0.01, "mem": 32.0}
    total = {k: task[k] + executor.get(k, 0.0) for k in task}
    assert total == pytest.approx(scalars(plain["resources"]))  # exactly what placement reserved
    assert all(r["allocation_info"] == {"role": "*"} for r in info["executor"]["resources"])
    # A task too small to share keeps its resources; the executor declares none (Mesos only warns).
    tiny = AppSpec(id=AppId("/tiny"), cmd="sleep 600", executor=OURS)
    launch = launch_of(tiny)
    small = task_info(replace(launch, resources=(Resource("cpus", scalar=0.01), Resource("mem", scalar=16.0))),
                      tiny, None)
    assert "resources" not in small["executor"] and scalars(small["resources"]) == {"cpus": 0.01, "mem": 16.0}


def test_settings_start_the_executor_elsewhere() -> None:
    settings = ExecutorSettings(command="mesospaas-executor", uris=("http://repo/executor.pex",),
                                env=(("MESOSPAAS_EXECUTOR_LOG_LEVEL", "DEBUG"),), log=LogRotation(8192, 1))
    app = AppSpec(id=AppId("/web"), cmd="sleep 600", executor=OURS, user="nobody")
    info = task_info(launch_of(app), app, None, settings)
    command = info["executor"]["command"]
    assert command["value"] == "mesospaas-executor" and command["user"] == "nobody"
    assert command["uris"][0]["value"] == "http://repo/executor.pex"
    assert command["environment"]["variables"] == [{"name": "MESOSPAAS_EXECUTOR_LOG_LEVEL", "value": "DEBUG"}]
    assert decode_task_spec(base64.b64decode(info["data"])).log == LogRotation(8192, 1)


def test_the_command_executor_stays_as_it_was_and_other_executors_are_refused() -> None:
    for executor in (CommandExecutor(),):
        info = task_info(launch_of(AppSpec(id=AppId("/web"), cmd="sleep 600", executor=executor)),
                         AppSpec(id=AppId("/web"), cmd="sleep 600", executor=executor), None)
        assert "executor" not in info and info["command"]["value"] == "sleep 600"
    other = AppSpec(id=AppId("/web"), cmd="sleep 600", executor=CustomExecutor("/opt/exec"))
    with pytest.raises(AdapterError, match="'/opt/exec' is not supported"):
        task_info(launch_of(other), other, None)
    bad_labels = AppSpec(id=AppId("/web"), cmd="sleep 600", executor=OURS, labels={"MESOSPAAS_LOG_KEEP": "many"})
    with pytest.raises(AdapterError, match="MESOSPAAS_LOG_KEEP must be an integer"):
        task_info(launch_of(bad_labels), bad_labels, None)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_executor_arguments(p, add_flag)
    return p


def test_flags() -> None:
    p = parser()
    settings = executor_settings_from_args(p.parse_args(
        ["--executor-command", "/opt/bin/mesospaas-executor", "--executor-uri", "http://a/x.tgz, http://b/y",
         "--executor-env", "A=1,B=two=2", "--executor-log-max-bytes", "2048", "--executor-log-keep", "0"]), p)
    assert settings.command == "/opt/bin/mesospaas-executor" and settings.uris == ("http://a/x.tgz", "http://b/y")
    assert settings.env == (("A", "1"), ("B", "two=2")) and settings.log == LogRotation(2048, 0)
    assert executor_settings_from_args(p.parse_args([]), p) == ExecutorSettings()
    with pytest.raises(SystemExit):
        executor_settings_from_args(p.parse_args(["--executor-log-max-bytes", "5"]), p)
    with pytest.raises(ExecutorConfigError):
        parse_env("novalue")
