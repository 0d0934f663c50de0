"""Affinity and anti-affinity between apps (beyond Marathon), as values.

Owns: ``AppAffinity`` and its enums. JSON field on the app (mapped by the API layer)::

    "affinity": {"apps": [
        {"app": "/db",    "type": "AFFINITY",      "field": "hostname", "mode": "REQUIRED"},
        {"app": "/cache", "type": "ANTI_AFFINITY", "field": "hostname", "mode": "REQUIRED"},
        {"app": "/web",   "type": "ANTI_AFFINITY", "field": "zone",     "mode": "PREFERRED", "weight": 30}
    ]}

- ``app``: the other app's path (may be the app itself: self anti-affinity on ``hostname`` is UNIQUE-like).
- ``type``: ``AFFINITY`` (place where the other app runs) or ``ANTI_AFFINITY`` (place where it does not).
- ``field``: ``hostname`` (default), ``@hostname``, ``@region``, ``@zone`` or any agent attribute name; two
  placements "share" the field when their Marathon strings are equal (see ``attributes``).
- ``mode``: ``REQUIRED`` (default; a hard filter, reject reason ``AffinityUnmet``) or ``PREFERRED`` (a scorer).
- ``weight``: 1..100 (default 50), only meaningful for ``PREFERRED``; relative among the app's preferences.

"Where the other app runs" means its placed instances (staging, starting, running, killing — not unreachable,
not terminal), counting placements made earlier in the same offer round. An offer that lacks the field
never satisfies AFFINITY and always satisfies ANTI_AFFINITY. A REQUIRED AFFINITY to the app itself is
satisfied while the app has no placed instance (the first one anchors the rest).

Invariant: weight in 1..100 (``InvalidSpec`` otherwise).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mesospaas.errors import InvalidSpec
from mesospaas.model.agent import HOSTNAME
from mesospaas.model.ids import AppId


class AffinityType(enum.Enum):
    AFFINITY = "AFFINITY"
    ANTI_AFFINITY = "ANTI_AFFINITY"


class AffinityMode(enum.Enum):
    REQUIRED = "REQUIRED"
    PREFERRED = "PREFERRED"


@dataclass(frozen=True, slots=True)
class AppAffinity:
    app: AppId
    type: AffinityType
    field: str = HOSTNAME
    mode: AffinityMode = AffinityMode.REQUIRED
    weight: int = 50

    def __post_init__(self) -> None:
        if not 1 <= self.weight <= 100:
            raise InvalidSpec(f"affinity weight must be within 1..100, got {self.weight}")

    def __str__(self) -> str:
        return f"{self.type.value}({self.app} on {self.field}, {self.mode.value})"
