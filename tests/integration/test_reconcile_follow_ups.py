"""Follow-up task reconciliation after a subscription (issue 18) asks explicitly only about tasks Mesos has not
told the scheduler of since it subscribed (issue 11: asking about every task again had Mesos send every
task's state twice per round, tens of thousands of updates at scale), while the implicit part still runs.

Real localmesos and real tasks; the runtime's clock is the test's, so the follow-up round falls due when the
test says. The answers to a RECONCILE are sent on the event stream while the call is handled, so a task
launched after the round reports RUNNING only after every answer of the round arrived.
"""

from __future__ import annotations

from mesospaas.model import AppId
from scheduler.metrics import PREFIX
from scheduler.reconcile_followups import FOLLOW_UPS

from .conftest import RuntimeHandle, eventually, running, sleeper


def _sample(runtime: object, name: str, **labels: str) -> float:
    value = runtime.metrics.registry.get_sample_value(f"{PREFIX}_{name}", labels)  # type: ignore[attr-defined]
    return float(value or 0.0)


async def test_a_follow_up_round_asks_only_about_tasks_mesos_has_not_answered_for(scheduler: RuntimeHandle) -> None:
    now = [10_000.0]
    runtime = await scheduler.start(clock=lambda: now[0])
    await runtime.put_app(sleeper("/steady", 3))
    await eventually(lambda: len(running(runtime, "/steady")) == 3, 30)
    rounds = _sample(runtime, "task_reconciliations_total")
    updates = _sample(runtime, "status_updates_total", state="TASK_RUNNING")

    now[0] += FOLLOW_UPS[1]  # the first two follow-up rounds are due: taken as one at the next tick
    await eventually(lambda: _sample(runtime, "task_reconciliations_total") == rounds + 1, 30)
    await runtime.put_app(sleeper("/steady", 4))  # a marker: its RUNNING comes after every answer of the round
    await eventually(lambda: len(running(runtime, "/steady")) == 4, 30)

    # Each of the 3 tasks answered once (the implicit round); asked about explicitly as well, each would
    # have answered twice. The fourth update is the new task's own RUNNING.
    assert _sample(runtime, "status_updates_total", state="TASK_RUNNING") - updates == 3 + 1
    assert len(runtime.instances_of(AppId("/steady"))) == 4
