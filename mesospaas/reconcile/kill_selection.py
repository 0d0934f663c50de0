"""Which instances go first when an app has too many: Marathon's scale-down order.

Owns: ``select_instances_to_kill`` and ``kill_order_key``. Order of preference for victims:

1. Instances with no live task (never launched, or their task ended): killing them costs nothing and they
   belong to no GROUP_BY group.
2. Instances GROUP_BY balancing wants gone: for each GROUP_BY constraint of the app (in order), only
   instances in the currently largest group(s) of that field are eligible, so every group-by spread stays
   as even as it was (within 1) while victims are taken. Instances on agents lacking the field form one
   group, as in Marathon.
3. Among the eligible: by condition, Unreachable < Staging/Provisioned < Starting < Running < other, then by
   ``killSelection`` (YOUNGEST_FIRST: latest started — or staged — first; OLDEST_FIRST: the opposite), then
   by instance id so the choice is deterministic.

Complexity: O(n log n) without GROUP_BY or with one GROUP_BY (a heap over groups); O(k * n) with several.
Fails: never raises; asking for more victims than instances returns them all.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence

from mesospaas.model.agent import canonical_field
from mesospaas.model.app import AppSpec, KillSelection
from mesospaas.model.condition import Condition
from mesospaas.model.constraints import Operator
from mesospaas.model.instance import Instance

_Key = Callable[[Instance], tuple[int, float, str]]

_RANK = {
    Condition.UNREACHABLE: 1,
    Condition.PROVISIONED: 2,
    Condition.STAGING: 2,
    Condition.STARTING: 3,
    Condition.RUNNING: 4,
}


def _age(instance: Instance) -> float:
    if instance.started_at is not None:
        return instance.started_at
    if instance.staged_at is not None:
        return instance.staged_at
    return instance.since


def kill_order_key(instance: Instance, selection: KillSelection) -> tuple[int, float, str]:
    """Smaller keys are killed first."""
    rank = 0 if not instance.has_live_task else _RANK.get(instance.condition, 5)
    age = _age(instance)
    return rank, (-age if selection is KillSelection.YOUNGEST_FIRST else age), instance.id


def _group_value(instance: Instance, field: str) -> str | None:
    return instance.agent.fields.get(field) if instance.agent is not None else None


def select_instances_to_kill(app: AppSpec, instances: Sequence[Instance], count: int) -> tuple[Instance, ...]:
    """The ``count`` instances to kill first (fewer if there are fewer instances)."""
    if count <= 0:
        return ()
    selection = app.kill_selection

    def key(instance: Instance) -> tuple[int, float, str]:
        return kill_order_key(instance, selection)

    if count >= len(instances):
        return tuple(sorted(instances, key=key))
    free = sorted((i for i in instances if not i.has_live_task or i.agent is None), key=key)
    victims = free[:count]
    if len(victims) == count:
        return tuple(victims)
    placed = [i for i in instances if i.has_live_task and i.agent is not None]
    wanted = count - len(victims)
    fields = [canonical_field(c.field) for c in app.constraints if c.operator is Operator.GROUP_BY]
    if not fields:
        return tuple(victims + sorted(placed, key=key)[:wanted])
    if len(fields) == 1:
        return tuple(victims + _balanced_one(placed, fields[0], wanted, key))
    return tuple(victims + _balanced_many(placed, fields, wanted, key))


def _balanced_one(
    placed: Sequence[Instance], field: str, wanted: int, key: _Key
) -> list[Instance]:
    groups: dict[str | None, list[Instance]] = {}
    for instance in placed:
        groups.setdefault(_group_value(instance, field), []).append(instance)
    # Each group is sorted worst-victim-last so pop() is O(1); the heap holds (-size, best key, tiebreak).
    heap: list[tuple[int, tuple[int, float, str], int]] = []
    members: list[list[Instance]] = []
    for number, group in enumerate(groups.values()):
        group.sort(key=key, reverse=True)
        members.append(group)
        heap.append((-len(group), key(group[-1]), number))
    heapq.heapify(heap)
    chosen: list[Instance] = []
    while len(chosen) < wanted and heap:
        _, _, number = heapq.heappop(heap)
        group = members[number]
        chosen.append(group.pop())
        if group:
            heapq.heappush(heap, (-len(group), key(group[-1]), number))
    return chosen


def _balanced_many(
    placed: Sequence[Instance], fields: Sequence[str], wanted: int, key: _Key
) -> list[Instance]:
    remaining = list(placed)
    chosen: list[Instance] = []
    while len(chosen) < wanted and remaining:
        eligible = remaining
        for field in fields:
            sizes: dict[str | None, int] = {}
            for instance in remaining:
                value = _group_value(instance, field)
                sizes[value] = sizes.get(value, 0) + 1
            largest = max(sizes[_group_value(i, field)] for i in eligible)
            narrowed = [i for i in eligible if sizes[_group_value(i, field)] == largest]
            if narrowed:
                eligible = narrowed
        victim = min(eligible, key=key)
        chosen.append(victim)
        remaining.remove(victim)
    return chosen
