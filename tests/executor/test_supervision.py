"""Supervision of a task's processes (``executor.supervisor``, ``executor.reaper``, ``executor.guard``) and its
log rotation (``executor.log_rotation``), on real processes in a temp sandbox; no Mesos involved."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from executor import process_tree
from executor.log_rotation import RotatingLog
from executor.supervisor import outcome_of
from mesospaas.executor_protocol import LogRotation
from tests.executor.scenarios import STUBBORN
from tests.polling import wait_for

REPO = Path(__file__).resolve().parents[2]


def scenario(name: str, sandbox: Path) -> Any:
    """Runs ``tests.executor.scenarios.NAME`` in a process of its own (its reaper must not run in pytest's)."""
    out = subprocess.run([sys.executable, "-m", "tests.executor.scenarios", name, str(sandbox)], cwd=REPO,
                         capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr.decode()
    return json.loads(out.stdout.decode().splitlines()[-1])


def alive(pid: int) -> bool:
    stat = process_tree.read_stat(pid)
    return stat is not None and stat.state != "Z"


def test_outcomes_use_the_command_executors_texts() -> None:
    assert outcome_of(0, False).state == "TASK_FINISHED"
    assert outcome_of(0, False).message == "Command exited with status 0"
    assert (outcome_of(3, False).state, outcome_of(3, False).exit_code) == ("TASK_FAILED", 3)
    killed = outcome_of(-signal.SIGKILL, True)
    assert (killed.state, killed.message, killed.signal) == ("TASK_KILLED", "Command terminated with signal Killed", 9)
    crashed = outcome_of(-signal.SIGSEGV, False)
    assert (crashed.state, crashed.message) == ("TASK_FAILED", "Command terminated with signal Segmentation fault")
    assert outcome_of(143, True).state == "TASK_KILLED"


def test_exit_status_output_and_environment(tmp_path: Path) -> None:
    seen = scenario("exit_status", tmp_path)
    assert (seen["state"], seen["message"]) == ("TASK_FAILED", "Command exited with status 7")
    assert (tmp_path / "stdout").read_text() == "out hi\n"
    assert (tmp_path / "stderr").read_text() == "err\n"
    # The task ran in a session of its own (its guard leads it), not in the executor's.
    assert seen["task_session"] == seen["guard"] != seen["executor_session"]


def test_a_command_that_cannot_start_fails_like_a_shell(tmp_path: Path) -> None:
    assert scenario("cannot_start", tmp_path)["message"] == "Command exited with status 127"
    assert "/no/such/binary" in (tmp_path / "stderr").read_text()


def test_kill_sends_sigterm_then_sigkill_to_the_whole_tree(tmp_path: Path) -> None:
    seen = scenario("kill_tree", tmp_path)
    assert seen["before"] == [True, True, True]
    assert seen["first"] is True and seen["second"] is False  # only the first kill is reported (TASK_KILLING)
    assert (seen["state"], seen["message"]) == ("TASK_KILLED", "Command terminated with signal Killed")
    assert seen["alive_after"] == []


def test_a_task_that_exits_on_sigterm_ends_with_sigterm(tmp_path: Path) -> None:
    assert scenario("sigterm", tmp_path)["message"] == "Command terminated with signal Terminated"


def test_children_left_behind_by_a_finished_task_are_killed(tmp_path: Path) -> None:
    seen = scenario("leftovers", tmp_path)
    assert seen["state"] == "TASK_FINISHED" and len(seen["pids"]) == 2 and seen["alive_after"] == []


def test_usage_of_the_task_tree(tmp_path: Path) -> None:
    seen = scenario("usage", tmp_path)
    assert seen["rss"] > 50 << 20 and seen["processes"] >= 1 and seen["threads"] >= 1


def test_a_command_health_check_follows_the_cores_rules(tmp_path: Path) -> None:
    seen = scenario("command_check", tmp_path)
    # First success reported once; then each counted failure; the kill at the failures' limit (Mesos' rule for
    # the checks an executor runs: with 3, the 3rd failure in a row kills), once.
    assert seen["reports"] == [[True, 0, None], [False, 1, "Command exited with status 1"],
                               [False, 2, "Command exited with status 1"], [False, 3, "Command exited with status 1"]]
    assert len(seen["kills"]) == 1 and "COMMAND health check failed 3 times in a row" in seen["kills"][0]
    assert "timed out after 0.2 seconds" in seen["timed_out"]


def test_the_guard_ends_the_task_when_its_executor_is_sigkilled(tmp_path: Path) -> None:
    """A stand-in executor (a real process running the supervisor) is SIGKILLed: nothing of its task lives on."""
    script = (f"import os, sys, time; sys.path.insert(0, {str(REPO)!r})\n"
              "from pathlib import Path\n"
              "from executor.reaper import Reaper\n"
              "from executor.supervisor import TaskProcess\n"
              "from mesospaas.executor_protocol import TaskCommand, TaskSpec\n"
              f"p = TaskProcess('t', TaskSpec(TaskCommand({STUBBORN!r})), Path({str(tmp_path)!r}), dict(os.environ), "
              "Reaper())\n"
              "p.start(); time.sleep(600)\n")
    executor = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path)
    try:
        pids = wait_for(lambda: [int(p) for p in (tmp_path / "pids").read_text().split()]
                        if (tmp_path / "pids").exists() and len((tmp_path / "pids").read_text().split()) >= 3
                        else None, 30, "the task's pids")
        assert all(alive(p) for p in pids)
    finally:
        executor.kill()
        executor.wait()
    wait_for(lambda: not any(alive(p) for p in pids), 30, "the task's processes gone")


def test_rotation_keeps_each_file_under_the_limit_and_the_newest_first(tmp_path: Path) -> None:
    log = RotatingLog(tmp_path, "stdout", LogRotation(max_bytes=1024, keep=2))
    for index in range(10):
        log.write(str(index).encode() * 700)  # every write crosses a limit at some point
    log.close()
    sizes = {p.name: p.stat().st_size for p in tmp_path.iterdir()}
    assert set(sizes) == {"stdout", "stdout.1", "stdout.2"}
    assert all(size <= 1024 for size in sizes.values()) and sizes["stdout.1"] == sizes["stdout.2"] == 1024
    data = b"".join((tmp_path / n).read_bytes() for n in ("stdout.2", "stdout.1", "stdout"))
    everything = b"".join(str(i).encode() * 700 for i in range(10))
    assert everything.endswith(data)  # in order, only the oldest dropped
    assert log.rotations == len(everything) // 1024


def test_rotation_with_nothing_kept_truncates(tmp_path: Path) -> None:
    log = RotatingLog(tmp_path, "stderr", LogRotation(max_bytes=1024, keep=0))
    log.write(b"a" * 3000)
    log.close()
    assert [p.name for p in tmp_path.iterdir()] == ["stderr"]
    assert (tmp_path / "stderr").read_bytes() == b"a" * (3000 - 2048)


def test_concurrent_writers_never_exceed_the_bound(tmp_path: Path) -> None:
    log = RotatingLog(tmp_path, "stdout", LogRotation(max_bytes=4096, keep=1))
    threads = [threading.Thread(target=lambda: [log.write(b"z" * 1500) for _ in range(50)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 2 * 4096
