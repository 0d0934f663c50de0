"""Server-only changes as HAProxy runtime API commands, so scaling, replaced tasks and health flips need no reload.

Owns: ``RuntimePlan`` and ``runtime_plan(running, wanted)``. ``running`` is what HAProxy serves now (the
slots of the last loaded config, as changed by earlier plans), ``wanted`` a fresh render. When the two
skeletons differ (anything but servers changed) or a backend has more servers than slots, the answer is
``None``: only a reload can apply it. Otherwise each backend's servers are matched by address:

- a running slot whose address is wanted keeps its place (``set server b/s state ready|drain|maint`` when its
  state changes);
- a running slot no longer wanted is freed (``state maint``), after the additions, so a replaced task's
  successor serves before it goes;
- a wanted address without a slot takes the first free slot by name
  (``set server b/s addr <ip> port <p>``, ``set weight b/s 1``, then its state).

The new running view is returned with the commands; a reload replaces it with the render's own slots. The
config written to disk is always the full render (a reload forgets runtime changes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from mesospaas.routing.render import Rendered, ServerSlot
from mesospaas.routing.services import ServerState


@dataclass(frozen=True, slots=True)
class RuntimePlan:
    commands: tuple[str, ...]
    running: Mapping[str, tuple[ServerSlot, ...]]


def _state_commands(backend: str, slot: ServerSlot, state: ServerState) -> list[str]:
    out: list[str] = []
    if state is ServerState.READY:
        out.append(f"set weight {backend}/{slot.name} 1")
    out.append(f"set server {backend}/{slot.name} state {state.value}")
    return out


def _backend_plan(backend: str, running: tuple[ServerSlot, ...],
                  wanted: tuple[ServerSlot, ...]) -> tuple[list[str], tuple[ServerSlot, ...]] | None:
    want = {(s.ip, s.port): s for s in wanted if s.task_id is not None}
    commands: list[str] = []
    removals: dict[int, str] = {}
    result: list[ServerSlot] = []
    placed: set[tuple[str, int]] = set()
    free: list[int] = []
    for slot in running:
        key = (slot.ip, slot.port)
        target = want.get(key)
        if target is not None and key not in placed:
            placed.add(key)
            if target.state is not slot.state:
                commands.extend(_state_commands(backend, slot, target.state))
            result.append(replace(slot, state=target.state, task_id=target.task_id))
            continue
        if slot.state is not ServerState.MAINT:
            removals[len(result)] = f"set server {backend}/{slot.name} state maint"
        result.append(replace(slot, state=ServerState.MAINT, task_id=None))
        free.append(len(result) - 1)
    missing = [s for key, s in sorted(want.items()) if key not in placed]
    if len(missing) > len(free):
        return None
    # slots that were free already come first; a slot freed by this plan is reused only when needed
    for server, index in zip(missing, sorted(free, key=lambda i: (i in removals, result[i].name))):
        removals.pop(index, None)
        slot = result[index]
        commands.append(f"set server {backend}/{slot.name} addr {server.ip} port {server.port}")
        commands.extend(_state_commands(backend, slot, server.state))
        result[index] = replace(slot, ip=server.ip, port=server.port, state=server.state, task_id=server.task_id)
    return commands + [removals[i] for i in sorted(removals)], tuple(result)


def runtime_plan(running_skeleton: str, running: Mapping[str, tuple[ServerSlot, ...]],
                 wanted: Rendered) -> RuntimePlan | None:
    """Commands that make ``running`` serve ``wanted``'s servers, or None when a reload is needed."""
    if running_skeleton != wanted.skeleton or set(running) != set(wanted.slots):
        return None
    commands: list[str] = []
    view: dict[str, tuple[ServerSlot, ...]] = {}
    for backend in sorted(wanted.slots):
        planned = _backend_plan(backend, running[backend], wanted.slots[backend])
        if planned is None:
            return None
        commands.extend(planned[0])
        view[backend] = planned[1]
    return RuntimePlan(tuple(commands), MappingProxyType(view))
