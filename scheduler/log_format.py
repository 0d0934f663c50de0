"""Structured logs: ``--log-format json`` makes every log line one JSON object, with the ids it is about.

Owns ``JsonFormatter``, ``log_context`` (a context manager binding ids to every line logged inside it, through
a ``contextvars.ContextVar``, so it follows asyncio tasks), ``add_argument`` (the shared ``--log-format`` flag,
env ``MESOSPAAS_LOG_FORMAT``) and ``install``.

A line: ``{"time": "2026-12-03T10:00:00.123Z", "level": "INFO", "logger": "scheduler.runtime",
"message": "...", "app_id": "/shop/web", "instance_id": "...", "task_id": "...", "deployment_id": "..."}``
(plus ``exception`` with the trace when there is one). The ids come, in this order of precedence, from
``extra={"app_id": ...}`` on the call, from ``log_context(...)``, and from the record's arguments: mesospaas'
ids have shapes that cannot be confused (``mesospaas.model.ids``: a task id names its instance, an instance id
its app; app ids are absolute paths; deployment ids are bare UUIDs), so ``log.info("%s: task %s failed",
app.id, task)`` carries ``app_id``, ``instance_id`` and ``task_id`` without any change at the call. Keys that
do not apply are left out. Deriving happens only when a JSON line is written: the text format and the hot
path pay nothing.

Fails: never raises from ``format`` (a value JSON cannot hold is written as its ``str``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from mesospaas.model.ids import InstanceId, app_id_problem, app_of_instance, parse_task_id

ID_KEYS = ("app_id", "instance_id", "task_id", "deployment_id", "job_id", "run_id")
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_INSTANCE = re.compile(r"^[a-z0-9_.\-]+\.(instance|marathon)-[0-9a-f\-]{36}$")

LOG_CONTEXT: ContextVar[Mapping[str, str]] = ContextVar("mesospaas_log_context", default={})


@contextlib.contextmanager
def log_context(**ids: str | None) -> Iterator[None]:
    """Adds ``ids`` (``app_id=``, ``task_id=``, ...; ``None`` values are ignored) to every line logged inside."""
    unknown = set(ids) - set(ID_KEYS)
    if unknown:
        raise ValueError(f"not log context keys: {sorted(unknown)}")
    token = LOG_CONTEXT.set({**LOG_CONTEXT.get(), **{k: str(v) for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        LOG_CONTEXT.reset(token)


def ids_in(values: Any) -> dict[str, str]:
    """The ids found among a record's arguments, by their shape (see the module docstring)."""
    found: dict[str, str] = {}
    items = values.values() if isinstance(values, Mapping) else values if isinstance(values, tuple) else (values,)
    for value in items:
        if not isinstance(value, str) or len(value) > 300:
            continue
        if "._app." in value:
            try:
                instance, _ = parse_task_id(value)
                found.setdefault("task_id", value)
                found.setdefault("instance_id", instance)
                found.setdefault("app_id", app_of_instance(instance))
            except ValueError:
                pass
        elif _INSTANCE.match(value):
            try:
                found.setdefault("app_id", app_of_instance(InstanceId(value)))
                found.setdefault("instance_id", value)
            except ValueError:
                pass
        elif value.startswith("/") and len(value) > 1 and app_id_problem(value) is None:
            found.setdefault("app_id", value)
        elif _UUID.match(value):
            found.setdefault("deployment_id", value)
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object per record (module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"time": _iso(record.created), "level": record.levelname, "logger": record.name,
                                "message": record.getMessage()}
        ids = ids_in(record.args) if record.args else {}
        ids.update(LOG_CONTEXT.get())
        ids.update({key: str(getattr(record, key)) for key in ID_KEYS if getattr(record, key, None) is not None})
        line.update({key: ids[key] for key in ID_KEYS if key in ids})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, separators=(",", ":"))


def _iso(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int((created % 1) * 1000):03d}Z"


def add_argument(parser: argparse.ArgumentParser, env_prefix: str = "MESOSPAAS_") -> None:
    env = f"{env_prefix}LOG_FORMAT"
    parser.add_argument("--log-format", default=os.environ.get(env, "text"), choices=FORMATS,
                        help=f"text lines, or one JSON object per line with the app, instance, task and deployment "
                             f"ids it is about (env {env})")


def install(log_format: str, level: str | None = None) -> None:
    """With ``json``: the root logger writes JSON lines to stderr (the subcommand's own ``basicConfig`` then
    finds a handler and leaves it). With ``text``: nothing changes."""
    if log_format != "json":
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    chosen = (level or os.environ.get("MESOSPAAS_LOG_LEVEL") or "INFO").upper()
    root.setLevel(getattr(logging, chosen, logging.INFO))


__all__ = ["ID_KEYS", "JsonFormatter", "LOG_CONTEXT", "add_argument", "ids_in", "install", "log_context"]
