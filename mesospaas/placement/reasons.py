"""Why an offer does not fit: ``NoMatchReason`` and the ``Reject`` verdict filters return.

Owns the verdict vocabulary. A filter check returns ``None`` for *fit* or a ``Reject``. Reason names are
Marathon's ``processedOffersSummary`` names (``InsufficientCpus`` …) plus ``AffinityUnmet`` for the
cross-app rules Marathon does not have.

``Reject.permanent`` says whether the verdict can change later in the same offer round. Within a round
offers only shrink and placement counts only grow, so e.g. "too few cpus", "UNIQUE already taken" and
"MAX_PER reached" are permanent while "GROUP_BY group is not the smallest" and "the app to be next to is not
there yet" are not. The search uses this to drop an offer from an app's candidates for the rest of the round.

Invariant: ``Reject`` values are immutable and built once per rule (when a filter is compiled), never per
offer, so rejecting costs no allocation.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final


class NoMatchReason(enum.Enum):
    AGENT_MAINTENANCE = "AgentMaintenance"
    UNFULFILLED_ROLE = "UnfulfilledRole"
    INSUFFICIENT_CPUS = "InsufficientCpus"
    INSUFFICIENT_MEMORY = "InsufficientMemory"
    INSUFFICIENT_DISK = "InsufficientDisk"
    INSUFFICIENT_GPUS = "InsufficientGpus"
    DECLINED_SCARCE_RESOURCES = "DeclinedScarceResources"
    INSUFFICIENT_PORTS = "InsufficientPorts"
    UNFULFILLED_CONSTRAINT = "UnfulfilledConstraint"
    AFFINITY_UNMET = "AffinityUnmet"
    NO_CORRESPONDING_RESERVATION_FOUND = "NoCorrespondingReservationFound"
    """Reserved for resident apps (not supported yet); never produced today."""


CHECK_ORDER: Final = tuple(NoMatchReason)
"""The order the default profile checks in (and so the order of the reject funnel in diagnostics)."""


@dataclass(frozen=True, slots=True)
class Reject:
    reason: NoMatchReason
    permanent: bool = True
    rule: str | None = None
    """The constraint or affinity rule that rejected, e.g. ``rack:GROUP_BY`` (None for resource reasons)."""


Verdict = Reject | None
"""What a check answers: ``None`` means the offer fits."""
