"""A nemesis run replays from its seed: the client and fault schedules are functions of the seed alone."""

from __future__ import annotations

from tests.chaos.checker import app_of
from tests.chaos.nemesis import KINDS, plan_faults
from tests.chaos.workload import plan_client


def test_the_same_seed_gives_the_same_schedules() -> None:
    assert plan_client(5, 0, 120) == plan_client(5, 0, 120)
    assert plan_faults(5, 120) == plan_faults(5, 120)
    assert plan_client(5, 0, 120) != plan_client(6, 0, 120)
    assert plan_client(5, 0, 120) != plan_client(5, 1, 120)
    assert plan_faults(5, 120) != plan_faults(6, 120)


def test_every_fault_kind_comes_once_before_any_repeats() -> None:
    plan = plan_faults(11, 10.0)  # shorter than the kinds take: the schedule still has each once
    assert sorted(f["kind"] for f in plan[:len(KINDS)]) == sorted(KINDS)
    starts = [f["at"] for f in plan]
    assert starts == sorted(starts)
    assert all(later["at"] >= earlier["at"] + earlier["length"] for earlier, later in zip(plan, plan[1:]))


def test_clients_touch_only_their_own_entities_with_tiny_apps() -> None:
    for client in range(3):
        plan = plan_client(3, client, 600)
        kinds = {op["op"] for op in plan}
        assert {"create_app", "update_app", "scale_app", "restart_app", "delete_app", "create_group",
                "delete_group", "create_job", "run_job"} <= kinds
        for op in plan:
            for effect in op["effects"]:
                entity = effect["entity"].split(":", 1)[1]
                assert entity.startswith((f"/chaos/c{client}/", f"chaos-c{client}-")), effect
            body = op["body"] or {}
            for app in body.get("apps") or ([body] if "cmd" in body else []):
                assert 1 <= app["instances"] <= 3 and app["cmd"].startswith("sleep ")
                assert "maximumOverCapacity" in app["upgradeStrategy"]
    # the checker maps the apps' task ids back to the same ids
    assert app_of("chaos_c1_g0_web.instance-1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b._app.1") == "/chaos/c1/g0/web"
