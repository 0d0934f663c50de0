"""The periodic reconciliation's safety net: every app, a slice per tick.

The runtime reconciles an app whenever something it depends on changes, and on every tick the apps whose
result moves with time (``mesospaas.reconcile.time_driven``), with running deployments or with backoffs.
Beyond those, this visits every app again at least once every ``ticks`` ticks, a slice at a time, so a
missed trigger is repaired within seconds while a tick costs a fraction of the apps, not all of them
(a tick over 10,000 apps and 100,000 instances took about half a second; issue 11).

Owns only the cursor. Apps created during a round are visited in the next one (they were reconciled when
they were created).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from mesospaas.model.ids import AppId

SWEEP_TICKS = 10
"""Ticks in which every app is visited at least once (the tick is 1 s by default)."""


class RollingSweep:
    def __init__(self, ticks: int = SWEEP_TICKS) -> None:
        if ticks < 1:
            raise ValueError("a sweep needs at least one tick")
        self.ticks = ticks
        self._round: list[AppId] = []
        self._size = 0

    def take(self, apps: Iterable[AppId]) -> list[AppId]:
        """This tick's slice; ``apps`` (every app now) starts a new round when the last one is done."""
        if not self._round:
            self._round = list(apps)
            self._round.reverse()  # taken from the end: the round visits apps in the given order
            self._size = len(self._round)
        count = min(len(self._round), max(1, math.ceil(self._size / self.ticks)))
        taken = self._round[len(self._round) - count:]
        del self._round[len(self._round) - count:]
        taken.reverse()
        return taken


__all__ = ["SWEEP_TICKS", "RollingSweep"]
