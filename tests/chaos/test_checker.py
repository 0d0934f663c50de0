"""The chaos checker on hand-made histories: every rule passes a correct history and fails a broken one."""

from __future__ import annotations

from typing import Any

from tests.chaos import checker
from tests.chaos.checker import History, check

APP = "/chaos/c0/a0"
TASK = "chaos_c0_a0.instance-{}._app.{}"


def op(start: float, end: float, effects: list[dict[str, Any]], outcome: str = "ok", status: int = 200,
       version: str | None = None, method: str = "PUT", path: str = "/v2/apps/chaos/c0/a0") -> dict[str, Any]:
    return {"type": "op", "op": "x", "method": method, "path": path, "start": start, "end": end,
            "outcome": outcome, "status": status, "effects": effects,
            "response": {"version": version} if version else {"message": "m"}}


def create(start: float, instances: int, cmd: str, version: str, outcome: str = "ok", status: int = 201,
           over: float = 0.0) -> dict[str, Any]:
    return op(start, start + 0.5, [{"entity": f"app:{APP}", "fields": {"instances": instances, "cmd": cmd},
                                    "versioned": True, "bound": [instances, over]}], outcome, status, version,
              method="POST", path="/v2/apps")


def scale(start: float, instances: int, version: str | None, outcome: str = "ok", status: int = 200,
          over: float = 0.0) -> dict[str, Any]:
    return op(start, start + 0.5, [{"entity": f"app:{APP}", "fields": {"instances": instances},
                                    "versioned": True, "bound": [instances, over]}], outcome, status, version)


def delete(start: float, outcome: str = "ok", status: int = 200) -> dict[str, Any]:
    return op(start, start + 0.5, [{"entity": f"app:{APP}", "exists": False}], outcome, status, "v-del",
              method="DELETE")


def final(entities: dict[str, dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"settled": True, "converged": True, "entities": entities, "mesos_live": [], "scheduler_tasks": [],
            **extra}


def rules(history: History) -> list[str]:
    return [v.rule for v in check(history)]


# -- final state -----------------------------------------------------------------------------------------
def test_the_last_acknowledged_change_is_the_final_state() -> None:
    ops = [create(1, 2, "sleep 1", "v1"), scale(2, 3, "v2")]
    good = final({f"app:{APP}": {"instances": 3, "cmd": "sleep 1", "version": "v2"}})
    assert rules(History(ops=ops, final=good)) == []
    stale = final({f"app:{APP}": {"instances": 2, "cmd": "sleep 1", "version": "v1"}})
    assert rules(History(ops=ops, final=stale)) == ["final-state"]
    wrong_version = final({f"app:{APP}": {"instances": 3, "cmd": "sleep 1", "version": "v9"}})
    assert rules(History(ops=ops, final=wrong_version)) == ["final-state"]


def test_an_acknowledged_create_must_not_be_lost() -> None:
    ops = [create(1, 1, "sleep 1", "v1")]
    assert rules(History(ops=ops, final=final({}))) == ["lost-or-resurrected"]


def test_an_acknowledged_delete_must_not_be_resurrected() -> None:
    ops = [create(1, 1, "sleep 1", "v1"), delete(3)]
    assert rules(History(ops=ops, final=final({}))) == []
    back = final({f"app:{APP}": {"instances": 1, "cmd": "sleep 1", "version": "v1"}})
    assert rules(History(ops=ops, final=back)) == ["lost-or-resurrected"]


def test_indeterminate_operations_may_go_either_way() -> None:
    ops = [create(1, 1, "sleep 1", "v1"), delete(3, outcome="indeterminate", status=0)]
    assert rules(History(ops=ops, final=final({}))) == []
    kept = final({f"app:{APP}": {"instances": 1, "cmd": "sleep 1", "version": "v1"}})
    assert rules(History(ops=ops, final=kept)) == []
    # A 502 from a proxying standby may come after the leader committed: indeterminate too.
    ops = [create(1, 1, "sleep 1", "v1"), scale(3, 3, None, outcome="fail", status=502)]
    for instances, version in ((1, "v1"), (3, "any-new-version")):
        state = final({f"app:{APP}": {"instances": instances, "cmd": "sleep 1", "version": version}})
        assert rules(History(ops=ops, final=state)) == []
    # ... but not to a state no ordering gives: 2 instances were never asked for.
    state = final({f"app:{APP}": {"instances": 2, "cmd": "sleep 1", "version": "v1"}})
    assert rules(History(ops=ops, final=state)) == ["final-state"]


def test_an_indeterminate_op_before_an_acknowledged_one_is_overwritten() -> None:
    ops = [create(1, 1, "sleep 1", "v1"), scale(2, 3, None, outcome="indeterminate", status=0), scale(4, 2, "v3")]
    assert rules(History(ops=ops, final=final({f"app:{APP}": {"instances": 2, "cmd": "sleep 1",
                                                             "version": "v3"}}))) == []
    assert rules(History(ops=ops, final=final({f"app:{APP}": {"instances": 3, "cmd": "sleep 1",
                                                             "version": "v3"}}))) == ["final-state"]


def test_refused_and_client_errors_change_nothing() -> None:
    ops = [create(1, 1, "sleep 1", "v1"), scale(2, 3, None, outcome="fail", status=409),
           delete(3, outcome="fail", status=0)]
    kept = final({f"app:{APP}": {"instances": 1, "cmd": "sleep 1", "version": "v1"}})
    assert rules(History(ops=ops, final=kept)) == []
    assert rules(History(ops=ops, final=final({}))) == ["lost-or-resurrected"]


# -- samples ---------------------------------------------------------------------------------------------
def sample(t: float, tasks: list[tuple[str, str]], apps: dict[str, list[Any]] | None = None,
           deploying: list[str] | None = None, leader: int | None = 0) -> dict[str, Any]:
    return {"type": "sample", "t": t, "mesos": [list(x) for x in tasks], "leader": leader,
            "apps": apps if apps is not None else {APP: [2, 0.0]}, "deploying": deploying or []}


def test_two_live_tasks_for_one_instance_is_a_violation() -> None:
    fine = [sample(1, [(TASK.format("a", 1), "TASK_RUNNING"), (TASK.format("b", 1), "TASK_RUNNING")])]
    assert checker.duplicate_instance_violations(fine) == []
    relaunched_after_death = [sample(1, [(TASK.format("a", 1), "TASK_FAILED"), (TASK.format("a", 2), "TASK_STAGING")])]
    assert checker.duplicate_instance_violations(relaunched_after_death) == []
    twice = [sample(1, [(TASK.format("a", 1), "TASK_RUNNING"), (TASK.format("a", 2), "TASK_STAGING")])]
    found = checker.duplicate_instance_violations(twice)
    assert [v.rule for v in found] == ["duplicate-instance"] and "chaos_c0_a0.instance-a" in found[0].detail


def test_task_ids_map_back_to_instances_and_apps() -> None:
    task = "shop_web.instance-1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b._app.3"
    assert checker.instance_of(task) == "shop_web.instance-1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b"
    assert checker.app_of(task) == "/shop/web"
    assert checker.instance_of("chaos-c0-j0.20261203T120000Z.abc") is None


def test_marathon_rounding_of_over_capacity() -> None:
    assert checker.capacity(3, 0.5) == 4 and checker.capacity(1, 0.5) == 1 and checker.capacity(2, 1.0) == 4
    assert checker.capacity(3, 0.0) == 3 and checker.capacity(10, 0.1) == 11


def test_more_tasks_than_instances_plus_over_capacity_is_a_violation() -> None:
    ops = [create(0, 3, "sleep 1", "v1", over=0.5)]  # floor(3 * 1.5) = 4 launched tasks at most
    five = [(TASK.format(x, 1), "TASK_RUNNING") for x in "abcde"]
    ok = [sample(1, five[:3], apps={APP: [3, 0.5]}), sample(2, five[:4], apps={APP: [3, 0.5]}, deploying=[APP])]
    assert checker.over_capacity_violations(ok, ops) == []
    over = ok + [sample(3, five, apps={APP: [3, 0.5]}, deploying=[APP]),
                 sample(3 + checker.KILL_GRACE, five, apps={APP: [3, 0.5]}, deploying=[APP])]
    found = checker.over_capacity_violations(over, ops)
    assert [v.rule for v in found] == ["over-capacity"] and "5 launched tasks, allowed 4" in found[0].detail
    killing = [sample(3, five[:4] + [(five[4][0], "TASK_KILLING")], apps={APP: [3, 0.5]}),
               sample(3 + checker.KILL_GRACE, five[:4] + [(five[4][0], "TASK_KILLING")], apps={APP: [3, 0.5]})]
    assert checker.over_capacity_violations(killing, ops) == []  # being killed: no longer counts


def test_an_excess_shorter_than_a_kill_retry_or_during_a_fault_is_not_a_violation() -> None:
    ops = [create(0, 1, "sleep 1", "v1")]
    two = [(TASK.format(x, 1), "TASK_RUNNING") for x in "ab"]
    brief = [sample(1, two[:1], apps={APP: [1, 0.0]}), sample(2, two, apps={APP: [1, 0.0]}),
             sample(2 + checker.KILL_GRACE / 2, two, apps={APP: [1, 0.0]}),
             sample(3 + checker.KILL_GRACE / 2, two[:1], apps={APP: [1, 0.0]})]
    assert checker.over_capacity_violations(brief, ops) == []
    long = [sample(1, two[:1], apps={APP: [1, 0.0]})] + [sample(t, two, apps={APP: [1, 0.0]})
                                                         for t in (2, 8, 14, 20)]
    assert [v.rule for v in checker.over_capacity_violations(long, ops)] == ["over-capacity"]
    # A master partition from 5 to 12 holds kills back: the grace counts again from its end.
    cut = [{"kind": "leader-master-cut", "start": 5.0, "end": 12.0}]
    assert checker.over_capacity_violations(long, ops, cut) == []
    assert [v.rule for v in checker.over_capacity_violations(long + [sample(25, two, apps={APP: [1, 0.0]})],
                                                             ops, cut)] == ["over-capacity"]


def test_a_scale_down_is_bounded_by_the_old_count_until_the_app_settles() -> None:
    ops = [create(0, 3, "sleep 1", "v1"), scale(5, 1, "v2")]
    three = [(TASK.format(x, 1), "TASK_RUNNING") for x in "abc"]
    samples = [sample(1, three, apps={APP: [3, 0.0]}), sample(6, three, apps={APP: [1, 0.0]}, deploying=[APP]),
               sample(30, three, apps={APP: [1, 0.0]}, deploying=[APP]),
               sample(31, three[:1], apps={APP: [1, 0.0]})]
    assert checker.over_capacity_violations(samples, ops) == []
    # Once settled at one instance, three again (for longer than a kill retry) is over capacity.
    samples += [sample(32, three, apps={APP: [1, 0.0]}), sample(32 + checker.KILL_GRACE, three, apps={APP: [1, 0.0]})]
    assert [v.rule for v in checker.over_capacity_violations(samples, ops)] == ["over-capacity"]


# -- after the run ---------------------------------------------------------------------------------------
def test_orphans_after_the_scheduler_settled() -> None:
    clean = final({}, mesos_live=[TASK.format("a", 1)], scheduler_tasks=[TASK.format("a", 1)])
    assert rules(History(final=clean)) == []
    orphan = final({}, converged=False, mesos_live=[TASK.format("a", 1), TASK.format("z", 1)],
                   scheduler_tasks=[TASK.format("a", 1)])
    found = check(History(final=orphan))
    assert [v.rule for v in found] == ["orphan"] and TASK.format("z", 1) in found[0].detail
    ghost = final({}, converged=False, mesos_live=[], scheduler_tasks=[TASK.format("a", 1)])
    assert rules(History(final=ghost)) == ["orphan"]


def test_a_deployment_that_never_finishes() -> None:
    stuck = {"settled": False, "converged": False, "entities": {}, "deployments": ["d1"], "why": "d1 left"}
    assert rules(History(final=stuck)) == ["deployment-never-finished", "not-converged"]
    short = {"settled": False, "converged": False, "entities": {}, "deployments": [], "why": "/a 1/2"}
    assert rules(History(final=short)) == ["not-converged"]


def test_server_errors_only_while_no_leader_serves() -> None:
    samples = [sample(t, [], leader=0) for t in (0.0, 0.5, 1.0, 1.5)] + [sample(2.0, [], leader=None),
                                                                          sample(2.5, [], leader=1)]
    faults: list[dict[str, Any]] = [{"kind": "kill-leader", "start": 1.9, "end": 2.4}]
    during_failover = op(2.1, 2.2, [], outcome="fail", status=503)
    assert checker.server_error_violations([during_failover], samples, faults) == []
    while_serving = op(0.6, 0.8, [], outcome="fail", status=503)
    assert [v.rule for v in checker.server_error_violations([while_serving], samples, faults)] == ["server-error"]
    internal = op(2.1, 2.2, [], outcome="fail", status=500)
    assert [v.rule for v in checker.server_error_violations([internal], samples, faults)] == ["server-error"]
    # A span with a fault in it is not "serving", even if the samples agree on the leader at both ends.
    cut: list[dict[str, Any]] = [{"kind": "leader-zk-cut", "start": 0.6, "end": 0.7}]
    assert checker.server_error_violations([while_serving], samples, cut) == []


def test_a_quorum_loss_answer_is_allowed_only_during_and_just_after_a_zookeeper_fault() -> None:
    samples = [sample(t, [], leader=0) for t in (20.0, 30.0, 40.0, 50.0)]
    faults: list[dict[str, Any]] = [{"kind": "zk-ensemble-restart", "start": 10.0, "end": 18.0}]
    quorum = {"message": "ZooKeeper is unavailable (quorum lost, or this instance is cut off from it)"}
    late_ack = {**op(22.0, 22.1, [], outcome="fail", status=503), "response": quorum}
    assert checker.server_error_violations([late_ack], samples, faults) == []  # its client still reconnecting
    stuck = {**op(35.0, 35.1, [], outcome="fail", status=503), "response": quorum}
    assert [v.rule for v in checker.server_error_violations([stuck], samples, faults)] == ["server-error"]
    other = {**op(22.0, 22.1, [], outcome="fail", status=503), "response": {"message": "something else"}}
    assert [v.rule for v in checker.server_error_violations([other], samples, faults)] == ["server-error"]
    not_zookeeper = [{"kind": "kill-leader", "start": 10.0, "end": 18.0}]
    assert [v.rule for v in checker.server_error_violations([late_ack], samples, not_zookeeper)] == ["server-error"]
