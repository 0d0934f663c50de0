"""HTTP surface of one localmesos agent: executor API, ``/state``, ``/monitor/statistics`` and friends.

Owns the routes (each also under the ``/slave(1)`` prefix, as libprocess delegates them) and the JSON shapes
of the agent's read-only endpoints; the behaviour behind them lives in ``agent.Agent``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import wire
from .durations import stout_duration
from .master import TERMINAL_STATES, VERSION
from .protobuf_json import container_json, health_check_json
from .resources import Resources

if TYPE_CHECKING:
    from .agent import Agent, AgentTask, Container

AGENT = web.AppKey("agent", object)
# What a 1.11 agent advertises (agent /state, master /slaves and operator GET_AGENTS list the same).
AGENT_CAPABILITIES = ("MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT", "RESOURCE_PROVIDER",
                      "RESIZE_VOLUME", "AGENT_OPERATION_FEEDBACK", "AGENT_DRAINING", "TASK_RESOURCE_LIMITS")
VERSION_INFO = {"version": VERSION, "build_date": "2026-11-22 00:00:00", "build_time": 1795305600.0,
                "build_user": ""}


def build(agent: "Agent") -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024, middlewares=[wire.error_middleware])
    app[AGENT] = agent
    for prefix in ("", "/slave(1)"):
        app.router.add_route("*", prefix + "/api/v1/executor", agent.executor_call)
        app.router.add_get(prefix + "/state", state)
        app.router.add_get(prefix + "/flags", flags)
        app.router.add_get(prefix + "/health", health)
    app.router.add_get("/version", version)
    app.router.add_get("/monitor/statistics", statistics)
    app.router.add_get("/files/read", files_read)
    app.router.add_get("/files/browse", files_browse)
    app.router.add_get("/metrics/snapshot", metrics)
    return app


def _agent(request: web.Request) -> "Agent":
    from .agent import Agent
    agent = request.app[AGENT]
    assert isinstance(agent, Agent)
    return agent


async def version(request: web.Request) -> web.Response:
    """``/version`` is a plain JSON object: keys sorted (transcripts 10, 18c), unlike GET_VERSION."""
    return wire.json_response(dict(sorted(VERSION_INFO.items())), request=request)


async def health(request: web.Request) -> web.Response:
    return wire.empty(200)


def agent_flags(agent: "Agent") -> dict[str, str]:
    return {"log_dir": str(agent.flags.work_dir / "logs"), "hostname": agent.hostname, "ip": agent.ip,
            "port": str(agent.port), "resources": agent.total.to_flag(),
            "attributes": ";".join(f"{a.name}:{a.state_value() if a.kind != 'SCALAR' else _num(a.value)}"
                                   for a in agent.attributes),
            "work_dir": str(agent.flags.work_dir), "launcher": "posix", "isolation": "posix/cpu,posix/mem",
            "executor_registration_timeout": stout_duration(agent.flags.executor_registration_timeout),
            "executor_shutdown_grace_period": stout_duration(agent.flags.executor_shutdown_grace_period),
            "http_command_executor": "false", "switch_user": "false", "version": "false", "help": "false"}


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


async def flags(request: web.Request) -> web.Response:
    return wire.json_response({"flags": dict(sorted(agent_flags(_agent(request)).items()))}, request=request)


def _task_json(agent: "Agent", task: "AgentTask") -> dict[str, Any]:
    info = task.info
    out: dict[str, Any] = {"id": info["task_id"]["value"], "name": info.get("name", ""),
                           "framework_id": task.framework_id,
                           "executor_id": "" if info.get("command") is not None else task.executor_id,
                           "slave_id": agent.id, "state": task.state,
                           "resources": Resources.from_json(info.get("resources") or []).to_state_map(),
                           "role": "*", "statuses": task.statuses}
    if info.get("labels"):
        out["labels"] = info["labels"].get("labels", [])
    for key in ("discovery", "container"):
        if info.get(key) is not None:
            out[key] = container_json(info[key]) if key == "container" else info[key]
    if info.get("health_check") is not None:
        out["health_check"] = health_check_json(info["health_check"])
    return out


def _executor_json(agent: "Agent", c: "Container", completed: bool = False) -> dict[str, Any]:
    """An executor in the agent's ``/state``. A completed executor lists all its tasks as completed, each in
    the last state the agent knew (RUNNING for a task whose framework was removed, transcript 18)."""
    if completed:
        live, queued, done = [], [], list(c.tasks.values())
    else:
        live = [t for t in c.tasks.values() if t.state not in TERMINAL_STATES and t.state != "TASK_STAGING"]
        queued = [t for t in c.tasks.values() if t.state == "TASK_STAGING"]
        done = [t for t in c.tasks.values() if t.state in TERMINAL_STATES]
    # The executor's own resources (the command executor's 0.1 cpus / 32 MB) plus those of its live tasks: a
    # completed command executor shows only its own (transcript 18).
    resources = (Resources(scalars={"cpus": 0.1, "mem": 32.0}) if c.kind == "command"
                 else Resources.from_json(c.executor_info.get("resources") or []))
    for t in live + queued:
        resources = resources + Resources.from_json(t.info.get("resources") or [])
    out: dict[str, Any] = {"id": c.executor_id, "name": c.executor_info.get("name", ""),
                           "source": c.executor_info.get("source", ""), "container": c.container_id,
                           "directory": str(c.sandbox), "resources": resources.to_state_map(), "role": "*",
                           "tasks": [_task_json(agent, t) for t in live],
                           "queued_tasks": [_task_json(agent, t) for t in queued],
                           "completed_tasks": [_task_json(agent, t) for t in done]}
    if c.kind != "command":
        out["type"] = c.executor_info.get("type", "CUSTOM")
    return out


def state_json(agent: "Agent") -> dict[str, Any]:
    frameworks: dict[str, dict[str, Any]] = {}
    for fid, info in agent.frameworks.items():
        fw: dict[str, Any] = {"id": fid, "name": info.get("name", ""), "user": info.get("user", ""),
                              "failover_timeout": float(info.get("failover_timeout", 0.0)),
                              "checkpoint": bool(info.get("checkpoint", False)),
                              "hostname": info.get("hostname", "")}
        if "roles" in info:
            fw["roles"] = info["roles"]
        else:
            fw["role"] = info.get("role", "*")
        fw.update({"executors": [], "completed_executors": []})
        frameworks[fid] = fw
    for c in agent.containers.values():
        if c.framework_id in frameworks:
            frameworks[c.framework_id]["executors"].append(_executor_json(agent, c))
    for c in agent.completed_containers:
        if c.framework_id in frameworks:
            frameworks[c.framework_id]["completed_executors"].append(_executor_json(agent, c, completed=True))
    allocated = Resources()
    for c in agent.containers.values():
        allocated = allocated + c.resources
    return {**VERSION_INFO, "start_time": agent.start_time, "id": agent.id,
            "pid": f"slave(1)@{agent.ip}:{agent.port}", "hostname": agent.hostname,
            "capabilities": list(AGENT_CAPABILITIES),
            "resources": agent.total.to_state_map(), "reserved_resources": {},
            "unreserved_resources": agent.total.to_state_map(), "reserved_resources_full": {},
            "unreserved_resources_full": agent.total.to_json(ranges_first=False),
            "reserved_resources_allocated": {},
            "unreserved_resources_allocated": {k: v for k, v in allocated.to_state_map().items()},
            "resource_providers": [],
            "attributes": {a.name: a.state_value() for a in agent.attributes},
            "master_hostname": agent.master.flags.hostname, "log_dir": str(agent.flags.work_dir / "logs"),
            "flags": dict(sorted(agent_flags(agent).items())),
            "frameworks": [f for f in frameworks.values() if f["executors"]],
            "completed_frameworks": [f for f in frameworks.values() if not f["executors"]]}


async def state(request: web.Request) -> web.Response:
    return wire.json_response(state_json(_agent(request)), request=request)


async def statistics(request: web.Request) -> web.Response:
    from .process_stats import process_tree_stats
    agent = _agent(request)
    out = []
    for c in list(agent.containers.values()):
        pids = [c.process.pid] if c.process is not None and c.process.returncode is None else [
            t.runner.pid for t in c.tasks.values() if t.runner is not None and t.runner.pid and not t.runner.terminal]
        if not pids:
            continue
        stats: dict[str, Any] = {"timestamp": time.time(), "cpus_user_time_secs": 0.0,
                                 "cpus_system_time_secs": 0.0, "mem_rss_bytes": 0}
        for pid in pids:
            if pid is None:
                continue
            tree = process_tree_stats(pid)
            for key in ("cpus_user_time_secs", "cpus_system_time_secs", "mem_rss_bytes"):
                stats[key] += tree.get(key, 0)
        cpus = c.resources.scalar("cpus") + (0.1 if c.kind == "command" else 0.0)
        mem = int((c.resources.scalar("mem") + (32.0 if c.kind == "command" else 0.0)) * 1024 * 1024)
        stats.update({"cpus_soft_limit": round(cpus, 3), "mem_soft_limit_bytes": mem, "mem_limit_bytes": mem})
        out.append({"executor_id": c.executor_id, "executor_name": c.executor_info.get("name", ""),
                    "framework_id": c.framework_id, "source": c.executor_info.get("source", ""),
                    "statistics": dict(sorted(stats.items()))})
    return wire.json_response(out, request=request)


def _sandbox_path(agent: "Agent", raw: str) -> Path | None:
    root = agent.flags.work_dir.resolve()
    try:
        path = Path(raw).resolve()
    except (OSError, RuntimeError):
        return None
    if path != root and root not in path.parents:
        return None
    return path


async def files_read(request: web.Request) -> web.Response:
    """``/files/read?path=&offset=&length=``: a chunk of a sandbox file, as Mesos serves it."""
    agent = _agent(request)
    path = _sandbox_path(agent, request.query.get("path", ""))
    if path is None or not path.is_file():
        return wire.text(404, "")
    try:
        offset = int(request.query.get("offset", -1))
        length = int(request.query.get("length", -1))
    except ValueError:
        return wire.text(400, "Failed to parse offset or length")
    size = path.stat().st_size
    if offset == -1:
        return wire.json_response({"data": "", "offset": size}, request=request)
    if length == -1:
        length = size - offset
    with path.open("rb") as f:
        f.seek(max(0, offset))
        data = f.read(max(0, length))
    return wire.json_response({"data": data.decode("utf-8", errors="replace"), "offset": offset}, request=request)


async def files_browse(request: web.Request) -> web.Response:
    agent = _agent(request)
    path = _sandbox_path(agent, request.query.get("path", ""))
    if path is None or not path.is_dir():
        return wire.text(404, "")
    entries = []
    for child in sorted(path.iterdir()):
        st = child.stat()
        entries.append({"path": str(child), "size": st.st_size, "mtime": st.st_mtime, "mode": oct(st.st_mode),
                        "nlink": st.st_nlink, "uid": str(st.st_uid), "gid": str(st.st_gid)})
    return wire.json_response(entries, request=request)


async def metrics(request: web.Request) -> web.Response:
    agent = _agent(request)
    counts: dict[str, int] = {}
    for c in list(agent.containers.values()) + list(agent.completed_containers):
        for t in c.tasks.values():
            counts[t.state] = counts.get(t.state, 0) + 1
    out: dict[str, float] = {"slave/registered": 1.0 if agent.running else 0.0,
                             "slave/uptime_secs": time.time() - agent.start_time,
                             "slave/executors_running": float(len(agent.containers))}
    for name in ("staging", "starting", "running", "killing", "finished", "failed", "killed", "lost"):
        out[f"slave/tasks_{name}"] = float(counts.get("TASK_" + name.upper(), 0))
    for name in ("cpus", "mem", "disk", "gpus"):
        out[f"slave/{name}_total"] = agent.total.scalar(name)
    return wire.json_response(dict(sorted(out.items())), request=request)
