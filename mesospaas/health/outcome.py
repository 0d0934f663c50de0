"""What one probe of a health check gave: the outcome types and Marathon's classification of an HTTP answer.

Owns: ``Passed``, ``Failed`` (with Marathon's cause string), ``Ignored`` (a 1xx answer under
``ignoreHttp1xx``: the state stays as it was) and ``Unknown`` (the scheduler could not run the probe in time,
its own overload: it must change nothing), and the pure mappings ``http_outcome`` (status -> outcome, 200-399
healthy as Marathon and AWS R53 do) and ``late_outcome`` (a timeout while the scheduler itself was late is
``Unknown``, not a failure).

Cause strings are Marathon's: an HTTP answer outside 200-399 gives ``"<code> <reason phrase>"`` (akka's
``StatusCode.toString``, e.g. ``"500 Internal Server Error"``); connection errors give the error's message.
Fails: never raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus


@dataclass(frozen=True, slots=True)
class Passed:
    """The check passed (HTTP 200-399, or a TCP connect)."""


@dataclass(frozen=True, slots=True)
class Failed:
    cause: str


@dataclass(frozen=True, slots=True)
class Ignored:
    """An answer Marathon discards (HTTP 1xx with ``ignoreHttp1xx``): nothing changes."""

    status: int


@dataclass(frozen=True, slots=True)
class Unknown:
    """No result: the probe could not start (or finish) in time because the scheduler was late."""

    reason: str


Outcome = Passed | Failed | Ignored | Unknown

PASSED = Passed()


def reason_phrase(status: int, given: str | None = None) -> str:
    """The standard reason phrase of ``status`` (the server's own text when the code is not a standard one)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return given or ""


def status_text(status: int, given: str | None = None) -> str:
    """``"500 Internal Server Error"``: Marathon's cause for an HTTP answer outside 200-399."""
    phrase = reason_phrase(status, given)
    return f"{status} {phrase}" if phrase else str(status)


def http_outcome(status: int, ignore_http1xx: bool, reason: str | None = None) -> Outcome:
    """Marathon's verdict on an HTTP(S) answer. ``ignore_http1xx`` is honoured by the caller only for HTTP."""
    if 200 <= status < 400:
        return PASSED
    if ignore_http1xx and 100 <= status < 200:
        return Ignored(status)
    return Failed(status_text(status, reason))


def late_outcome(timed_out: Failed, scheduler_lag: float, timeout: float) -> Outcome:
    """A probe that timed out while the scheduler's own event loop lagged by a good part of the timeout says
    nothing about the task: ``Unknown``. Otherwise the timeout stands."""
    if scheduler_lag >= LAG_SHARE_OF_TIMEOUT * timeout:
        return Unknown(f"the scheduler was {scheduler_lag:.2f} s late while probing ({timed_out.cause})")
    return timed_out


LAG_SHARE_OF_TIMEOUT = 0.25
"""A timed-out probe counts as ``Unknown`` when the scheduler lagged by at least this share of its timeout."""
