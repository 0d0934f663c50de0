"""Contract: wire-level rules of the real master (transcripts 20-22) and robustness against any input.

* SUBSCRIBE: ``HTTP/1.1 200 OK`` with exactly ``Date, Transfer-Encoding: chunked, Mesos-Stream-Id,
  Content-Type: application/json``; RecordIO over chunked encoding with one record per chunk, the length prefix
  counting bytes (non-ASCII text goes out as raw UTF-8, like stout's writer), compact JSON, no ``/`` escaping.
* Every accepted call: ``202 Accepted`` with exactly ``Date, Content-Length: 0``; every refusal: a
  ``text/plain; charset=utf-8`` body with ``Date, Content-Type, Content-Length``.
* Bad input of any shape (garbage bytes, huge numbers, wrong JSON types, nested nulls, mutated calls) on the
  scheduler, operator and executor APIs: always a 2xx/4xx answer, never a 5xx nor a logged error, and the
  master keeps serving (the framework's stream goes on, calls are still accepted).
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.localmesos import transcripts as T
from tests.localmesos.conftest import ThreadedCluster

REC20 = T.load("20")
REC22 = T.load("22")["exchanges"]
ACCEPTED = REC22["revive"]                 # 202, Date + Content-Length: 0
REFUSED = REC22["err-no-framework-id"]     # 400, Date + Content-Type + Content-Length


@pytest.fixture
def live(start_cluster: Callable[..., ThreadedCluster]) -> ThreadedCluster:
    return start_cluster(1, resources="cpus:2;mem:2048;disk:10000;ports:[31000-31100]", heartbeat_interval=0.5,
                         agent_ping_timeout=0.3, max_agent_ping_timeouts=3, status_update_retry_interval=0.5)


@pytest.fixture
def framework(live: ThreadedCluster) -> Iterator[T.Scheduler]:
    sched = T.Scheduler(live.address, {"user": "root", "name": "protocol"})
    assert sched.stream.wait_type("OFFERS", 30)
    yield sched
    sched.close()
    # The acknowledger ran beside the test: it must not have failed, and the master took every ACKNOWLEDGE.
    assert sched.errors == []
    assert [ack for ack in sched.acks if ack[2] != 202] == [], sched.acks


def assert_refused(resp: T.Response, status: int = 400, text: str | None = None) -> None:
    """A libprocess error answer: the recorded header layout, a plain-text reason."""
    rec = (REC22["err-get-method"] if status == 405 else REFUSED)["response"]
    assert resp.status == status, (resp.status, resp.text[:300])
    assert [k for k, _ in resp.headers] == [k for k, _ in rec["headers"]], resp.headers
    assert resp.header("Content-Type") == "text/plain; charset=utf-8"
    assert int(resp.header("Content-Length") or -1) == len(resp.body) > 0
    if text is not None:
        assert resp.text == text


def test_subscribe_response_and_recordio_framing(live: ThreadedCluster) -> None:
    for extra in ({}, {"Connection": "keep-alive"}):
        with T.Stream(live.address, REC20["request"]["body"], extra_headers=extra) as s:
            assert s.wait_type("OFFERS", 30)
            T.assert_stream_headers(REC20, s)
            assert not {k.lower() for k, _ in s.headers} & {"connection", "content-length", "server"}
            fid = s.events()[0]["subscribed"]["framework_id"]["value"]
            # A reconcile answer echoes the task id: non-ASCII goes out as raw UTF-8, the length counts bytes.
            task_id = "tâche/ü-€"
            resp = T.scheduler_call(live.address, {"type": "RECONCILE", "framework_id": {"value": fid},
                                                   "reconcile": {"tasks": [{"task_id": {"value": task_id}}]}},
                                    stream_id=s.stream_id)
            T.assert_exchange(ACCEPTED, resp, what="RECONCILE")
            rec = s.wait(lambda e: e["type"] == "UPDATE", 5)
            assert rec is not None and rec.record["update"]["status"]["task_id"]["value"] == task_id
            assert rec.raw == json.dumps(rec.record, separators=(",", ":"), ensure_ascii=False).encode()
            assert rec.length == len(rec.raw) > len(rec.raw.decode())
            assert b"\\/" not in rec.raw and task_id.encode() in rec.raw
            assert s.wait(lambda e: e["type"] == "HEARTBEAT", 15, start=2)
            resp = T.scheduler_call(live.address, {"type": "TEARDOWN", "framework_id": {"value": fid}},
                                    stream_id=s.stream_id)
            T.assert_exchange(ACCEPTED, resp, what="TEARDOWN")
            end = s.wait_end(30)
            assert end is not None and end[0] == "terminating zero-length chunk"
            T.assert_framing(s)
            # Recorded records are compact JSON in the same sense: their length is that of the compact form.
            for r in REC20["records"]:
                if "note" not in r:
                    assert r["length"] == len(json.dumps(r["record"], separators=(",", ":")).encode())


def test_accepted_calls_are_bare_202(live: ThreadedCluster, framework: T.Scheduler) -> None:
    fid, agent = framework.fid, live.cluster.agents[0].id
    offer = framework.get_offer(agent)
    calls: list[dict[str, Any]] = [
        {"type": "REVIVE"}, {"type": "SUPPRESS"}, {"type": "REVIVE", "revive": {"roles": ["*"]}},
        {"type": "DECLINE", "decline": {"offer_ids": [{"value": "no-such-offer"}]}},
        {"type": "ACCEPT", "accept": {"offer_ids": [{"value": "no-such-offer"}], "operations": [
            {"type": "LAUNCH", "launch": {"task_infos": [T.command_task("t1", agent, "true")]}}]}},
        {"type": "KILL", "kill": {"task_id": {"value": "no-such-task"}}},
        {"type": "RECONCILE", "reconcile": {"tasks": []}},
        {"type": "REQUEST", "request": {}},
        {"type": "ACCEPT", "accept": {"offer_ids": [offer["id"]], "operations": [],
                                      "filters": {"refuse_seconds": 0.1}}},
    ]
    for call in calls:
        resp = framework.call({**call, "framework_id": {"value": fid}})
        T.assert_exchange(ACCEPTED, resp, what=call["type"])
        assert resp.header("Content-Type") is None and resp.body == b""
    # The invalid ACCEPT answered 202: its error comes as an UPDATE (surprise 8 / 13).
    lost = framework.wait_update("t1", "TASK_LOST")
    assert lost is not None and lost.record["update"]["status"]["reason"] == "REASON_INVALID_OFFERS"


def test_refusals_are_plain_text(live: ThreadedCluster, framework: T.Scheduler) -> None:
    fid, sid = framework.fid, framework.sid
    revive = {"type": "REVIVE", "framework_id": {"value": fid}}
    for name in ("err-no-stream-id", "err-content-type-charset", "err-no-content-type",
                 "err-content-type-protobuf-with-json-body", "err-non-json-body", "err-unknown-call-type",
                 "err-no-framework-id", "err-missing-type", "err-get-method"):
        rec = REC22[name]
        req = rec["request"]
        headers = {k: (str(sid) if k == "Mesos-Stream-Id" else v)
                   for k, v in T.recorded_request_headers(req).items()}
        body = req.get("body")
        if isinstance(body, dict) and "framework_id" in body:
            body = {**body, "framework_id": {"value": fid}}
        resp = T.request(live.address, req["method"], req["path"], headers=headers, body=body,
                         raw_body=req["body_text"].encode() if "body_text" in req else None)
        T.assert_exchange(rec, resp, what=name)
    cases: list[tuple[Any, str]] = [
        ({"type": "REVIVE", "framework_id": {"value": 5}},
         "Failed to convert JSON into Call protobuf: Not expecting a JSON number for field 'value'"),
        ({"type": "DECLINE", "framework_id": {"value": fid}, "decline": {"offer_ids": "x"}},
         "Failed to convert JSON into Call protobuf: Not expecting a JSON string for field 'offer_ids'"),
        ({"type": "DECLINE", "framework_id": {"value": fid},
          "decline": {"offer_ids": [], "filters": {"refuse_seconds": "3"}}},
         "Failed to convert JSON into Call protobuf: Not expecting a JSON string for field 'refuse_seconds'"),
        ({"type": "ACKNOWLEDGE", "framework_id": {"value": fid}, "acknowledge": {"task_id": {"value": "t"}}},
         "Failed to convert JSON into Call protobuf: Missing required fields: acknowledge.agent_id, "
         "acknowledge.uuid"),
        ({"type": "KILL", "framework_id": {"value": fid}, "kill": {"task_id": None}},
         "Failed to convert JSON into Call protobuf: Missing required fields: kill.task_id"),
    ]
    for call, text in cases:
        assert_refused(T.scheduler_call(live.address, call, stream_id=sid), 400, text)


# -- robustness --------------------------------------------------------------------------------------------
JSON_LEAVES = (st.none() | st.booleans() | st.integers(min_value=-(2 ** 80), max_value=2 ** 80)
               | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
               | st.sampled_from(["", "TASK_RUNNING", "LAUNCH", "SCALAR", "AAAAAAAAAAAAAAAAAAAAAA==", "\ud800"]))
JSON_VALUES = st.recursive(JSON_LEAVES, lambda children: st.lists(children, max_size=3)
                           | st.dictionaries(st.text(max_size=8), children, max_size=3), max_leaves=8)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, path + (i,))
    return out


def _mutate(template: Any, path: tuple[Any, ...], how: str, new: Any) -> Any:
    out = copy.deepcopy(template)
    if not path:
        return new
    parent = out
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "delete" and isinstance(parent, dict):
        del parent[last]
    elif how == "wrap":
        parent[last] = [parent[last], parent[last]] if not isinstance(parent[last], list) else {"x": parent[last]}
    elif how == "null":
        parent[last] = None
    else:
        parent[last] = new
    return out


def _templates(fid: str, agent: str, offer_id: str) -> list[dict[str, Any]]:
    task = T.command_task("fuzz-task", agent, "true")
    task["health_check"] = {"type": "HTTP", "http": {"port": 31000, "path": "/"}, "interval_seconds": 1}
    task["kill_policy"] = {"grace_period": {"nanoseconds": 1000}}
    task["labels"] = {"labels": [{"key": "k", "value": "v"}]}
    executor = {"executor_id": {"value": "e"}, "command": {"value": "true", "environment": {"variables": [
        {"name": "A", "value": "b"}]}}, "resources": task["resources"]}
    fw = {"value": fid}
    return [
        {"type": "ACCEPT", "framework_id": fw, "accept": {
            "offer_ids": [{"value": offer_id}], "filters": {"refuse_seconds": 1.0},
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}},
                           {"type": "LAUNCH_GROUP", "launch_group": {"executor": executor, "task_group": {
                               "tasks": [{**task, "task_id": {"value": "g1"}, "command": None}]}}}]}},
        {"type": "DECLINE", "framework_id": fw, "decline": {"offer_ids": [{"value": offer_id}],
                                                            "filters": {"refuse_seconds": 0.5}}},
        {"type": "KILL", "framework_id": fw, "kill": {"task_id": {"value": "t"}, "agent_id": {"value": agent},
                                                      "kill_policy": {"grace_period": {"nanoseconds": 5}}}},
        {"type": "ACKNOWLEDGE", "framework_id": fw, "acknowledge": {
            "agent_id": {"value": agent}, "task_id": {"value": "t"}, "uuid": "AAAAAAAAAAAAAAAAAAAAAA=="}},
        {"type": "RECONCILE", "framework_id": fw, "reconcile": {"tasks": [{"task_id": {"value": "t"},
                                                                           "agent_id": {"value": agent}}]}},
        {"type": "MESSAGE", "framework_id": fw, "message": {"agent_id": {"value": agent},
                                                            "executor_id": {"value": "e"}, "data": "aGk="}},
        {"type": "SHUTDOWN", "framework_id": fw, "shutdown": {"agent_id": {"value": agent},
                                                              "executor_id": {"value": "e"}}},
        {"type": "UPDATE_FRAMEWORK", "framework_id": fw, "update_framework": {"framework_info": {
            "user": "root", "name": "protocol", "id": fw, "capabilities": [{"type": "PARTITION_AWARE"}]}}},
        {"type": "REVIVE", "framework_id": fw, "revive": {"roles": ["*"]}},
        {"type": "ACKNOWLEDGE_OPERATION_STATUS", "framework_id": fw, "acknowledge_operation_status": {
            "agent_id": {"value": agent}, "uuid": "AAAAAAAAAAAAAAAAAAAAAA==", "operation_id": {"value": "o"}}},
    ]


def _subscribe_templates() -> list[dict[str, Any]]:
    info = {"user": "root", "name": "fuzz-subscriber", "failover_timeout": 0.0, "checkpoint": False,
            "hostname": "localhost", "capabilities": [{"type": "PARTITION_AWARE"}],
            "labels": {"labels": [{"key": "a", "value": "b"}]}}
    return [{"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}]


def _send_scheduler(address: str, call: Any, sid: str | None) -> int:
    """A mutated call; a SUBSCRIBE that the master accepts becomes a stream, read briefly and dropped."""
    if isinstance(call, dict) and call.get("type") == "SUBSCRIBE":
        with T.Stream(address, call) as s:
            assert s.status_line is not None, s.end
            if s.status == 200:
                s.wait(lambda e: e["type"] in ("HEARTBEAT", "ERROR"), 2)
                assert not s.framing_errors
                return 200
            assert s.body_nonstream is not None
            return s.status
    resp = T.scheduler_call(address, call, stream_id=sid, raw_body=json.dumps(call).encode())
    if resp.status >= 400:
        assert_refused(resp, resp.status)
    else:  # 202, or 200 for UPDATE_FRAMEWORK: no body, no Content-Type either way
        assert resp.status == (200 if call.get("type") == "UPDATE_FRAMEWORK" else 202), (resp.status, call)
        assert [k for k, _ in resp.headers] == ["Date", "Content-Length"] and resp.body == b""
    return resp.status


def _executor_templates(fid: str) -> list[dict[str, Any]]:
    status = {"task_id": {"value": "t"}, "state": "TASK_RUNNING", "source": "SOURCE_EXECUTOR",
              "uuid": "AAAAAAAAAAAAAAAAAAAAAA==", "timestamp": 1.0, "data": ""}
    base = {"framework_id": {"value": fid}, "executor_id": {"value": "e"}}
    return [{**base, "type": "UPDATE", "update": {"status": status}},
            {**base, "type": "MESSAGE", "message": {"data": "aGk="}},
            {**base, "type": "SUBSCRIBE", "subscribe": {"unacknowledged_updates": [{"status": status}]}}]


RAW_BODIES = [b"\x00\xff\xfe\xfd", b"\xff", b"", b"null", b"[]", b"5", b'"x"', b"[" * 50000, b"{" * 50000,
              b'{"type": 1e400}', b'{"type": NaN}', b'{"type": Infinity}', b"{\"type\": \"REVIVE\"" + b" " * 1000,
              b'{"type":"REVIVE","framework_id":{"value":' + b"9" * 5000 + b"}}",
              b'{"type":"DECLINE","framework_id":{"value":"x"},"decline":{"offer_ids":[null,null],'
              b'"filters":{"refuse_seconds":1e308}}}', "{\"type\": \"\\ud800\"}".encode()]


@pytest.fixture
def no_errors_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.WARNING, logger="localmesos")
    yield
    bad = [f"{r.name}: {r.getMessage()}" for r in caplog.records
           if r.levelno >= logging.ERROR and r.name.startswith("localmesos")]
    assert not bad, bad


def test_bad_input_never_crashes_the_master(live: ThreadedCluster, framework: T.Scheduler,
                                            no_errors_logged: None) -> None:
    fid, sid, agent = str(framework.fid), str(framework.sid), live.cluster.agents[0].id
    agent_address = f"{live.cluster.agents[0].ip}:{live.cluster.agents[0].port}"
    offer_id = framework.get_offer(agent)["id"]["value"]
    statuses: list[int] = []

    for raw in RAW_BODIES:
        for address, path in ((live.address, "/api/v1/scheduler"), (live.address, "/api/v1"),
                              (agent_address, "/api/v1/executor")):
            resp = T.request(address, "POST", path, headers={"Content-Type": "application/json",
                                                             "Mesos-Stream-Id": sid}, raw_body=raw)
            assert_refused(resp, 400)
    for method in ("PUT", "DELETE", "PATCH"):
        resp = T.request(live.address, method, "/api/v1/scheduler", headers={"Content-Type": "application/json"},
                         body={"type": "REVIVE"})
        assert_refused(resp, 405)

    templates = _templates(fid, agent, offer_id) + _subscribe_templates()

    @settings(max_examples=250, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def scheduler_calls(data: st.DataObject) -> None:
        template = data.draw(st.sampled_from(templates))
        path = data.draw(st.sampled_from(_paths(template)[1:]))
        how = data.draw(st.sampled_from(["replace", "replace", "delete", "null", "wrap"]))
        call = _mutate(template, path, how, data.draw(JSON_VALUES))
        statuses.append(_send_scheduler(live.address, call, sid))

    scheduler_calls()

    @settings(max_examples=60, deadline=None, database=None, derandomize=True)
    @given(data=st.data())
    def executor_and_operator_calls(data: st.DataObject) -> None:
        template = data.draw(st.sampled_from(_executor_templates(fid) + [{"type": "GET_STATE"}]))
        path = data.draw(st.sampled_from(_paths(template)[1:]))
        call = _mutate(template, path, "replace", data.draw(JSON_VALUES))
        if "executor_id" in template:
            # A mutated call may name an executor the scheduler fuzzing launched: SUBSCRIBE then streams.
            with T.Stream(agent_address, call, path="/api/v1/executor",
                          extra_headers={"Connection": "keep-alive"}) as s:
                assert s.status_line is not None, s.end
                if s.status == 200:
                    assert s.wait(lambda e: True, 2) is not None and not s.framing_errors
                    return
                assert s.body_nonstream is not None
                resp = T.Response(s.status, s.status_line.split(" ", 2)[2].strip(), s.headers, s.body_nonstream)
            assert resp.status < 500, (resp.status, resp.text[:200])
        else:
            resp = T.request(live.address, "POST", "/api/v1", headers={"Content-Type": "application/json"},
                             body=call)
            assert resp.status < 500, (resp.status, resp.text[:200])
        if resp.status >= 400:
            assert_refused(resp, resp.status)

    executor_and_operator_calls()

    assert statuses and max(statuses) < 500 and statuses.count(400) > len(statuses) // 4, statuses
    # Still serving: the stream is alive and beating, calls are accepted, the endpoints answer.
    assert framework.stream.end is None
    n = len(framework.stream.snapshot())
    assert framework.stream.wait(lambda e: e["type"] == "HEARTBEAT", 15, start=n)
    T.assert_exchange(ACCEPTED, framework.call({"type": "REVIVE", "framework_id": {"value": fid}}), what="REVIVE")
    assert T.request(live.address, "GET", "/master/state", headers={"Accept": "application/json"}).status == 200
    assert T.request(agent_address, "GET", "/state", headers={"Accept": "application/json"}).status == 200
    # One more heartbeat: the master's loop has run past everything the calls above set off (and logged).
    n = len(framework.stream.snapshot())
    assert framework.stream.wait(lambda e: e["type"] == "HEARTBEAT", 15, start=n)
