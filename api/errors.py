"""Marathon's error bodies, as values and as one exception tree the HTTP middleware maps to responses.

Owns: ``Violation`` (one message at one path), ``ApiError`` and its subclasses (each knows its HTTP status
and its exact JSON body), the constructors for Marathon's fixed messages, and ``details_from_messages``,
which turns a marshmallow ``ValidationError.messages`` tree into Marathon's ``details`` list.

Path format (Marathon's, from its ``Validation.allRuleViolationsWithFullDescription``): ``/`` between
fields, ``(i)`` appended for an array index, ``/`` alone for the whole object::

    /cpus   /container/docker/image   /healthChecks(0)/portIndex   /constraints(1)   /apps(0)/id   /

Map keys are path steps too (``/env/SECRET_KEY``, ``/labels/HAPROXY_0_VHOST``). Violations at one path are
grouped into a single ``{"path": ..., "errors": [...]}`` entry, in the order first seen.

Two kinds of invalid body, as Marathon (reference §1.1) distinguishes them:

- *JSON shape* (422 "Invalid JSON", as Marathon 1.5 and later answer; 1.4 and older said 400): a value of
  the wrong JSON type, an unknown enum literal, a missing required field. Messages are play-json's codes (``error.expected.jsstring``, ``error.expected.jsnumber``,
  ``error.expected.int``, ``error.expected.jsboolean``, ``error.expected.jsarray``,
  ``error.expected.jsobject``, ``error.unknown.enum.literal``, ``error.path.missing``). Marathon stops at
  the reader, so when there is any shape error only shape errors are reported.
- *Semantic* (422 "Object is not valid"): everything else (ranges, cross-field rules, ids, constraints).

A body that is not JSON at all stays 400 "Invalid JSON" with the parser's message (``UnparseableJson``).

Fails: nothing here raises by itself; ``ApiError`` subclasses are raised by the schema layer and the routes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

JSON_ERROR_PREFIX = "error."
"""play-json's message codes all start with this; Marathon's semantic messages never do."""

INVALID_JSON = "Invalid JSON"
OBJECT_NOT_VALID = "Object is not valid"


@dataclass(frozen=True, slots=True)
class Violation:
    """One validation message at one Marathon path (``/healthChecks(0)/portIndex``)."""

    path: str
    message: str

    @property
    def is_json_shape(self) -> bool:
        return self.message.startswith(JSON_ERROR_PREFIX)


def join_path(parent: str, child: str | int) -> str:
    """``join_path("/", "cpus") == "/cpus"``; ``join_path("/apps", 0) == "/apps(0)"``."""
    if isinstance(child, int):
        return f"{parent}({child})" if parent != "/" else f"/({child})"
    if parent == "/":
        return "/" + child
    return f"{parent}/{child}"


def group_details(violations: Iterable[Violation]) -> list[dict[str, Any]]:
    """Marathon's ``details``: one entry per path, messages in the order first seen, duplicates dropped."""
    grouped: dict[str, list[str]] = {}
    for violation in violations:
        messages = grouped.setdefault(violation.path, [])
        if violation.message not in messages:
            messages.append(violation.message)
    return [{"path": path, "errors": errors} for path, errors in grouped.items()]


def violations_from_messages(messages: Any, path: str = "/") -> list[Violation]:
    """Flatten a marshmallow ``ValidationError.messages`` tree into violations with Marathon paths.

    Keys that are ints are array indices (``(i)``), ``_schema`` means the object itself, other strings are
    field or map-key steps. A list of strings is the message list for the current path.
    """
    found: list[Violation] = []
    if isinstance(messages, str):
        found.append(Violation(path, messages))
    elif isinstance(messages, Mapping):
        for key, value in messages.items():
            if key == "_schema":
                found.extend(violations_from_messages(value, path))
            elif isinstance(key, int) and not isinstance(key, bool):
                found.extend(violations_from_messages(value, join_path(path, key)))
            else:
                found.extend(violations_from_messages(value, join_path(path, str(key))))
    elif isinstance(messages, Sequence):
        for item in messages:
            found.extend(violations_from_messages(item, path))
    else:
        found.append(Violation(path, str(messages)))
    return found


def details_from_messages(messages: Any, path: str = "/") -> list[dict[str, Any]]:
    """marshmallow ``ValidationError.messages`` -> Marathon's ``details`` list."""
    return group_details(violations_from_messages(messages, path))


class ApiError(Exception):
    """An expected failure of an API call, carrying Marathon's status and JSON body."""

    status: int = 500

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def body(self) -> dict[str, Any]:
        return {"message": self.message}


class InvalidDefinition(ApiError):
    """A rejected app or group definition: 422 "Invalid JSON" or 422 "Object is not valid".

    Built from violations: if any is a JSON-shape violation the message is "Invalid JSON" and only those are
    reported (Marathon never reaches semantic validation then); otherwise it is "Object is not valid".
    Both are 422, as Marathon 1.5 and later answer (``UnparseableJson`` is the only 400 "Invalid JSON").
    """

    def __init__(self, violations: Sequence[Violation]) -> None:
        if not violations:
            raise ValueError("InvalidDefinition needs at least one violation")
        shape = [v for v in violations if v.is_json_shape]
        self.violations: tuple[Violation, ...] = tuple(shape or violations)
        self.json_shape = bool(shape)
        super().__init__(INVALID_JSON if shape else OBJECT_NOT_VALID, status=422)

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "details": group_details(self.violations)}

    def prefixed(self, prefix: str) -> InvalidDefinition:
        """The same violations under ``prefix`` (an app inside a group: ``/apps(0)`` + ``/cpus``)."""
        return InvalidDefinition([Violation(_prefix_path(prefix, v.path), v.message) for v in self.violations])

    def __str__(self) -> str:
        return f"{self.message}: " + "; ".join(f"{v.path}: {v.message}" for v in self.violations)


def _prefix_path(prefix: str, path: str) -> str:
    if prefix in ("", "/"):
        return path
    return prefix if path == "/" else prefix + path


class UnparseableJson(ApiError):
    """The body is not JSON at all: 400 ``{"message": "Invalid JSON", "details": "<parser message>"}``."""

    status = 400

    def __init__(self, parser_message: str) -> None:
        super().__init__(INVALID_JSON)
        self.parser_message = parser_message

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "details": self.parser_message}


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class Locked(Conflict):
    """409 with ``deployments``: clients (marathon-ui, DC/OS CLI) tell a lock from a duplicate by that key."""

    def __init__(self, deployment_ids: Sequence[str]) -> None:
        first = deployment_ids[0] if deployment_ids else ""
        super().__init__(
            "App is locked by one or more deployments. Override with the option '?force=true'. "
            f"View details at '/v2/deployments/{first}'."
        )
        self.deployment_ids = tuple(deployment_ids)

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "deployments": [{"id": i} for i in self.deployment_ids]}


class BadRequest(ApiError):
    status = 400


class Unprocessable(ApiError):
    """422 with a bare message (Marathon's ``IllegalArgumentException`` mapping)."""

    status = 422


def parse_json(text: str | bytes) -> Any:
    """Parse a request body the way Marathon's reader does; ``UnparseableJson`` (400) if it is not JSON.

    NaN and Infinity are not JSON and are rejected too (Python's parser would accept them).
    """

    def reject_constant(name: str) -> Any:
        raise ValueError(f"Non-standard token '{name}'")

    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        if not text.strip():
            raise ValueError("No content to map due to end-of-input")
        return json.loads(text, parse_constant=reject_constant)
    except (ValueError, UnicodeDecodeError) as error:
        raise UnparseableJson(str(error)) from None


def app_not_found(app_id: str) -> NotFound:
    return NotFound(f"App '{app_id}' does not exist")


def group_not_found(group_id: str) -> NotFound:
    return NotFound(f"Group '{group_id}' does not exist")


def task_not_found(task_id: str) -> NotFound:
    return NotFound(f"Task '{task_id}' does not exist")


def deployment_not_found(deployment_id: str) -> NotFound:
    return NotFound(f"DeploymentPlan {deployment_id} does not exist")


def app_exists(app_id: str) -> Conflict:
    return Conflict(f"An app with id [{app_id}] already exists.")


def group_exists(group_id: str) -> Conflict:
    return Conflict(f"Group {group_id} is already created. Use PUT to change this group.")


def app_locked(deployment_ids: Sequence[str]) -> Locked:
    return Locked(deployment_ids)
