"""The protocol between the scheduler and the mesospaas executor (``executor/``): one module, both sides.

Owns the three JSON documents the two processes exchange through Mesos, and nothing else travels between
them (the executor imports nothing from ``scheduler/`` or ``api/``):

- ``TaskSpec`` in ``TaskInfo.data`` (scheduler -> executor): the task's command (Mesos forbids a TaskInfo with
  both ``command`` and ``executor``, so the command of a task on a custom executor travels here, as Thermos'
  does), the log rotation settings and the usage report interval.
- ``HealthDetail`` in ``TaskStatus.data`` (executor -> scheduler): the detail behind a Mesos ``healthy``
  verdict (consecutive failures, the last failure's cause, when checks first succeeded).
- ``UsageReport`` in framework messages (executor -> scheduler): process-level resource usage of a task.

Every document is a JSON object ``{"mesospaas_executor": VERSION, "type": ..., ...}``. A reader refuses another
major version and a document of another type, and ignores keys it does not know (a newer writer may add
some). It also owns the names of rotated log files (``stdout``, ``stdout.1``, ... newest first), which the
executor writes and the scheduler's log reader lists, and the app labels that tune an app's executor.

Pure and standard library only. Fails: ``ProtocolError`` (a ``ValueError``) for a document or label value
that does not have the documented shape; the message says which field and why.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mesospaas.errors import CoreError

PROTOCOL_VERSION = 1
VERSION_KEY = "mesospaas_executor"
EXECUTOR_PATH = "//mesospaas"
"""Marathon's ``executor`` field value that selects this executor (``""`` and ``//cmd``: the command one)."""
COMMAND_EXECUTOR_PATHS = frozenset({"", "//cmd"})

TASK, HEALTH, USAGE = "task", "health", "usage"
STREAMS = ("stdout", "stderr")

DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_LOG_KEEP = 5
DEFAULT_USAGE_INTERVAL = 10.0
MIN_LOG_MAX_BYTES = 1024
MAX_LOG_KEEP = 100

LOG_MAX_BYTES_LABEL = "MESOSPAAS_LOG_MAX_BYTES"
LOG_KEEP_LABEL = "MESOSPAAS_LOG_KEEP"
USAGE_INTERVAL_LABEL = "MESOSPAAS_USAGE_INTERVAL_SECONDS"


class ProtocolError(CoreError, ValueError):
    """A protocol document (or an app label for the executor) that does not have the documented shape."""


@dataclass(frozen=True, slots=True)
class LogRotation:
    """Each of stdout and stderr is cut at ``max_bytes``; ``keep`` older files are kept (``stdout.1`` newest).

    Bound: a stream never takes more than ``(keep + 1) * max_bytes`` bytes of the sandbox.
    """

    max_bytes: int = DEFAULT_LOG_MAX_BYTES
    keep: int = DEFAULT_LOG_KEEP

    def __post_init__(self) -> None:
        if self.max_bytes < MIN_LOG_MAX_BYTES:
            raise ProtocolError(f"log max_bytes must be at least {MIN_LOG_MAX_BYTES}, got {self.max_bytes}")
        if not 0 <= self.keep <= MAX_LOG_KEEP:
            raise ProtocolError(f"log keep must be between 0 and {MAX_LOG_KEEP}, got {self.keep}")

    @property
    def bound_bytes(self) -> int:
        """The most one stream's files ever hold together."""
        return (self.keep + 1) * self.max_bytes


@dataclass(frozen=True, slots=True)
class TaskCommand:
    """What to run: ``/bin/sh -c value`` when ``shell``, else ``execvp(value, arguments)`` (Mesos' rules)."""

    value: str
    shell: bool = True
    arguments: tuple[str, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.value:
            raise ProtocolError("command value must not be empty")

    def argv(self) -> list[str]:
        if self.shell:
            return ["/bin/sh", "-c", self.value]
        return list(self.arguments) if self.arguments else [self.value]


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """``TaskInfo.data`` of a task on the mesospaas executor."""

    command: TaskCommand
    log: LogRotation = field(default_factory=LogRotation)
    usage_interval_seconds: float = DEFAULT_USAGE_INTERVAL

    def __post_init__(self) -> None:
        if not (math.isfinite(self.usage_interval_seconds) and self.usage_interval_seconds > 0):
            raise ProtocolError(f"usage_interval_seconds must be positive, got {self.usage_interval_seconds}")


@dataclass(frozen=True, slots=True)
class HealthDetail:
    """``TaskStatus.data`` of an update that carries a health verdict (times are epoch seconds)."""

    healthy: bool
    consecutive_failures: int = 0
    last_failure_cause: str | None = None
    last_failure_at: float | None = None
    first_success_at: float | None = None


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Process-level usage of one task (its whole process tree), as the executor measured it at ``timestamp``.

    ``cpu_share`` is CPU seconds per wall second since the previous report (None in the first report).
    """

    task_id: str
    timestamp: float
    cpu_user_seconds: float
    cpu_system_seconds: float
    cpu_share: float | None
    rss_bytes: int
    threads: int
    processes: int

    @property
    def cpu_seconds(self) -> float:
        return self.cpu_user_seconds + self.cpu_system_seconds


# -- encoding ------------------------------------------------------------------------------------------------
def _envelope(kind: str, body: dict[str, Any]) -> bytes:
    return json.dumps({VERSION_KEY: PROTOCOL_VERSION, "type": kind, **body}, separators=(",", ":"),
                      sort_keys=True).encode()


def _open(raw: bytes, kind: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"not a JSON document: {exc}") from exc
    if not isinstance(doc, dict):
        raise ProtocolError("a protocol document must be a JSON object")
    version = doc.get(VERSION_KEY)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {version!r} is not supported (this side speaks {PROTOCOL_VERSION})")
    if doc.get("type") != kind:
        raise ProtocolError(f"expected a {kind!r} document, got {doc.get('type')!r}")
    return doc


def document_type(raw: bytes) -> str:
    """The ``type`` of a document of this protocol (to dispatch framework messages)."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"not a JSON document: {exc}") from exc
    if not isinstance(doc, dict) or doc.get(VERSION_KEY) != PROTOCOL_VERSION:
        raise ProtocolError("not a mesospaas executor document of a supported version")
    kind = doc.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("the document has no type")
    return kind


def _get(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
    value = doc.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ProtocolError(f"{key}: expected {kind}, got a boolean")
    if not isinstance(value, kind):
        raise ProtocolError(f"{key}: expected {kind}, got {value!r}")
    return value


def encode_task_spec(spec: TaskSpec) -> bytes:
    command = spec.command
    return _envelope(TASK, {
        "command": {"value": command.value, "shell": command.shell, "arguments": list(command.arguments),
                    "environment": [[k, v] for k, v in command.environment]},
        "log": {"max_bytes": spec.log.max_bytes, "keep": spec.log.keep},
        "usage_interval_seconds": spec.usage_interval_seconds})


def decode_task_spec(raw: bytes) -> TaskSpec:
    doc = _open(raw, TASK)
    command = _get(doc, "command", dict)
    arguments = _get(command, "arguments", list, optional=True) or []
    environment = _get(command, "environment", list, optional=True) or []
    if not all(isinstance(a, str) for a in arguments):
        raise ProtocolError("command.arguments: expected strings")
    if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in environment):
        raise ProtocolError("command.environment: expected [name, value] pairs of strings")
    log = _get(doc, "log", dict, optional=True) or {}
    shell = _get(command, "shell", bool, optional=True)
    interval = _get(doc, "usage_interval_seconds", (int, float), optional=True)
    return TaskSpec(
        command=TaskCommand(value=_get(command, "value", str), shell=True if shell is None else shell,
                            arguments=tuple(arguments), environment=tuple((k, v) for k, v in environment)),
        log=LogRotation(max_bytes=_get(log, "max_bytes", int, optional=True) or DEFAULT_LOG_MAX_BYTES,
                        keep=DEFAULT_LOG_KEEP if log.get("keep") is None else _get(log, "keep", int)),
        usage_interval_seconds=float(interval) if interval is not None else DEFAULT_USAGE_INTERVAL)


def encode_health(detail: HealthDetail) -> bytes:
    return _envelope(HEALTH, {"healthy": detail.healthy, "consecutive_failures": detail.consecutive_failures,
                              "last_failure_cause": detail.last_failure_cause,
                              "last_failure_at": detail.last_failure_at,
                              "first_success_at": detail.first_success_at})


def decode_health(raw: bytes) -> HealthDetail:
    doc = _open(raw, HEALTH)
    last_at = _get(doc, "last_failure_at", (int, float), optional=True)
    first_at = _get(doc, "first_success_at", (int, float), optional=True)
    return HealthDetail(healthy=_get(doc, "healthy", bool),
                        consecutive_failures=_get(doc, "consecutive_failures", int),
                        last_failure_cause=_get(doc, "last_failure_cause", str, optional=True),
                        last_failure_at=float(last_at) if last_at is not None else None,
                        first_success_at=float(first_at) if first_at is not None else None)


def encode_usage(report: UsageReport) -> bytes:
    return _envelope(USAGE, {"task_id": report.task_id, "timestamp": report.timestamp,
                             "cpu_user_seconds": report.cpu_user_seconds,
                             "cpu_system_seconds": report.cpu_system_seconds, "cpu_share": report.cpu_share,
                             "rss_bytes": report.rss_bytes, "threads": report.threads,
                             "processes": report.processes})


def decode_usage(raw: bytes) -> UsageReport:
    doc = _open(raw, USAGE)
    share = _get(doc, "cpu_share", (int, float), optional=True)
    number = (int, float)
    return UsageReport(task_id=_get(doc, "task_id", str), timestamp=float(_get(doc, "timestamp", number)),
                       cpu_user_seconds=float(_get(doc, "cpu_user_seconds", number)),
                       cpu_system_seconds=float(_get(doc, "cpu_system_seconds", number)),
                       cpu_share=float(share) if share is not None else None,
                       rss_bytes=_get(doc, "rss_bytes", int), threads=_get(doc, "threads", int),
                       processes=_get(doc, "processes", int))


# -- app labels --------------------------------------------------------------------------------------------
def _int_label(labels: Mapping[str, str], name: str, default: int) -> int:
    raw = labels.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ProtocolError(f"label {name} must be an integer, got {raw!r}") from None


def log_rotation_from_labels(labels: Mapping[str, str], default: LogRotation) -> LogRotation:
    """The app's log rotation: its ``MESOSPAAS_LOG_MAX_BYTES`` / ``MESOSPAAS_LOG_KEEP`` labels over ``default``."""
    try:
        return LogRotation(max_bytes=_int_label(labels, LOG_MAX_BYTES_LABEL, default.max_bytes),
                           keep=_int_label(labels, LOG_KEEP_LABEL, default.keep))
    except ProtocolError as exc:
        raise ProtocolError(f"{exc} (labels {LOG_MAX_BYTES_LABEL}, {LOG_KEEP_LABEL})") from None


def usage_interval_from_labels(labels: Mapping[str, str], default: float) -> float:
    raw = labels.get(USAGE_INTERVAL_LABEL)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ProtocolError(f"label {USAGE_INTERVAL_LABEL} must be a number, got {raw!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ProtocolError(f"label {USAGE_INTERVAL_LABEL} must be positive, got {raw!r}")
    return value


def label_problems(labels: Mapping[str, str]) -> list[str]:
    """What is wrong with an app's executor labels (empty when they are fine or absent)."""
    problems = []
    for check in (lambda: log_rotation_from_labels(labels, LogRotation()),
                  lambda: usage_interval_from_labels(labels, DEFAULT_USAGE_INTERVAL)):
        try:
            check()
        except ProtocolError as exc:
            problems.append(str(exc))
    return problems


# -- rotated log file names --------------------------------------------------------------------------------
_ROTATED = re.compile(r"^(stdout|stderr)(?:\.([1-9][0-9]*))?$")


def rotated_name(stream: str, index: int) -> str:
    """``stdout`` (index 0, the live file), ``stdout.1`` (the newest rotated one), ``stdout.2``, ..."""
    if stream not in STREAMS:
        raise ProtocolError(f"stream must be one of {', '.join(STREAMS)}, got {stream!r}")
    if index < 0:
        raise ProtocolError(f"rotation index must not be negative, got {index}")
    return stream if index == 0 else f"{stream}.{index}"


def parse_rotated_name(name: str) -> tuple[str, int] | None:
    """``("stdout", 2)`` for ``stdout.2``; None for any other file name."""
    match = _ROTATED.match(name)
    if match is None:
        return None
    return match.group(1), int(match.group(2) or 0)
