"""Tests for localmesos.process_stats against real processes read from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from localmesos.process_stats import (
    _parse_stat,
    process_tree_pids,
    process_tree_stats,
    read_proc_stat,
)

Spawn = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start processes in their own session; SIGKILL their groups at teardown (always)."""
    started: list[subprocess.Popen[bytes]] = []

    def _spawn(*argv: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )
        started.append(proc)
        return proc

    yield _spawn
    for proc in started:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()


def _wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def _read_line(proc: subprocess.Popen[bytes]) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline().decode().strip()


def test_parse_stat_handles_parentheses_and_spaces_in_comm() -> None:
    line = (
        "4242 (we ird) (name)) S 1 4242 4242 0 -1 4194560 100 0 0 0 "
        "150 25 3 4 20 0 7 0 12345 1000000 321 18446744073709551615"
    )
    stat = _parse_stat(4242, line)
    assert stat is not None
    assert (stat.state, stat.ppid, stat.pgrp, stat.session) == ("S", 1, 4242, 4242)
    assert (stat.utime_ticks, stat.stime_ticks) == (150, 25)
    assert stat.num_threads == 7
    assert stat.rss_pages == 321


@pytest.mark.parametrize("line", ["", "garbage", "12 (x) S 1 2", "1 (x) S a b c"])
def test_parse_stat_rejects_malformed_lines(line: str) -> None:
    assert _parse_stat(1, line) is None


def test_own_process_is_readable() -> None:
    stat = read_proc_stat(os.getpid())
    assert stat is not None
    assert stat.ppid == os.getppid()
    assert stat.num_threads >= 1


def test_unknown_pid_gives_zero_counters_and_never_raises() -> None:
    missing = 2**22 + 4321  # above any pid_max
    before = time.time()
    stats = process_tree_stats(missing)
    assert stats["timestamp"] >= before
    assert {k: v for k, v in stats.items() if k != "timestamp"} == {
        "cpus_user_time_secs": 0.0,
        "cpus_system_time_secs": 0.0,
        "mem_rss_bytes": 0,
        "processes": 0,
        "threads": 0,
    }
    assert process_tree_pids(missing) == []
    assert read_proc_stat(missing) is None


def test_tree_includes_descendants_and_orphaned_group_members(spawn: Spawn) -> None:
    # Two direct children, plus one grandchild orphaned by its subshell (re-parented
    # away from sh but still in sh's process group).
    proc = spawn("/bin/sh", "-c", "sleep 30 & sleep 30 & (sleep 30 &) ; echo ready; wait")
    assert _read_line(proc) == "ready"
    _wait_until(lambda: len(process_tree_pids(proc.pid)) >= 4)
    pids = process_tree_pids(proc.pid)
    assert proc.pid in pids
    assert os.getpid() not in pids
    orphans = [p for p in pids if (s := read_proc_stat(p)) is not None and s.ppid != proc.pid
               and p != proc.pid]
    assert orphans, "the orphaned sleep should be found through the process group"

    before = time.time()
    stats = process_tree_stats(proc.pid)
    after = time.time()
    assert stats["processes"] == len(pids) == 4
    assert stats["threads"] >= 4
    assert stats["mem_rss_bytes"] > 0
    assert before <= stats["timestamp"] <= after  # taken during the call


def test_cpu_time_and_threads_are_summed(spawn: Spawn) -> None:
    program = (
        "import threading, time\n"
        "for _ in range(4):\n"
        "    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
        "start = time.process_time()\n"
        "while time.process_time() - start < 0.3:\n"
        "    pass\n"
        "print('busy-done', flush=True)\n"
        "time.sleep(30)\n"
    )
    proc = spawn(sys.executable, "-c", program)
    assert _read_line(proc) == "busy-done"
    stats = process_tree_stats(proc.pid)
    assert stats["cpus_user_time_secs"] + stats["cpus_system_time_secs"] >= 0.2
    assert stats["processes"] == 1
    assert stats["threads"] >= 5
    assert stats["mem_rss_bytes"] > 1_000_000
    assert isinstance(stats["cpus_user_time_secs"], float)
    assert isinstance(stats["mem_rss_bytes"], int)


def test_zombies_are_not_counted(spawn: Spawn) -> None:
    # `exec sleep` never reaps the short-lived child it inherited from sh: a zombie
    # (the child outlives the exec, so sh cannot reap it first).
    proc = spawn("/bin/sh", "-c", "sleep 0.2 & echo ready; exec sleep 30")
    assert _read_line(proc) == "ready"

    def has_zombie() -> bool:
        pids = process_tree_pids(proc.pid, include_zombies=True)
        return any((s := read_proc_stat(p)) is not None and s.state == "Z" for p in pids)

    _wait_until(has_zombie)
    assert len(process_tree_pids(proc.pid, include_zombies=True)) == 2
    assert process_tree_pids(proc.pid) == [proc.pid]
    assert process_tree_stats(proc.pid)["processes"] == 1


def test_process_that_vanished_is_skipped(spawn: Spawn) -> None:
    proc = spawn("/bin/sh", "-c", "echo ready; exit 0")
    assert _read_line(proc) == "ready"
    proc.wait(timeout=5)
    stats = process_tree_stats(proc.pid)
    assert stats["processes"] == 0
    assert stats["mem_rss_bytes"] == 0
