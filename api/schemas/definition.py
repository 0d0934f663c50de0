"""Loading and dumping app definitions: JSON body -> ``AppDefinition`` (spec + canonical JSON) -> response.

Owns ``AppDefinition``, ``load_app``, ``dump_app`` and the small helpers the routes need around them
(``rollback_version``, ``change_kind``). The pipeline, each step pure:

1. ``AppSchema`` checks JSON types and per-field rules (422 "Invalid JSON" / "Object is not valid" with Marathon's paths);
2. ``normalize.canonicalize`` translates the deprecated API and checks the old-API rules;
3. an update is merged over the existing definition (``partial``, reference §2.4: every top-level field
   named replaces the current one; the id always comes from the existing app or the URL);
4. ``normalize.complete`` fills every default (the definition GET returns);
5. ``rules.app_violations`` runs Marathon's semantic rules on the complete definition;
6. ``spec.to_app_spec`` builds the core's ``AppSpec``.

A definition that fails any step raises ``InvalidDefinition`` and never produces an ``AppSpec``. Nothing
else escapes ``load_app`` except ``RollbackRequested`` (an update body that is exactly ``{"version": ts}``
asks for a rollback, which needs the stored version; call ``rollback_version`` first to handle it).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from marshmallow import Schema, ValidationError

from api.errors import InvalidDefinition, Violation, violations_from_messages
from api.schemas.app import AppSchema
from api.schemas.extensions import public_definition
from api.schemas.fields import EXPECTED_OBJECT, EXPECTED_STRING, PATH_MISSING, value_checks_off
from api.schemas.normalize import canonicalize, complete, merge
from api.schemas.paths import ROOT, resolve
from api.schemas.rules import app_violations
from api.schemas.spec import to_app_spec
from mesospaas.errors import CoreError
from mesospaas.model.app import AppSpec
from mesospaas.model.ids import AppVersion

APP_SCHEMA = AppSchema()
MSG_VERSION_ALONE = "The 'version' field may only be combined with the 'id' field."
READ_ONLY_KEYS = ("version", "versionInfo")


@dataclass(frozen=True, slots=True)
class AppDefinition:
    """A valid app: ``spec`` for the scheduler, ``definition`` the canonical Marathon JSON (defaults filled).

    ``definition`` round-trips every field the core does not model (container, checks, networks, secrets).
    It excludes ``version``/``versionInfo`` (``dump_app`` adds them). Treat it as immutable.
    """

    spec: AppSpec
    definition: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.definition["id"])

    def with_version(self, version: str, config_version: str | None = None) -> AppDefinition:
        """The same app stamped with its version (and ``versionInfo.lastConfigChangeAt``) for the core."""
        spec = replace(
            self.spec,
            version=AppVersion(version),
            config_version=AppVersion(config_version) if config_version is not None else None,
        )
        return AppDefinition(spec, self.definition)


class RollbackRequested(Exception):
    """An update body was ``{"version": ts}`` (optionally with ``id``): roll back to that stored version."""

    def __init__(self, version: str) -> None:
        super().__init__(f"roll back to version {version}")
        self.version = version


def load_checked(schema: Schema, value: Any) -> tuple[dict[str, Any], list[Violation]]:
    """Load ``value`` with ``schema``; return the typed data and the value-rule violations found.

    JSON-shape errors raise ``InvalidDefinition`` at once. Value-rule errors (ranges, patterns) are
    returned instead, with the data loaded as if they had passed, so that the caller can add the
    cross-field violations and report everything in one response.
    """
    if not isinstance(value, Mapping):
        raise InvalidDefinition([Violation(ROOT, EXPECTED_OBJECT)])
    try:
        return schema.load(value), []
    except ValidationError as error:
        violations = violations_from_messages(error.messages)
    if any(v.is_json_shape for v in violations):
        raise InvalidDefinition(violations)
    try:
        with value_checks_off():
            return schema.load(value), violations
    except ValidationError as error:  # not expected: every value rule honours value_checks_off
        raise InvalidDefinition([*violations, *violations_from_messages(error.messages)]) from None


def load_body(value: Any) -> dict[str, Any]:
    """Step 1 alone: types and per-field rules. Returns the loaded body (only the keys given)."""
    body, violations = load_checked(APP_SCHEMA, value)
    if violations:
        raise InvalidDefinition(violations)
    return body


def load_app(
    json_dict: Any,
    *,
    base_path: str = ROOT,
    partial: bool = False,
    existing: AppDefinition | None = None,
    app_id: str | None = None,
    default_role: str = "*",
    default_network_name: str | None = None,
) -> AppDefinition:
    """Validate and normalize an app body.

    - ``base_path``: the group relative ids (``id``, ``dependencies``, affinity ``app``) resolve against.
    - ``existing`` + ``partial=True``: PATCH / ``PUT ?partialUpdate=true`` of an existing app (merge).
    - ``existing`` + ``partial=False``: ``PUT ?partialUpdate=false``: the body is the whole new definition.
    - ``app_id``: the id from the URL; it wins over the body's (Marathon ignores the body's id on PUT).
    - ``default_role``: the role an app without ``role`` gets (Marathon's ``--mesos_role`` or group role).
    - ``default_network_name``: the name a ``container`` network without one gets (``--default_network_name``).

    Raises ``InvalidDefinition`` (400/422 body in ``.body()``) or ``RollbackRequested``.
    """
    body, field_violations = load_checked(APP_SCHEMA, json_dict)
    if existing is not None and "version" in body and any(key not in ("id", "version") for key in json_dict):
        # A key given as null is dropped by the load, but it was given: version may only come with the id.
        raise InvalidDefinition([*field_violations, Violation(ROOT, MSG_VERSION_ALONE)])
    return build_app(
        body, base_path=base_path, partial=partial, existing=existing, app_id=app_id,
        default_role=default_role, default_network_name=default_network_name, field_violations=field_violations,
    )


def build_app(
    body: Mapping[str, Any],
    *,
    base_path: str = ROOT,
    partial: bool = False,
    existing: AppDefinition | None = None,
    app_id: str | None = None,
    default_role: str = "*",
    default_network_name: str | None = None,
    field_violations: Sequence[Violation] = (),
) -> AppDefinition:
    """Steps 2-6 on a body already loaded by ``AppSchema`` (groups load their apps with the group schema).

    ``field_violations`` are value-rule violations the load already found; they are reported together with
    whatever the later steps find.
    """
    is_update = existing is not None
    if is_update and "version" in body:
        if any(key not in ("id", "version") for key in body):
            raise InvalidDefinition([*field_violations, Violation(ROOT, MSG_VERSION_ALONE)])
        if field_violations:
            raise InvalidDefinition(field_violations)
        raise RollbackRequested(body["version"])
    canonical, problems = canonicalize(body, is_update=is_update)
    if problems:
        raise InvalidDefinition([*field_violations, *problems])
    if existing is not None and partial:
        merged = merge(existing.definition, canonical)
        merged["id"] = resolve(app_id, base_path) if app_id is not None else existing.id
    else:
        merged = dict(canonical)
        raw_id = app_id if app_id is not None else existing.id if existing is not None else canonical.get("id")
        if raw_id is None:
            raise InvalidDefinition([*field_violations, Violation("/id", PATH_MISSING)])
        merged["id"] = resolve(raw_id, base_path)
    definition = complete(
        merged, base_path=base_path, default_role=default_role, default_network_name=default_network_name
    )
    problems = [*field_violations, *app_violations(definition)]
    if problems:
        raise InvalidDefinition(problems)
    try:
        spec = to_app_spec(definition)
    except (CoreError, ValueError) as error:  # a rule missing from ``rules``: still only a 422 for the client
        raise InvalidDefinition([Violation(ROOT, str(error))]) from None
    return AppDefinition(spec, definition)


def restore_app(
    definition: Mapping[str, Any], *, version: str | None = None, config_version: str | None = None
) -> AppDefinition:
    """An ``AppDefinition`` again from a canonical definition read back from storage (or a stored version).

    Runs the whole pipeline, so a definition written by an older release is normalized to today's form;
    ``version``/``config_version`` stamp the spec (``with_version``). Raises ``InvalidDefinition`` if the
    stored JSON no longer validates (a bug or a hand-edited store, not a client error).
    """
    app = load_app(definition, default_role=str(definition.get("role", "*")))
    return app.with_version(version, config_version) if version is not None else app


def dump_app(
    app: AppDefinition,
    *,
    version: str | None = None,
    version_info: Mapping[str, str] | None = None,
    counts: Mapping[str, int] | None = None,
    deployments: Sequence[str] | None = None,
    tasks: Sequence[Mapping[str, Any]] | None = None,
    last_task_failure: Mapping[str, Any] | None = None,
    readiness_check_results: Sequence[Mapping[str, Any]] | None = None,
    task_stats: Mapping[str, Any] | None = None,
    extensions: bool = False,
) -> dict[str, Any]:
    """The response JSON of an app (AppInfo): the canonical definition plus what the caller embeds.

    ``version_info`` takes ``lastScalingAt``/``lastConfigChangeAt``; ``counts`` the four ``tasks*``
    counters; ``deployments`` deployment ids. Only keys marathon-python 0.13 accepts are ever added here;
    our extension fields (``api.schemas.extensions``) appear only with ``extensions`` (the request's
    ``embed=app.extensions`` / ``apps.extensions``).
    """
    out = copy.deepcopy(public_definition(app.definition, extensions))
    if version is not None:
        out["version"] = version
    if version_info is not None:
        out["versionInfo"] = {
            key: version_info[key] for key in ("lastScalingAt", "lastConfigChangeAt") if key in version_info
        }
    if counts is not None:
        for key in ("tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy"):
            out[key] = int(counts.get(key, 0))
    if deployments is not None:
        out["deployments"] = [{"id": deployment} for deployment in deployments]
    if tasks is not None:
        out["tasks"] = [copy.deepcopy(dict(task)) for task in tasks]
    if last_task_failure is not None:
        out["lastTaskFailure"] = copy.deepcopy(dict(last_task_failure))
    if readiness_check_results is not None:
        out["readinessCheckResults"] = [copy.deepcopy(dict(r)) for r in readiness_check_results]
    if task_stats is not None:
        out["taskStats"] = copy.deepcopy(dict(task_stats))
    return out


def rollback_version(body: Any) -> str | None:
    """The version an update body asks to roll back to, or ``None`` if it is an ordinary update.

    Raises ``InvalidDefinition`` when ``version`` is combined with anything but ``id`` (422) or is not a
    string (400).
    """
    if not isinstance(body, Mapping) or body.get("version") is None:
        return None
    if any(key not in ("id", "version") for key in body):
        raise InvalidDefinition([Violation(ROOT, MSG_VERSION_ALONE)])
    version = body["version"]
    if not isinstance(version, str):
        raise InvalidDefinition([Violation("/version", EXPECTED_STRING)])
    return version


def change_kind(old: AppDefinition, new: AppDefinition) -> Literal["unchanged", "scale", "restart"]:
    """Reference §2.5: only ``instances`` differs -> a scale; any other difference -> a restart."""
    if old.definition == new.definition:
        return "unchanged"
    strip = {key: value for key, value in old.definition.items() if key != "instances"}
    if strip == {key: value for key, value in new.definition.items() if key != "instances"}:
        return "scale"
    return "restart"
