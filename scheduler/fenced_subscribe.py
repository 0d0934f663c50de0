"""A (re-)SUBSCRIBE to Mesos only while this instance may act: pymesos' driver with a fence on its subscription.

pymesos re-subscribes on its own thread as soon as its event stream ends (the master restarted, or another
instance subscribed with the same framework id and Mesos failed this one over). A leader frozen past its
ZooKeeper session (SIGSTOP, a long pause) wakes with its stream gone and would re-subscribe at once, before
its own event loop has seen that the session expired: Mesos would fail the real leader's subscription over to
the deposed one. ``FencedSchedulerDriver`` asks ``verdict()`` (the leader term's, ``LeaderTerm.verdict``) right
before every SUBSCRIBE it would send:

- ``ACT``: subscribe as pymesos would.
- ``WAIT`` (ZooKeeper suspended, or the lease stale, as after a freeze): hold the subscription on pymesos'
  thread, asking again every ``POLL`` s, until the lease is renewed (then subscribe) or the term ends.
- ``NEVER`` (the term ended): never subscribe; the thread holds until the driver is stopped, and returns a
  request pymesos never sends (its loop sees the stop first: the stop's wake-up is already pending when the
  hold returns).

Without a fence (one instance, no ZooKeeper) the driver is pymesos' own.
Fails: never itself; a verdict function that raises is treated as ``WAIT`` and logged.
"""

from __future__ import annotations

import enum
import logging
import select
import time
from collections.abc import Callable
from typing import Any

from pymesos import MesosSchedulerDriver

log = logging.getLogger(__name__)
POLL = 0.05


class Verdict(enum.Enum):
    ACT = "act"
    WAIT = "wait"
    NEVER = "never"


class FencedSchedulerDriver(MesosSchedulerDriver):  # type: ignore[misc]
    def __init__(self, *args: Any, verdict: Callable[[], Verdict], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._verdict = verdict
        self.held_subscriptions = 0
        """SUBSCRIBEs this driver held back because it could not act (for tests and logs)."""

    def _ask(self) -> Verdict:
        try:
            return self._verdict()
        except Exception:  # a broken fence must not let a deposed leader subscribe
            log.exception("the subscription fence failed; holding the subscription")
            return Verdict.WAIT

    def _stopping(self) -> bool:
        with self._lock:
            stopped = not self._started
            fds = self._wakeup_fds
        if not stopped or fds is None:
            return stopped
        readable, _, _ = select.select([fds[0]], [], [], 0)  # the stop's wake-up, left for pymesos' loop
        return bool(readable)

    def gen_request(self) -> bytes:
        verdict = self._ask()
        if verdict is Verdict.ACT:
            return bytes(super().gen_request())
        self.held_subscriptions += 1
        log.warning("not subscribing to Mesos: this instance may not act now (%s)", verdict.value)
        while not self._stopping():
            verdict = self._ask()
            if verdict is Verdict.ACT:
                log.info("acting again: subscribing to Mesos")
                return bytes(super().gen_request())
            time.sleep(POLL)
        return bytes(super().gen_request())  # never sent: pymesos' loop breaks on the pending stop first


__all__ = ["FencedSchedulerDriver", "POLL", "Verdict"]
