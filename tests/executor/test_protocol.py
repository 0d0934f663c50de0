"""The scheduler <-> executor protocol (``mesospaas.executor_protocol``), contract-tested from both sides:
what the scheduler writes (``scheduler.executor_info``, a real TaskInfo) the executor reads back, and what the
executor sends (usage reports) the scheduler's ``TaskStats`` keeps."""

from __future__ import annotations

import base64
import json

import pytest

from api.task_usage import usage_json
from mesospaas.executor_protocol import (DEFAULT_LOG_KEEP, DEFAULT_LOG_MAX_BYTES, EXECUTOR_PATH, HEALTH,
                                         PROTOCOL_VERSION, USAGE, VERSION_KEY, HealthDetail, LogRotation,
                                         ProtocolError, TaskCommand, TaskSpec, UsageReport, decode_health,
                                         decode_task_spec, decode_usage, document_type, encode_health,
                                         encode_task_spec, encode_usage, label_problems, log_rotation_from_labels,
                                         parse_rotated_name, rotated_name, usage_interval_from_labels)
from mesospaas.model import AgentId, AgentInfo, AppId, AppSpec, OfferId
from mesospaas.model.app import CustomExecutor
from mesospaas.model.ids import InstanceId, task_id
from mesospaas.model.resources import Resource
from mesospaas.placement import Launch
from scheduler.mesos_adapter import task_info
from scheduler.mesos_driver import FrameworkMessage
from scheduler.task_stats import TaskStats

SPEC = TaskSpec(command=TaskCommand("echo $PORT0", environment=(("PORT0", "31000"), ("HOST", "h"))),
                log=LogRotation(max_bytes=4096, keep=2), usage_interval_seconds=0.5)


def test_documents_round_trip() -> None:
    assert decode_task_spec(encode_task_spec(SPEC)) == SPEC
    detail = HealthDetail(healthy=False, consecutive_failures=2, last_failure_cause="Command exited with status 1",
                          last_failure_at=12.5, first_success_at=10.0)
    assert decode_health(encode_health(detail)) == detail
    report = UsageReport("t", 1.0, 0.5, 0.25, None, 1 << 20, 3, 2)
    assert decode_usage(encode_usage(report)) == report
    assert report.cpu_seconds == 0.75
    assert document_type(encode_usage(report)) == USAGE and document_type(encode_health(detail)) == HEALTH


def test_documents_are_versioned_and_typed() -> None:
    raw = json.loads(encode_task_spec(SPEC))
    assert raw[VERSION_KEY] == PROTOCOL_VERSION and raw["type"] == "task"
    with pytest.raises(ProtocolError, match="version 2 is not supported"):
        decode_task_spec(json.dumps({**raw, VERSION_KEY: 2}).encode())
    with pytest.raises(ProtocolError, match="expected a 'usage' document, got 'task'"):
        decode_usage(encode_task_spec(SPEC))
    # A newer writer may add keys: a reader ignores them.
    assert decode_task_spec(json.dumps({**raw, "future": {"x": 1}}).encode()) == SPEC


@pytest.mark.parametrize(("raw", "problem"), [
    (b"not json", "not a JSON document"),
    (b"[1]", "must be a JSON object"),
    (json.dumps({VERSION_KEY: 1, "type": "task"}).encode(), "command"),
    (json.dumps({VERSION_KEY: 1, "type": "task", "command": {"value": ""}}).encode(), "must not be empty"),
    (json.dumps({VERSION_KEY: 1, "type": "task", "command": {"value": "x", "shell": "yes"}}).encode(), "shell"),
    (json.dumps({VERSION_KEY: 1, "type": "task", "command": {"value": "x"}, "log": {"keep": -1}}).encode(),
     "keep must be between"),
    (json.dumps({VERSION_KEY: 1, "type": "task", "command": {"value": "x", "environment": [["A"]]}}).encode(),
     "environment"),
    (json.dumps({VERSION_KEY: 1, "type": "task", "command": {"value": "x"},
                 "usage_interval_seconds": 0}).encode(), "must be positive"),
])
def test_bad_documents_are_refused_with_the_reason(raw: bytes, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        decode_task_spec(raw)


def test_commands_run_as_mesos_runs_them() -> None:
    assert TaskCommand("echo hi").argv() == ["/bin/sh", "-c", "echo hi"]
    assert TaskCommand("ls", shell=False, arguments=("ls", "-l")).argv() == ["ls", "-l"]
    assert TaskCommand("/bin/true", shell=False).argv() == ["/bin/true"]


def test_labels_tune_the_rotation_and_are_checked() -> None:
    default = LogRotation()
    assert (default.max_bytes, default.keep) == (DEFAULT_LOG_MAX_BYTES, DEFAULT_LOG_KEEP)
    assert log_rotation_from_labels({"MESOSPAAS_LOG_MAX_BYTES": "2048", "MESOSPAAS_LOG_KEEP": "0"}, default) == \
        LogRotation(2048, 0)
    assert LogRotation(2048, 3).bound_bytes == 4 * 2048
    assert usage_interval_from_labels({"MESOSPAAS_USAGE_INTERVAL_SECONDS": "2.5"}, 10.0) == 2.5
    assert label_problems({}) == []
    problems = label_problems({"MESOSPAAS_LOG_MAX_BYTES": "10", "MESOSPAAS_USAGE_INTERVAL_SECONDS": "x"})
    assert any("at least 1024" in p for p in problems) and any("must be a number" in p for p in problems)


def test_rotated_file_names() -> None:
    assert [rotated_name("stdout", i) for i in range(3)] == ["stdout", "stdout.1", "stdout.2"]
    assert parse_rotated_name("stderr.12") == ("stderr", 12)
    assert parse_rotated_name("stdout") == ("stdout", 0)
    assert [parse_rotated_name(n) for n in ("stdout.0", "stdout.x", "executor.log", "stdout.1.gz")] == [None] * 4
    with pytest.raises(ProtocolError):
        rotated_name("stdin", 0)


# -- contract: scheduler side writes, executor side reads ----------------------------------------------------
def launch_of(app: AppSpec) -> Launch:
    instance = InstanceId("web.instance-00000000-0000-0000-0000-000000000001")
    return Launch(instance_id=instance, task_id=task_id(instance, 1), app_id=app.id, app_version=app.version,
                  incarnation=1, offer_id=OfferId("o-1"), agent=AgentInfo(AgentId("a-S0"), "host-1"),
                  resources=(Resource("cpus", scalar=1.0), Resource("mem", scalar=256.0),
                             Resource("ports", ranges=((31000, 31000),))),
                  host_ports=(31000,))


def test_what_the_scheduler_sends_is_what_the_executor_runs() -> None:
    app = AppSpec(id=AppId("/web"), cmd="python3 -m http.server $PORT0", executor=CustomExecutor(EXECUTOR_PATH),
                  labels={"MESOSPAAS_LOG_KEEP": "3"})
    info = task_info(launch_of(app), app, None)
    spec = decode_task_spec(base64.b64decode(info["data"]))
    assert spec.command.argv() == ["/bin/sh", "-c", "python3 -m http.server $PORT0"]
    env = dict(spec.command.environment)
    assert env["PORT0"] == "31000" and env["MARATHON_APP_ID"] == "/web" and env["HOST"] == "host-1"
    assert spec.log == LogRotation(keep=3)


def test_what_the_executor_reports_the_scheduler_keeps() -> None:
    instance = InstanceId("web.instance-00000000-0000-0000-0000-000000000001")
    task = str(task_id(instance, 2))
    stats = TaskStats()
    older = UsageReport(task, 10.0, 1.0, 0.5, None, 100, 2, 1)
    newer = UsageReport(task, 11.0, 1.5, 0.5, 0.5, 200, 3, 1)
    for report in (newer, older):  # out of order: the newest stays
        stats.on_message(FrameworkMessage(task, "a-S0", encode_usage(report)), now=20.0)
    got = stats.latest(task)
    assert got is not None and got.report == newer and got.agent_id == "a-S0"
    assert usage_json(got)["cpuSeconds"] == 2.0 and usage_json(got)["rssBytes"] == 200
    assert stats.latest(str(task_id(instance, 1))) is None  # another incarnation
    stats.on_message(FrameworkMessage(task, "a-S0", b"garbage"), now=21.0)  # not ours: ignored
    stats.on_message(FrameworkMessage(task, "a-S0", encode_health(HealthDetail(True))), now=21.0)
    assert len(stats) == 1
