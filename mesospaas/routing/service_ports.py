"""Service ports, as Marathon assigns them: 0 means "assign one", unique across apps, from a range.

Owns: ``PortRange``, ``ServicePortRejected``, ``assign_service_ports`` (definition JSON in, definition JSON
with every service port set out) and ``with_service_ports`` (the same applied to a deployment's target root
and its definition bytes, called before versions are assigned so an unchanged app stays unchanged).

Rules (Marathon's ``--local_port_min/max``, default [10000, 20000)):
- A service port lives in ``portDefinitions[].port`` (host networking) or ``container.portMappings[]``
  (``container.docker.portMappings[]``) ``.servicePort`` (bridge / container networking).
- An explicit non-zero port is kept as given (it may lie outside the range); when another app already has
  it the deployment is rejected with Marathon's message
  ``Requested service port P conflicts with a service port in app /other``.
- A 0 gets the port this app had at the same position before, when that is still free; otherwise the lowest
  free port of the range (deterministic: no global random). The stored definition shows the assigned port,
  so it survives updates and failover with the app.
- ``requirePorts``: the assigned port is then also the host port (the spec carries it).
- No free port left: rejected (``All service ports in [min, max) are in use``).

Pure; JSON is parsed and re-encoded the way the API encodes definitions (sorted keys, compact).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from mesospaas.model.group import Group
from mesospaas.model.ids import AppId


@dataclass(frozen=True, slots=True)
class PortRange:
    low: int = 10000
    high: int = 20000
    """Exclusive, as Marathon's ``--local_port_max``."""

    def __post_init__(self) -> None:
        if not 0 < self.low < self.high <= 65536:
            raise ValueError(f"service port range [{self.low}, {self.high}) is not a valid port range")


@dataclass(frozen=True, slots=True)
class ServicePortRejected:
    message: str


def _slots(definition: Mapping[str, Any]) -> list[tuple[list[Any], str]]:
    """(list of port entries, key of the service port in each) of a definition."""
    container = definition.get("container") or {}
    docker = container.get("docker") or {}
    for mappings in (container.get("portMappings"), docker.get("portMappings")):
        if mappings:
            return [(list(mappings), "servicePort")]
    definitions = definition.get("portDefinitions")
    if definitions:
        return [(list(definitions), "port")]
    return []


def service_ports(definition: Mapping[str, Any]) -> list[int]:
    return [int(entry.get(key, 0) or 0) for entries, key in _slots(definition) for entry in entries]


def _set_ports(definition: dict[str, Any], ports: list[int]) -> dict[str, Any]:
    """``definition`` with ``ports`` as its service ports: a copy of the objects on the way to the port
    entries (the rest is shared with ``definition``, which is left as it was)."""
    out = dict(definition)
    container = out.get("container") or {}
    docker = container.get("docker") or {}
    targets: list[dict[str, Any]]
    if container.get("portMappings"):
        out["container"] = container = dict(container)
        container["portMappings"] = targets = [dict(e) for e in container["portMappings"]]
        key = "servicePort"
    elif docker.get("portMappings"):
        out["container"] = container = dict(container)
        container["docker"] = docker = dict(docker)
        docker["portMappings"] = targets = [dict(e) for e in docker["portMappings"]]
        key = "servicePort"
    elif out.get("portDefinitions"):
        out["portDefinitions"] = targets = [dict(e) for e in out["portDefinitions"]]
        key = "port"
    else:
        return out
    for entry, port in zip(targets, ports):
        entry[key] = port
    return out


_WORD = 64
_FULL = (1 << _WORD) - 1


def _lowest_bit_from(mask: int, offset: int) -> int | None:
    """The lowest set bit of ``mask`` at ``offset`` or above (bits 0..63), or ``None``."""
    bits = mask & ~((1 << offset) - 1)
    return (bits & -bits).bit_length() - 1 if bits else None


class ServicePortIndex:
    """The service ports of the stored apps (each app's current definition): by app, and who holds a port.

    Kept by the shell beside the stored definitions and moved with them (``put`` / ``drop`` for the apps a
    change touches), so an assignment looks up only the ports it needs instead of parsing every stored
    definition. Deterministic: the owner of a port held by several apps is the smallest app id, as in a
    sorted scan. It also keeps the held ports as bit masks (a word per 64 ports, and a word per 4,096 ports
    saying which of its 64-port blocks are full), so the lowest free port (``lowest_free``) is found a word
    at a time, not by trying every held port of the range."""

    __slots__ = ("_by_app", "_holders", "_held", "_full")

    def __init__(self) -> None:
        self._by_app: dict[str, tuple[int, ...]] = {}
        self._holders: dict[int, set[str]] = {}
        self._held: dict[int, int] = {}
        """port // 64 -> the mask of its ports that have a holder (absent: none)."""
        self._full: dict[int, int] = {}
        """port // 4096 -> the mask of its 64-port blocks whose every port has a holder (absent: none)."""

    @staticmethod
    def of(definitions: Mapping[str, Mapping[str, Any]]) -> ServicePortIndex:
        index = ServicePortIndex()
        for app_id, definition in definitions.items():
            index.put(app_id, service_ports(definition))
        return index

    def ports_of(self, app_id: str) -> tuple[int, ...]:
        return self._by_app.get(app_id, ())

    def _mark(self, port: int, held: bool) -> None:
        block, bit = port // _WORD, 1 << (port % _WORD)
        mask = self._held.get(block, 0)
        was_full = mask == _FULL
        mask = mask | bit if held else mask & ~bit
        if mask:
            self._held[block] = mask
        else:
            self._held.pop(block, None)
        if was_full != (mask == _FULL):
            area, block_bit = block // _WORD, 1 << (block % _WORD)
            full = self._full.get(area, 0) ^ block_bit
            if full:
                self._full[area] = full
            else:
                self._full.pop(area, None)

    def put(self, app_id: str, ports: Iterable[int]) -> None:
        self.drop(app_id)
        held = tuple(ports)
        if held:
            self._by_app[app_id] = held
            for port in held:
                if port:
                    holders = self._holders.get(port)
                    if holders is None:
                        self._holders[port] = holders = set()
                        self._mark(port, True)
                    holders.add(app_id)

    def drop(self, app_id: str) -> None:
        for port in self._by_app.pop(app_id, ()):
            holders = self._holders.get(port)
            if holders is not None:
                holders.discard(app_id)
                if not holders:
                    del self._holders[port]
                    self._mark(port, False)

    def owner(self, port: int, ignored: Collection[str], gone: Collection[str] = ()) -> str | None:
        """The stored app holding ``port`` (smallest id), not counting ``ignored`` nor ``gone`` apps."""
        holders = self._holders.get(port)
        if not holders:
            return None
        valid = [a for a in holders if a not in ignored and a not in gone]
        return min(valid) if valid else None

    def _first_unheld(self, start: int, high: int) -> int | None:
        """The lowest port in [start, high) no stored app holds."""
        port = start
        while port < high:
            block = port // _WORD
            area = block // _WORD
            open_block = _lowest_bit_from(~self._full.get(area, 0) & _FULL, block % _WORD)
            if open_block is None:  # every block from here to the end of the area is full
                port = (area + 1) * _WORD * _WORD
                continue
            if area * _WORD + open_block != block:
                block = area * _WORD + open_block
                port = block * _WORD
            free = _lowest_bit_from(~self._held.get(block, 0) & _FULL, port % _WORD)
            if free is not None:
                found = block * _WORD + free
                return found if found < high else None
            port = (block + 1) * _WORD
        return None

    def lowest_free(self, start: int, high: int, ignored: Collection[str], gone: Collection[str] = ()) -> int | None:
        """The lowest port in [start, high) whose ``owner`` is ``None``: held by no stored app, or only by
        ``ignored`` / ``gone`` ones. Work: the full blocks skipped and the ports of those apps."""
        found = self._first_unheld(start, high)
        for app_id in [*ignored, *gone]:
            for port in self._by_app.get(app_id, ()):
                if start <= port < high and (found is None or port < found) and port \
                        and self.owner(port, ignored, gone) is None:
                    found = port
        return found


def assign_service_ports(current: Mapping[str, Mapping[str, Any]], incoming: Mapping[str, Mapping[str, Any]],
                         ports: PortRange = PortRange()) -> dict[str, dict[str, Any]] | ServicePortRejected:
    """``incoming`` (app id -> definition) with every service port assigned.

    ``current`` holds the definitions of the apps already stored (including older definitions of incoming
    apps, whose ports are reused); apps in both count as incoming."""
    return assign_with_index(ServicePortIndex.of(current), incoming, ports)


def assign_with_index(stored: ServicePortIndex, incoming: Mapping[str, Mapping[str, Any]],
                      ports: PortRange = PortRange(), gone: Collection[str] = ()) -> dict[str, dict[str, Any]] | ServicePortRejected:
    """``assign_service_ports`` over an index of the stored apps; ``gone``: stored apps the change removes."""
    assigned_here: dict[int, str] = {}

    def holder_of(port: int) -> str | None:
        mine = assigned_here.get(port)
        return mine if mine is not None else stored.owner(port, incoming, gone)

    for app_id in sorted(incoming):
        for port in service_ports(incoming[app_id]):
            if port:
                holder = holder_of(port)
                if holder is not None and holder != app_id:
                    return ServicePortRejected(
                        f"Requested service port {port} conflicts with a service port in app {holder}")
                assigned_here.setdefault(port, app_id)
    out: dict[str, dict[str, Any]] = {}
    cursor = ports.low
    for app_id in sorted(incoming):
        wanted = service_ports(incoming[app_id])
        previous = stored.ports_of(app_id)
        assigned: list[int] = []
        for position, port in enumerate(wanted):
            if port == 0:
                reuse = previous[position] if position < len(previous) else 0
                if reuse and holder_of(reuse) is None:
                    port = reuse
                else:
                    # the lowest port from ``cursor`` on that no stored app (but those of this change) holds,
                    # and that this change has not taken
                    while (free := stored.lowest_free(cursor, ports.high, incoming, gone)) in assigned_here:
                        cursor = free + 1
                    if free is None:
                        return ServicePortRejected(f"All service ports in [{ports.low}, {ports.high}) are in use")
                    port = cursor = free
                assigned_here[port] = app_id
            assigned.append(port)
        definition = dict(incoming[app_id])
        out[app_id] = _set_ports(definition, assigned) if assigned != wanted else definition
    return out


def _encoded(definition: Mapping[str, Any]) -> bytes:
    return json.dumps(definition, separators=(",", ":"), sort_keys=True).encode()


def with_service_ports(target: Group, definitions: Mapping[AppId, bytes], stored: ServicePortIndex,
                       ports: PortRange = PortRange(), gone: Collection[str] = ()
                       ) -> tuple[Group, dict[AppId, bytes]] | ServicePortRejected:
    """The target root and definition bytes with service ports assigned to the apps in ``definitions``.

    ``stored``: the service ports of every app already stored (its current definition); ``gone``: the stored
    apps ``target`` no longer has (their ports are free). Apps of the target that are in neither are left as
    they are. Each assigned port is also written into the app's ``port_definitions`` (its host port under
    ``requirePorts``). Work is proportional to the apps in ``definitions`` and the ports they need."""
    incoming = {str(app_id): json.loads(raw) for app_id, raw in definitions.items() if target.app(app_id)}
    if not incoming:
        return target, dict(definitions)
    result = assign_with_index(stored, incoming, ports, gone)
    if isinstance(result, ServicePortRejected):
        return result
    out = dict(definitions)
    for app_id, definition in result.items():
        if definition == incoming[app_id]:
            continue
        out[AppId(app_id)] = _encoded(definition)
        spec = target.app(app_id)
        assigned = service_ports(definition)
        if spec is not None and "portDefinitions" in definition and len(spec.port_definitions) == len(assigned):
            spec = replace(spec, port_definitions=tuple(
                replace(p, port=n) for p, n in zip(spec.port_definitions, assigned)))
            target = target.update_app(spec)
    return target, out
