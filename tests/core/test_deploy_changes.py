"""Restart versus scale (reference §2.5), Marathon's timestamps, and the version fields a change earns."""

from __future__ import annotations

import calendar
from dataclasses import replace

import pytest

from mesospaas.deploy import (
    ChangeKind,
    Group,
    VersionInfo,
    assign_versions,
    changed_fields,
    classify,
    marathon_timestamp,
    version_info,
    with_version,
)
from mesospaas.model.app import (
    CommandExecutor,
    Container,
    CustomExecutor,
    FetchUri,
    HealthCheckSpec,
    KillSelection,
    PlacementStrategy,
    PortDefinition,
    UnreachableDisabled,
    UpgradeStrategy,
)
from mesospaas.model.affinity import AffinityMode, AffinityType, AppAffinity
from mesospaas.model.constraints import Constraint, Operator
from mesospaas.model.ids import AppId, AppVersion
from tests.core.builders import an_app

BASE = an_app("/shop/web").instances(3).version("2020-01-01T00:00:00Z").build()
T1 = calendar.timegm((2026, 11, 22, 10, 0, 0)) * 1.0


# -- classification -----------------------------------------------------------------------------------------

RESTART_CHANGES: dict[str, object] = {
    "cmd": "sleep 100",
    "args": ("sleep", "100"),
    "user": "nobody",
    "env": {"A": "1"},
    "labels": {"HAPROXY_GROUP": "external"},
    "cpus": 2.0,
    "mem": 256.0,
    "disk": 10.0,
    "gpus": 1,
    "constraints": (Constraint("hostname", Operator.UNIQUE),),
    "port_definitions": (PortDefinition(8080, name="http"),),
    "require_ports": True,
    "fetch": (FetchUri("http://example.com/app.tgz"),),
    "backoff_seconds": 5.0,
    "backoff_factor": 2.0,
    "max_launch_delay_seconds": 3600.0,
    "kill_selection": KillSelection.OLDEST_FIRST,
    "unreachable_strategy": UnreachableDisabled(),
    "task_kill_grace_period_seconds": 30.0,
    "role": "prod",
    "accepted_resource_roles": ("*",),
    "executor": CustomExecutor("/opt/exec"),
    "container": Container("DOCKER", "nginx:1.19"),
    "upgrade_strategy": UpgradeStrategy(0.5, 0.0),
    "health_checks": (HealthCheckSpec(),),
    "affinity": (AppAffinity(AppId("/shop/db"), AffinityType.AFFINITY, "hostname", AffinityMode.REQUIRED, 50),),
    "placement_strategy": PlacementStrategy.BINPACK,
}


@pytest.mark.parametrize(("name", "value"), sorted(RESTART_CHANGES.items()), ids=sorted(RESTART_CHANGES))
def test_any_change_besides_instances_restarts(name: str, value: object) -> None:
    changed = replace(BASE, **{name: value})  # type: ignore[arg-type]
    assert changed_fields(BASE, changed) == {name}
    assert classify(BASE, changed) is ChangeKind.RESTART
    assert classify(BASE, replace(changed, instances=7)) is ChangeKind.RESTART


def test_changing_only_instances_is_a_scale() -> None:
    assert classify(BASE, replace(BASE, instances=5)) is ChangeKind.SCALE
    assert classify(BASE, replace(BASE, instances=0)) is ChangeKind.SCALE


def test_versions_alone_are_no_change() -> None:
    stamped = replace(BASE, version=AppVersion("2030-01-01T00:00:00Z"), config_version=AppVersion("2029-01-01T00Z"))
    assert classify(BASE, stamped) is ChangeKind.NONE
    assert classify(BASE, BASE) is ChangeKind.NONE


def test_changing_declared_dependencies_restarts() -> None:
    kind = classify(BASE, BASE, old_dependencies=frozenset(), new_dependencies=frozenset({"/shop/db"}))
    assert kind is ChangeKind.RESTART
    same = frozenset({"/a"})
    assert classify(BASE, BASE, old_dependencies=same, new_dependencies=same) is ChangeKind.NONE


def test_the_command_executor_is_the_default() -> None:
    assert classify(BASE, replace(BASE, executor=CommandExecutor())) is ChangeKind.NONE


# -- timestamps and version fields --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "text"),
    [
        (0.0, "1970-01-01T00:00:00Z"),
        (T1, "2026-11-22T10:00:00Z"),
        (T1 + 0.5, "2026-11-22T10:00:00.500Z"),
        (T1 + 0.0421, "2026-11-22T10:00:00.042Z"),
        (T1 + 59.9996, "2026-11-22T10:01:00Z"),
        (calendar.timegm((2015, 9, 25, 15, 13, 48)) + 0.343, "2015-09-25T15:13:48.343Z"),
    ],
)
def test_timestamps_are_marathons_text_with_milliseconds_and_z(now: float, text: str) -> None:
    assert marathon_timestamp(now) == text


def test_a_scale_gets_a_new_version_but_keeps_its_config_version() -> None:
    scaled = with_version(replace(BASE, instances=5), BASE, ChangeKind.SCALE, T1)
    assert version_info(scaled) == VersionInfo(
        AppVersion("2026-11-22T10:00:00Z"), AppVersion("2026-11-22T10:00:00Z"), BASE.version
    )


def test_a_config_change_gets_a_new_version_and_config_version() -> None:
    changed = with_version(replace(BASE, cmd="x"), BASE, ChangeKind.RESTART, T1)
    assert version_info(changed) == VersionInfo(*[AppVersion("2026-11-22T10:00:00Z")] * 3)


def test_no_change_keeps_the_previous_versions_and_a_new_app_gets_fresh_ones() -> None:
    again = with_version(replace(BASE, version=AppVersion("junk")), BASE, ChangeKind.NONE, T1)
    assert again == BASE
    fresh = with_version(BASE, None, ChangeKind.NONE, T1)
    assert fresh.version == fresh.effective_config_version == "2026-11-22T10:00:00Z"


# -- stamping a whole edited root -----------------------------------------------------------------------------

V0 = AppVersion("2020-01-01T00:00:00Z")
NOW_TEXT = "2026-11-22T10:00:00Z"
ROOT0 = Group.of(
    [
        an_app("/shop/web").instances(3).version(V0).build(),
        an_app("/shop/db").version(V0).build(),
        an_app("/tools/cron").version(V0).build(),
    ],
    version=V0,
)


def test_an_unchanged_root_stays_exactly_as_it_was() -> None:
    root = ROOT0
    assert assign_versions(root, root, T1) == root


def test_only_changed_apps_and_the_groups_above_them_get_the_new_version() -> None:
    root = ROOT0
    web = root.app("/shop/web")
    db = root.app("/shop/db")
    assert web is not None and db is not None
    edited = root.update_app(replace(web, instances=5)).update_app(replace(db, cmd="db --fast"))
    edited = edited.update_app(an_app("/shop/cache").build())
    result = assign_versions(root, edited, T1)

    new_web, new_db, cache = result.app("/shop/web"), result.app("/shop/db"), result.app("/shop/cache")
    assert new_web is not None
    assert version_info(new_web) == VersionInfo(AppVersion(NOW_TEXT), AppVersion(NOW_TEXT), V0)
    assert new_db is not None and version_info(new_db) == VersionInfo(*[AppVersion(NOW_TEXT)] * 3)
    assert cache is not None and cache.version == NOW_TEXT
    assert result.app("/tools/cron") == root.app("/tools/cron")
    versions = {g.id: g.version for g in result.all_groups()}
    assert versions == {"/": NOW_TEXT, "/shop": NOW_TEXT, "/tools": V0}


def test_a_restart_request_gives_an_unchanged_app_a_new_config_version() -> None:
    root = ROOT0
    result = assign_versions(root, root, T1, restart=[AppId("/tools/cron")])
    cron = result.app("/tools/cron")
    assert cron is not None and version_info(cron) == VersionInfo(*[AppVersion(NOW_TEXT)] * 3)
    assert {g.id: g.version for g in result.all_groups()} == {"/": NOW_TEXT, "/shop": V0, "/tools": NOW_TEXT}


def test_a_dependency_change_versions_the_app_and_a_group_dependency_change_the_group() -> None:
    root = ROOT0
    web = root.app("/shop/web")
    assert web is not None
    edited = root.update_app(web, dependencies=["../db"]).with_dependencies("/tools", ["/shop"])
    result = assign_versions(root, edited, T1)
    new_web = result.app("/shop/web")
    assert new_web is not None and new_web.version == NOW_TEXT
    assert {g.id: g.version for g in result.all_groups()} == {"/": NOW_TEXT, "/shop": NOW_TEXT, "/tools": NOW_TEXT}
