"""Launching: backoff after failures, the launch queue view, revive vs suppress, and task environments.

``backoff`` (pure delay arithmetic and reset rules), ``queue`` (the launch queue as a view over instances),
``offer_interest`` (THE one place deciding REVIVE / SUPPRESS), ``environment`` (Marathon's task env).
"""

from mesospaas.launch.backoff import (
    Backoff,
    after_failure,
    after_stable_run,
    backoff_delay,
    current,
    delayed_until,
    is_delayed,
    is_launch_failure,
)
from mesospaas.launch.environment import task_environment
from mesospaas.launch.offer_interest import OfferInterestDecision, OfferInterestState, decide_offer_interest
from mesospaas.launch.queue import LaunchQueue, QueueEntry, launch_queue

__all__ = [
    "Backoff",
    "LaunchQueue",
    "OfferInterestDecision",
    "OfferInterestState",
    "QueueEntry",
    "after_failure",
    "after_stable_run",
    "backoff_delay",
    "current",
    "decide_offer_interest",
    "delayed_until",
    "is_delayed",
    "is_launch_failure",
    "launch_queue",
    "task_environment",
]
