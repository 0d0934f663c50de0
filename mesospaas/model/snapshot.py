"""The snapshot: an immutable view of the state a decision is made from.

Owns: ``Snapshot`` — app specs by id, instances grouped by app, older app versions still referenced by
instances, and ``now`` (the time the snapshot stands for, used e.g. for maintenance windows).

Invariant: immutable after construction (mappings are copied into read-only proxies); the core never
mutates it. Fails: ``spec_for`` raises ``UnknownApp`` for an app or version it does not hold — a bug in the
caller, since every instance's app must be in the snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from mesospaas.errors import UnknownApp
from mesospaas.model.app import AppSpec
from mesospaas.model.ids import AppId, AppVersion
from mesospaas.model.instance import Instance


@dataclass(frozen=True, slots=True)
class Snapshot:
    apps: Mapping[AppId, AppSpec]
    instances: Mapping[AppId, tuple[Instance, ...]] = field(default_factory=dict)
    now: float = 0.0
    app_versions: Mapping[tuple[AppId, AppVersion], AppSpec] = field(default_factory=dict)
    """Older versions of apps that instances still run (e.g. during a rolling restart)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "apps", MappingProxyType(dict(self.apps)))
        object.__setattr__(self, "instances", MappingProxyType(dict(self.instances)))
        object.__setattr__(self, "app_versions", MappingProxyType(dict(self.app_versions)))

    @staticmethod
    def of(apps: Iterable[AppSpec], instances: Iterable[Instance] = (), now: float = 0.0) -> Snapshot:
        """Build a snapshot from flat collections, grouping instances by app in the given order."""
        grouped: dict[AppId, list[Instance]] = {}
        for instance in instances:
            grouped.setdefault(instance.app_id, []).append(instance)
        return Snapshot(
            apps={app.id: app for app in apps},
            instances={app: tuple(items) for app, items in grouped.items()},
            now=now,
        )

    def instances_of(self, app: AppId) -> tuple[Instance, ...]:
        return self.instances.get(app, ())

    def spec_for(self, app: AppId, version: AppVersion) -> AppSpec:
        """The spec an instance of ``app`` at ``version`` launches with."""
        current = self.apps.get(app)
        if current is not None and current.version == version:
            return current
        older = self.app_versions.get((app, version))
        if older is not None:
            return older
        if current is None:
            raise UnknownApp(f"app {app} is not in the snapshot")
        raise UnknownApp(f"app {app} has no version {version} in the snapshot")
