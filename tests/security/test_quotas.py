"""Tenant quotas: checked at admission (a 422 naming the quota), also under concurrent POSTs, and never
exceeded by scaling or by a rolling deployment's extra instances (its over-capacity is clamped).

The quotas are set with ``mesospaas auth quota`` in the principals file and picked up by re-reading it (what
SIGHUP does in ``serve``).
"""

from __future__ import annotations

import asyncio
import contextlib
import io

from api.auth import AUTH
from mesospaas.model import AppId
from mesospaas.model.instance import Goal
from scheduler.cli import main
from tests.polling import eventually
from tests.security.conftest import Secured

APP = {"cmd": "sleep 600", "cpus": 0.1, "mem": 16, "instances": 1}


def set_quota(s: Secured, prefix: str, *limits: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["auth", "quota", "--file", str(s.auth_file), "--prefix", prefix, *limits]) == 0
    assert s.server.app[AUTH].authenticator.reload()


async def test_concurrent_posts_never_pass_the_quota(secured: Secured) -> None:
    s = secured
    set_quota(s, "/team-a", "--instances", "3", "--cpus", "10")
    results = await asyncio.gather(*(s.call("POST", "/v2/apps", "deployer-a", {"id": f"/team-a/app-{i}", **APP})
                                     for i in range(8)))
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [201] * 3 + [422] * 5
    for status, body, _ in results:
        if status == 422:
            assert "quota of /team-a exceeded: instances would be 4, the quota is 3" in body["details"][0]["errors"]
    assert len([a for a in s.runtime.state.apps if a.startswith("/team-a/")]) == 3

    created = sorted(a for a in s.runtime.state.apps if a.startswith("/team-a/"))
    status, body, _ = await s.call("PUT", f"/v2/apps{created[0]}", "deployer-a", {"instances": 2})
    assert status == 422 and "instances" in body["details"][0]["errors"][0]
    status, body, _ = await s.call("PUT", "/v2/groups/team-a", "deployer-a", {"scaleBy": 2})
    assert status == 422
    # what the quota does not bind is not held back: other dimensions, other tenants, scaling down
    status, _, _ = await s.call("POST", "/v2/apps", "deployer-b", {"id": "/team-b/many", **APP, "instances": 5})
    assert status == 201
    status, _, _ = await s.call("PUT", f"/v2/apps{created[0]}?force=true", "deployer-a", {"instances": 0})
    assert status == 200
    set_quota(s, "/team-a", "--cpus", "0.25")
    status, body, _ = await s.call("PUT", f"/v2/apps{created[1]}", "deployer-a", {"cpus": 0.5})
    assert status == 422 and "quota of /team-a exceeded: cpus would be" in body["details"][0]["errors"][0]


async def test_a_rolling_deployment_stays_inside_the_quota(secured: Secured) -> None:
    s = secured
    set_quota(s, "/team-a", "--instances", "2")
    status, _, _ = await s.call("POST", "/v2/apps", "deployer-a", {"id": "/team-a/web", **APP, "instances": 2})
    assert status == 201
    app = AppId("/team-a/web")

    def live() -> int:
        return sum(1 for i in s.runtime.state.instances.values() if i.app_id == app and i.has_live_task)

    def wanted() -> int:
        """Instances the platform wants running (a task being killed holds its resources until it ends, as in
        Marathon: the quota bounds what is asked for)."""
        return sum(1 for i in s.runtime.state.instances.values() if i.app_id == app and i.goal is Goal.RUNNING)
    await eventually(lambda: live() == 2 and not s.runtime.state.deployments, timeout=60, what="2 running")

    status, _, headers = await s.call("PUT", "/v2/apps/team-a/web", "deployer-a", {"cmd": "sleep 601"})
    assert status == 200
    strategy = s.runtime.state.apps[app].upgrade_strategy
    assert strategy.maximum_over_capacity * 2 < 1  # no room: no instance on top of the two
    seen: list[int] = []

    async def done() -> bool:
        seen.append(wanted())
        return not s.runtime.state.deployments
    await eventually(done, timeout=90, what="the restart finished")
    assert max(seen) <= 2, seen
    assert {s.runtime.state.apps[app].cmd} == {"sleep 601"}


async def test_job_runs_count_against_their_tenants_quota(secured: Secured) -> None:
    s = secured
    set_quota(s, "/team-a", "--instances", "1")
    job = {"id": "team-a.long", "run": {"cmd": "sleep 600", "cpus": 0.05, "mem": 32, "disk": 0}}
    assert (await s.call("POST", "/v1/jobs", "deployer-a", job))[0] == 201
    assert (await s.call("POST", "/v1/jobs/team-a.long/runs", "deployer-a"))[0] == 201
    status, body, _ = await s.call("POST", "/v1/jobs/team-a.long/runs", "deployer-a")
    assert status == 422 and "quota of /team-a exceeded: instances would be 2" in body["details"][0]["errors"][0]
    status, body, _ = await s.call("POST", "/v2/apps", "deployer-a", {"id": "/team-a/web", **APP})
    assert status == 422 and "instances would be 2" in body["details"][0]["errors"][0]  # the run holds the room
