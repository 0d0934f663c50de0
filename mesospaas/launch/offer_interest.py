"""THE one place that decides whether the framework revives or suppresses offers.

Owns: ``decide_offer_interest`` — a pure function of the launch queue and of what was decided last time.
Nothing else in the code base may call REVIVE or SUPPRESS on its own judgement.

Rules (per role, since Mesos v1 REVIVE/SUPPRESS take roles):

- REVIVE a role when the queue holds an instance for it that was not queued at the last decision: new
  demand, or demand that just came out of backoff. Reviving also clears the decline filters Mesos holds
  for earlier declines, which is why it is sent for new demand even if the role is not suppressed.
- SUPPRESS a role that has no launchable demand and was wanted at the last decision (or is a framework
  role the shell reports as not yet suppressed, e.g. right after SUBSCRIBE: pass ``previous`` with
  ``wanted_roles`` = all framework roles).
- Otherwise do nothing: repeated calls with an unchanged queue return empty sets (idempotent).

Roles outside ``framework_roles`` (the roles the framework subscribed with) are never revived or suppressed:
Mesos would refuse them. Delayed (backoff) demand does not keep offers flowing; the shell re-runs this at ``LaunchQueue.next_wake_up``.
Fails: never raises.
"""

from __future__ import annotations

from dataclasses import dataclass

from mesospaas.launch.queue import LaunchQueue
from mesospaas.model.ids import InstanceId


@dataclass(frozen=True, slots=True)
class OfferInterestState:
    """What the last decision saw; the shell keeps it between calls (in memory: it is cheap to rebuild)."""

    wanted_roles: frozenset[str] = frozenset()
    queued: frozenset[InstanceId] = frozenset()


@dataclass(frozen=True, slots=True)
class OfferInterestDecision:
    revive: frozenset[str]
    suppress: frozenset[str]
    state: OfferInterestState

    @property
    def changes_nothing(self) -> bool:
        return not self.revive and not self.suppress


def decide_offer_interest(
    queue: LaunchQueue, previous: OfferInterestState, framework_roles: frozenset[str]
) -> OfferInterestDecision:
    queued_now: dict[InstanceId, str] = {}
    for entry in queue.entries:
        if entry.delayed_until is None:
            for instance in entry.instances:
                queued_now[instance.id] = entry.role
    wanted = frozenset(queued_now.values())
    revive = frozenset(role for iid, role in queued_now.items() if iid not in previous.queued) & framework_roles
    suppress = (previous.wanted_roles - wanted) & framework_roles
    return OfferInterestDecision(
        revive=revive,
        suppress=suppress,
        state=OfferInterestState(wanted_roles=wanted, queued=frozenset(queued_now)),
    )
