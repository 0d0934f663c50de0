"""The core's one error tree.

Owns: the exception classes the core raises. Expected outcomes (an offer that does not fit, an invalid
constraint typed by a user) are *values* (``Reject``, problem strings); these exceptions mean a caller broke
a precondition (a bug) and are never caught inside the core.
"""

from __future__ import annotations

from collections.abc import Sequence


class CoreError(Exception):
    """Base of every exception raised by ``mesospaas``."""


class InvalidId(CoreError, ValueError):
    """An app path, instance id or task id does not have the documented shape."""


class InvalidSpec(CoreError, ValueError):
    """A domain object was constructed with values that break its invariants (e.g. MAX_PER without a number)."""


class InvalidProfile(CoreError, ValueError):
    """A placement profile is inconsistent: a scorer without a weight, a weight without a scorer, K < 1."""


class UnknownApp(CoreError, LookupError):
    """An instance refers to an app id (or app version) that the snapshot does not hold."""


class InvalidPlacementInput(CoreError, ValueError):
    """``place()`` was given an instance that is not launchable (goal not running, or it has a live task)."""


class DeploymentRejected(CoreError, ValueError):
    """A change cannot become a deployment (e.g. a dependency cycle); the message says why."""


class DeploymentConflict(CoreError):
    """A change touches apps that running deployments are changing; ``force`` overrides."""

    def __init__(self, deployments: Sequence[str]) -> None:
        super().__init__(f"locked by deployments {', '.join(deployments)}")
        self.deployments = list(deployments)


class NotActing(Exception):
    """The platform cannot act on a request now: its leader term ended, or its runtime stopped.

    Raised by the shell (``scheduler.acting``: ``NotLeader``, ``RuntimeStopped``), never by the core; it lives
    here so that the API (which answers it 503: try again, maybe elsewhere) and the scheduler share one class
    without importing each other. Not a ``CoreError``: it reports a condition, not a broken precondition."""
