"""The history file of a nemesis run: JSON lines, one record per line, appended as the run goes.

Records (``type``): ``run`` (seed, duration, the planned schedules: enough to replay the run), ``op`` (one
request: client, op, method, path, body, instance, start/end seconds since the run began, outcome ``ok`` /
``fail`` / ``indeterminate``, status, a trimmed response, the effects the checker models), ``fault`` (kind,
target, start/end), ``sample`` (the Mesos master's live tasks, each instance's view of the leader, the apps'
instances and over-capacity, the apps being deployed), ``final`` (the state after the run settled), and
``verdict``. ``HistoryWriter`` is thread-safe (clients, nemesis and sampler write to one file); ``read``
gives back a ``checker.History``. Fails: ``OSError`` from the file, ``ValueError`` from a corrupt line.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from tests.chaos.checker import History


class HistoryWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file = open(path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True, default=str)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


def read(path: Path) -> tuple[dict[str, Any], History]:
    """The ``run`` header and the history of ``path``."""
    header: dict[str, Any] = {}
    ops, faults, samples = [], [], []
    final: dict[str, Any] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        kind = record.get("type")
        if kind == "run":
            header = record
        elif kind == "op":
            ops.append(record)
        elif kind == "fault":
            faults.append(record)
        elif kind == "sample":
            samples.append(record)
        elif kind == "final":
            final = record
    return header, History(ops=ops, faults=faults, samples=samples, final=final)
