"""Reading a task's sandbox files from the Mesos agent that ran it (``/files/browse`` and ``/files/read``), and
the agent's ``/monitor/statistics`` of its container.

Owns: ``SandboxFiles``, a small aiohttp client, the value types it returns (``TaskSandbox``, ``FileChunk``,
``FileEntry``), ``follow`` and ``agent_statistics``. Used by the API only: job runs' stdout/stderr
(``api.routes_jobs``), every task's logs and container statistics (``api.routes_tasks_extra``).

How a sandbox is found, as real Mesos 1.x needs it (transcript 93): the master does NOT proxy files (its
``/files/*`` answer 404 for agent paths), so

1. the agent's address comes from the master's ``/master/slaves`` (``pid`` = ``slave(1)@ip:port``);
2. the sandbox directory from the agent's own ``/state`` (``/slave(1)/state`` on older agents): the executor
   whose ``tasks``/``queued_tasks``/``completed_tasks`` hold the task, in ``frameworks`` or
   ``completed_frameworks``, ``executors`` or ``completed_executors``; its ``directory``;
3. files are read from the agent with ``/files/read?path=&offset=&length=`` and listed with
   ``/files/browse?path=``.

Offset semantics are the agent's: ``offset=-1`` (or none) returns no data and the file's size as ``offset``;
an offset past the end returns empty data at that offset; ``length=-1`` reads to the end. ``tail`` is built on
that (size first, then the last ``length`` bytes). Data is text (the agent decodes as UTF-8 with replacement).

Fails: ``SandboxNotFound`` when the agent, the task's executor or the file is unknown (agent 404s included:
the sandbox was garbage-collected); ``SandboxError`` for other agent refusals (e.g. 400 "Cannot read a
directory") and for network errors or timeouts (``timeout`` seconds per request, default 5).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0
MAX_READ = 1024 * 1024
"""The largest chunk one ``read`` asks for (the agent would serve more; responses stay bounded)."""


class SandboxError(Exception):
    """The agent refused a files request or could not be reached."""


class SandboxNotFound(SandboxError):
    """No such agent, task sandbox or file (any more)."""


@dataclass(frozen=True, slots=True)
class TaskSandbox:
    agent: str
    """The agent's ``host:port`` (files are served there, not by the master)."""
    directory: str
    """The executor run's sandbox directory on the agent."""

    def path(self, name: str) -> str:
        return f"{self.directory.rstrip('/')}/{name.lstrip('/')}"


@dataclass(frozen=True, slots=True)
class FileChunk:
    data: str
    offset: int
    """Where ``data`` starts in the file (for a size query: the file's size)."""


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: str
    size: int
    mtime: float
    mode: str


class SandboxFiles:
    def __init__(self, master: str | Callable[[], str | None], timeout: float = DEFAULT_TIMEOUT,
                 session: aiohttp.ClientSession | None = None) -> None:
        self._master = master
        """The master's ``host:port``, or how to find it now (with a ``zk://`` master it moves)."""
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._own_session = session is None
        self._closed = False

    async def close(self) -> None:
        """Closes the reader's own session; a reader that is closed reads nothing more (a follow still
        streaming when its API shuts down ends with ``SandboxError``, and leaves no session behind)."""
        self._closed = True
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._closed:
            raise SandboxError("the sandbox reader is closed")
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
            self._own_session = True
        return self._session

    async def _get(self, address: str, path: str, params: dict[str, str] | None = None) -> Any:
        url = f"http://{address}{path}"
        try:
            async with self._client().get(url, params=params, timeout=self.timeout) as response:
                if response.status == 404:
                    raise SandboxNotFound(f"{address}{path}: not found")
                if response.status != 200:
                    text = (await response.text()).strip()
                    raise SandboxError(f"{address}{path}: {response.status} {text}")
                return await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise SandboxError(f"{address}{path}: {type(exc).__name__}: {exc}") from exc

    async def agent_address(self, agent_id: str) -> str:
        """The ``host:port`` of agent ``agent_id``, from the master's ``/master/slaves``."""
        master = self._master() if callable(self._master) else self._master
        if not master:
            raise SandboxError("the leading Mesos master is not known yet")
        body = await self._get(master, "/master/slaves")
        for agent in body.get("slaves", []) if isinstance(body, dict) else []:
            if agent.get("id") == agent_id:
                pid = str(agent.get("pid", ""))
                if "@" in pid:
                    return pid.split("@", 1)[1]
                return f"{agent.get('hostname')}:{agent.get('port', 5051)}"
        raise SandboxNotFound(f"agent {agent_id} is not registered with the master")

    async def agent_state(self, address: str) -> dict[str, Any]:
        try:
            state = await self._get(address, "/state")
        except SandboxNotFound:
            state = await self._get(address, "/slave(1)/state")
        if not isinstance(state, dict):
            raise SandboxError(f"{address}/state: not a JSON object")
        return state

    async def find(self, agent_id: str, framework_id: str, task_id: str) -> TaskSandbox:
        """The sandbox of ``task_id`` (of ``framework_id``) on agent ``agent_id``."""
        address = await self.agent_address(agent_id)
        directory = sandbox_directory(await self.agent_state(address), framework_id, task_id)
        if directory is None:
            raise SandboxNotFound(f"task {task_id} has no sandbox on agent {agent_id} (any more)")
        return TaskSandbox(address, directory)

    async def read(self, sandbox: TaskSandbox, name: str, offset: int, length: int = MAX_READ) -> FileChunk:
        """``length`` bytes (at most ``MAX_READ``) of sandbox file ``name`` from ``offset``."""
        length = MAX_READ if length < 0 else min(length, MAX_READ)
        body = await self._get(sandbox.agent, "/files/read",
                               {"path": sandbox.path(name), "offset": str(offset), "length": str(length)})
        return FileChunk(str(body.get("data", "")), int(body.get("offset", offset)))

    async def size(self, sandbox: TaskSandbox, name: str) -> int:
        body = await self._get(sandbox.agent, "/files/read", {"path": sandbox.path(name), "offset": "-1"})
        return int(body.get("offset", 0))

    async def tail(self, sandbox: TaskSandbox, name: str, length: int) -> FileChunk:
        """The last ``length`` bytes of sandbox file ``name``."""
        size = await self.size(sandbox, name)
        return await self.read(sandbox, name, max(0, size - max(0, length)), length)

    async def browse(self, sandbox: TaskSandbox, name: str = "") -> list[FileEntry]:
        body = await self._get(sandbox.agent, "/files/browse",
                               {"path": sandbox.path(name) if name else sandbox.directory})
        return [FileEntry(str(e.get("path", "")), int(e.get("size", 0)), float(e.get("mtime", 0.0)),
                          str(e.get("mode", ""))) for e in body if isinstance(e, dict)]


def sandbox_directory(state: dict[str, Any], framework_id: str, task_id: str) -> str | None:
    """The ``directory`` of the executor that holds ``task_id`` in an agent's ``/state``, if any."""
    for framework in [*state.get("frameworks", []), *state.get("completed_frameworks", [])]:
        if framework.get("id") != framework_id:
            continue
        for executor in [*framework.get("executors", []), *framework.get("completed_executors", [])]:
            for key in ("tasks", "queued_tasks", "completed_tasks"):
                if any(t.get("id") == task_id for t in executor.get(key, [])):
                    directory = executor.get("directory")
                    return str(directory) if directory else None
    return None


# -- following a log across rotations (task logs: api.routes_tasks_extra, mesospaas logs -f) -----------------
# The mesospaas executor rotates ``stdout`` to ``stdout.1``, older files shifting up (``stdout.2``...; names from
# mesospaas.executor_protocol). A follower remembers the first bytes of the file it reads. When the live file
# starts differently (or is shorter than what was read), it was rotated: the old file is the rotated one that
# starts with the remembered bytes (``.1`` after one rotation, ``.2`` after two...), so the rest of it is read,
# then the newer rotated files, then the new live file from 0. Nothing is read twice; data is lost only when
# more than ``keep`` rotations happen between two polls (the old file is gone by then). While data flows the
# follower polls every ``FOLLOW_BUSY_POLL`` seconds; when it is idle, every ``FOLLOW_POLL`` seconds.
FOLLOW_POLL = 0.5
FOLLOW_BUSY_POLL = 0.1
HEAD = 64
"""How many first bytes of a log file identify it across renames."""


async def agent_json(files: SandboxFiles, address: str, path: str) -> Any:
    """Another read-only JSON endpoint of an agent (e.g. ``/monitor/statistics``), with the reader's errors."""
    return await files._get(address, path)


async def _read_range(files: SandboxFiles, sandbox: TaskSandbox, name: str, offset: int,
                      end: int | None) -> AsyncIterator[FileChunk]:
    """Chunks of ``name`` from ``offset`` to ``end`` (None: to what the file holds now)."""
    while end is None or offset < end:
        want = MAX_READ if end is None else min(MAX_READ, end - offset)
        chunk = await files.read(sandbox, name, offset, want)
        if not chunk.data:
            return
        yield chunk
        offset += len(chunk.data.encode("utf-8"))


async def _head(files: SandboxFiles, sandbox: TaskSandbox, name: str) -> str:
    try:
        return (await files.read(sandbox, name, 0, HEAD)).data
    except SandboxNotFound:
        return ""


def _same_file(head: str, now: str) -> bool:
    """Whether a file starting with ``now`` is the one that started with ``head`` (either may be shorter)."""
    return now.startswith(head) or head.startswith(now)


def _rotated_sizes(entries: list[FileEntry], name: str) -> tuple[int | None, dict[int, int]]:
    """The live file's size (None if absent) and the rotated files' sizes by index."""
    live, rotated = None, {}
    for entry in entries:
        base = entry.path.rsplit("/", 1)[-1]
        if base == name:
            live = entry.size
        elif base.startswith(name + ".") and base[len(name) + 1:].isdigit():
            rotated[int(base[len(name) + 1:])] = entry.size
    return live, rotated


async def follow(files: SandboxFiles, sandbox: TaskSandbox, name: str, offset: int,
                 done: Callable[[], bool] = lambda: False, poll: float = FOLLOW_POLL) -> AsyncIterator[FileChunk]:
    """New data of sandbox log ``name`` (``stdout``/``stderr``) from ``offset`` on, following rotations, until
    ``done()`` is true and nothing new was found (e.g. the task ended and its output was read)."""
    head = await _head(files, sandbox, name)
    while True:
        finished = done()
        try:
            live, rotated = _rotated_sizes(await files.browse(sandbox), name)
        except SandboxNotFound:
            return  # the sandbox is gone
        grew = False
        if live is not None:
            now_head = await _head(files, sandbox, name)
            moved = live < offset or not _same_file(head, now_head)
            if moved and offset == 0:
                head = now_head
            elif moved:
                indexes = sorted(rotated)
                old = None
                for index in indexes:
                    if (await _head(files, sandbox, f"{name}.{index}")).startswith(head):
                        old = index
                        break
                sources = [(old, offset)] if old is not None else []
                sources += [(i, 0) for i in sorted((i for i in indexes if old is None or i < old), reverse=True)]
                for index, start in sources:
                    async for chunk in _read_range(files, sandbox, f"{name}.{index}", start, rotated[index]):
                        grew = True
                        yield chunk
                offset, head = 0, now_head
            if not head:
                head = now_head
            async for chunk in _read_range(files, sandbox, name, offset, max(live, offset)):
                if not _same_file(head, await _head(files, sandbox, name)):
                    break  # rotated while reading: the chunk may be the new file's; the next round sorts it out
                grew = True
                offset = chunk.offset + len(chunk.data.encode("utf-8"))
                if len(head) < HEAD and chunk.offset == 0:
                    head = chunk.data.encode("utf-8")[:HEAD].decode("utf-8", "ignore")
                yield chunk
        if finished and not grew:
            return
        await asyncio.sleep(FOLLOW_BUSY_POLL if grew else poll)


async def agent_statistics(files: SandboxFiles, agent_id: str, framework_id: str,
                           executor_id: str) -> dict[str, Any] | None:
    """The ``statistics`` of the executor container ``executor_id`` on agent ``agent_id`` (None: not running).

    The agent is found like a sandbox (its address from the master); fails like the sandbox reader."""
    address = await files.agent_address(agent_id)
    body = await agent_json(files, address, "/monitor/statistics")
    if not isinstance(body, list):
        raise SandboxError(f"{address}/monitor/statistics: not a JSON array")
    for entry in body:
        if isinstance(entry, dict) and entry.get("framework_id") == framework_id \
                and entry.get("executor_id") == executor_id:
            statistics = entry.get("statistics")
            return dict(statistics) if isinstance(statistics, dict) else None
    return None


__all__ = ["FileChunk", "FileEntry", "SandboxError", "SandboxFiles", "SandboxNotFound", "TaskSandbox", "agent_json",
           "agent_statistics", "follow", "sandbox_directory"]
