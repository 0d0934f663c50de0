"""Launch backoff: how long an app waits before its next launch after tasks keep failing.

Owns: ``Backoff`` (the per-app state the shell stores) and the pure functions over it. Keyed, as Marathon's
rate limiter, by app id + config version (``lastConfigChangeAt``):

- after the n-th consecutive failure: ``delay = min(maxLaunchDelaySeconds, backoffSeconds * backoffFactor **
  (n - 1))``; the next launch is allowed at ``last failure + delay``;
- a failure is a task ending FAILED, FINISHED, ERROR, DROPPED or GONE (``is_launch_failure``) or a kill for
  failing health checks (the shell says so); a kill that was asked for (KILLED) is not;
- reset (``current`` returns ``None``) when the app's config version changed (a new config or a restart), when
  the delay is overdue (``now > last failure + maxLaunchDelaySeconds``, Marathon's cleanup), when an instance
  of the current config has been running for a while (``after_stable_run``), or on request
  (``DELETE /v2/queue/{id}/delay`` -> the shell drops the state).

Invariant: ``failures >= 1`` and ``0 <= delay <= maxLaunchDelaySeconds``. Fails: never raises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mesospaas.model.app import AppSpec
from mesospaas.model.condition import LAUNCH_FAILURES, Condition
from mesospaas.model.ids import AppId, AppVersion

DEFAULT_STABLE_RUNNING_SECONDS = 60.0
"""How long a task of the current config must have been running for its app's backoff to reset."""


@dataclass(frozen=True, slots=True)
class Backoff:
    app_id: AppId
    config_version: AppVersion
    failures: int
    delay: float
    last_failure_at: float

    @property
    def launch_allowed_at(self) -> float:
        return self.last_failure_at + self.delay


def backoff_delay(app: AppSpec, failures: int) -> float:
    """The delay after ``failures`` consecutive failures, capped at ``max_launch_delay_seconds``."""
    if failures <= 0 or app.backoff_seconds <= 0:
        return 0.0
    cap = app.max_launch_delay_seconds
    if app.backoff_factor > 1.0:
        # Compare in log space so huge failure counts cannot overflow a float.
        growth = (failures - 1) * math.log(app.backoff_factor)
        if app.backoff_seconds >= cap or growth >= math.log(cap / app.backoff_seconds):
            return cap
        return min(cap, app.backoff_seconds * math.exp(growth))
    return min(cap, app.backoff_seconds)


def is_launch_failure(condition: Condition) -> bool:
    return condition in LAUNCH_FAILURES


def current(backoff: Backoff | None, app: AppSpec, now: float) -> Backoff | None:
    """``backoff`` if it still applies to ``app`` at ``now``, else ``None`` (config changed or overdue)."""
    if backoff is None:
        return None
    if backoff.app_id != app.id or backoff.config_version != app.effective_config_version:
        return None
    if now > backoff.last_failure_at + app.max_launch_delay_seconds:
        return None
    return backoff


def after_failure(backoff: Backoff | None, app: AppSpec, now: float) -> Backoff:
    """The state after one more launch failure of ``app`` at ``now``."""
    still = current(backoff, app, now)
    failures = still.failures + 1 if still is not None else 1
    return Backoff(
        app_id=app.id,
        config_version=app.effective_config_version,
        failures=failures,
        delay=backoff_delay(app, failures),
        last_failure_at=now,
    )


def after_stable_run(
    backoff: Backoff | None,
    app: AppSpec,
    running_since: float,
    now: float,
    stable_after: float = DEFAULT_STABLE_RUNNING_SECONDS,
) -> Backoff | None:
    """Reset once a task of the current config has been running for ``stable_after`` seconds."""
    still = current(backoff, app, now)
    if still is not None and running_since >= still.last_failure_at and now - running_since >= stable_after:
        return None
    return still


def is_delayed(backoff: Backoff | None, app: AppSpec, now: float) -> bool:
    still = current(backoff, app, now)
    return still is not None and now < still.launch_allowed_at


def delayed_until(backoff: Backoff | None, app: AppSpec, now: float) -> float | None:
    """When launches may resume, or ``None`` when they may happen now."""
    still = current(backoff, app, now)
    if still is None or now >= still.launch_allowed_at:
        return None
    return still.launch_allowed_at
