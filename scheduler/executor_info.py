"""The ExecutorInfo that starts the mesospaas executor (``executor/``) for an app's task, and its settings.

Owns ``ExecutorSettings`` (how agents start the executor: ``--executor-command``, ``--executor-uri``,
``--executor-env``, its resources and the default log rotation, from ``serve``/``local`` flags) and
``with_mesospaas_executor``: a command task's TaskInfo (as ``mesos_adapter.task_info`` builds it for the
command executor) turned into one for our executor:

- Mesos forbids ``command`` and ``executor`` in one TaskInfo: the command (value, shell, arguments, the
  Marathon environment) moves into ``TaskInfo.data`` as the protocol's ``TaskSpec``, with the app's log
  rotation and usage interval (labels ``MESOSPAAS_LOG_MAX_BYTES``, ``MESOSPAAS_LOG_KEEP``,
  ``MESOSPAAS_USAGE_INTERVAL_SECONDS`` over the defaults);
- one executor per task: ``executor_id`` = the task id (a Mesos executor id must be unique per framework and
  agent, and the same id with another ExecutorInfo is an error, so ids are never reused across tasks);
- the executor's resources are carved out of the task's (cpus and mem placement reserved for the task), so
  the ACCEPT never asks for more than the offer holds; when the task is too small to share, the executor
  declares none (Mesos only warns);
- the app's fetch URIs (and ``--executor-uri``) go into the ExecutorInfo's command: the Mesos fetcher puts
  them in the sandbox the executor and the task share;
- ``shutdown_grace_period`` leaves room for the task's kill grace period.

By default the agent runs ``<this Python> -P -m executor`` (agents with the same installation, as localmesos and
hosts built from one image); elsewhere ``--executor-command mesospaas-executor`` or a fetched URI.
Fails: ``ExecutorConfigError`` for settings or app labels that cannot be used (the message says which).
"""

from __future__ import annotations

import argparse
import base64
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mesospaas.executor_protocol import (DEFAULT_LOG_KEEP, DEFAULT_LOG_MAX_BYTES, DEFAULT_USAGE_INTERVAL,
                                         EXECUTOR_PATH, LOG_KEEP_LABEL, LOG_MAX_BYTES_LABEL, USAGE_INTERVAL_LABEL,
                                         LogRotation, ProtocolError, TaskCommand, TaskSpec, encode_task_spec,
                                         log_rotation_from_labels, usage_interval_from_labels)
from mesospaas.model import AppSpec
from mesospaas.model.app import CommandExecutor, CustomExecutor

EXECUTOR_CPUS = 0.01
EXECUTOR_MEM = 32.0
SHUTDOWN_MARGIN = 3.0
MIN_SHUTDOWN_GRACE = 5.0


class ExecutorConfigError(ValueError):
    """Executor settings or app labels that cannot be turned into an ExecutorInfo."""


def default_command() -> str:
    """``<this Python> -P -m executor``: ``-P`` keeps the sandbox (the working directory, which fetched URIs
    fill) off ``sys.path``, so nothing in it can shadow the installed package."""
    return f"{shlex.quote(sys.executable)} -P -m executor"


@dataclass(frozen=True)
class ExecutorSettings:
    command: str = field(default_factory=default_command)
    """The shell command an agent runs to start the executor."""
    uris: tuple[str, ...] = ()
    """Fetched into the sandbox before the command runs (e.g. a packaged executor)."""
    env: tuple[tuple[str, str], ...] = ()
    """Added to the executor's environment (``MESOSPAAS_EXECUTOR_*`` configure the executor itself)."""
    cpus: float = EXECUTOR_CPUS
    mem: float = EXECUTOR_MEM
    log: LogRotation = field(default_factory=LogRotation)
    usage_interval: float = DEFAULT_USAGE_INTERVAL


def parse_env(text: str | None) -> tuple[tuple[str, str], ...]:
    """``NAME=VALUE,NAME2=VALUE2`` (flag syntax) -> pairs."""
    pairs = []
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ExecutorConfigError(f"--executor-env: expected NAME=VALUE, got {item!r}")
        pairs.append((name.strip(), value))
    return tuple(pairs)


def uses_mesospaas_executor(app: AppSpec) -> bool:
    return isinstance(app.executor, CustomExecutor) and app.executor.path == EXECUTOR_PATH


def unsupported_executor(app: AppSpec) -> str | None:
    """Why the app's executor cannot be launched (None: the command executor or ours)."""
    if isinstance(app.executor, CommandExecutor) or uses_mesospaas_executor(app):
        return None
    return f"custom executor {app.executor.path!r} is not supported (use \"\", //cmd or {EXECUTOR_PATH})"


def task_spec(command: Mapping[str, Any], labels: Mapping[str, str], settings: ExecutorSettings) -> TaskSpec:
    """The protocol's TaskSpec for a command-executor ``CommandInfo`` of an app with ``labels``."""
    variables = ((command.get("environment") or {}).get("variables") or [])
    try:
        return TaskSpec(
            command=TaskCommand(value=str(command["value"]), shell=bool(command.get("shell", True)),
                                arguments=tuple(str(a) for a in command.get("arguments") or ()),
                                environment=tuple((str(v["name"]), str(v.get("value", ""))) for v in variables)),
            log=log_rotation_from_labels(labels, settings.log),
            usage_interval_seconds=usage_interval_from_labels(labels, settings.usage_interval))
    except ProtocolError as exc:
        raise ExecutorConfigError(str(exc)) from exc


def _carve(resources: list[dict[str, Any]], name: str, amount: float) -> dict[str, Any] | None:
    """Takes ``amount`` of scalar ``name`` from the task (only when it keeps at least as much)."""
    for item in resources:
        if item.get("name") == name and item.get("type") == "SCALAR":
            have = float(item["scalar"]["value"])
            if have < 2 * amount:
                return None
            item["scalar"] = {"value": round(have - amount, 6)}
            share = {k: v for k, v in item.items() if k != "scalar"}
            share["scalar"] = {"value": amount}
            return share
    return None


def with_mesospaas_executor(info: dict[str, Any], app: AppSpec, settings: ExecutorSettings) -> dict[str, Any]:
    """``info`` (a command-executor TaskInfo of ``app``) rewritten to run on the mesospaas executor."""
    out = dict(info)
    command = out.pop("command")
    task_id = str(out["task_id"]["value"])
    # SECRET variables stay SECRET: the agent resolves them into the executor's environment, which the task
    # inherits; in TaskInfo.data (the task spec) they would be plain values.
    variables = list((command.get("environment") or {}).get("variables") or [])
    secrets = [v for v in variables if (v.get("type") or "VALUE") == "SECRET"]
    plain = {**command, "environment": {"variables": [v for v in variables if v not in secrets]}}
    spec = task_spec(plain, app.labels, settings)
    resources = [dict(r) for r in out["resources"]]
    executor_resources = [share for share in (_carve(resources, "cpus", settings.cpus),
                                              _carve(resources, "mem", settings.mem)) if share is not None]
    out["resources"] = resources
    out["data"] = _b64(encode_task_spec(spec))
    executor_command: dict[str, Any] = {"value": settings.command, "shell": True}
    environment = [{"name": k, "value": v} for k, v in settings.env] + secrets
    if environment:
        executor_command["environment"] = {"variables": environment}
    uris = [{"value": u, "extract": True, "executable": False, "cache": False} for u in settings.uris]
    uris += list(command.get("uris") or [])
    if uris:
        executor_command["uris"] = uris
    if command.get("user"):
        executor_command["user"] = command["user"]
    kill_grace = (app.task_kill_grace_period_seconds or 0.0)
    grace = max(MIN_SHUTDOWN_GRACE, kill_grace + SHUTDOWN_MARGIN)
    executor: dict[str, Any] = {
        "executor_id": {"value": task_id}, "type": "CUSTOM", "name": f"mesospaas executor ({task_id})",
        "labels": {"labels": [{"key": "MESOSPAAS_APP_ID", "value": str(app.id)}]}, "command": executor_command,
        "shutdown_grace_period": {"nanoseconds": int(grace * 1e9)}}
    if executor_resources:
        executor["resources"] = executor_resources
    if "container" in out:  # the API refuses containers with this executor; a stored app could still have one
        raise ExecutorConfigError(f"the {EXECUTOR_PATH} executor does not run tasks in containers")
    out["executor"] = executor
    return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- flags (``mesospaas serve`` and ``mesospaas local``) ----------------------------------------------------
def add_executor_arguments(parser: argparse.ArgumentParser, add_flag: Callable[..., None]) -> None:
    add_flag(parser, "executor-command", None,
             help="shell command agents run to start the mesospaas executor (default: this Python -P -m executor; "
                  "e.g. mesospaas-executor where it is installed on the agents' PATH)")
    add_flag(parser, "executor-uri", "", help="comma-separated URIs the Mesos fetcher puts in the executor's "
                                              "sandbox first (e.g. a packaged executor)")
    add_flag(parser, "executor-env", "", help="NAME=VALUE,... added to the executor's environment "
                                              "(MESOSPAAS_EXECUTOR_* configure it; see mesospaas-executor --help)")
    add_flag(parser, "executor-log-max-bytes", str(DEFAULT_LOG_MAX_BYTES), type=int,
             help=f"default size at which task stdout/stderr are rotated (label {LOG_MAX_BYTES_LABEL})")
    add_flag(parser, "executor-log-keep", str(DEFAULT_LOG_KEEP), type=int,
             help=f"default number of rotated files kept per stream (label {LOG_KEEP_LABEL})")
    add_flag(parser, "executor-usage-interval", str(DEFAULT_USAGE_INTERVAL), type=float,
             help=f"default seconds between usage reports (label {USAGE_INTERVAL_LABEL})")


def executor_settings_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> ExecutorSettings:
    """The flags as ``ExecutorSettings``; a bad value exits with status 2 (``parser.error``)."""
    try:
        log = LogRotation(max_bytes=args.executor_log_max_bytes, keep=args.executor_log_keep)
        env = parse_env(args.executor_env)
    except (ProtocolError, ExecutorConfigError) as exc:
        parser.error(f"--executor-*: {exc}")
    if not args.executor_usage_interval > 0:
        parser.error("--executor-usage-interval must be positive")
    uris = tuple(u.strip() for u in (args.executor_uri or "").split(",") if u.strip())
    return ExecutorSettings(command=args.executor_command or default_command(), uris=uris, env=env, log=log,
                            usage_interval=args.executor_usage_interval)
