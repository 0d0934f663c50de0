"""Identifiers: app paths, app versions, instance ids, task ids, agent and offer ids.

Owns the id formats, chosen to match Marathon 1.7+ so that existing tooling (marathon-lb, zdd.py, the
``marathon`` PyPI client) can parse them:

- App id: an absolute path such as ``/shop/web``. Segments match Marathon's regex (lowercase letters, digits,
  ``-``, and ``.`` between labels); the last segment may not be ``restart``, ``tasks`` or ``versions``.
- Safe path: the segments joined with ``_`` (``/shop/web`` -> ``shop_web``).
- Instance id: ``<safePath>.instance-<uuid4>`` (``shop_web.instance-1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b``).
  It is stable for the life of the instance: a relaunch keeps it and bumps the incarnation.
- Task id: ``<instanceId>._app.<incarnation>`` with incarnation >= 1 (the n-th task launched for the
  instance). An instance that never launched has no task id.

Uuids come from an injected ``random.Random`` (``random_instance_ids``) so runs replay from a seed.

Fails: ``InvalidId`` (a ``ValueError``) from the constructors and parsers when the text has the wrong shape;
``app_id_problem`` returns Marathon's message as a value instead, for the API layer.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Callable
from typing import NewType

from mesospaas.errors import InvalidId

AppId = NewType("AppId", str)
"""Canonical absolute app path, e.g. ``/shop/web``."""
AppVersion = NewType("AppVersion", str)
"""An app version: the ISO-8601 timestamp Marathon uses (``2015-09-25T15:13:48.343Z``)."""
InstanceId = NewType("InstanceId", str)
TaskId = NewType("TaskId", str)
AgentId = NewType("AgentId", str)
OfferId = NewType("OfferId", str)

InstanceIdSource = Callable[[AppId], InstanceId]
"""Makes a fresh instance id for an app; injected into the reconciler."""

_SEGMENT = re.compile(r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$")
_RESERVED_LAST = ("restart", "tasks", "versions")
_INSTANCE = re.compile(r"^(.+)\.(instance-|marathon-)([^_.]+)$")
_TASK = re.compile(r"^(.+)\.(instance-|marathon-)([^_.]+)[._]([^.]+)\.(\d+)$")
APP_CONTAINER_NAME = "_app"
"""The container name Marathon uses in task ids of apps (pods use the container's name)."""


def path_segments(path: str) -> list[str]:
    """The segments of a path with ``.`` dropped and ``..`` applied (never above the root)."""
    parts: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if parts:
                parts.pop()
            continue
        parts.append(segment)
    return parts


def app_id_problem(path: str) -> str | None:
    """Marathon's validation message for an app path, or ``None`` when it is valid."""
    parts = path_segments(path)
    if not parts:
        return "Path must contain at least one path element"
    for segment in parts:
        if not _SEGMENT.match(segment):
            return f"must fully match regular expression '{_SEGMENT.pattern}'"
    if parts[-1] in _RESERVED_LAST:
        return "must not end with any of the following reserved keywords: " + ", ".join(_RESERVED_LAST)
    return None


def app_id(path: str) -> AppId:
    """Canonicalise ``path`` (relative paths resolve against ``/``; ``.``/``..`` are path steps)."""
    problem = app_id_problem(path)
    if problem is not None:
        raise InvalidId(f"invalid app id {path!r}: {problem}")
    return AppId("/" + "/".join(path_segments(path)))


def safe_path(app: AppId) -> str:
    """The app path with segments joined by ``_``, as used in instance and task ids."""
    return app.strip("/").replace("/", "_")


def instance_id(app: AppId, instance_uuid: uuid.UUID) -> InstanceId:
    return InstanceId(f"{safe_path(app)}.instance-{instance_uuid}")


def random_instance_ids(rng: random.Random) -> InstanceIdSource:
    """An ``InstanceIdSource`` drawing version-4 uuids from ``rng`` (deterministic for a seed)."""

    def make(app: AppId) -> InstanceId:
        return instance_id(app, uuid.UUID(int=rng.getrandbits(128), version=4))

    return make


def app_of_instance(instance: InstanceId) -> AppId:
    """The app path encoded in an instance id (segments were joined with ``_``)."""
    match = _INSTANCE.match(instance)
    if match is None:
        raise InvalidId(f"not an instance id: {instance!r}")
    return AppId("/" + match.group(1).replace("_", "/"))


def task_id(instance: InstanceId, incarnation: int) -> TaskId:
    """The id of the ``incarnation``-th task launched for ``instance`` (incarnation >= 1)."""
    if incarnation < 1:
        raise InvalidId(f"incarnation must be >= 1, got {incarnation}")
    return TaskId(f"{instance}.{APP_CONTAINER_NAME}.{incarnation}")


def parse_task_id(task: TaskId | str) -> tuple[InstanceId, int]:
    """Split a task id into (instance id, incarnation). Raises ``InvalidId`` for other formats."""
    match = _TASK.match(task)
    if match is None:
        raise InvalidId(f"not an instance-based task id: {task!r}")
    instance = InstanceId(f"{match.group(1)}.{match.group(2)}{match.group(3)}")
    return instance, int(match.group(5))
