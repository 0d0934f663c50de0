"""Tenants as Mesos roles (pure): the role an app gets and may name under ``enforceRole`` (Marathon's
``RoleSettings``), the violations a change has, and the roles the framework subscribes with."""

from __future__ import annotations

from dataclasses import replace

from mesospaas.model.group import Group, GroupId
from mesospaas.model.group_parts import assemble, split
from mesospaas.tenancy.roles import (default_role_for, enforced_role, framework_roles, group_role, role_violations,
                                     valid_roles)
from tests.core.builders import an_app


def enforcing(root: Group, group: str, on: bool = True) -> Group:
    existing = root.group(group) or Group(GroupId(group))
    return root.put_group(replace(existing, enforce_role=on))


ROOT = Group.of([an_app("/team-a/web").build(), an_app("/team-b/web").build(), an_app("/plain").build()])


def test_the_group_role_is_the_top_level_segment() -> None:
    assert group_role("/team-a/web") == "team-a" and group_role("/team-a/sub/web") == "team-a"
    assert group_role("/plain") is None


def test_enforce_role_gives_new_apps_the_group_role_and_allows_only_it() -> None:
    root = enforcing(ROOT, "/team-a")
    assert enforced_role(root, "/team-a/sub/api") == "team-a" and enforced_role(root, "/team-b/api") is None
    assert default_role_for(root, "/team-a/api", "marathon") == "team-a"
    assert default_role_for(root, "/team-b/api", "marathon") == "marathon"
    assert default_role_for(root, "/api", "marathon") == "marathon"
    assert valid_roles(root, root, "/team-a/api", "marathon") == ("team-a",)
    assert valid_roles(root, root, "/team-b/api", "marathon") == ("marathon", "team-b")
    assert valid_roles(root, root, "/api", "marathon") == ("marathon",)
    # an app keeps the role it has: turning enforceRole on breaks nothing that runs
    assert valid_roles(root, root, "/team-a/web", "*") == ("team-a", "*")


def test_violations_name_the_app_and_its_valid_roles_and_only_changed_roles_are_checked() -> None:
    before = enforcing(ROOT, "/team-a")
    after = before.update_app(an_app("/team-a/api").role("ops").build()) \
        .update_app(an_app("/team-b/api").role("team-b").build()) \
        .update_app(an_app("/loose").role("team-a").build()) \
        .update_app(replace(an_app("/team-a/web").build(), cmd="sleep 2"))  # same role "*", kept
    found = {v.app_id: (v.role, v.message) for v in role_violations(before, after, "*")}
    assert found == {"/team-a/api": ("ops", "is not one of (team-a)"), "/loose": ("team-a", "is not one of (*)")}
    web = before.app("/team-a/web")
    assert web is not None
    moved = before.update_app(replace(web, role="team-b"))
    assert [v.message for v in role_violations(before, moved, "*")] == ["is not one of (team-a,*)"]
    assert role_violations(before, before.update_app(replace(web, role="team-a")), "*") == []


def test_the_framework_subscribes_the_default_role_and_every_role_in_use() -> None:
    assert framework_roles(ROOT, "*") == ("*",)
    root = ROOT.update_app(an_app("/team-a/api").role("team-a").build()) \
        .update_app(an_app("/team-b/api").role("team-b").build())
    assert framework_roles(root, "marathon") == ("*", "marathon", "team-a", "team-b")
    assert framework_roles(root, "*", extra=["jobs"]) == ("*", "jobs", "team-a", "team-b")


def test_enforce_role_is_kept_by_the_stored_parts() -> None:
    root = enforcing(ROOT, "/team-a")
    nodes, apps = split(root)
    assert nodes[GroupId("/team-a")].enforce_role and not nodes[GroupId("/team-b")].enforce_role
    assert assemble(nodes, apps.values()) == root
    assert enforced_role(assemble(nodes, apps.values()), "/team-a/x") == "team-a"
