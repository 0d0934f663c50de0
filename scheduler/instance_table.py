"""The leader's instances by id, with an index by app kept in step.

Owns ``InstanceTable``: a ``dict`` of ``InstanceId -> Instance`` (so every reader keeps using it as one) that
also answers "the instances of this app" without scanning every instance: per-change work (reconciling the
apps a status batch touched, moving their deployments on) then costs what the change touches, not the
number of instances the leader holds (issue 11).

It also knows which apps have an instance waiting for a launch (``Instance.is_launchable``), so deciding
whether offers are wanted looks at those apps only.

Invariants: for every app, ``of_app(app)`` holds exactly the table's instances of that app, in the table's own
order (insertion order, as the plain dict had it); ``launchable_apps()`` holds exactly the apps with at least
one launchable instance. Every mutating ``dict`` method is overridden to keep it;
a mutation the index does not see is a bug, and ``tests/scheduler/test_instance_table.py`` checks each.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from mesospaas.model.ids import AppId, InstanceId
from mesospaas.model.instance import Instance

_NONE: Mapping[InstanceId, Instance] = {}


class InstanceTable(dict[InstanceId, Instance]):
    """Instances by id, indexed by app (see the module docstring)."""

    __slots__ = ("_by_app", "_launchable", "_stamps", "_tuples", "_clock")

    def __init__(self, items: Mapping[InstanceId, Instance] | Iterable[tuple[InstanceId, Instance]] = ()) -> None:
        super().__init__()
        self._by_app: dict[AppId, dict[InstanceId, Instance]] = {}
        self._launchable: dict[AppId, set[InstanceId]] = {}
        self._stamps: dict[AppId, int] = {}
        self._tuples: dict[AppId, tuple[Instance, ...]] = {}
        self._clock = 0
        self.update(items)

    # -- the index ------------------------------------------------------------------------------------
    def of_app(self, app_id: AppId) -> Mapping[InstanceId, Instance]:
        """The app's instances by id (read-only use; empty if it has none)."""
        return self._by_app.get(app_id, _NONE)

    def tuple_of(self, app_id: AppId) -> tuple[Instance, ...]:
        """``of_app(app_id)``'s instances as a tuple, the same object until the app's instances change."""
        held = self._tuples.get(app_id)
        if held is None:
            held = self._tuples[app_id] = tuple(self._by_app.get(app_id, _NONE).values())
        return held

    def stamp_of(self, app_id: AppId) -> int:
        """A number that changes whenever the app's instances change (0: never had any)."""
        return self._stamps.get(app_id, 0)

    def _touch(self, app_id: AppId) -> None:
        self._clock += 1
        self._stamps[app_id] = self._clock
        self._tuples.pop(app_id, None)

    def apps(self) -> Iterator[AppId]:
        """Every app that has at least one instance."""
        return iter(self._by_app)

    def launchable_apps(self) -> frozenset[AppId]:
        """The apps with at least one instance waiting for a launch (goal running, no live task)."""
        return frozenset(self._launchable)

    def _unindex(self, instance: Instance) -> None:
        self._touch(instance.app_id)
        held = self._by_app.get(instance.app_id)
        if held is not None:
            held.pop(instance.id, None)
            if not held:
                del self._by_app[instance.app_id]
        self._not_launchable(instance)

    def _not_launchable(self, instance: Instance) -> None:
        waiting = self._launchable.get(instance.app_id)
        if waiting is not None:
            waiting.discard(instance.id)
            if not waiting:
                del self._launchable[instance.app_id]

    def _track(self, value: Instance) -> None:
        if value.is_launchable:
            self._launchable.setdefault(value.app_id, set()).add(value.id)
        else:
            self._not_launchable(value)

    # -- dict's mutators, each keeping the index --------------------------------------------------------
    def __setitem__(self, key: InstanceId, value: Instance) -> None:
        old = dict.get(self, key)
        dict.__setitem__(self, key, value)
        if old is not None and old.app_id != value.app_id:  # never done by the runtime (ids name their app)
            self._unindex(old)
            self._by_app[value.app_id] = {k: i for k, i in dict.items(self) if i.app_id == value.app_id}
        else:
            self._by_app.setdefault(value.app_id, {})[key] = value
        self._touch(value.app_id)
        self._track(value)

    def __delitem__(self, key: InstanceId) -> None:
        old = dict.pop(self, key)
        self._unindex(old)

    def pop(self, key: InstanceId, *default: Any) -> Any:
        if key in self:
            old = dict.pop(self, key)
            self._unindex(old)
            return old
        if default:
            return default[0]
        raise KeyError(key)

    def popitem(self) -> tuple[InstanceId, Instance]:
        key, old = dict.popitem(self)
        self._unindex(old)
        return key, old

    def setdefault(self, key: InstanceId, default: Instance) -> Instance:
        if key not in self:
            self[key] = default
        return dict.__getitem__(self, key)

    def update(self, *others: Any, **named: Instance) -> None:
        for other in others:
            pairs = other.items() if isinstance(other, Mapping) else other
            for key, value in pairs:
                self[key] = value
        for key, value in named.items():
            self[InstanceId(key)] = value

    def clear(self) -> None:
        dict.clear(self)
        for app_id in list(self._by_app):
            self._touch(app_id)
        self._by_app.clear()
        self._launchable.clear()

    def __ior__(self, other: Any) -> InstanceTable:  # type: ignore[override,misc]
        self.update(other)
        return self

    def copy(self) -> InstanceTable:
        return InstanceTable(self)

    def __reduce__(self) -> Any:
        return (InstanceTable, (dict(self),))
