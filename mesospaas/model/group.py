"""Groups: the tree of apps that every deployment moves from an ``original`` root to a ``target`` root.

Owns: ``GroupId`` and the path helpers (``group_id``, ``resolve_path``, ``parent_of``, ``ancestors``),
``Group`` (an immutable tree with pure edit helpers), Marathon's dependency graph over apps, and
``DependencyCycle``.

Shape (Marathon's): a group holds apps and sub-groups whose ids are its *direct* children
(``/shop`` holds ``/shop/web`` and ``/shop/db``, never ``/shop/db/primary``), and ``dependencies``: absolute
paths of apps or groups. App-level ``dependencies`` are not a field of ``AppSpec`` (they only order
deployments), so each group keeps them for its direct apps in ``app_dependencies``; the edit helpers keep
both in step (``update_app(app, dependencies=...)``, ``remove_app`` drops them).

Dependency graph (as Marathon's ``Group.applicationDependencies``): an app depends on

- every app named by its own dependencies (a path naming a group means every app in that group's subtree),
- and on everything named by the dependencies of each of its enclosing groups (inherited by the subtree).

Paths naming nothing are ignored (they do not order anything). The constructor only accepts absolute
dependency paths. ``update_app`` resolves relative ones against the app's own id, as ``/v2/apps`` does
(``../db`` next to ``/shop/web`` is ``/shop/db``); ``with_dependencies`` against the group's id, as
``/v2/groups`` does. (Marathon's group API resolves *app* dependencies against the group id instead; the API
layer resolves those itself with ``resolve_path(group, path)`` before calling ``update_app``.)

A dependency of an app on itself (directly or through an enclosing group) is a cycle, as in Marathon,
whose graph allows self-loops.

Versions: the edit helpers never touch versions; ``deploy.changes.assign_versions`` stamps apps and groups
once an edit is complete (Marathon's GroupVersioningUtil), so the helpers compose freely.

Invariants (``InvalidSpec`` on construction otherwise): keys match ids; children are direct children; an app
and a group never share an id ("Groups and Applications may not have the same identifier."); dependency
paths are absolute; ``app_dependencies`` only names direct apps (empty entries are dropped, so equal trees
compare equal); ``apps``, ``groups`` and ``app_dependencies`` are read-only views of dicts sorted by key (so
iteration, and every plan, is deterministic). Fails: queries and removals of missing paths return ``None`` /
the tree unchanged; cycles are a ``DependencyCycle`` value (Marathon's 422 message), never an exception.

Cost of an edit (issue 11): the public constructor validates (and sorts) everything it is given. The edit
helpers instead derive the changed groups from their valid predecessors (``with_changes``): only the
changed entries are validated, the mappings are copied at C speed with the changed keys set in place (a new
key sorts in; after the last key, the common case, it is appended), untouched sub-groups are shared. A
derived group also remembers, weakly, which keys it changed relative to the groups it was derived from
(``changed_keys``), so comparing it with one of those (``changed_parts``, ``assign_versions``, the planner,
``pruned``) looks only at those keys, not at every app of the group. That memory is a cache: it is not a
field, not compared, not stored; without it the comparisons scan the group as before. ``restricted`` cuts a
group down to some of its entries at the cost of what it keeps.
"""

from __future__ import annotations

import bisect
import math
import re
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import NewType, TypeVar

from mesospaas.errors import InvalidId, InvalidSpec
from mesospaas.model.app import EPOCH_VERSION, AppSpec
from mesospaas.model.ids import AppId, AppVersion, path_segments

GroupId = NewType("GroupId", str)
"""Canonical absolute group path; the root is ``/``."""
ROOT = GroupId("/")
CYCLE_MESSAGE = "Dependency graph has cyclic dependencies."
CLASH_MESSAGE = "Groups and Applications may not have the same identifier."
_EPSILON = 1e-9
_SEGMENT = re.compile(r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$")


_segments = path_segments


def resolve_path(base: str, path: str) -> str:
    """``path`` as an absolute canonical path; a relative one is resolved against the group ``base``.

    ``resolve_path("/prod/frontend", "../database") == "/prod/database"`` (Marathon's ``canonicalPath``).
    """
    joined = path if path.startswith("/") else f"{base}/{path}"
    return "/" + "/".join(_segments(joined))


def group_id(path: str) -> GroupId:
    """Canonicalise a group path (``/`` is the root); raises ``InvalidId`` for malformed segments."""
    parts = _segments(path)
    for segment in parts:
        if not _SEGMENT.match(segment):
            raise InvalidId(f"invalid group id {path!r}: must fully match regular expression '{_SEGMENT.pattern}'")
    return GroupId("/" + "/".join(parts))


def parent_of(path: str) -> GroupId:
    """The group that directly holds ``path`` (the root's parent is the root)."""
    parts = _segments(path)
    return GroupId("/" + "/".join(parts[:-1]))


def ancestors(path: str) -> list[GroupId]:
    """The groups from the root down to ``path`` itself (``/a/b`` -> ``/``, ``/a``, ``/a/b``)."""
    parts = _segments(path)
    return [GroupId("/" + "/".join(parts[:n])) for n in range(len(parts) + 1)]


@dataclass(frozen=True, slots=True)
class DependencyCycle:
    """The target tree's dependency graph has a cycle: the plan cannot be ordered (Marathon answers 422)."""

    apps: tuple[AppId, ...]
    """One cycle found, in dependency order: each app depends on the next, the last on the first."""

    @property
    def message(self) -> str:
        return CYCLE_MESSAGE


_K = TypeVar("_K", bound=str)
_V = TypeVar("_V")


def _freeze(mapping: Mapping[_K, _V]) -> Mapping[_K, _V]:
    """A read-only copy, keys sorted so iteration (and so every plan) is deterministic."""
    return MappingProxyType({key: mapping[key] for key in sorted(mapping)})


def _edited(mapping: Mapping[_K, _V], changes: Mapping[_K, _V | None]) -> Mapping[_K, _V]:
    """``mapping`` (a ``_freeze``-sorted view) with ``changes`` applied (``None`` removes a key), still sorted.

    Copies the dict at C speed; replaced and removed keys keep their places, new keys sort in (appended when
    they follow the last key; otherwise the key order is merged, one O(n) pass)."""
    if not changes:
        return mapping
    out = mapping.copy() if isinstance(mapping, MappingProxyType) else dict(mapping)
    added: dict[_K, _V] = {}
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        elif key in out:
            out[key] = value
        else:
            added[key] = value
    if added:
        new_keys = sorted(added)
        if not out or new_keys[0] > next(reversed(out)):
            for key in new_keys:
                out[key] = added[key]
        else:
            keys = list(out)
            if len(new_keys) == 1:
                bisect.insort(keys, new_keys[0])
            else:
                keys += new_keys
                keys.sort()  # two sorted runs: a linear merge
            out.update(added)
            out = dict(zip(keys, map(out.__getitem__, keys)))
    return MappingProxyType(out)


_LINEAGE_DEPTH = 8
"""How many live predecessors a derived group remembers its changed keys against: the most recent ones and
always the oldest (during a batch of changes, the root last committed, which the commit compares with)."""
_LINEAGE_KEYS = 1024
"""A predecessor is forgotten once more keys than this changed since it (a scan is as cheap then)."""
_LINEAGE_PARTS = 32
"""The changed keys since a predecessor are kept as the sets of each edit (appending one costs nothing),
merged into one set when there are more than this."""
_NO_APPS: frozenset[AppId] = frozenset()
_NO_GROUPS: frozenset[GroupId] = frozenset()


GroupMaker = Callable[["GroupId", dict[AppId, AppSpec], dict["GroupId", "Group"]], "Group"]
"""Builds one group from its id, its direct apps and its already built direct sub-groups."""


def build_tree(apps: Iterable[AppSpec], groups: Iterable[GroupId], make: GroupMaker) -> Group:
    """The root holding ``apps`` and the groups ``groups`` (every ancestor created), built bottom-up by ``make``
    in O(n log n): deepest groups first, siblings by id."""
    by_group: dict[GroupId, dict[AppId, AppSpec]] = {}
    paths: set[GroupId] = {ROOT, *groups}
    for app in apps:
        holder = parent_of(app.id)
        by_group.setdefault(holder, {})[app.id] = app
        paths.add(holder)
    paths.update(a for p in list(paths) for a in ancestors(p))
    built: dict[GroupId, dict[GroupId, Group]] = {}
    for path in sorted(paths, key=lambda p: (-len(_segments(p)), p)):
        group = make(path, by_group.get(path, {}), built.pop(path, {}))
        if path == ROOT:
            return group
        built.setdefault(parent_of(path), {})[path] = group
    raise AssertionError("unreachable: the root is always built last")


_Origin = tuple["weakref.ReferenceType[Group]", tuple[frozenset[AppId], ...], tuple[frozenset[GroupId], ...], int]
"""A predecessor of a derived group (weakly held), the app keys (apps and their ``app_dependencies``) and
the sub-group keys in which the group may differ from it (each a union of sets), and how many keys those
sets hold."""


def _joined(parts: tuple[frozenset[_K], ...], more: frozenset[_K]) -> tuple[frozenset[_K], ...]:
    if not more:
        return parts
    if len(parts) >= _LINEAGE_PARTS:
        return (frozenset().union(*parts, more),)
    return (*parts, more)


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Group:
    id: GroupId
    apps: Mapping[AppId, AppSpec] = field(default_factory=dict)
    """Direct apps of this group, by id."""
    groups: Mapping[GroupId, Group] = field(default_factory=dict)
    """Direct sub-groups, by id."""
    dependencies: frozenset[str] = frozenset()
    """Absolute paths (apps or groups) everything in this subtree depends on."""
    version: AppVersion = EPOCH_VERSION
    app_dependencies: Mapping[AppId, frozenset[str]] = field(default_factory=dict)
    """The ``dependencies`` field of each direct app (absolute paths); apps without any are absent."""
    enforce_role: bool = False
    """Marathon's ``enforceRole`` (top-level groups only): its apps run under the Mesos role named after it
    (``mesospaas.tenancy.roles``)."""
    _lineage: tuple[_Origin, ...] = field(default=(), init=False, repr=False, compare=False)
    """What a derived group changed relative to its recent predecessors (``changed_keys``); not a field of the
    group: not compared, stored or copied by ``replace``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "apps", _freeze(self.apps))
        object.__setattr__(self, "groups", _freeze(self.groups))
        object.__setattr__(self, "dependencies", frozenset(self.dependencies))
        object.__setattr__(
            self,
            "app_dependencies",
            _freeze({k: frozenset(v) for k, v in self.app_dependencies.items() if v}),
        )
        if group_id(self.id) != self.id:
            raise InvalidSpec(f"group id {self.id!r} is not canonical")
        prefix = self.id if self.id == ROOT else self.id + "/"
        for key, app in self.apps.items():
            name = key[len(prefix):]
            if key != app.id or not key.startswith(prefix) or not name or "/" in name:
                raise InvalidSpec(f"app {app.id} is not a direct child of group {self.id}")
        for sub, child in self.groups.items():
            if sub != child.id or child.id == self.id or parent_of(child.id) != self.id:
                raise InvalidSpec(f"group {child.id} is not a direct child of group {self.id}")
        if set(self.apps) & set(self.groups):
            raise InvalidSpec(f"{self.id}: {CLASH_MESSAGE}")
        for key, paths in self.app_dependencies.items():
            if key not in self.apps:
                raise InvalidSpec(f"{self.id}: dependencies given for unknown app {key}")
            self._check_absolute(paths)
        self._check_absolute(self.dependencies)

    @staticmethod
    def _check_absolute(paths: Iterable[str]) -> None:
        for path in paths:
            if not path.startswith("/") or resolve_path("/", path) != path:
                raise InvalidSpec(f"dependency {path!r} must be an absolute canonical path")

    def changed_keys(self, since: Group) -> tuple[frozenset[AppId], frozenset[GroupId]] | None:
        """The keys of direct apps (an app or its ``app_dependencies`` entry) and of direct sub-groups in
        which this group may differ from ``since``, when it was derived from ``since`` by the edit helpers
        (within the last few edits, while ``since`` lives); ``None`` when not known (then compare everything).

        Every other key maps to the very same object in both. The group's own fields (``dependencies``,
        ``version``, ``enforce_role``) are not covered: compare them directly."""
        if since is self:
            return _NO_APPS, _NO_GROUPS
        for origin, apps, groups, _ in self._lineage:
            if origin() is since:
                return (apps[0] if len(apps) == 1 else frozenset().union(*apps),
                        groups[0] if len(groups) == 1 else frozenset().union(*groups))
        return None

    def _unchecked(self, apps: Mapping[AppId, AppSpec], groups: Mapping[GroupId, Group],
                   app_dependencies: Mapping[AppId, frozenset[str]], dependencies: frozenset[str],
                   version: AppVersion) -> Group:
        """A group with this one's id and role and the given content, which the caller has made valid and
        sorted (read-only views over dicts sorted by key), bypassing the constructor's checks."""
        made: Group = object.__new__(Group)
        for name, value in (("id", self.id), ("apps", apps), ("groups", groups), ("dependencies", dependencies),
                            ("version", version), ("app_dependencies", app_dependencies),
                            ("enforce_role", self.enforce_role), ("_lineage", ())):
            object.__setattr__(made, name, value)
        return made

    def restricted(self, apps: Iterable[AppId], groups: Mapping[GroupId, Group] | None = None) -> Group:
        """This group holding only those of ``apps`` it holds (with their declared dependencies) and, of its
        sub-groups, only ``groups``: each in place of its own sub-group with that id (``InvalidSpec`` for an
        id it does not hold). Its own fields stay. Cuts a tree down (``pruned``) at the cost of what it keeps:
        a part of a valid group is valid, so only the replacement sub-groups' ids are checked."""
        groups = groups or {}
        for key, child in groups.items():
            if key not in self.groups or child.id != key:
                raise InvalidSpec(f"group {child.id} is not a sub-group of group {self.id}")
        keep = sorted({a for a in apps if a in self.apps})
        return self._unchecked(
            MappingProxyType({key: self.apps[key] for key in keep}),
            MappingProxyType({key: groups[key] for key in sorted(groups)}),
            MappingProxyType({key: paths for key in keep if (paths := self.app_dependencies.get(key)) is not None}),
            self.dependencies, self.version)

    def with_changes(
        self,
        *,
        apps: Mapping[AppId, AppSpec | None] | None = None,
        app_dependencies: Mapping[AppId, frozenset[str] | None] | None = None,
        groups: Mapping[GroupId, Group | None] | None = None,
        dependencies: frozenset[str] | None = None,
        version: AppVersion | None = None,
    ) -> Group:
        """This group with the given entries changed (``None``, or an empty dependency set, removes one) and
        its ``dependencies`` / ``version`` replaced when given, validating only those: the invariants the
        constructor checks hold for the result (``InvalidSpec`` otherwise, with the constructor's messages),
        which equals the group the constructor would build from the same content and iterates in the same
        order. ``self`` when nothing changes. Costs the changed entries plus a C-speed copy of each mapping
        they change."""
        apps = apps or {}
        app_dependencies = {k: (v or None) for k, v in (app_dependencies or {}).items()}
        groups = groups or {}
        if dependencies is not None and dependencies == self.dependencies:
            dependencies = None
        if version == self.version:
            version = None
        if not (apps or app_dependencies or groups or dependencies is not None or version is not None):
            return self
        new_apps = _edited(self.apps, apps)
        new_groups = _edited(self.groups, groups)
        new_app_dependencies = _edited(self.app_dependencies, app_dependencies)
        prefix = self.id if self.id == ROOT else self.id + "/"
        for key, app in apps.items():
            if app is None:
                if key in new_app_dependencies:
                    raise InvalidSpec(f"{self.id}: dependencies given for unknown app {key}")
                continue
            name = key[len(prefix):]
            if key != app.id or not key.startswith(prefix) or not name or "/" in name:
                raise InvalidSpec(f"app {app.id} is not a direct child of group {self.id}")
            if GroupId(key) in new_groups:
                raise InvalidSpec(f"{self.id}: {CLASH_MESSAGE}")
        for sub, child in groups.items():
            if child is None:
                continue
            if sub != child.id or child.id == self.id or parent_of(child.id) != self.id:
                raise InvalidSpec(f"group {child.id} is not a direct child of group {self.id}")
            if AppId(sub) in new_apps:
                raise InvalidSpec(f"{self.id}: {CLASH_MESSAGE}")
        for key, paths in app_dependencies.items():
            if paths is not None:
                if key not in new_apps:
                    raise InvalidSpec(f"{self.id}: dependencies given for unknown app {key}")
                self._check_absolute(paths)
        if dependencies is not None:
            self._check_absolute(dependencies)
        made = self._unchecked(new_apps, new_groups, new_app_dependencies,
                               dependencies if dependencies is not None else self.dependencies,
                               version if version is not None else self.version)
        changed_apps = frozenset(apps).union(app_dependencies)
        changed_groups = frozenset(groups)
        changed = len(changed_apps) + len(changed_groups)
        lineage: list[_Origin] = [(weakref.ref(self), (changed_apps,), (changed_groups,), changed)]
        alive = [entry for entry in self._lineage
                 if entry[0]() is not None and entry[3] + changed <= _LINEAGE_KEYS]
        if len(alive) >= _LINEAGE_DEPTH:
            del alive[_LINEAGE_DEPTH - 2:-1]  # the most recent ones, and the oldest
        lineage.extend((origin, _joined(app_parts, changed_apps), _joined(group_parts, changed_groups), size + changed)
                       for origin, app_parts, group_parts, size in alive)
        object.__setattr__(made, "_lineage", tuple(lineage))
        return made

    # -- building -------------------------------------------------------------------------------------------

    @staticmethod
    def of(
        apps: Iterable[AppSpec] = (),
        *,
        app_dependencies: Mapping[AppId, Iterable[str]] | None = None,
        group_dependencies: Mapping[str, Iterable[str]] | None = None,
        version: AppVersion = EPOCH_VERSION,
    ) -> Group:
        """A root holding ``apps`` (enclosing groups created as needed), every group at ``version``.

        Relative dependency paths resolve as in ``update_app`` / ``with_dependencies``. Builds bottom-up in
        O(n log n), so it also suits loading a large flat store."""
        app_deps = {k: frozenset(resolve_path(k, p) for p in v) for k, v in (app_dependencies or {}).items()}
        group_deps = {
            group_id(k): frozenset(resolve_path(group_id(k), p) for p in v)
            for k, v in (group_dependencies or {}).items()
        }
        def make(path: GroupId, members: dict[AppId, AppSpec], children: dict[GroupId, Group]) -> Group:
            return Group(path, apps=members, groups=children, dependencies=group_deps.get(path, frozenset()),
                         version=version, app_dependencies={k: app_deps[k] for k in members if k in app_deps})

        return build_tree(apps, group_deps, make)

    # -- queries --------------------------------------------------------------------------------------------

    def all_groups(self) -> Iterator[Group]:
        """This group and every group below it, parents before children, siblings by id."""
        stack: list[Group] = [self]
        while stack:
            group = stack.pop()
            yield group
            stack.extend(reversed(list(group.groups.values())))

    def all_apps(self) -> Mapping[AppId, AppSpec]:
        """Every app in the subtree, by id (Marathon's ``transitiveApps``)."""
        return MappingProxyType({k: v for g in self.all_groups() for k, v in g.apps.items()})

    def all_app_dependencies(self) -> Mapping[AppId, frozenset[str]]:
        """The declared ``dependencies`` of every app in the subtree (apps without any are absent)."""
        return MappingProxyType({k: v for g in self.all_groups() for k, v in g.app_dependencies.items()})

    def group(self, path: str) -> Group | None:
        """The group at ``path`` in this subtree, or ``None``."""
        target = path if _is_canonical(path) else resolve_path(self.id, path)
        if not _within(target, self.id):
            return None
        node: Group | None = self
        if target == self.id:
            return node
        # the ids of the groups on the way are the prefixes of ``target`` that end before a "/"
        cut = target.find("/", len(self.id) + 1 if self.id != ROOT else 1)
        while cut != -1 and node is not None:
            node = node.groups.get(GroupId(target[:cut]))
            cut = target.find("/", cut + 1)
        return node.groups.get(GroupId(target)) if node is not None else None

    def _holder(self, path: str) -> tuple[Group | None, AppId]:
        """The group that would hold the app at ``path``, and the app's absolute id."""
        target = path if _is_canonical(path) else resolve_path(self.id, path)
        return self.group(target[: target.rfind("/")] or ROOT), AppId(target)

    def app(self, path: str) -> AppSpec | None:
        """The app at ``path`` in this subtree, or ``None``."""
        holder, key = self._holder(path)
        return holder.apps.get(key) if holder is not None else None

    def app_dependency_paths(self, path: str) -> frozenset[str]:
        """The ``dependencies`` declared by the app at ``path`` (empty if none or no such app)."""
        holder, key = self._holder(path)
        return holder.app_dependencies.get(key, frozenset()) if holder is not None else frozenset()

    def dependency_graph(self) -> Mapping[AppId, frozenset[AppId]]:
        """For every app: the apps it directly depends on (own and inherited dependencies, groups expanded).

        Apps that depend on nothing map to an empty set; every app of the tree is a key."""
        apps = self.all_apps()
        groups = {g.id: g for g in self.all_groups()}
        expanded: dict[str, frozenset[AppId]] = {}

        def expand(path: str) -> frozenset[AppId]:
            if path not in expanded:
                if path in apps:
                    expanded[path] = frozenset({AppId(path)})
                elif path in groups:
                    expanded[path] = frozenset(groups[GroupId(path)].all_apps())
                else:
                    expanded[path] = frozenset()
            return expanded[path]

        graph: dict[AppId, frozenset[AppId]] = {}
        # Dependencies of a group are inherited by its whole subtree (call this on the root: groups above
        # this tree's root are not seen).
        stack: list[tuple[Group, frozenset[str]]] = [(self, frozenset())]
        while stack:
            group, inherited = stack.pop()
            paths = inherited | group.dependencies
            for key in group.apps:
                own = group.app_dependencies.get(key, frozenset())
                graph[key] = frozenset(a for path in paths | own for a in expand(path))
            stack.extend((child, paths) for child in group.groups.values())
        return MappingProxyType({k: graph[k] for k in sorted(graph)})

    def dependency_depths(self) -> Mapping[AppId, int] | DependencyCycle:
        """For every app the number of apps on the longest dependency path starting at it (1 = no dependency).

        Marathon orders deployment steps by this number. A cycle anywhere makes it a ``DependencyCycle``.
        """
        if not any(g.dependencies or g.app_dependencies for g in self.all_groups()):
            return MappingProxyType({key: 1 for key in sorted(self.all_apps())})  # nothing depends on anything
        graph = self.dependency_graph()
        depth: dict[AppId, int] = {}
        visiting: set[AppId] = set()
        for start in graph:
            if start in depth:
                continue
            visiting.add(start)
            stack: list[tuple[AppId, Iterator[AppId]]] = [(start, iter(sorted(graph[start])))]
            while stack:
                node, successors = stack[-1]
                following = next(successors, None)
                if following is None:
                    depth[node] = 1 + max((depth[d] for d in graph[node]), default=0)
                    visiting.discard(node)
                    stack.pop()
                elif following in visiting:
                    path = [n for n, _ in stack]
                    return DependencyCycle(tuple(path[path.index(following) :]))
                elif following not in depth:
                    visiting.add(following)
                    stack.append((following, iter(sorted(graph[following]))))
        return MappingProxyType(depth)

    def depths_of(self, starts: Iterable[AppId]) -> Mapping[AppId, int] | None:
        """``dependency_depths()`` for ``starts`` and the apps they reach, walking only those (call it on
        the root). ``None`` when a cycle is reachable from ``starts``: ``dependency_depths()`` then names
        the same cycle a full walk finds. Work is proportional to the apps reached, not to the tree."""
        expanded: dict[str, frozenset[AppId]] = {}
        direct: dict[AppId, frozenset[AppId]] = {}

        def expand(path: str) -> frozenset[AppId]:
            if path not in expanded:
                holder = self.group(parent_of(path)) if path != ROOT else None
                if holder is not None and path in holder.apps:
                    expanded[path] = frozenset({AppId(path)})
                else:
                    found = self.group(path)
                    expanded[path] = frozenset(found.all_apps()) if found is not None else frozenset()
            return expanded[path]

        def successors(key: AppId) -> frozenset[AppId]:
            if key not in direct:
                paths: set[str] = set()
                node: Group | None = self
                for step in ancestors(parent_of(key))[1:]:
                    assert node is not None
                    paths |= node.dependencies
                    node = node.groups.get(step)
                assert node is not None
                paths |= node.dependencies
                paths |= node.app_dependencies.get(key, frozenset())
                direct[key] = frozenset(a for path in paths for a in expand(path))
            return direct[key]

        depth: dict[AppId, int] = {}
        visiting: set[AppId] = set()
        for start in sorted(starts):
            if start in depth:
                continue
            visiting.add(start)
            stack: list[tuple[AppId, Iterator[AppId]]] = [(start, iter(sorted(successors(start))))]
            while stack:
                node_id, following_ids = stack[-1]
                following = next(following_ids, None)
                if following is None:
                    depth[node_id] = 1 + max((depth[d] for d in successors(node_id)), default=0)
                    visiting.discard(node_id)
                    stack.pop()
                elif following in visiting:
                    return None
                elif following not in depth:
                    visiting.add(following)
                    stack.append((following, iter(sorted(successors(following)))))
        return depth

    def dependency_cycle(self) -> DependencyCycle | None:
        """The cycle that makes this tree invalid, or ``None`` (Marathon validates every root this way)."""
        depths = self.dependency_depths()
        return depths if isinstance(depths, DependencyCycle) else None

    def transitive_dependencies(self, path: str) -> frozenset[AppId]:
        """Every app the app at ``path`` depends on, directly or not (itself only through a cycle)."""
        graph = self.dependency_graph()
        seen: set[AppId] = set()
        todo = list(graph.get(AppId(resolve_path(self.id, path)), frozenset()))
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(graph.get(current, frozenset()))
        return frozenset(seen)

    # -- edits (all return a new tree) -------------------------------------------------------------------------

    def _update(self, path: str, change: Callable[[Group], Group], *, create: bool = True) -> Group:
        """Apply ``change`` to the group at ``path``, creating missing groups on the way when ``create``.

        Only the groups on the path are rebuilt (derived: their other sub-groups are shared, not revalidated);
        the tree itself when nothing changed."""
        target = group_id(path)
        if target == self.id:
            return change(self)
        if not _within(target, self.id):
            raise InvalidSpec(f"group {target} is not inside {self.id}")
        chain: list[Group] = [self]
        for step in ancestors(target)[len(_segments(self.id)) + 1:]:
            child = chain[-1].groups.get(step)
            if child is None:
                if not create:
                    return self
                child = Group(step)
            chain.append(child)
        node = change(chain[-1])
        for parent in reversed(chain[:-1]):
            if parent.groups.get(node.id) is node:
                return self  # nothing changed below: the tree as it was
            node = parent.with_changes(groups={node.id: node})
        return node

    def update_app(self, app: AppSpec, *, dependencies: Iterable[str] | None = None) -> Group:
        """Put ``app`` into its group (created if missing). ``dependencies`` (relative paths resolve against
        the app's id) replace the app's declared ones; ``None`` keeps them (none for a new app)."""
        holder = parent_of(app.id)
        paths = frozenset(resolve_path(app.id, p) for p in dependencies) if dependencies is not None else None

        def put(group: Group) -> Group:
            deps = {app.id: paths} if paths is not None else None
            if group.apps.get(app.id) is app and (paths is None or paths == group.app_dependencies.get(app.id,
                                                                                                     frozenset())):
                return group
            return group.with_changes(apps={app.id: app}, app_dependencies=deps)

        return self._update(holder, put)

    def remove_app(self, path: str) -> Group:
        """The tree without the app at ``path`` (unchanged if there is none). Its group stays, as in Marathon."""
        target = AppId(resolve_path(self.id, path))

        def drop(group: Group) -> Group:
            if target not in group.apps:
                return group
            return group.with_changes(apps={target: None}, app_dependencies={target: None})

        return self._update(parent_of(target), drop, create=False)

    def put_group(self, group: Group) -> Group:
        """The tree with the subtree at ``group.id`` replaced by ``group`` (parents created as needed)."""
        if group.id == self.id:
            return group
        holder = parent_of(group.id)

        def put(parent: Group) -> Group:
            if parent.groups.get(group.id) is group:
                return parent
            return parent.with_changes(groups={group.id: group})

        return self._update(holder, put)

    def remove_group(self, path: str) -> Group:
        """The tree without the subtree at ``path``: every app in it goes (one deployment stops them all).

        Removing this tree's own root leaves it empty (``DELETE /v2/groups/``)."""
        target = group_id(resolve_path(self.id, path))
        if target == self.id:
            return Group(self.id, version=self.version)

        def drop(parent: Group) -> Group:
            return parent.with_changes(groups={target: None}) if target in parent.groups else parent

        return self._update(parent_of(target), drop, create=False)

    def with_dependencies(self, path: str, dependencies: Iterable[str]) -> Group:
        """The tree with the group at ``path`` (created if missing) depending on ``dependencies`` (relative
        paths resolve against that group)."""
        target = group_id(resolve_path(self.id, path))
        paths = frozenset(resolve_path(target, p) for p in dependencies)
        return self._update(target, lambda g: g.with_changes(dependencies=paths))

    def scale_by(self, factor: float, path: str | None = None) -> Group:
        """Every app in the subtree at ``path`` (default: this one) with ``ceil(instances * factor)`` instances.

        Marathon's ``scaleBy``; the ceiling forgives float noise (``10 * 0.7`` is 7, not 8)."""
        if factor < 0:
            raise InvalidSpec(f"scaleBy must be >= 0, got {factor}")

        def scaled(app: AppSpec) -> AppSpec:
            return replace(app, instances=math.ceil(app.instances * factor - _EPSILON))

        def scale(group: Group) -> Group:
            return replace(
                group,
                apps={k: scaled(a) for k, a in group.apps.items()},
                groups={k: scale(g) for k, g in group.groups.items()},
            )

        return self._update(group_id(resolve_path(self.id, path or self.id)), scale, create=False)


def _is_canonical(path: str) -> bool:
    """Whether ``path`` is certainly absolute and canonical (``resolve_path`` would return it unchanged):
    a quick test for the ids the core passes around; a ``False`` only means "resolve it"."""
    return path == "/" or (path.startswith("/") and not path.endswith("/") and "//" not in path
                           and "/." not in path)


def _within(path: str, ancestor: str) -> bool:
    return ancestor == "/" or path == ancestor or path.startswith(ancestor + "/")

