"""Holds a TaskInfo against the Mesos proto schema and the master's container validation (as localmesos has
them: ``localmesos.protobuf_json``, ``localmesos.containers.validation``). Returns the problem, or None."""

from __future__ import annotations

import copy
from typing import Any

from localmesos.containers.validation import PREFIX, container_error
from localmesos.protobuf_json import ConversionError, check


def check_task_info(info: dict[str, Any]) -> str | None:
    try:
        check("TaskInfo", copy.deepcopy(info))
    except ConversionError as exc:
        return str(exc)
    problem = container_error(info.get("container"))
    return PREFIX + problem if problem else None
