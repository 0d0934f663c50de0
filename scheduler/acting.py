"""Whether this process may act on the cluster right now: the gate every Mesos call and store write passes.

Owns: ``ActingGate`` (the protocol) and ``NotLeader``. A single scheduler (no ZooKeeper) has no gate and always
acts. Under leader election (``scheduler.ha``) the gate is the leader's term: ``check`` returns at once while
the term's lease is fresh, waits while the ZooKeeper connection is suspended, and raises ``NotLeader`` once the
term is over -- then the caller must stop without acting (the runtime stops; its term ends).
"""

from __future__ import annotations

from typing import Protocol

from mesospaas.errors import NotActing  # shared with the API (which answers it 503), so defined in the core


class NotLeader(NotActing):
    """This process lost (or gave up) leadership: it must not call Mesos or write state any more."""


class RuntimeStopped(NotActing):
    """The scheduler runtime has stopped (after an error it could not act past, such as a store failure)."""


class ActingGate(Protocol):
    async def check(self) -> None:
        """Returns when acting is safe now; raises ``NotLeader`` when it never will be again."""


__all__ = ["ActingGate", "NotActing", "NotLeader", "RuntimeStopped"]
