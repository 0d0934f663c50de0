"""The pure decisions: grants on prefixes, job tenants, the principals file, tokens, quota arithmetic."""

from __future__ import annotations

import pytest

from mesospaas.model import AppId, AppSpec
from mesospaas.tenancy import Action, Principal, PrincipalsFile, Quota, TokenHash, job_tenant, parse_grant
from mesospaas.tenancy.grants import Grant, Role, prefix_matches
from mesospaas.tenancy.principals import new_token, split_token
from mesospaas.tenancy.quota import over_capacity_headroom, quota_violations


@pytest.mark.parametrize(("prefix", "path", "covered"), [
    ("/team-a/**", "/team-a", True), ("/team-a/**", "/team-a/web", True), ("/team-a/**", "/team-a/x/y", True),
    ("/team-a/**", "/team-ab", False), ("/team-a/**", "/team-b/web", False), ("/team-a/**", "/", False),
    ("/**", "/", True), ("/**", "/anything/at/all", True), ("/team-a/web", "/team-a/web", True),
    ("/team-a/web", "/team-a/web/x", False), ("/team-a/web", "/team-a", False),
])
def test_a_prefix_covers_its_subtree_only(prefix: str, path: str, covered: bool) -> None:
    assert prefix_matches(prefix, path) is covered


def test_roles_include_the_lesser_ones() -> None:
    deployer = Principal("d", (parse_grant("deploy:/team-a/**"),))
    assert deployer.may(Action.READ, "/team-a/web") and deployer.may(Action.DEPLOY, "/team-a/web")
    assert not deployer.may(Action.ADMIN, "/team-a/web") and not deployer.may(Action.READ, "/team-b/web")
    assert Principal("a", (parse_grant("admin:/**"),)).is_admin and not deployer.is_admin


@pytest.mark.parametrize("text", ["deploy", "owner:/x/**", "read:team-a", "read:/a/**/b", "read:/a*"])
def test_a_bad_grant_says_why(text: str) -> None:
    with pytest.raises(ValueError, match="grant"):
        parse_grant(text)


def test_a_jobs_first_dotted_segment_is_its_tenant() -> None:
    assert job_tenant("team-a.nightly") == "/team-a/nightly"
    assert Principal("d", (parse_grant("deploy:/team-a/**"),)).may(Action.DEPLOY, job_tenant("team-a.nightly"))
    assert not Principal("d", (parse_grant("deploy:/team-a/**"),)).may(Action.READ, job_tenant("team-ab.x"))


def test_a_token_verifies_only_with_its_secret_and_the_file_keeps_no_secret() -> None:
    token, token_id, secret = new_token(b"\x01" * 8, b"\x02" * 32)
    assert split_token(token) == (token_id, secret)
    hashed = TokenHash.of(secret, b"salt" * 4, n=2 ** 10)
    assert hashed.verifies(secret) and not hashed.verifies(secret[:-1] + "x")
    file = PrincipalsFile().with_principal(Principal("ci", (Grant(Role.READ, "/a/**"),), token_id, hashed))
    text = file.dumps()
    assert secret not in text and token not in text
    again = PrincipalsFile.parse(text)
    assert again.by_token_id()[token_id].token_hash.verifies(secret)  # type: ignore[union-attr]
    assert split_token("msp_short_x") is None and split_token("Bearer x") is None


def test_a_principal_is_replaced_by_name_and_revoked() -> None:
    one = Principal("ci", (parse_grant("read:/a/**"),), "1" * 16, TokenHash.of("s", b"x" * 16, n=2 ** 10))
    two = Principal("ci", (parse_grant("deploy:/a/**"),), "2" * 16, TokenHash.of("t", b"y" * 16, n=2 ** 10))
    file = PrincipalsFile().with_principal(one).with_principal(two)
    assert [p.token_id for p in file.principals] == ["2" * 16]
    kept, missing = file.without(["ci", "nobody"])
    assert kept.principals == () and missing == ["nobody"]


def test_a_broken_principals_file_names_the_entry() -> None:
    with pytest.raises(ValueError, match=r"principals\[0\]"):
        PrincipalsFile.parse('{"principals": [{"name": "x", "grants": ["read:/a/**"]}]}')
    with pytest.raises(ValueError, match="quotas"):
        PrincipalsFile.parse('{"principals": [], "quotas": {"/a": {"cpu": 1}}}')


def app(path: str, instances: int = 1, cpus: float = 1.0) -> AppSpec:
    return AppSpec(id=AppId(path), cmd="sleep 1", instances=instances, cpus=cpus, mem=128.0)


def test_a_change_that_raises_usage_above_a_limit_is_named() -> None:
    quotas = {"/team-a": Quota(cpus=4, instances=3)}
    before = [app("/team-a/x", 2), app("/team-b/y", 10)]
    problems = quota_violations(quotas, before, [app("/team-a/x", 4), app("/team-b/y", 10)])
    assert [(p.prefix, p.dimension, p.requested) for p in problems] == [("/team-a", "instances", 4)]
    assert "instances would be 4, the quota is 3" in problems[0].message
    # lowering usage is always admitted, even above the limit; other tenants do not count
    assert quota_violations(quotas, [app("/team-a/x", 5)], [app("/team-a/x", 4)]) == []
    assert quota_violations(quotas, before, [*before, app("/team-b/z", 100)]) == []


def test_the_headroom_of_a_rolling_deployment() -> None:
    quotas = {"/team-a": Quota(instances=5, cpus=2.5)}
    apps = [app("/team-a/x", 2, cpus=0.5), app("/team-a/y", 1, cpus=0.5)]
    assert over_capacity_headroom(quotas, apps, apps[0]) == 2  # 5-3 instances, (2.5-1.5)/0.5 cpus
    assert over_capacity_headroom({}, apps, apps[0]) is None
    assert over_capacity_headroom({"/team-b": Quota(instances=1)}, apps, apps[0]) is None
