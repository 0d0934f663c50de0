"""A rolling restart never kills running instances of unknown health beyond the minimum-health budget.

After a failover (or right after launch) a health-checked instance may have no health result yet: it may well
be serving, so treating it as unhealthy and killing every such instance at once would be an outage.
"""

from __future__ import annotations

from mesospaas.model import AppId, AppVersion, Condition, Instance, InstanceId
from mesospaas.model.app import AppSpec, HealthCheckSpec, UpgradeStrategy
from mesospaas.model.deployment import DeploymentStep
from mesospaas.model.ids import random_instance_ids
from mesospaas.reconcile.reconcile_app import reconcile_app

import random


def old_instance(n: int, healthy: bool | None) -> Instance:
    return Instance(id=InstanceId(f"web.instance-{n:08d}-0000-4000-8000-000000000000"), app_id=AppId("/web"),
                    app_version=AppVersion("v1"), condition=Condition.RUNNING, incarnation=1, healthy=healthy,
                    since=float(n), started_at=float(n))


def target(instances: int, mhc: float, moc: float) -> AppSpec:
    return AppSpec(id=AppId("/web"), version=AppVersion("v2"), cmd="serve", instances=instances,
                   health_checks=(HealthCheckSpec(),), upgrade_strategy=UpgradeStrategy(mhc, moc))


def decide(app: AppSpec, instances: list[Instance]):  # type: ignore[no-untyped-def]
    return reconcile_app(app, instances, 100.0, new_ids=random_instance_ids(random.Random(1)),
                         deployment=DeploymentStep.restart(app))


def test_unknown_health_is_killed_only_within_budget() -> None:
    app = target(4, mhc=0.5, moc=0.0)
    instances = [old_instance(0, True), old_instance(1, True), old_instance(2, None), old_instance(3, None)]
    result = decide(app, instances)
    # 2 healthy, min healthy 2: nothing of unknown health may go yet, and nothing healthy either.
    assert result.kill == () and not result.create


def test_unknown_health_goes_before_healthy_ones() -> None:
    app = target(4, mhc=0.5, moc=0.0)
    instances = [old_instance(0, True), old_instance(1, True), old_instance(2, True), old_instance(3, None)]
    result = decide(app, instances)
    assert set(result.kill) == {instances[3].id}  # budget 1: the unknown one first
    assert len(result.create) == 1


def test_known_unhealthy_still_go_at_once() -> None:
    app = target(4, mhc=0.5, moc=0.0)
    instances = [old_instance(0, True), old_instance(1, True), old_instance(2, False), old_instance(3, False)]
    result = decide(app, instances)
    assert set(result.kill) == {instances[2].id, instances[3].id}
    assert len(result.create) == 2
