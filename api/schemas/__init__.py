"""The API boundary's schemas: Marathon JSON <-> ``AppDefinition`` / ``GroupDefinition`` (and ``AppSpec``).

Owns every marshmallow schema of the HTTP API (marshmallow is used nowhere else), the canonical form of
app definitions, and the conversion to the core's ``AppSpec``. Storage codecs are separate: they persist
``AppDefinition.definition`` (already canonical) and do not go through these schemas' validation.

Public surface::

    load_app(json, *, base_path="/", partial=False, existing=None, app_id=None, default_role="*") -> AppDefinition
    dump_app(app, *, version=None, version_info=None, counts=None, deployments=None, tasks=None, ...) -> dict
    load_group(json, *, group_id="/", default_role="*") -> GroupDefinition
    dump_group(group, *, version_of=None, app_dump=None, include_enforce_role=False) -> dict
    restore_app(stored_definition, *, version=None, config_version=None) -> AppDefinition
    rollback_version(body) -> str | None;  change_kind(old, new) -> "unchanged" | "scale" | "restart"

Failures are ``api.errors.InvalidDefinition`` (422 "Invalid JSON" or "Object is not valid", with
Marathon's paths), plus ``RollbackRequested`` from ``load_app`` for a ``{"version": ts}`` update body.
"""

from api.schemas.app import AppSchema
from api.schemas.definition import (
    AppDefinition,
    RollbackRequested,
    build_app,
    change_kind,
    dump_app,
    load_app,
    load_body,
    restore_app,
    rollback_version,
)
from api.schemas.group import GroupDefinition, GroupSchema, dump_group, load_group

__all__ = [
    "AppDefinition",
    "AppSchema",
    "GroupDefinition",
    "GroupSchema",
    "RollbackRequested",
    "build_app",
    "change_kind",
    "dump_app",
    "dump_group",
    "load_app",
    "load_body",
    "load_group",
    "restore_app",
    "rollback_version",
]
