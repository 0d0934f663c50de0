"""What ``/proc`` says about processes: parents, sessions, CPU time, memory, threads.

Owns reading ``/proc/<pid>/stat`` (Linux only) into ``ProcStat`` values, finding the process tree below a pid
(``descendants``, which also follows children that left the session with ``setsid``) and summing a tree's
usage (``tree_usage``). A process can vanish between listing and reading: such a process is skipped, never
an error. Fails: nothing raised for vanished processes; ``OSError`` only if ``/proc`` itself is unreadable.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class ProcStat:
    pid: int
    state: str
    ppid: int
    pgrp: int
    session: int
    user_seconds: float
    system_seconds: float
    threads: int
    rss_bytes: int


@dataclass(frozen=True, slots=True)
class TreeUsage:
    user_seconds: float
    system_seconds: float
    rss_bytes: int
    threads: int
    processes: int


def read_stat(pid: int) -> ProcStat | None:
    """The process's ``/proc/<pid>/stat``; None if it is gone (or a zombie already reaped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    rest = raw[raw.rfind(")") + 2:].split()
    return ProcStat(pid=pid, state=rest[0], ppid=int(rest[1]), pgrp=int(rest[2]), session=int(rest[3]),
                    user_seconds=int(rest[11]) / CLOCK_TICKS, system_seconds=int(rest[12]) / CLOCK_TICKS,
                    threads=int(rest[17]), rss_bytes=int(rest[21]) * PAGE_SIZE)


def all_stats() -> list[ProcStat]:
    stats = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = read_stat(int(name))
            if stat is not None:
                stats.append(stat)
    return stats


def descendants(roots: Iterable[int], stats: list[ProcStat] | None = None) -> list[ProcStat]:
    """Every live process below any of ``roots`` (not the roots themselves), by parent links."""
    stats = all_stats() if stats is None else stats
    children: dict[int, list[ProcStat]] = {}
    for stat in stats:
        children.setdefault(stat.ppid, []).append(stat)
    found: list[ProcStat] = []
    todo = list(roots)
    seen = set(todo)
    while todo:
        for child in children.get(todo.pop(), []):
            if child.pid not in seen:
                seen.add(child.pid)
                found.append(child)
                todo.append(child.pid)
    return found


def task_tree(pid: int, stats: list[ProcStat] | None = None) -> list[ProcStat]:
    """The task's processes: ``pid``, everything below it, and every process still in its session."""
    stats = all_stats() if stats is None else stats
    by_pid = {s.pid: s for s in stats}
    tree = {s.pid: s for s in descendants([pid], stats)}
    if pid in by_pid:
        tree[pid] = by_pid[pid]
    for stat in stats:
        if stat.session == pid:
            tree.setdefault(stat.pid, stat)
    return list(tree.values())


def subtree(pid: int) -> list[ProcStat]:
    """``pid`` and its descendants, walked through ``/proc/<pid>/task/<tid>/children`` (cheap: only the tree is
    read, not every process of the host); a full scan where the kernel has no ``children`` files."""
    if not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"):
        root = read_stat(pid)
        return ([root] if root else []) + descendants([pid])
    found: list[ProcStat] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        stat = read_stat(current)
        if stat is None:
            continue
        found.append(stat)
        try:
            tids = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{current}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
            except OSError:
                pass
    return found


def tree_usage(tree: Iterable[ProcStat]) -> TreeUsage:
    members = [s for s in tree if s.state != "Z"]
    return TreeUsage(user_seconds=sum(s.user_seconds for s in members),
                     system_seconds=sum(s.system_seconds for s in members),
                     rss_bytes=sum(s.rss_bytes for s in members), threads=sum(s.threads for s in members),
                     processes=len(members))
