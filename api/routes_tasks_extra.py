"""Our routes about one task (not Marathon's): its logs and its resource usage.

Owns, for every task (command executor or the mesospaas executor), read from the agent that runs it through
``/files/browse``, ``/files/read`` and ``/monitor/statistics`` (``api.sandbox_files``, as real Mesos
agents and localmesos serve them; the master does not proxy files):

- ``GET /v2/tasks/{taskId}/logs?stream=stdout|stderr&offset=N&length=N&rotated=K``: ``{"taskId", "stream",
  "file", "data", "offset"}``; without ``offset`` the last ``length`` bytes (default 64 KiB, at most 1 MiB);
  ``rotated=K`` reads ``stdout.K`` (the mesospaas executor's rotated files, newest = 1).
- ``...&follow=true``: a streamed ``text/plain`` response: the last ``length`` bytes (or from ``offset``), then
  what the task writes, across rotations, until the task has ended and its output is read (or the client
  goes away).
- ``GET /v2/tasks/{taskId}/logs/files``: the task's log files (``stdout``, ``stdout.1``, ... ``stderr``...) with
  size and mtime.
- ``GET /v2/tasks/{taskId}/stats``: ``{"taskId", "appId", "agentId", "executor": latest usage reported by the
  mesospaas executor or null, "agent": the agent's /monitor/statistics of the task's container or null}``;
  ``GET /v2/tasks/stats``: the latest executor usage of every task that reported (the autoscaler's input).

Never part of Marathon's task JSON (the released client rejects unknown task keys). Fails: 404 (Marathon's
``Task '<id>' does not exist``, or a sandbox that is gone), 422 for bad query parameters (Marathon's shape),
502 when the agent cannot be reached.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from api.errors import ApiError, InvalidDefinition, Violation, task_not_found
from api.mesos_master import mesos_master_of
from api.routes_apps import flag, platform_of
from mesospaas.executor_protocol import STREAMS, parse_rotated_name, rotated_name
from mesospaas.model import Instance
from mesospaas.model.ids import parse_task_id
from api.platform import TaskUsageView
from api.sandbox_files import (SandboxError, SandboxFiles, SandboxNotFound, TaskSandbox, agent_statistics,
                               follow)
from api.task_usage import usage_json

FILES = web.AppKey("task_sandbox_files", SandboxFiles)
DEFAULT_LENGTH = 64 * 1024
MAX_LENGTH = 1024 * 1024


def _instance(request: web.Request, task_id: str) -> Instance:
    platform = platform_of(request)
    try:
        instance_id, incarnation = parse_task_id(task_id)
    except ValueError:
        raise task_not_found(task_id) from None
    instance = platform.state.instances.get(instance_id)
    if instance is None or incarnation < 1 or incarnation > instance.incarnation or instance.agent is None:
        raise task_not_found(task_id)
    return instance


def _int(request: web.Request, name: str, default: int | None, low: int, high: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidDefinition([Violation(f"/{name}", f"must be an integer, got {raw!r}")]) from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"{low} or more"
        raise InvalidDefinition([Violation(f"/{name}", f"got {value}, expected {bound}")])
    return value


async def _sandbox(request: web.Request, task_id: str) -> TaskSandbox:
    instance = _instance(request, task_id)
    assert instance.agent is not None
    framework_id = platform_of(request).state.framework_id or ""
    try:
        return await request.app[FILES].find(instance.agent.agent_id, framework_id, task_id)
    except SandboxNotFound as exc:
        raise ApiError(f"The sandbox of task '{task_id}' is not available: {exc}", status=404) from None
    except SandboxError as exc:
        raise ApiError(f"The agent of task '{task_id}' did not answer: {exc}", status=502) from None


def _still_running(request: web.Request, task_id: str) -> bool:
    instance_id, incarnation = parse_task_id(task_id)
    instance = platform_of(request).state.instances.get(instance_id)
    return instance is not None and instance.incarnation == incarnation and instance.has_live_task


async def task_logs(request: web.Request) -> web.StreamResponse:
    task_id = request.match_info["task_id"]
    stream = request.query.get("stream", "stdout")
    if stream not in STREAMS:
        raise InvalidDefinition([Violation("/stream", f"must be one of {', '.join(STREAMS)}, got {stream!r}")])
    offset = _int(request, "offset", None, 0)
    length = _int(request, "length", DEFAULT_LENGTH, 0, MAX_LENGTH)
    rotated = _int(request, "rotated", 0, 0)
    following = flag(request, "follow")
    assert length is not None and rotated is not None
    if following and rotated:
        raise InvalidDefinition([Violation("/follow", "only the live file (rotated=0) can be followed")])
    name = rotated_name(stream, rotated)
    sandbox = await _sandbox(request, task_id)
    reader = request.app[FILES]
    try:
        if offset is None:
            size = await reader.size(sandbox, name)
            offset = max(0, size - length)
        chunk = await reader.read(sandbox, name, offset, length)
    except SandboxNotFound:
        raise ApiError(f"Task '{task_id}' has no log file {name}", status=404) from None
    except SandboxError as exc:
        raise ApiError(f"The agent of task '{task_id}' did not serve {name}: {exc}", status=502) from None
    if not following:
        return web.json_response({"taskId": task_id, "stream": stream, "file": name, "data": chunk.data,
                                  "offset": chunk.offset})
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8",
                                           "Cache-Control": "no-cache"})
    await response.prepare(request)
    await response.write(chunk.data.encode("utf-8"))
    start = chunk.offset + len(chunk.data.encode("utf-8"))
    try:
        async for more in follow(reader, sandbox, name, start, done=lambda: not _still_running(request, task_id)):
            await response.write(more.data.encode("utf-8"))
    except SandboxError as exc:  # the agent went away under us: end the stream with a note
        await response.write(f"\n[mesospaas: stopped following {name}: {exc}]\n".encode())
    except (ConnectionResetError, ConnectionError):
        return response
    await response.write_eof()
    return response


async def task_log_files(request: web.Request) -> web.Response:
    task_id = request.match_info["task_id"]
    sandbox = await _sandbox(request, task_id)
    try:
        entries = await request.app[FILES].browse(sandbox)
    except SandboxError as exc:
        raise ApiError(f"The agent of task '{task_id}' did not list its sandbox: {exc}", status=502) from None
    files: list[tuple[tuple[str, int], dict[str, Any]]] = []
    for entry in entries:
        name = entry.path.rsplit("/", 1)[-1]
        parsed = parse_rotated_name(name)
        if parsed is not None:
            files.append((parsed, {"name": name, "stream": parsed[0], "rotated": parsed[1], "size": entry.size,
                                   "mtime": entry.mtime}))
    return web.json_response({"taskId": task_id, "files": [f for _, f in sorted(files, key=lambda x: x[0])]})


def _stats(request: web.Request) -> TaskUsageView:
    stats: TaskUsageView = platform_of(request).task_stats  # type: ignore[attr-defined]
    return stats


async def task_stats(request: web.Request) -> web.Response:
    task_id = request.match_info["task_id"]
    instance = _instance(request, task_id)
    assert instance.agent is not None
    received = _stats(request).latest(task_id)
    body: dict[str, Any] = {"taskId": task_id, "appId": str(instance.app_id), "agentId": instance.agent.agent_id,
                            "executor": usage_json(received) if received is not None else None, "agent": None}
    if _still_running(request, task_id):
        framework_id = platform_of(request).state.framework_id or ""
        try:  # both executors run a task in an executor whose id is the task id
            body["agent"] = await agent_statistics(request.app[FILES], instance.agent.agent_id, framework_id,
                                                   task_id)
        except SandboxError as exc:
            body["agentError"] = str(exc)
    return web.json_response(body)


async def all_task_stats(request: web.Request) -> web.Response:
    platform = platform_of(request)
    stats = _stats(request)
    out = []
    for instance in platform.state.instances.values():
        if instance.task_id is not None:
            received = stats.latest(str(instance.task_id))
            if received is not None:
                out.append(usage_json(received))
    return web.json_response({"stats": out})


async def _files_lifecycle(app: web.Application) -> AsyncIterator[None]:
    app[FILES] = SandboxFiles(lambda: mesos_master_of(app))
    yield
    await app[FILES].close()


def register(app: web.Application) -> None:
    app.cleanup_ctx.append(_files_lifecycle)
    r = app.router
    r.add_get("/v2/tasks/stats", all_task_stats)
    r.add_get("/v2/tasks/{task_id}/logs", task_logs)
    r.add_get("/v2/tasks/{task_id}/logs/files", task_log_files)
    r.add_get("/v2/tasks/{task_id}/stats", task_stats)


__all__ = ["register"]
