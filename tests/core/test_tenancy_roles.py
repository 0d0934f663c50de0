"""Tenants as Mesos roles (pure): the role an app gets and may name under ``enforceRole`` (Marathon's
``RoleSettings``), the violations a change has, and the roles the framework subscribes with."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

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


def _every_app_violations(before: Group, after: Group, default_role: str) -> list[tuple[str, str]]:
    """The rule read over every app of both trees (what ``role_violations`` must equal, in the same order)."""
    old = before.all_apps()
    out = []
    for app_id, app in after.all_apps().items():
        previous = old.get(app_id)
        if previous is None or previous.role != app.role:
            valid = valid_roles(before, after, app_id, default_role)
            if app.role not in valid:
                out.append((app_id, app.role))
    return out


_paths = st.sampled_from(["/team-a/web", "/team-a/sub/api", "/team-a/sub/z", "/team-b/web", "/team-b-c/x",
                          "/plain", "/zz", "/team-b/a/b/c"])
_roles = st.sampled_from(["*", "team-a", "team-b", "ops"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_paths, _roles), max_size=6), st.lists(st.tuples(_paths, _roles), max_size=6),
       st.sets(st.sampled_from(["/team-a", "/team-b"])), _roles)
def test_violations_look_only_at_the_change_and_equal_the_rule_over_every_app(
        start: list[tuple[str, str]], edits: list[tuple[str, str]], enforced: set[str], default_role: str) -> None:
    before = Group.of([an_app(p).role(r).build() for p, r in dict(start).items()])
    for group in sorted(enforced):
        before = enforcing(before, group)
    after = before
    for path, role in edits:
        after = after.update_app(an_app(path).role(role).build())
    found = [(v.app_id, v.role) for v in role_violations(before, after, default_role)]
    assert found == _every_app_violations(before, after, default_role)
