"""Health results of checks Mesos runs (``COMMAND``, ``MESOS_HTTP``, ``MESOS_HTTPS``, ``MESOS_TCP``).

Owns ``from_mesos_status(record, healthy, message, now) -> CheckHealth``: the ``healthy`` flag of a status
update becomes the same record shape as the leader's checks have. A real agent sends ``healthy: true`` once
(the first success, and the first after failures) and ``healthy: false`` on every counted failure (transcript
91, surprises 17 and 33), so each ``false`` counts one more consecutive failure and a ``true`` resets them.
``lastFailureCause`` is the update's message when it has one (e.g. ``unexpected HTTP response code 500``);
real agents often send none, and then the cause is ``None``. Mesos kills the task itself; no kill here.

Pure; never raises.
"""

from __future__ import annotations

from mesospaas.health.record import CheckHealth, failed, succeeded


def from_mesos_status(record: CheckHealth | None, healthy: bool, message: str | None, now: float) -> CheckHealth:
    base = record if record is not None else CheckHealth()
    if healthy:
        return succeeded(base, now)
    return failed(base, message or None, now)
