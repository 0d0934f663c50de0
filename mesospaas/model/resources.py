"""Resources as offers carry them and as launches take them.

Owns: ``Resource`` (one named quantity held by one role) and the resource names the scheduler understands.
A scalar resource (cpus, mem, disk, gpus) has ``scalar``; ``ports`` has ``ranges`` (inclusive ``(begin,
end)`` pairs). ``role`` is ``"*"`` for unreserved resources, otherwise the role the resources are reserved
for (for the Mesos post-refinement format: the role of the last reservation in the stack).

Invariant: scalars are >= 0; ranges have begin <= end. Fails: ``InvalidSpec`` on construction otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from mesospaas.errors import InvalidSpec

CPUS: Final = "cpus"
MEM: Final = "mem"
DISK: Final = "disk"
GPUS: Final = "gpus"
PORTS: Final = "ports"
SCALAR_NAMES: Final = (CPUS, MEM, DISK, GPUS)
UNRESERVED: Final = "*"
"""The role of unreserved resources."""

PortRange = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Resource:
    name: str
    scalar: float = 0.0
    ranges: tuple[PortRange, ...] = ()
    role: str = UNRESERVED

    def __post_init__(self) -> None:
        if self.scalar < 0:
            raise InvalidSpec(f"resource {self.name} has a negative amount {self.scalar}")
        for begin, end in self.ranges:
            if begin > end:
                raise InvalidSpec(f"resource {self.name} has an empty range {begin}-{end}")


def cpus(amount: float, role: str = UNRESERVED) -> Resource:
    return Resource(CPUS, scalar=amount, role=role)


def mem(amount: float, role: str = UNRESERVED) -> Resource:
    return Resource(MEM, scalar=amount, role=role)


def disk(amount: float, role: str = UNRESERVED) -> Resource:
    return Resource(DISK, scalar=amount, role=role)


def gpus(amount: float, role: str = UNRESERVED) -> Resource:
    return Resource(GPUS, scalar=amount, role=role)


def ports(*ranges: PortRange, role: str = UNRESERVED) -> Resource:
    return Resource(PORTS, ranges=tuple(ranges), role=role)
