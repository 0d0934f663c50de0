"""Contract: a master restart (and failover) against transcript 94 (a real master with a replicated log).

The recorded sequence, replayed on a live cluster (one agent, as recorded): framework ``rec-master-restart``
(checkpoint, failover_timeout 600) runs ``mr-sleep``; the master dies: the stream ends with a bare EOF (no
ERROR, no zero-length chunk) and calls are refused; a master with a new id serves on the same address and
shows the agent only under ``recovered_slaves``, no frameworks; the framework re-SUBSCRIBEs with its id (new
stream id, SUBSCRIBED from the new master, HEARTBEAT); explicit and implicit RECONCILE get no answer until the
agent re-registers; then OFFERS (``<new master id>-O0``) and both reconciles answer TASK_RUNNING with the
task's container status; ``/master/state`` and ``/master/tasks`` show the task again as recorded; KILL and
TEARDOWN behave as before. The task's process never stopped (same pid, same container).

The agents' re-registration runs on a ``ManualClock`` (``agent_reregister_delay``), so "no answer before the
agent is back" is checked by order (the OFFERS that the re-registration brings is the first event after the
reconciles), never by waiting.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.localmesos import transcripts as T
from tests.localmesos.conftest import ThreadedCluster
from tests.localmesos.manual_clock import ManualClock
from tests.polling import wait_for

pytestmark = pytest.mark.slow

REC = T.load("94")
VIEWS = REC["views"]
EXCHANGES = REC["exchanges"]
GET = {"Accept": "application/json"}
# Flags localmesos serves differently by nature (it has no replicated log) are compared by presence only.
STATE_SKIP = ("flags", "log_dir")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def live(start_cluster: Callable[..., ThreadedCluster], clock: ManualClock) -> ThreadedCluster:
    cluster = start_cluster(1, attributes=["rack:r1;zone:a"], clock=clock,
                            resources="cpus:2;mem:2048;disk:10000;ports:[31000-31100]")
    cluster.cluster.config.agent_reregister_delay = 2.0
    return cluster


def _same(cluster: ThreadedCluster, expected: Any, actual: Any, what: str,
          ignore: tuple[str, ...] = T.BY_NATURE) -> None:
    T.assert_normalized_same(expected, actual, ignore, what=what, expected_literals=T.REC_LITERALS,
                             actual_literals=T.live_literals(cluster))


def _without_offer_roles(event: dict[str, Any]) -> dict[str, Any]:
    """An event with the offered resources' old ``role`` field left out (the MULTI_ROLE offer shape, file 90's
    ``role`` plus ``allocation_info``, is the offers contract's; this one is about which offers come, and when)."""
    if event.get("type") != "OFFERS":
        return event
    out = copy.deepcopy(event)
    for offer in out["offers"]["offers"]:
        offer["resources"] = [{k: v for k, v in r.items() if k != "role"} for r in offer["resources"]]
    return out


def _get(cluster: ThreadedCluster, path: str) -> T.Response:
    return T.request(cluster.address, "GET", path, headers=GET)


def _view(name: str) -> Any:
    return VIEWS[name]["response"]["body"]["json"]


def _comparable(state: dict[str, Any]) -> dict[str, Any]:
    """A ``/master/state`` without the flags (localmesos has no replicated log) and with each framework's offer
    entries counted rather than compared (their shape is the offers contract's, not this one's)."""
    out = {k: v for k, v in state.items() if k not in STATE_SKIP}
    out["frameworks"] = [{k: (len(v) if k == "offers" else v) for k, v in f.items()} for f in state["frameworks"]]
    return out


def _compare_state(cluster: ThreadedCluster, name: str, ours: dict[str, Any]) -> None:
    rec = _view(name)
    assert list(ours) == list(rec), f"{name}: top-level keys {list(ours)} != {list(rec)}"
    assert set(ours["flags"]) <= set(rec["flags"])
    _same(cluster, _comparable(rec), _comparable(ours), name)


def test_master_restart_as_recorded(live: ThreadedCluster, clock: ManualClock,
                                    schedulers: list[T.Scheduler]) -> None:
    agent = live.cluster.agents[0]
    first = REC["first_stream"]
    s1 = T.Scheduler(live.address, first["request"]["body"]["subscribe"]["framework_info"])
    schedulers.append(s1)
    T.assert_stream_headers(first, s1.stream)
    offer = s1.get_offer(agent.id)
    rec_accept = EXCHANGES["accept-mr-sleep"]
    task = T.command_task("mr-sleep", agent.id, "sleep 600")
    recorded_task = rec_accept["request"]["body"]["accept"]["operations"][0]["launch"]["task_infos"][0]
    task["resources"] = copy.deepcopy(recorded_task["resources"])  # the offered shape, as recorded (MULTI_ROLE)
    resp = s1.accept(offer, [task], filters=rec_accept["request"]["body"]["accept"]["filters"])
    T.assert_exchange(rec_accept, resp, what="accept-mr-sleep")
    running = s1.wait_update("mr-sleep", "TASK_RUNNING")
    assert running is not None
    wait_for(lambda: [(t, s) for t, s, _ in s1.acks] == [("mr-sleep", "TASK_STARTING"), ("mr-sleep", "TASK_RUNNING")],
             what="both updates acknowledged")
    rec_first = [r["record"] for r in first["records"]]
    ours_first = s1.stream.events()
    assert [e["type"] for e in ours_first[:5]] == [e["type"] for e in rec_first[:5]]
    for expected, actual in zip(rec_first[:5], ours_first[:5]):
        _same(live, _without_offer_roles(expected), _without_offer_roles(actual), f"first stream {expected['type']}")
    fid, old_master_id = s1.fid, live.master.id
    pid = running.record["update"]["status"]["container_status"]["executor_pid"]
    container = running.record["update"]["status"]["container_status"]["container_id"]
    s1.stream.wait(lambda e: sum(1 for x in s1.stream.events() if x["type"] == "OFFERS") >= 2, 30)
    ours_first = s1.stream.events()  # the leftover offered back after the 1 s filter, as recorded
    assert [e["type"] for e in ours_first] == [e["type"] for e in rec_first]
    _compare_state(live, "master-state-before-restart", _get(live, "/master/state").json())

    # The master dies and comes back after a downtime; meanwhile calls are refused.
    restarter = threading.Thread(target=live.restart_master, kwargs={"downtime": 1.0}, name="restart-master")
    restarter.start()
    try:
        end = s1.stream.wait_end(30)
        assert end is not None and end[0].startswith("connection closed"), end
        assert REC["notes"]["first_stream_end"][0].startswith("connection closed")
        assert "ERROR" not in [e["type"] for e in s1.stream.events()]
        assert len(s1.stream.events()) == len(ours_first)  # nothing after the last event but the EOF
        T.assert_framing(s1.stream)
        assert "error" in EXCHANGES["call-while-master-down"]
        with pytest.raises(ConnectionRefusedError):
            T.scheduler_call(live.address, {"type": "REVIVE", "framework_id": {"value": fid}}, stream_id=s1.sid)
    finally:
        restarter.join(60)
    assert not restarter.is_alive()
    assert live.master.id != old_master_id
    assert os.kill(pid, 0) is None  # the task's process never stopped

    # Right after the restart: the agent is only in the registry, no frameworks.
    _compare_state(live, "master-state-right-after-restart", _get(live, "/master/state").json())
    _same(live, _view("master-slaves-right-after-restart"), _get(live, "/master/slaves").json(), "/master/slaves")
    _same(live, _view("master-frameworks-right-after-restart"), _get(live, "/master/frameworks").json(),
          "/master/frameworks")

    # Re-SUBSCRIBE with the same id: a normal SUBSCRIBED from the new master, then explicit and implicit
    # RECONCILE, which get no answer while the agent has not re-registered.
    second = REC["second_stream"]
    s2 = T.Scheduler(live.address, second["request"]["body"]["subscribe"]["framework_info"], framework_id=fid)
    schedulers.append(s2)
    T.assert_stream_headers(second, s2.stream)
    assert s2.fid == fid and s2.sid != s1.sid
    for name, call in (("reconcile-explicit-right-after-resubscribe",
                        {"tasks": [{"task_id": {"value": "mr-sleep"}, "agent_id": {"value": agent.id}}]}),
                       ("reconcile-implicit-right-after-resubscribe", {"tasks": []})):
        resp = s2.call({"type": "RECONCILE", "framework_id": {"value": fid}, "reconcile": call})
        T.assert_exchange(EXCHANGES[name], resp, what=name)
    # Without an agent id, the task could be on any agent still transitioning: dropped too.
    s2.call({"type": "RECONCILE", "framework_id": {"value": fid},
             "reconcile": {"tasks": [{"task_id": {"value": "mr-sleep"}}]}})
    slaves = _get(live, "/master/slaves").json()
    assert len(REC["agent_reregistration_polls"][0]["recovered_slaves"]) == len(slaves["recovered_slaves"]) == 1
    assert slaves["slaves"] == REC["agent_reregistration_polls"][0]["slaves"] == []
    assert slaves["recovered_slaves"][0]["id"] == agent.id

    # The agent re-registers (its backoff runs on the test's clock): offers follow, then the reconciles answer.
    live.run(lambda: clock.advance(2.0))
    offers = s2.stream.wait_type("OFFERS", 30)
    assert offers is not None
    assert [e["type"] for e in s2.stream.events()] == ["SUBSCRIBED", "HEARTBEAT", "OFFERS"], s2.stream.events()
    slaves = _get(live, "/master/slaves").json()
    rec_poll = REC["agent_reregistration_polls"][1]
    ours_poll = {"t_after_restart": rec_poll["t_after_restart"],
                 "slaves": [{k: s.get(k) for k in rec_poll["slaves"][0]} for s in slaves["slaves"]],
                 "recovered_slaves": [s["id"] for s in slaves["recovered_slaves"]]}
    _same(live, rec_poll, ours_poll, "agent re-registered")
    for name, call in (("reconcile-explicit-after-agent-reregistered",
                        {"tasks": [{"task_id": {"value": "mr-sleep"}, "agent_id": {"value": agent.id}}]}),
                       ("reconcile-implicit-after-agent-reregistered", {"tasks": []})):
        resp = s2.call({"type": "RECONCILE", "framework_id": {"value": fid}, "reconcile": call})
        T.assert_exchange(EXCHANGES[name], resp, what=name)
    assert s2.stream.wait(lambda e: sum(1 for x in s2.stream.events() if x["type"] == "UPDATE") >= 2, 15)
    rec_second = [r["record"] for r in second["records"]]
    ours_second = s2.stream.events()
    assert [e["type"] for e in ours_second[:5]] == [e["type"] for e in rec_second[:5]]
    _same(live, rec_second[0], ours_second[0], "SUBSCRIBED from the new master")
    assert ours_second[0]["subscribed"]["master_info"]["id"] == live.master.id
    assert offers.record["offers"]["offers"][0]["id"]["value"] == f"{live.master.id}-O0"
    _same(live, _without_offer_roles(rec_second[2]), _without_offer_roles(ours_second[2]),
          "first offer of the new master")
    for index in (3, 4):
        _same(live, rec_second[index], ours_second[index], f"reconcile answer {index - 2}")
        status = ours_second[index]["update"]["status"]
        assert status["container_status"]["executor_pid"] == pid
        assert status["container_status"]["container_id"] == container

    # After recovery: the task is back in /master/state and /master/tasks, as recorded.
    _compare_state(live, "master-state-after-recovery", _get(live, "/master/state").json())
    _same(live, _view("master-tasks-after-recovery"), _get(live, "/master/tasks").json(), "/master/tasks")

    # KILL and TEARDOWN as before the restart.
    resp = s2.call({"type": "KILL", "framework_id": {"value": fid},
                    "kill": {"task_id": {"value": "mr-sleep"}, "agent_id": {"value": agent.id}}})
    T.assert_exchange(EXCHANGES["kill-mr-sleep"], resp, what="kill-mr-sleep")
    killed = s2.wait_update("mr-sleep", "TASK_KILLED", 30)
    assert killed is not None
    for rec_event in rec_second[5:7]:
        ours = s2.wait_update("mr-sleep", rec_event["update"]["status"]["state"])
        assert ours is not None
        _same(live, rec_event, ours.record, rec_event["update"]["status"]["state"])
    wait_for(lambda: ("mr-sleep", "TASK_KILLED", 202) in s2.acks, what="TASK_KILLED acknowledged")
    resp = s2.call({"type": "TEARDOWN", "framework_id": {"value": fid}})
    T.assert_exchange(EXCHANGES["teardown"], resp, what="teardown")
    end = s2.stream.wait_end()
    assert end is not None and end[0] == second["stream_end"][0] == "terminating zero-length chunk"
    T.assert_framing(s2.stream)
    assert not s1.errors and not s2.errors
