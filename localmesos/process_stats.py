"""Process-tree resource statistics read from ``/proc`` (Linux only).

This module owns the per-container numbers that a real Mesos agent with the default
``posix/cpu,posix/mem`` isolation reports in ``/monitor/statistics``: CPU user/system time
and resident memory summed over the process tree of the container.  It also owns the
enumeration of that tree (:func:`process_tree_pids`), which :mod:`localmesos.command_task`
uses to signal every process of a task.

A process "belongs" to the tree rooted at ``pid`` when it is ``pid`` itself, a descendant
of ``pid`` (following the ``ppid`` links), or a member of the process group led by ``pid``
(so grandchildren that were orphaned and re-parented to init are still counted, as long as
they stayed in the task's process group).

Failure behaviour: processes vanish at any moment, so every read of ``/proc`` tolerates a
missing or unparsable entry by skipping it.  Nothing here raises for a dead or unknown
``pid``; the result is then simply empty (zero counters).  Values are plain ``float``/``int``.
The limits (``cpus_soft_limit``, ``mem_limit_bytes``...) are not known here and are added by
the agent.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

__all__ = ["ProcStat", "process_tree_pids", "process_tree_stats", "read_all_proc_stats"]

logger = logging.getLogger(__name__)

_PROC = "/proc"
_CLK_TCK: int = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE_SIZE: int = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` this module needs (times in clock ticks)."""

    pid: int
    state: str
    ppid: int
    pgrp: int
    session: int
    utime_ticks: int
    stime_ticks: int
    num_threads: int
    rss_pages: int


def _parse_stat(pid: int, text: str) -> ProcStat | None:
    """Parse one ``/proc/<pid>/stat`` line; ``None`` if it is malformed.

    The second field (``comm``) is in parentheses and may itself contain spaces and
    parentheses, so the line is split at the *last* closing parenthesis.
    """
    end = text.rfind(")")
    if end < 0:
        return None
    rest = text[end + 2 :].split()
    # rest[0] is field 3 (state) of proc(5); field N is rest[N - 3].
    try:
        return ProcStat(
            pid=pid,
            state=rest[0],
            ppid=int(rest[1]),
            pgrp=int(rest[2]),
            session=int(rest[3]),
            utime_ticks=int(rest[11]),
            stime_ticks=int(rest[12]),
            num_threads=int(rest[17]),
            rss_pages=int(rest[21]),
        )
    except (IndexError, ValueError):
        return None


def read_proc_stat(pid: int) -> ProcStat | None:
    """Read ``/proc/<pid>/stat``; ``None`` when the process does not exist (any more)."""
    try:
        with open(f"{_PROC}/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    return _parse_stat(pid, text)


def read_all_proc_stats() -> dict[int, ProcStat]:
    """Snapshot of every process visible in ``/proc``; vanished entries are skipped."""
    stats: dict[int, ProcStat] = {}
    try:
        names = os.listdir(_PROC)
    except OSError as exc:  # no /proc at all: nothing to report
        logger.warning("cannot list %s: %s", _PROC, exc)
        return stats
    for name in names:
        if not name.isdigit():
            continue
        stat = read_proc_stat(int(name))
        if stat is not None:
            stats[stat.pid] = stat
    return stats


def _select_tree(pid: int, stats: dict[int, ProcStat]) -> list[ProcStat]:
    """The processes of ``stats`` that belong to the tree/process group rooted at ``pid``."""
    children: dict[int, list[int]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    selected: set[int] = set()
    stack: list[int] = [pid] if pid in stats else []
    # Members of the process group led by pid (only meaningful if pid leads a group,
    # which is what start_new_session gives us); include their descendants too.
    stack.extend(s.pid for s in stats.values() if s.pgrp == pid)
    while stack:
        current = stack.pop()
        if current in selected or current not in stats:
            continue
        selected.add(current)
        stack.extend(children.get(current, ()))
    return [stats[p] for p in sorted(selected)]


def process_tree_pids(pid: int, *, include_zombies: bool = False) -> list[int]:
    """PIDs of ``pid``, its descendants and its process-group members (sorted).

    Zombies are left out unless ``include_zombies`` is true (they cannot be signalled
    usefully and hold no resources).  A dead ``pid`` with no group members gives ``[]``.
    """
    tree = _select_tree(pid, read_all_proc_stats())
    return [s.pid for s in tree if include_zombies or s.state not in ("Z", "X")]


def process_tree_stats(pid: int) -> dict[str, float | int]:
    """Resource usage summed over the process tree rooted at ``pid`` (see module doc).

    Returns ``timestamp`` (``time.time()``), ``cpus_user_time_secs`` and
    ``cpus_system_time_secs`` (from ``utime``/``stime``; time of already-reaped children
    is not included, exactly like the Mesos posix isolators), ``mem_rss_bytes``,
    ``processes`` and ``threads`` (zombies are not counted).  Never raises; an unknown pid gives zero counters.
    """
    tree = [s for s in _select_tree(pid, read_all_proc_stats()) if s.state not in ("Z", "X")]
    utime = sum(s.utime_ticks for s in tree)
    stime = sum(s.stime_ticks for s in tree)
    return {
        "timestamp": time.time(),
        "cpus_user_time_secs": utime / _CLK_TCK,
        "cpus_system_time_secs": stime / _CLK_TCK,
        "mem_rss_bytes": sum(s.rss_pages for s in tree) * _PAGE_SIZE,
        "processes": len(tree),
        "threads": sum(s.num_threads for s in tree),
    }
