"""Contract: a MULTI_ROLE framework with several roles, as a real Mesos 1.9+ master serves it (reference §1.2
REVIVE/SUPPRESS/UPDATE_FRAMEWORK, §2 FrameworkInfo ``roles``, §3 ``allocation_info``).

- SUBSCRIBE with roles ``[dev, ops]``: ``/master/state`` shows both; offers come for both roles, each with
  ``allocation_info.role`` on the offer and on every resource; an agent's resources go to one role at a
  time, and a declined offer (with a long filter) lets the other role have the agent.
- SUPPRESS/REVIVE name roles: a suppressed role gets no offers while the other still does.
- UPDATE_FRAMEWORK adding a role: 200 with an empty body, the new role in ``/master/state``, and offers for it;
  removing a role rescinds its outstanding offers; bad roles are a 400 and change nothing.
- A task launched from a role's offer runs under that role (``tasks[].role``).

Raw-socket frameworks (``transcripts.Scheduler``) on a real localmesos cluster of 2 agents.
"""

from __future__ import annotations

from typing import Any

from tests.localmesos import transcripts as T
from tests.localmesos.conftest import ThreadedCluster
from tests.polling import wait_for

INFO = {"user": "root", "name": "roles", "roles": ["dev", "ops"],
        "capabilities": [{"type": "MULTI_ROLE"}, {"type": "PARTITION_AWARE"}]}
LONG = {"refuse_seconds": 3600.0}


def state(cluster: ThreadedCluster) -> dict[str, Any]:
    response = T.request(cluster.address, "GET", "/master/state")
    assert response.status == 200
    return dict(response.json())


def framework_state(cluster: ThreadedCluster, fid: str) -> dict[str, Any]:
    return next(f for f in state(cluster)["frameworks"] if f["id"] == fid)


def offers(s: T.Scheduler) -> list[dict[str, Any]]:
    """Every offer received and not rescinded or used yet."""
    rescinded = {e["rescind"]["offer_id"]["value"] for e in s.stream.events() if e["type"] == "RESCIND"}
    return [o for e in s.stream.events() if e["type"] == "OFFERS" for o in e["offers"]["offers"]
            if o["id"]["value"] not in rescinded and o["id"]["value"] not in s.used]


def role_of(offer: dict[str, Any]) -> str:
    role = str(offer["allocation_info"]["role"])
    assert {r["allocation_info"]["role"] for r in offer["resources"]} == {role}, offer["resources"]
    assert all("role" not in r for r in offer["resources"])  # MULTI_ROLE: the post-refinement format
    return role


def decline(s: T.Scheduler, offer_list: list[dict[str, Any]], filters: dict[str, float] = LONG) -> None:
    response = s.call({"type": "DECLINE", "framework_id": {"value": s.fid},
                       "decline": {"offer_ids": [o["id"] for o in offer_list], "filters": filters}})
    assert response.status == 202, response.text
    s.used.update(o["id"]["value"] for o in offer_list)


def roles_offered(s: T.Scheduler, wanted: set[str], *, decline_others: bool = True) -> set[str]:
    """Waits until offers for every role of ``wanted`` came, declining (long) offers of the other roles."""
    seen: set[str] = set()

    def check() -> bool:
        current = offers(s)
        seen.update(role_of(o) for o in current)
        if decline_others:
            other = [o for o in current if role_of(o) not in wanted]
            if other:
                decline(s, other)
        return wanted <= seen
    wait_for(check, 20, what=f"offers for {sorted(wanted)}")
    return seen


def test_subscribing_with_two_roles_gives_offers_for_each_role(cluster: ThreadedCluster,
                                                               schedulers: list[T.Scheduler]) -> None:
    s = T.Scheduler(cluster.address, INFO)
    schedulers.append(s)
    assert framework_state(cluster, s.fid)["roles"] == ["dev", "ops"]
    first = wait_for(lambda: offers(s), 10, what="the first offers")
    roles = {role_of(o) for o in first}
    assert len({o["agent_id"]["value"] for o in first}) == len(first)  # one role per agent at a time
    # the role that has the agents declines them for an hour: the other role gets them
    decline(s, first)
    other = wait_for(lambda: offers(s), 10, what="offers after the decline")
    assert {role_of(o) for o in other} == {"dev", "ops"} - roles
    assert {o["agent_id"]["value"] for o in other} == {o["agent_id"]["value"] for o in first}


def test_suppress_and_revive_name_their_roles(cluster: ThreadedCluster, schedulers: list[T.Scheduler]) -> None:
    s = T.Scheduler(cluster.address, INFO)
    schedulers.append(s)
    wait_for(lambda: offers(s), 10, what="the first offers")
    assert s.call({"type": "SUPPRESS", "framework_id": {"value": s.fid},
                   "suppress": {"roles": ["dev"]}}).status == 202
    decline(s, offers(s), {"refuse_seconds": 0.0})  # back to the pool at once: only ops may have it now

    def only_ops() -> bool:
        current = offers(s)
        if any(role_of(o) == "dev" for o in current):
            raise AssertionError("a suppressed role got an offer")
        return bool(current)
    wait_for(only_ops, 10, what="offers for ops while dev is suppressed")
    # a REVIVE naming a role the framework does not have is dropped whole: dev stays suppressed
    assert s.call({"type": "REVIVE", "framework_id": {"value": s.fid},
                   "revive": {"roles": ["dev", "nobody"]}}).status == 202
    decline(s, offers(s), {"refuse_seconds": 0.0})
    wait_for(only_ops, 10, what="ops offers after the dropped REVIVE")
    assert s.call({"type": "REVIVE", "framework_id": {"value": s.fid}, "revive": {"roles": ["dev"]}}).status == 202
    roles_offered(s, {"dev"})


def test_update_framework_adds_and_removes_roles(cluster: ThreadedCluster, schedulers: list[T.Scheduler]) -> None:
    s = T.Scheduler(cluster.address, INFO)
    schedulers.append(s)
    wait_for(lambda: offers(s), 10, what="the first offers")

    def update(roles: list[str]) -> T.Response:
        return s.call({"type": "UPDATE_FRAMEWORK", "framework_id": {"value": s.fid},
                       "update_framework": {"framework_info": {**INFO, "id": {"value": s.fid}, "roles": roles}}})

    bad = update(["dev", "dev"])
    assert bad.status == 400 and "duplicate" in bad.text
    assert framework_state(cluster, s.fid)["roles"] == ["dev", "ops"]
    response = update(["dev", "ops", "team-a"])
    assert (response.status, response.body) == (200, b"")
    assert framework_state(cluster, s.fid)["roles"] == ["dev", "ops", "team-a"]
    roles_offered(s, {"team-a"})  # dev and ops decline for an hour, so team-a gets the agents
    held = [o for o in offers(s) if role_of(o) == "team-a"]
    assert held
    # removing team-a rescinds its offers
    assert update(["dev", "ops"]).status == 200

    def rescinded() -> bool:
        gone = {e["rescind"]["offer_id"]["value"] for e in s.stream.events() if e["type"] == "RESCIND"}
        return {o["id"]["value"] for o in held} <= gone
    wait_for(rescinded, 10, what="team-a's offers rescinded")
    assert framework_state(cluster, s.fid)["roles"] == ["dev", "ops"]


def test_a_task_runs_under_the_role_of_its_offer(cluster: ThreadedCluster, schedulers: list[T.Scheduler]) -> None:
    s = T.Scheduler(cluster.address, INFO)
    schedulers.append(s)
    roles_offered(s, {"ops"})
    offer = next(o for o in offers(s) if role_of(o) == "ops")
    task = T.command_task("in-ops", offer["agent_id"]["value"], "sleep 30")
    for resource in task["resources"]:
        resource["allocation_info"] = {"role": "ops"}
    assert s.accept(offer, [task]).status == 202
    assert s.wait_update("in-ops", "TASK_RUNNING") is not None
    tasks = framework_state(cluster, s.fid)["tasks"]
    assert [(t["id"], t["role"]) for t in tasks] == [("in-ops", "ops")]
    assert s.call({"type": "KILL", "framework_id": {"value": s.fid},
                   "kill": {"task_id": {"value": "in-ops"}}}).status == 202
    assert s.wait_update("in-ops", "TASK_KILLED") is not None
