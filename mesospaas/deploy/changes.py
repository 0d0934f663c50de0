"""What a change to an app means: nothing, a scale, or a restart; and the version fields it earns.

Owns: ``ChangeKind``, ``changed_fields``, ``classify`` (reference §2.5), Marathon's timestamp text
(``marathon_timestamp``), ``VersionInfo`` / ``version_info`` and the stamping of new versions
(``with_version`` for one app, ``assign_versions`` for a whole edited root, as Marathon's
GroupVersioningUtil does before planning).

Classification compares *definitions*: every ``AppSpec`` field except ``version`` and ``config_version``,
plus the app's declared dependencies. Only ``instances`` (or our upgrade-strategy extensions: progress
deadline, auto rollback, canary) differing is a SCALE; any other difference
(labels, backoff, health checks, upgradeStrategy, dependencies… — and, by construction, any ``AppSpec``
field added later) is a RESTART, because Marathon replaces every task then.

Version semantics (Marathon's ``versionInfo``): every change gets ``version = now``; a config change (or a
restart request) also sets ``lastConfigChangeAt = now``; a scale keeps it. ``lastScalingAt`` changes on both
kinds, so it always equals ``version``: ``AppSpec`` stores only ``version`` and ``config_version``
(``lastConfigChangeAt``, ``None`` = same as ``version``) and ``version_info`` derives the three. An unchanged
app keeps its versions. The planner reads a config-version difference as "restart" (``POST /restart``).

Timestamps: UTC, millisecond precision, ``Z`` suffix, ``.000`` dropped as Marathon (java ``Instant``)
prints it: ``2015-09-25T15:13:48.343Z``, ``2026-11-22T10:00:00Z``. Two changes in the same millisecond get
the same version; the shell should keep ``now`` strictly increasing between deployments.

Fails: never raises for well-formed input.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace

from mesospaas.model.app import AppSpec
from mesospaas.model.group import Group, GroupId, ancestors, parent_of
from mesospaas.model.ids import AppId, AppVersion

_UNIX_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_VERSION_FIELDS = frozenset({"version", "config_version"})
UPGRADE_EXTENSIONS = "upgrade_strategy.extensions"
"""The name ``changed_fields`` reports when only our extensions of the upgrade strategy (progress deadline,
auto rollback, canary) changed: they steer the next deployments, not the tasks, so they restart nothing."""
_SCALE_FIELDS = frozenset({"instances", UPGRADE_EXTENSIONS})
DEPENDENCIES = "dependencies"
"""The name ``changed_fields`` reports for a change of the app's declared dependencies."""


class ChangeKind(enum.Enum):
    NONE = "none"
    SCALE = "scale"
    """Only ``instances`` changed: start or kill instances, keep the rest."""
    RESTART = "restart"
    """The task changed: every instance is replaced (a RestartApplication action)."""


def changed_fields(
    old: AppSpec,
    new: AppSpec,
    *,
    old_dependencies: frozenset[str] = frozenset(),
    new_dependencies: frozenset[str] = frozenset(),
) -> frozenset[str]:
    """The ``AppSpec`` field names (and ``dependencies``) whose values differ, versions ignored."""
    names = {
        f.name
        for f in dataclasses.fields(AppSpec)
        if f.name not in _VERSION_FIELDS and getattr(old, f.name) != getattr(new, f.name)
    }
    if "upgrade_strategy" in names and _same_capacities(old, new):
        names.discard("upgrade_strategy")
        names.add(UPGRADE_EXTENSIONS)
    if old_dependencies != new_dependencies:
        names.add(DEPENDENCIES)
    return frozenset(names)


def _same_capacities(old: AppSpec, new: AppSpec) -> bool:
    a, b = old.upgrade_strategy, new.upgrade_strategy
    return (a.minimum_health_capacity, a.maximum_over_capacity) == (b.minimum_health_capacity, b.maximum_over_capacity)


def classify(
    old: AppSpec,
    new: AppSpec,
    *,
    old_dependencies: frozenset[str] = frozenset(),
    new_dependencies: frozenset[str] = frozenset(),
) -> ChangeKind:
    """NONE, SCALE (only ``instances`` differs) or RESTART (anything else differs), versions ignored."""
    changed = changed_fields(old, new, old_dependencies=old_dependencies, new_dependencies=new_dependencies)
    if not changed:
        return ChangeKind.NONE
    return ChangeKind.SCALE if changed <= _SCALE_FIELDS else ChangeKind.RESTART


@functools.lru_cache(maxsize=64)
def marathon_timestamp(now: float) -> AppVersion:
    """``now`` (seconds since the epoch) as Marathon's version text, rounded to the millisecond (remembered:
    one change asks for the same moment several times)."""
    millis = round(now * 1000)
    moment = _UNIX_EPOCH + datetime.timedelta(milliseconds=millis)
    fraction = f".{millis % 1000:03d}" if millis % 1000 else ""
    return AppVersion(moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z")


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """The app's ``version`` and ``versionInfo`` as the API shows them."""

    version: AppVersion
    last_scaling_at: AppVersion
    last_config_change_at: AppVersion


def version_info(app: AppSpec) -> VersionInfo:
    return VersionInfo(app.version, app.version, app.effective_config_version)


def with_version(app: AppSpec, previous: AppSpec | None, kind: ChangeKind, now: float) -> AppSpec:
    """``app`` with the version fields a change of ``kind`` from ``previous`` (``None``: new app) earns."""
    if previous is not None and kind is ChangeKind.NONE:
        return replace(app, version=previous.version, config_version=previous.config_version)
    version = marathon_timestamp(now)
    if previous is not None and kind is ChangeKind.SCALE:
        return replace(app, version=version, config_version=previous.effective_config_version)
    return replace(app, version=version, config_version=None)


def assign_versions(
    original: Group, target: Group, now: float, *, restart: Collection[AppId] = ()
) -> Group:
    """``target`` with every app and group versioned relative to ``original``, as Marathon stamps an update.

    Apps: unchanged ones keep their versions, scaled ones get a new ``version``, changed ones (and those in
    ``restart``: ``POST /v2/apps/{id}/restart``) a new ``version`` and config version. Groups: a group whose
    subtree changed in any way (apps, dependencies, sub-groups) gets ``version = now``; others keep theirs.
    Call it once per API change, after the edit helpers, then plan from ``original`` to the result.

    Work is proportional to what changed: untouched subtrees are skipped by identity, and in a group the edit
    helpers derived from its original only the keys they changed are looked at (``Group.changed_keys``); an
    unchanged app keeps its very object. The result is derived from ``target`` (``Group.with_changes``).
    """
    restarting = frozenset(restart)
    # the groups holding a restarted app, and those above them: only there may an untouched subtree change
    restart_paths = {g for key in restarting for g in ancestors(parent_of(key))}
    stamped_at = marathon_timestamp(now)
    nothing: Mapping[AppId, AppSpec] = {}
    no_deps: Mapping[AppId, frozenset[str]] = {}
    no_groups: Mapping[GroupId, Group] = {}

    def stamp(old_group: Group | None, group: Group) -> Group:
        if old_group is group and group.id not in restart_paths:
            return group  # a subtree the edit did not touch (edits copy only the path they change)
        # An app's id names its group, so its previous self is in the same group of ``original``.
        before = old_group.apps if old_group is not None else nothing
        before_deps = old_group.app_dependencies if old_group is not None else no_deps
        before_groups = old_group.groups if old_group is not None else no_groups
        keys = group.changed_keys(old_group) if old_group is not None else None
        if keys is None:  # not derived from ``old_group``: look at everything
            app_keys: Iterable[AppId] = before.keys() | group.apps.keys()
            group_keys: Iterable[GroupId] = before_groups.keys() | group.groups.keys()
        else:
            app_keys, group_keys = keys
        if group.id in restart_paths:
            app_keys = {*app_keys, *(k for k in restarting if parent_of(k) == group.id)}
            group_keys = {*group_keys, *(k for k in restart_paths if k != group.id and parent_of(k) == group.id)}
        apps: dict[AppId, AppSpec | None] = {}
        same = old_group is not None and old_group.dependencies == group.dependencies \
            and old_group.enforce_role == group.enforce_role
        for key in app_keys:
            app, previous = group.apps.get(key), before.get(key)
            old_deps, new_deps = before_deps.get(key, frozenset()), group.app_dependencies.get(key, frozenset())
            same = same and old_deps == new_deps
            if app is None:
                same = same and previous is None
                continue
            if previous is app and old_deps == new_deps and key not in restarting:
                continue  # the very same object: unchanged, nothing to compare
            if previous is None:
                kind = ChangeKind.RESTART
            else:
                kind = classify(previous, app, old_dependencies=old_deps, new_dependencies=new_deps)
                if key in restarting:
                    kind = ChangeKind.RESTART
            # an unchanged definition keeps its versions: it is then ``previous`` itself (equal, and shared)
            versioned = previous if previous is not None and kind is ChangeKind.NONE else \
                with_version(app, previous, kind, now)
            same = same and versioned is previous
            if versioned is not app:
                apps[key] = versioned
        children: dict[GroupId, Group | None] = {}
        for sub in group_keys:
            child = group.groups.get(sub)
            old_child = before_groups.get(sub)
            if child is None:
                same = same and old_child is None
                continue
            versioned_child = stamp(old_child, child)
            same = same and versioned_child is old_child
            if versioned_child is not child:
                children[sub] = versioned_child
        if keys is None:  # every key was looked at: also the key sets must match
            same = same and before.keys() == group.apps.keys() and before_groups.keys() == group.groups.keys()
        if same:
            assert old_group is not None
            return old_group
        return group.with_changes(apps=apps, groups=children, version=stamped_at)

    return stamp(original.group(target.id), target)
