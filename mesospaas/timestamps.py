"""Marathon's timestamp text for events and API bodies: ``2026-11-22T10:00:00.000Z`` (UTC, always milliseconds).

Pure: the moment is an argument (seconds since the epoch); nothing here reads a clock. App versions have
their own form (milliseconds left out when zero: ``mesospaas.deploy.changes.marathon_timestamp``).
"""

from __future__ import annotations

import datetime

_UNIX_EPOCH = datetime.datetime(1970, 1, 1)


def iso_timestamp(now: float) -> str:
    """``now`` (seconds since the epoch) as ``YYYY-MM-DDTHH:MM:SS.mmmZ``, milliseconds truncated."""
    moment = _UNIX_EPOCH + datetime.timedelta(seconds=int(now // 1))
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{int((now % 1) * 1000):03d}Z"


__all__ = ["iso_timestamp"]
