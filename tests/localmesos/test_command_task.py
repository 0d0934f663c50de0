"""Tests for localmesos.command_task.CommandTask with real processes (no mocks).

Every test gets its own sandbox (tmp_path); the `run` fixture SIGKILLs whatever a test
left running and waits for the terminal update, even when the test fails.
"""

from __future__ import annotations

import asyncio
import base64
import os
import pathlib
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Protocol

import pytest

from localmesos.clock import LOOP_CLOCK, Clock
from localmesos.command_task import DEFAULT_PATH, CommandTask
from localmesos.process_stats import process_tree_pids, read_proc_stat
from tests.localmesos.manual_clock import ManualClock
from tests.polling import eventually

ENV = {"PATH": os.environ.get("PATH", DEFAULT_PATH), "MESOS_EXECUTOR_ID": "t1"}
BASE_KEYS = {"task_id", "state", "source", "timestamp", "uuid"}
IGNORE_TERM = "trap '' TERM; echo ready; sleep 30"
GRACE = 0.25  # grace periods and deadlines on a ManualClock: binary fractions, so the sums stay exact
EPS = 0.125


class Runner(Protocol):
    def __call__(self, task_info: dict[str, Any], *, environment: dict[str, str] | None = None,
                 killing_state: bool = False, default_grace_period: float = 3.0,
                 on_status: Callable[[dict[str, Any]], None] | None = None, clock: Clock = LOOP_CLOCK,
                 ) -> tuple[CommandTask, list[dict[str, Any]]]: ...


@pytest.fixture
async def run(tmp_path: pathlib.Path) -> AsyncIterator[Runner]:
    created: list[CommandTask] = []

    def make(task_info: dict[str, Any], *, environment: dict[str, str] | None = None,
             killing_state: bool = False, default_grace_period: float = 3.0,
             on_status: Callable[[dict[str, Any]], None] | None = None, clock: Clock = LOOP_CLOCK,
             ) -> tuple[CommandTask, list[dict[str, Any]]]:
        statuses: list[dict[str, Any]] = []

        def record(status: dict[str, Any]) -> None:
            statuses.append(status)
            if on_status is not None:
                on_status(status)

        task = CommandTask(task_info, sandbox=tmp_path,
                           environment=dict(ENV if environment is None else environment),
                           on_status=record, killing_state=killing_state,
                           default_grace_period=default_grace_period, clock=clock)
        created.append(task)
        return task, statuses

    try:
        yield make
    finally:
        for task in created:
            if task.pid is not None and not task.terminal:
                task.force_kill_from_outside()
                await asyncio.wait_for(task.wait(), 10)
            if task.pid is not None:  # anything left in the task's group, even after the end
                try:
                    os.killpg(task.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


@pytest.fixture
def stray_pids() -> Iterator[list[int]]:
    """PIDs a test saw outside a task's process group: SIGKILLed at teardown."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def info(command: str | None = None, **extra: Any) -> dict[str, Any]:
    task: dict[str, Any] = {"name": "t1", "task_id": {"value": "t1"},
                            "agent_id": {"value": "agent-S0"},
                            "resources": [{"name": "cpus", "type": "SCALAR",
                                           "scalar": {"value": 0.1}}]}
    if command is not None:
        task["command"] = {"value": command, "shell": True}
    task.update(extra)
    return task


def states(statuses: list[dict[str, Any]]) -> list[str]:
    return [s["state"] for s in statuses]


def nanos(seconds: float) -> dict[str, int]:
    return {"nanoseconds": int(seconds * 1e9)}


def alive(pid: int) -> bool:
    stat = read_proc_stat(pid)
    return stat is not None and stat.state not in ("Z", "X")


async def wait_for_output(path: pathlib.Path, text: str) -> None:
    await eventually(lambda: path.exists() and text in path.read_text())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------------------
# Normal ends
# --------------------------------------------------------------------------------------


async def test_exit_zero_finishes_with_exact_status_fields(
    run: Runner, tmp_path: pathlib.Path
) -> None:
    task, statuses = run(info("echo out; echo err >&2"))
    before = time.time()
    await task.start()
    assert isinstance(task.pid, int)
    final = await asyncio.wait_for(task.wait(), 10)
    assert states(statuses) == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
    assert set(statuses[0]) == set(statuses[1]) == BASE_KEYS
    assert set(statuses[2]) == BASE_KEYS | {"message"}
    assert statuses[2]["message"] == "Command exited with status 0"
    assert final == statuses[-1] and task.terminal
    for status in statuses:
        assert status["task_id"] == {"value": "t1"}
        assert status["source"] == "SOURCE_EXECUTOR"
        assert isinstance(status["timestamp"], float) and status["timestamp"] >= before
        assert len(base64.b64decode(status["uuid"], validate=True)) == 16
    assert len({s["uuid"] for s in statuses}) == 3
    assert [s["timestamp"] for s in statuses] == sorted(s["timestamp"] for s in statuses)
    assert (tmp_path / "stdout").read_text() == "out\n"
    assert (tmp_path / "stderr").read_text() == "err\n"


async def test_nonzero_exit_fails_without_reason(run: Runner) -> None:
    task, statuses = run(info("exit 3"))
    await task.start()
    final = await asyncio.wait_for(task.wait(), 10)
    assert states(statuses) == ["TASK_STARTING", "TASK_RUNNING", "TASK_FAILED"]
    assert final["message"] == "Command exited with status 3"
    assert "reason" not in final and "healthy" not in final


async def test_sandbox_is_cwd_and_output_is_appended(run: Runner, tmp_path: pathlib.Path) -> None:
    (tmp_path / "stdout").write_text("previous run\n")
    (tmp_path / "stderr").write_text("old err\n")
    task, _ = run(info("pwd; echo new err >&2"))
    await task.start()
    await asyncio.wait_for(task.wait(), 10)
    assert (tmp_path / "stdout").read_text() == f"previous run\n{tmp_path}\n"
    assert (tmp_path / "stderr").read_text() == "old err\nnew err\n"


async def test_environment_is_given_env_plus_command_variables(
    run: Runner, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEAK_MARKER_FROM_AGENT_PROCESS", "leaked")
    command = {
        "value": "env", "shell": True,
        "environment": {"variables": [
            {"name": "FROM_TASK", "value": "task value with spaces"},
            {"name": "OVERRIDDEN", "value": "by task", "type": "VALUE"},
            {"name": "A_SECRET", "type": "SECRET", "secret": {"type": "REFERENCE"}},
        ]},
    }
    resources = [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1},
                  "allocation_info": {"role": "web"}}]
    task, _ = run(info(command=None, resources=resources) | {"command": command},
                  environment={**ENV, "FROM_AGENT": "a", "OVERRIDDEN": "by agent"})
    await task.start()
    await asyncio.wait_for(task.wait(), 10)
    lines = (tmp_path / "stdout").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines if "=" in line)
    assert env["FROM_AGENT"] == "a"
    assert env["FROM_TASK"] == "task value with spaces"
    assert env["OVERRIDDEN"] == "by task"
    assert env["MESOS_ALLOCATION_ROLE"] == "web"
    assert env["PATH"] == ENV["PATH"]
    assert "A_SECRET" not in env
    assert "LEAK_MARKER_FROM_AGENT_PROCESS" not in env
    assert "HOME" not in env or "HOME" in ENV


async def test_default_path_and_role_when_not_given(run: Runner, tmp_path: pathlib.Path) -> None:
    task, _ = run(info("echo \"$PATH|$MESOS_ALLOCATION_ROLE\""), environment={})
    await task.start()
    await asyncio.wait_for(task.wait(), 10)
    assert (tmp_path / "stdout").read_text() == f"{DEFAULT_PATH}|*\n"


async def test_shell_false_execs_value_with_arguments_as_argv(
    run: Runner, tmp_path: pathlib.Path
) -> None:
    # argv[0] comes from arguments[0]; the value is looked up on PATH; no shell splitting.
    command = {"shell": False, "value": "sh",
               "arguments": ["custom-argv0", "-c", 'tr "\\0" " " < /proc/$$/cmdline; echo "|$1"',
                             "inline", "a b"]}
    task, statuses = run(info() | {"command": command})
    await task.start()
    final = await asyncio.wait_for(task.wait(), 10)
    assert final["state"] == "TASK_FINISHED", statuses
    out = (tmp_path / "stdout").read_text()
    assert out.startswith("custom-argv0 -c ")
    assert out.endswith("|a b\n")


async def test_spawn_failure_is_task_failed_not_an_exception(
    run: Runner, tmp_path: pathlib.Path
) -> None:
    task, statuses = run(info() | {"command": {"shell": False, "value": "/nonexistent/binary"}})
    await task.start()  # must not raise
    final = await asyncio.wait_for(task.wait(), 10)
    assert states(statuses) == ["TASK_STARTING", "TASK_FAILED"]
    assert final["message"].startswith("Failed to launch command: ")
    assert "/nonexistent/binary" in final["message"]
    assert "reason" not in final
    assert task.pid is None and task.terminal
    assert "Failed to launch command" in (tmp_path / "stderr").read_text()
    await task.kill()  # after the end: a no-op
    assert len(statuses) == 2


@pytest.mark.parametrize(
    "task_info",
    [
        {"command": {"shell": True}},  # no value
        {},  # no command at all
    ],
    ids=["no-value", "no-command"],
)
async def test_missing_command_value_fails(run: Runner, task_info: dict[str, Any]) -> None:
    task, statuses = run(info() | task_info)
    await task.start()
    final = await asyncio.wait_for(task.wait(), 10)
    assert states(statuses) == ["TASK_STARTING", "TASK_FAILED"]
    assert "has no 'value'" in final["message"]


async def test_missing_sandbox_fails(tmp_path: pathlib.Path) -> None:
    statuses: list[dict[str, Any]] = []
    task = CommandTask(info("true"), sandbox=tmp_path / "missing", environment=dict(ENV),
                       on_status=statuses.append)
    await task.start()
    final = await asyncio.wait_for(task.wait(), 10)
    assert states(statuses) == ["TASK_STARTING", "TASK_FAILED"]
    assert final["message"].startswith("Failed to launch command: ")


# --------------------------------------------------------------------------------------
# Killing
# --------------------------------------------------------------------------------------


async def test_kill_sends_sigterm_and_ends_task_killed(run: Runner) -> None:
    clock = ManualClock()  # stands still: the SIGKILL of the grace period can never come
    task, statuses = run(info("sleep 30"), clock=clock)
    await task.start()
    await task.kill()
    assert [name for _, name in clock.pending()] == ["_escalate"]
    final = await asyncio.wait_for(task.wait(), 10)
    assert states(statuses) == ["TASK_STARTING", "TASK_RUNNING", "TASK_KILLED"]
    assert final["message"] == "Command terminated with signal Terminated"
    assert set(final) == BASE_KEYS | {"message"}


async def test_killing_state_sends_task_killing_first(run: Runner) -> None:
    task, statuses = run(info("sleep 30"), killing_state=True)
    await task.start()
    await task.kill()
    await asyncio.wait_for(task.wait(), 10)
    assert states(statuses) == ["TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_KILLED"]
    assert set(statuses[2]) == BASE_KEYS


async def test_killed_task_that_exits_zero_is_still_killed(
    run: Runner, tmp_path: pathlib.Path
) -> None:
    task, _ = run(info("trap 'exit 0' TERM; echo ready; sleep 30 & wait"))
    await task.start()
    await wait_for_output(tmp_path / "stdout", "ready")
    await task.kill()
    final = await asyncio.wait_for(task.wait(), 10)
    assert (final["state"], final["message"]) == ("TASK_KILLED", "Command exited with status 0")


async def _survives_until_the_deadline(task: CommandTask, clock: ManualClock, deadline: float) -> None:
    """The SIGKILL is armed for exactly ``deadline``; a step short of it the task still runs (it ignores
    SIGTERM), and reaching it kills the task."""
    assert clock.pending() == [(deadline, "_escalate")]
    assert clock.advance(deadline - EPS) == []
    await asyncio.sleep(0.1)  # room for a wrong early end to show (the process ignores SIGTERM)
    assert not task.terminal and task.pid is not None
    os.kill(task.pid, 0)  # still alive
    assert clock.advance(EPS) == ["_escalate"]


@pytest.mark.parametrize(
    ("kill_arg", "extra", "default_grace"),
    [
        (GRACE, {"kill_policy": {"grace_period": nanos(30)}}, 3.0),  # KILL's grace wins
        (None, {"kill_policy": {"grace_period": nanos(GRACE)}}, 30.0),  # then the kill policy
        (None, {}, GRACE),  # then the default
    ],
    ids=["kill-argument", "kill-policy", "default"],
)
async def test_sigkill_after_grace_period(
    run: Runner, tmp_path: pathlib.Path, kill_arg: float | None, extra: dict[str, Any],
    default_grace: float,
) -> None:
    clock = ManualClock()
    task, _ = run(info(IGNORE_TERM, **extra), default_grace_period=default_grace, clock=clock)
    await task.start()
    await wait_for_output(tmp_path / "stdout", "ready")
    await task.kill(kill_arg)
    await _survives_until_the_deadline(task, clock, GRACE)
    final = await asyncio.wait_for(task.wait(), 10)
    assert (final["state"], final["message"]) == (
        "TASK_KILLED", "Command terminated with signal Killed")


@pytest.mark.parametrize(
    ("first", "second"),
    [(30.0, GRACE), (GRACE, 30.0)],
    ids=["second-kill-shortens", "second-kill-cannot-extend"],
)
async def test_repeated_kill_only_shortens(
    run: Runner, tmp_path: pathlib.Path, first: float, second: float
) -> None:
    clock = ManualClock()
    task, statuses = run(info(IGNORE_TERM), killing_state=True, clock=clock)
    await task.start()
    await wait_for_output(tmp_path / "stdout", "ready")
    await task.kill(first)
    clock.advance(EPS)  # the second kill comes later: its grace counts from the first kill
    await task.kill(second)
    await _survives_until_the_deadline(task, clock, GRACE - EPS)
    final = await asyncio.wait_for(task.wait(), 10)
    assert final["message"] == "Command terminated with signal Killed"
    assert states(statuses).count("TASK_KILLING") == 1


async def test_kill_reaches_the_whole_process_group_and_tree(
    run: Runner, tmp_path: pathlib.Path, stray_pids: list[int]
) -> None:
    # Two children in the group, plus one that left the group with setsid.
    task, _ = run(info("sleep 30 & setsid sleep 30 & echo $! > escaped.pid; sleep 30 & wait"))
    await task.start()
    pid = task.pid
    assert pid is not None
    await eventually(lambda: len(process_tree_pids(pid)) >= 4)
    tree = process_tree_pids(pid)
    escaped = int((tmp_path / "escaped.pid").read_text())
    stray_pids.append(escaped)
    assert escaped in tree
    await task.kill()
    await asyncio.wait_for(task.wait(), 10)
    await eventually(lambda: not any(alive(p) for p in tree))


async def test_leftover_processes_die_when_the_command_exits(
    run: Runner, tmp_path: pathlib.Path
) -> None:
    task, _ = run(info("sleep 30 & echo $! > bg.pid; exit 0"))
    await task.start()
    final = await asyncio.wait_for(task.wait(), 10)
    assert final["state"] == "TASK_FINISHED"
    background = int((tmp_path / "bg.pid").read_text())
    await eventually(lambda: not alive(background))


async def test_force_kill_from_outside_is_task_failed_killed(run: Runner) -> None:
    task, statuses = run(info("sleep 30"), killing_state=True)
    await task.start()
    task.force_kill_from_outside()
    final = await asyncio.wait_for(task.wait(), 10)
    assert states(statuses) == ["TASK_STARTING", "TASK_RUNNING", "TASK_FAILED"]
    assert final["message"] == "Command terminated with signal Killed"
    assert "reason" not in final
    task.force_kill_from_outside()  # after the end: a no-op


async def test_signal_from_someone_else_is_task_failed(run: Runner) -> None:
    task, _ = run(info("sleep 30"))
    await task.start()
    assert task.pid is not None
    os.kill(task.pid, signal.SIGTERM)
    final = await asyncio.wait_for(task.wait(), 10)
    assert (final["state"], final["message"]) == (
        "TASK_FAILED", "Command terminated with signal Terminated")


async def test_max_completion_time_fails_the_task(run: Runner) -> None:
    clock = ManualClock()
    task, statuses = run(info("sleep 30", max_completion_time=nanos(GRACE)), killing_state=True, clock=clock)
    await task.start()
    assert clock.pending() == [(GRACE, "_max_completion_reached")]  # counted from the start
    assert clock.advance(GRACE - EPS) == []
    await asyncio.sleep(0.1)  # room for a wrong early end to show
    assert not task.terminal
    assert clock.advance(EPS) == ["_max_completion_reached", "_escalate"]  # no grace: SIGKILL at once
    final = await asyncio.wait_for(task.wait(), 10)
    assert states(statuses) == ["TASK_STARTING", "TASK_RUNNING", "TASK_FAILED"]  # no KILLING
    assert final["reason"] == "REASON_MAX_COMPLETION_TIME_REACHED"
    assert final["message"].startswith("Command terminated with signal ")


async def test_max_completion_time_not_reached(run: Runner) -> None:
    clock = ManualClock()
    task, statuses = run(info("exit 0", max_completion_time=nanos(GRACE)), clock=clock)
    await task.start()
    final = await asyncio.wait_for(task.wait(), 10)
    assert clock.pending() == []  # the timer went with the end
    assert clock.advance(2 * GRACE) == []
    assert final["state"] == "TASK_FINISHED"
    assert len(statuses) == 3


async def test_kill_before_start(run: Runner) -> None:
    task, statuses = run(info("sleep 30"))
    await task.kill()
    final = await asyncio.wait_for(task.wait(), 1)
    assert states(statuses) == ["TASK_KILLED"]
    assert final["reason"] == "REASON_TASK_KILLED_DURING_LAUNCH"
    await task.start()  # does nothing now
    assert task.pid is None and len(statuses) == 1


async def test_kill_while_starting(run: Runner) -> None:
    def on_status(status: dict[str, Any]) -> None:
        if status["state"] == "TASK_STARTING":  # start() is about to spawn
            asyncio.get_running_loop().create_task(task.kill(0.5))

    task, statuses = run(info("sleep 30"), on_status=on_status, killing_state=True)
    await task.start()
    final = await asyncio.wait_for(task.wait(), 10)
    assert states(statuses) == [
        "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_KILLED"]
    assert final["message"] == "Command terminated with signal Terminated"


async def test_kill_and_start_after_terminal_are_no_ops(run: Runner) -> None:
    task, statuses = run(info("exit 0"))
    await task.start()
    first = await asyncio.wait_for(task.wait(), 10)
    await task.kill()
    await task.kill(0)
    await task.shutdown(0)
    await task.start()
    assert await task.wait() == first
    assert len(statuses) == 3


async def test_shutdown_kills_with_its_grace_and_waits(
    run: Runner, tmp_path: pathlib.Path
) -> None:
    clock = ManualClock()
    task, statuses = run(info(IGNORE_TERM, kill_policy={"grace_period": nanos(30)}), clock=clock)
    await task.start()
    await wait_for_output(tmp_path / "stdout", "ready")
    shutdown = asyncio.ensure_future(task.shutdown(GRACE))  # its own grace, not the kill policy's 30 s
    await asyncio.sleep(0)
    await _survives_until_the_deadline(task, clock, GRACE)
    assert not shutdown.done()  # it waits for the end
    await asyncio.wait_for(shutdown, 10)
    assert task.terminal
    assert (statuses[-1]["state"], statuses[-1]["message"]) == (
        "TASK_KILLED", "Command terminated with signal Killed")


async def test_status_callback_errors_do_not_break_the_task(run: Runner) -> None:
    def explode(status: dict[str, Any]) -> None:
        raise RuntimeError("callback failure")

    task, statuses = run(info("exit 0"), on_status=explode)
    await task.start()
    final = await asyncio.wait_for(task.wait(), 10)
    assert final["state"] == "TASK_FINISHED"
    assert states(statuses) == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]


async def test_callback_receives_copies(run: Runner) -> None:
    task, statuses = run(info("exit 0"))
    await task.start()
    await asyncio.wait_for(task.wait(), 10)
    statuses[-1]["agent_id"] = {"value": "added-by-agent"}
    statuses[-1]["task_id"]["value"] = "mutated"
    final = await task.wait()
    assert "agent_id" not in final and final["task_id"] == {"value": "t1"}


# --------------------------------------------------------------------------------------
# Health checks through the task
# --------------------------------------------------------------------------------------


def hc(kind: str, spec: dict[str, Any], **timing: Any) -> dict[str, Any]:
    check: dict[str, Any] = {"type": kind, kind.lower(): spec, "delay_seconds": 0,
                             "interval_seconds": 0.1, "timeout_seconds": 5,
                             "consecutive_failures": 3, "grace_period_seconds": 10}
    check.update(timing)
    return check


def health_updates(statuses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statuses if "healthy" in s]


async def test_healthy_command_check_sends_exactly_one_update(run: Runner) -> None:
    task, statuses = run(info("sleep 30", health_check=hc("COMMAND", {"value": "true"})))
    await task.start()
    await eventually(lambda: bool(health_updates(statuses)))
    await asyncio.sleep(0.5)  # several more successful checks: no new update
    await task.kill()
    final = await asyncio.wait_for(task.wait(), 10)
    assert states(statuses) == [
        "TASK_STARTING", "TASK_RUNNING", "TASK_RUNNING", "TASK_KILLED"]
    assert "healthy" not in statuses[0] and "healthy" not in statuses[1]
    update = statuses[2]
    assert set(update) == BASE_KEYS | {"reason", "healthy"}
    assert (update["reason"], update["healthy"]) == (
        "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED", True)
    assert "healthy" not in final


async def test_command_check_sees_task_env_and_sandbox(run: Runner) -> None:
    command = {"value": "touch marker; sleep 30",
               "environment": {"variables": [{"name": "FROM_TASK", "value": "yes"}]}}
    check = hc("COMMAND", {"value": 'test "$FROM_TASK" = yes && test -f marker'},
               grace_period_seconds=0, consecutive_failures=100)
    task, statuses = run(info(health_check=check) | {"command": command})
    await task.start()
    await eventually(lambda: any(s.get("healthy") for s in statuses))
    assert health_updates(statuses)[-1]["healthy"] is True


async def test_failing_health_check_kills_the_task(run: Runner) -> None:
    check = hc("COMMAND", {"value": "false"}, grace_period_seconds=0, consecutive_failures=2)
    task, statuses = run(info("sleep 30", health_check=check), killing_state=True)
    await task.start()
    final = await asyncio.wait_for(task.wait(), 10)
    assert states(statuses) == [
        "TASK_STARTING", "TASK_RUNNING", "TASK_RUNNING", "TASK_RUNNING", "TASK_KILLING",
        "TASK_KILLED"]
    assert [s.get("healthy") for s in statuses] == [None, None, False, False, None, False]
    assert all(s["reason"] == "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED" for s in statuses[2:4])
    assert final["message"] == "Command terminated with signal Terminated"
    assert "reason" not in final


async def test_health_kill_uses_the_kill_policy(run: Runner, tmp_path: pathlib.Path) -> None:
    check = hc("COMMAND", {"value": "test ! -f ready_marker"}, grace_period_seconds=0,
               consecutive_failures=1)
    task, statuses = run(info("trap '' TERM; touch ready_marker; sleep 30", health_check=check,
                              kill_policy={"grace_period": nanos(0.3)}))
    await task.start()
    final = await asyncio.wait_for(task.wait(), 10)
    assert (final["state"], final["message"], final["healthy"]) == (
        "TASK_KILLED", "Command terminated with signal Killed", False)


async def test_http_health_check_on_a_real_http_server(run: Runner) -> None:
    port = free_port()
    command = f"exec {sys.executable} -m http.server {port} --bind 127.0.0.1"
    task, statuses = run(info(command, health_check=hc("HTTP", {"port": port, "path": "/",
                                                                "scheme": "http"})))
    await task.start()
    await eventually(lambda: bool(health_updates(statuses)))
    await asyncio.sleep(0.3)
    await task.kill()
    await asyncio.wait_for(task.wait(), 10)
    # connection refused while the server starts is ignored (grace period)
    assert [s.get("healthy") for s in statuses] == [None, None, True, None]


async def test_tcp_health_check_failing_then_killed(run: Runner) -> None:
    port = free_port()  # nothing listens there
    check = hc("TCP", {"port": port}, grace_period_seconds=0, consecutive_failures=1)
    task, statuses = run(info("sleep 30", health_check=check))
    await task.start()
    final = await asyncio.wait_for(task.wait(), 10)
    assert [s.get("healthy") for s in statuses] == [None, None, False, False]
    assert final["state"] == "TASK_KILLED"


async def test_invalid_health_check_is_ignored(run: Runner) -> None:
    task, statuses = run(info("exit 0", health_check={"type": "HTTP", "tcp": {"port": 1}}))
    await task.start()
    final = await asyncio.wait_for(task.wait(), 10)
    assert final["state"] == "TASK_FINISHED"
    assert not health_updates(statuses)


async def test_no_health_updates_after_kill(run: Runner, tmp_path: pathlib.Path) -> None:
    check = hc("COMMAND", {"value": "false"}, grace_period_seconds=0, consecutive_failures=100,
               interval_seconds=0.05)
    task, statuses = run(info(IGNORE_TERM, health_check=check))
    await task.start()
    await eventually(lambda: bool(health_updates(statuses)))
    await task.kill(0.4)
    count = len(statuses)
    final = await asyncio.wait_for(task.wait(), 10)
    assert statuses[count:] == [final]
