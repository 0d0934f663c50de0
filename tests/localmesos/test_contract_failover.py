"""Contract: framework failover and disconnection against transcripts 50-54 (and 11's completed frameworks).

* B (50-53): ``failover_timeout: 60``; the client drops the TCP connection; the master keeps the framework,
  inactive and disconnected, its task RUNNING and ``unregistered_time`` 0.0; a re-SUBSCRIBE with the same id gets
  a new stream id and the same framework id, reconciliation still says TASK_RUNNING, and an update left
  unacknowledged before the drop is re-sent at once on the new stream (as in file 21).
* C (54): no failover_timeout: the drop removes the framework at once (task TASK_KILLED, framework in
  ``completed_frameworks``); a re-SUBSCRIBE with the removed id gets 200, one ERROR "Framework has been removed",
  and a clean end of stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.localmesos import transcripts as T
from tests.localmesos.conftest import ThreadedCluster
from tests.polling import wait_for

pytestmark = pytest.mark.slow

REC50, REC51, REC52, REC53, REC54 = (T.load(n) for n in ("50", "51", "52", "53", "54"))
REC_STATE = T.load("11")["response"]["body"]["json"]
GET = {"Accept": "application/json"}


@pytest.fixture
def live(start_cluster: Callable[..., ThreadedCluster]) -> ThreadedCluster:
    return start_cluster(2, attributes=["rack:r1;zone:a", "rack:r2;zone:b"],
                         resources="cpus:2;mem:2048;disk:10000;ports:[31000-31100]", heartbeat_interval=1,
                         agent_ping_timeout=0.3, max_agent_ping_timeouts=3, status_update_retry_interval=1)


def _same(cluster: ThreadedCluster, expected: Any, actual: Any, what: str,
          ignore: tuple[str, ...] = T.BY_NATURE) -> None:
    T.assert_normalized_same(expected, actual, ignore, what=what, expected_literals=T.REC_LITERALS,
                             actual_literals=T.live_literals(cluster))


def _offers_by_agent(event: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["agent_id"]["value"][-2:]: o for o in event["offers"]["offers"]}


def _frameworks(cluster: ThreadedCluster) -> dict[str, Any]:
    doc: dict[str, Any] = T.request(cluster.address, "GET", "/master/frameworks", headers=GET).json()
    return doc


def _rec_completed(fid_suffix: str) -> dict[str, Any]:
    return next(f for f in REC_STATE["completed_frameworks"] if f.get("id", "").endswith(fid_suffix))


def test_failover_timeout_keeps_framework_and_resubscribe(live: ThreadedCluster,
                                                          schedulers: list[T.Scheduler]) -> None:
    agent0 = live.cluster.agents[0].id
    b = T.Scheduler(live.address, REC50["request"]["body"]["subscribe"]["framework_info"])
    schedulers.append(b)
    T.assert_stream_headers(REC50, b.stream)
    assert b.stream.wait_type("OFFERS", 30)
    first = b.stream.snapshot()
    assert [r.record["type"] for r in first[:3]] == [r["record"]["type"] for r in REC50["records"][:3]]
    _same(live, REC50["records"][0]["record"], first[0].record, "SUBSCRIBED")
    offer = b.get_offer(agent0)
    rec_accept = REC53["exchanges"]["accept-fb-sleep"]
    task = T.command_task("fb-sleep", agent0, "sleep 300")
    assert task == rec_accept["request"]["body"]["accept"]["operations"][0]["launch"]["task_infos"][0] | {
        "agent_id": {"value": agent0}}
    resp = b.accept(offer, [task], filters={"refuse_seconds": 1})
    T.assert_exchange(rec_accept, resp, what="accept-fb-sleep")
    assert b.wait_update("fb-sleep", "TASK_RUNNING")
    rec_updates = [r["record"] for r in REC50["records"] if r["record"]["type"] == "UPDATE"]
    ours = [e for e in b.stream.events() if e["type"] == "UPDATE"]
    assert len(ours) == len(rec_updates) == 2
    for expected, actual in zip(rec_updates, ours):
        _same(live, expected, actual, "fb-sleep update")
    wait_for(lambda: [(task, state) for task, state, _ in b.acks] == [
        ("fb-sleep", "TASK_STARTING"), ("fb-sleep", "TASK_RUNNING")], what="both updates acknowledged")
    fid = b.fid
    old_sid = b.sid
    b.close()  # the client drops the TCP connection
    assert REC50["stream_end"][0].startswith("connection closed")

    # 51: the master's view while disconnected, polled as recorded (selected fields). The recording polled at
    # 0.3, 2.0 and 4.5 s and re-subscribed after 5 s: we poll at 0.3 and 1.2 s, past the 1 s ACCEPT filter.
    t_close = time.monotonic()
    keys = list(REC51["polls"][0]["framework"])
    for poll, at in zip(REC51["polls"], (0.3, 1.2)):
        time.sleep(max(0.0, t_close + at - time.monotonic()))
        fw = next(f for f in _frameworks(live)["frameworks"] if f["id"] == fid)
        ours_poll = {"t_after_close": poll["t_after_close"], "framework": {k: fw.get(k) for k in keys},
                     "tasks": [[t["id"], t["state"]] for t in fw["tasks"]]}
        T.assert_same_shape(poll, ours_poll, T.BY_NATURE, what=f"disconnected framework at {at}s")
        assert "reregistered_time" not in fw and fw["unregistered_time"] == 0.0
        assert fw["offers"] == [] and fw["offered_resources"] == {"disk": 0.0, "mem": 0.0, "gpus": 0.0, "cpus": 0.0}

    # 52: re-SUBSCRIBE with framework_id and framework_info.id.
    b2 = T.Scheduler(live.address, REC52["request"]["body"]["subscribe"]["framework_info"],
                     framework_id=fid)
    schedulers.append(b2)
    T.assert_stream_headers(REC52, b2.stream)
    assert b2.fid == fid and b2.sid != old_sid
    assert b2.stream.wait_type("OFFERS", 30)
    rec_reconcile = REC53["exchanges"]["reconcile-after-failover"]
    resp = b2.call({"type": "RECONCILE", "framework_id": {"value": fid},
                    "reconcile": {"tasks": [{"task_id": {"value": "fb-sleep"}}]}})
    T.assert_exchange(rec_reconcile, resp, what="reconcile-after-failover")
    resp = b2.call({"type": "RECONCILE", "framework_id": {"value": fid}, "reconcile": {"tasks": []}})
    T.assert_exchange(REC53["exchanges"]["reconcile-implicit-after-failover"], resp, what="implicit reconcile")
    assert b2.stream.wait(lambda e: sum(1 for x in b2.stream.events() if x["type"] == "UPDATE") >= 2, 5)
    rec = [r["record"] for r in REC52["records"][:5]]
    ours2 = b2.stream.events()[:5]
    assert [e["type"] for e in ours2] == [e["type"] for e in rec] == [
        "SUBSCRIBED", "HEARTBEAT", "OFFERS", "UPDATE", "UPDATE"]
    _same(live, rec[0], ours2[0], "re-SUBSCRIBED")
    rec_offers, our_offers = _offers_by_agent(rec[2]), _offers_by_agent(ours2[2])
    assert list(our_offers) == list(rec_offers) == ["S0", "S1"]
    for key in rec_offers:
        _same(live, rec_offers[key], our_offers[key], f"offer {key} after failover")
    _same(live, rec[3], ours2[3], "explicit reconcile after failover")
    _same(live, rec[4], ours2[4], "implicit reconcile after failover")

    # File 21's rule on this path too: an update not acknowledged before the drop is re-sent at once.
    b2.noack.add("fb-pending")
    offer = b2.get_offer(agent0)
    b2.accept(offer, [T.command_task("fb-pending", agent0, "sleep 300")], filters={"refuse_seconds": 1})
    pending = b2.wait_update("fb-pending", "TASK_STARTING")
    assert pending is not None
    b2.close()
    b3 = T.Scheduler(live.address, REC52["request"]["body"]["subscribe"]["framework_info"], framework_id=fid,
                     noack=["fb-pending"])
    schedulers.append(b3)
    resent = b3.wait_update("fb-pending", "TASK_STARTING")
    assert resent is not None
    # At once: right after SUBSCRIBED and its HEARTBEAT, before anything else (the first OFFERS included).
    assert [e["type"] for e in b3.stream.events()[:3]] == ["SUBSCRIBED", "HEARTBEAT", "UPDATE"]
    assert resent.record == pending.record
    rec21 = T.load("21")["records"][2]["record"]
    _same(live, rec21, resent.record, "re-sent pending update", T.BY_NATURE + ("task_id.value", "executor_id.value"))

    # TEARDOWN: 202, the stream ends with only the zero-length chunk.
    resp = b3.call({"type": "TEARDOWN", "framework_id": {"value": fid}})
    answered = b3.stream.rel()
    T.assert_exchange(REC53["exchanges"]["teardown"], resp, what="teardown")
    end = b3.stream.wait_end()
    assert end is not None and end[0] == REC52["stream_end"][0] == "terminating zero-length chunk"
    assert "ERROR" not in [e["type"] for e in b3.stream.events()]
    # Nothing but the end after the answer (a HEARTBEAT that fell due in between is not an event of TEARDOWN).
    after = [r.record["type"] for r in b3.stream.snapshot() if r.t > answered]
    assert [kind for kind in after if kind != "HEARTBEAT"] == [], after
    T.assert_framing(b3.stream)

    # The completed framework as /master/state shows it (11: rec-fw-b-failover, minus its custom-executor tasks).
    state = T.request(live.address, "GET", "/master/state", headers=GET).json()
    ours_fw = next(f for f in state["completed_frameworks"] if f["id"] == fid)
    rec_fw = _rec_completed("-0004")
    rec_tasks = {t["id"]: t for t in rec_fw["completed_tasks"]}
    our_tasks = {t["id"]: t for t in ours_fw["completed_tasks"]}
    _same(live, rec_tasks["fb-sleep"], our_tasks["fb-sleep"], "completed fb-sleep")
    _same(live, {**rec_fw, "completed_tasks": []}, {**ours_fw, "completed_tasks": []}, "completed framework B")
    assert not b.errors and not b2.errors and not b3.errors


def test_no_failover_timeout_removes_framework_at_once(live: ThreadedCluster,
                                                       schedulers: list[T.Scheduler]) -> None:
    agent0 = live.cluster.agents[0].id
    first = REC54["first_stream"]
    c = T.Scheduler(live.address, first["request"]["body"]["subscribe"]["framework_info"])
    schedulers.append(c)
    T.assert_stream_headers(first, c.stream)
    offer = c.get_offer(agent0)
    c.accept(offer, [T.command_task("fc-sleep", agent0, "sleep 300")], filters={"refuse_seconds": 1})
    assert c.wait_update("fc-sleep", "TASK_RUNNING")
    rec_events = [r["record"] for r in first["records"]]
    ours = c.stream.events()
    assert [e["type"] for e in ours] == [e["type"] for e in rec_events]
    for expected, actual in zip(rec_events, ours):
        if expected["type"] == "OFFERS":
            rec_offers, our_offers = _offers_by_agent(expected), _offers_by_agent(actual)
            assert sorted(our_offers) == sorted(rec_offers)
            for key in rec_offers:
                _same(live, rec_offers[key], our_offers[key], f"offer {key}")
        else:
            _same(live, expected, actual, expected["type"])
    wait_for(lambda: [(task, state) for task, state, _ in c.acks] == [
        ("fc-sleep", "TASK_STARTING"), ("fc-sleep", "TASK_RUNNING")], what="both updates acknowledged")
    fid = c.fid
    c.close()

    # 54: the framework is completed and its task killed at once: the master never shows it disconnected but
    # kept (what a failover timeout would do; test_protocol_deadlines drives that timer by hand).
    rec_poll = REC54["master_polls_changes"]
    assert len(rec_poll) == 1 and rec_poll[0]["t_after_close"] < 0.1
    kept_disconnected: list[dict[str, Any]] = []

    def removed() -> tuple[dict[str, Any], dict[str, Any]] | None:
        fws = _frameworks(live)
        kept_disconnected.extend(x for x in fws["frameworks"] if x["id"] == fid and not x["connected"])
        done = [x for x in fws["completed_frameworks"] if x["id"] == fid]
        return (fws, done[0]) if done else None

    fws, f = wait_for(removed, interval=0.01, what="framework removed after the connection dropped")
    assert kept_disconnected == []
    poll = {"t_after_close": rec_poll[0]["t_after_close"], "in": "completed_frameworks", "active": f["active"],
            "connected": f["connected"], "tasks": [[t["id"], t["state"]] for t in f["tasks"]],
            "completed_tasks": [[t["id"], t["state"], [s["state"] for s in t["statuses"]]]
                                for t in f["completed_tasks"]]}
    assert poll == rec_poll[0]
    assert not [x for x in fws["frameworks"] if x["id"] == fid]
    state = T.request(live.address, "GET", "/master/state", headers=GET).json()
    ours_fw = next(x for x in state["completed_frameworks"] if x["id"] == fid)
    _same(live, _rec_completed("-0003"), ours_fw, "completed framework C")

    # Re-SUBSCRIBE with the removed id: 200 with a stream id, one ERROR, clean end.
    rec = REC54["resubscribe_removed_framework"]
    body = rec["request"]["body"]
    body = {**body, "framework_id": {"value": fid},
            "subscribe": {"framework_info": {**body["subscribe"]["framework_info"], "id": {"value": fid}}}}
    with T.Stream(live.address, body) as s:
        end = s.wait_end(30)
        T.assert_stream_headers(rec, s)
        assert end is not None and end[0] == rec["stream_end"][0] == "terminating zero-length chunk"
        assert s.events() == [r["record"] for r in rec["records"]] == [
            {"type": "ERROR", "error": {"message": "Framework has been removed"}}]
        assert len(s.chunks) == rec["chunk_count"] == 1
        assert s.snapshot()[0].length == rec["records"][0]["length"]
        T.assert_framing(s)
    assert not c.errors
