"""App and group paths as the API sees them: relative ids, ``.``/``..`` steps, Marathon's messages.

Owns: ``resolve`` (an id as typed, against a base group path -> the absolute path) and the problem checks
for app ids (no root, segment regex, reserved last segments: ``mesospaas.model.ids.app_id_problem``) and
group ids (the root is allowed), plus ``parent_of``/``is_direct_child``.
"""

from __future__ import annotations

from mesospaas.model.ids import app_id_problem, path_segments

ROOT = "/"


def resolve(path: str, base: str = ROOT) -> str:
    """The absolute, canonical path of ``path`` typed inside group ``base`` (``..`` steps go up).

    Never fails: an invalid segment stays as typed so that its problem can be reported on the result.
    """
    joined = path if path.startswith("/") else base.rstrip("/") + "/" + path
    return "/" + "/".join(path_segments(joined))


def app_path_problem(path: str) -> str | None:
    """Marathon's message for an (already resolved) app path, or ``None``."""
    return app_id_problem(path)


def group_path_problem(path: str) -> str | None:
    """Marathon's message for a group path (the root group is fine), or ``None``."""
    if resolve(path) == ROOT:
        return None
    return app_id_problem(path)


def parent_of(path: str) -> str:
    parent = path.rsplit("/", 1)[0]
    return parent or ROOT


def is_direct_child(path: str, group: str) -> bool:
    return path != ROOT and parent_of(path) == resolve(group)


def not_child_message(path: str, group: str) -> str:
    return f"identifier {path} is not child of {group}. Hint: use relative paths."
