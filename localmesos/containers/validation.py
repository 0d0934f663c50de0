"""What a real master refuses in a task's ``ContainerInfo`` (the rest fails later, on the agent).

The DOCKER rule's text is recorded (transcript 90); the volume rule's is Mesos' common validation as we know
it, not a recording.

Owns ``container_error(container) -> message | None``; the master reports it as ``TASK_ERROR``
``REASON_TASK_INVALID`` with ``Task's `ContainerInfo` is invalid: <message>`` (transcript 90, case d).
Shape errors (missing required fields, wrong types) are caught before, by ``protobuf_json``.
"""

from __future__ import annotations

from typing import Any

PREFIX = "Task's `ContainerInfo` is invalid: "


def container_error(container: dict[str, Any] | None) -> str | None:
    if not container:
        return None
    kind = container.get("type")
    if kind == "DOCKER" and not container.get("docker"):
        return "DockerInfo 'docker' is not set for DOCKER typed ContainerInfo"
    for volume in container.get("volumes") or ():
        if sum(1 for key in ("host_path", "image", "source") if volume.get(key)) != 1:
            return "Only one of them should be set: 'host_path', 'image' and 'source'"
    return None
