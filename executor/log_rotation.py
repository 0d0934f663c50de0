"""A task's stdout and stderr, cut by size into ``stdout``, ``stdout.1``, ``stdout.2``... (newest first).

Owns: ``RotatingLog`` (one stream's files in the sandbox) and ``pump`` (copies a pipe into a ``RotatingLog``
until the writers close it). A file never grows past ``max_bytes``: a write that would cross the limit is
split, the live file renamed to ``.1`` (older ones shift up, the one past ``keep`` is deleted) and a new live
file opened, so one stream never holds more than ``(keep + 1) * max_bytes`` bytes. Names come from the
protocol module (the scheduler's log reader lists the same names).

Fails: an ``OSError`` while writing (disk full, sandbox removed) is logged and the data dropped; the task
is never blocked by its logs (the pipe keeps being drained).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from mesospaas.executor_protocol import LogRotation, rotated_name

log = logging.getLogger(__name__)
READ_SIZE = 64 * 1024


class RotatingLog:
    def __init__(self, directory: Path, stream: str, rotation: LogRotation) -> None:
        self.directory = directory
        self.stream = stream
        self.rotation = rotation
        self.rotations = 0
        self._lock = threading.Lock()
        self._file = open(self._path(0), "ab", buffering=0)
        self._size = self._file.tell()

    def _path(self, index: int) -> Path:
        return self.directory / rotated_name(self.stream, index)

    def write(self, data: bytes) -> None:
        with self._lock:
            while data:
                room = self.rotation.max_bytes - self._size
                if room <= 0:
                    self._rotate()
                    continue
                part, data = data[:room], data[room:]
                self._file.write(part)
                self._size += len(part)

    def _rotate(self) -> None:
        self._file.close()
        keep = self.rotation.keep
        if keep == 0:
            self._path(0).unlink(missing_ok=True)
        else:
            self._path(keep).unlink(missing_ok=True)
            for index in range(keep - 1, -1, -1):
                source = self._path(index)
                if source.exists():
                    os.replace(source, self._path(index + 1))
        self._file = open(self._path(0), "ab", buffering=0)
        self._size = 0
        self.rotations += 1

    def close(self) -> None:
        with self._lock:
            self._file.close()


def pump(fd: int, target: RotatingLog) -> None:
    """Copies ``fd`` into ``target`` until EOF, then closes both. Runs on its own thread."""
    try:
        while True:
            data = os.read(fd, READ_SIZE)
            if not data:
                return
            try:
                target.write(data)
            except OSError as exc:
                log.warning("dropping %d bytes of %s: %s", len(data), target.stream, exc)
    finally:
        os.close(fd)
        target.close()
