"""Contract: framework A of the recording (transcripts 20-23), replayed against localmesos, field by field.

A cluster configured like the recording (2 agents, ``cpus:2;mem:2048;disk:10000;ports:[31000-31100]``,
``rack:r1;zone:a`` / ``rack:r2;zone:b``) gets exactly the calls of ``22-scheduler-calls.json``, in order, with
the recorded ids replaced by the live ones (offers: the live offers of the same agent in the order the recorder
picked them), from a SUBSCRIBE stream read by a raw-socket client and an auto-acknowledger that acknowledges
every update except those of ``noack-1``, as the recorder did. Before each call the replay waits until our
stream has produced every update the real stream had produced by that call (so causality is the recorded
one), keeps the recorded gap to the previous call (at most 1.5 s), and sends each acknowledgement only after
the calls the recorder had sent before it. The timing knobs are small (heartbeat 1 s, status update retry 2 s),
so timings are compared as ratios and orders, not absolute values.

Then: every response (status, reason, header names and order, body text), every stream event (SUBSCRIBED,
HEARTBEAT, OFFERS, each UPDATE, reconcile answers, the ERROR "Framework failed over"), the second
subscription (file 21), and the state endpoints once the framework is torn down (files 11, 16, 17, 18, 19)
are compared with the recording.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.host_ports import worker_region
from tests.localmesos import transcripts as T
from tests.localmesos.conftest import ThreadedCluster, make_config

pytestmark = pytest.mark.slow

REC20 = T.load("20")
REC21 = T.load("21")
REC22 = T.load("22")
REC23 = T.load("23")

REC_FID = REC22["framework_id"]
REC_SID = REC22["stream_id"]
REC_SID2 = dict(REC21["response"]["headers"])["Mesos-Stream-Id"]
REC_MASTER = REC20["records"][0]["record"]["subscribed"]["master_info"]["id"]
REC_AGENTS = [f"{REC_MASTER}-S0", f"{REC_MASTER}-S1"]
REC_OFFERS: dict[str, dict[str, Any]] = {
    o["id"]["value"]: o for r in REC20["records"] if r["record"]["type"] == "OFFERS"
    for o in r["record"]["offers"]["offers"]}
NOACK = "noack-1"
HEARTBEAT = 1.0
RETRY = 2.0  # status_update_retry_interval: re-sent at +2, +6, +14 s: 4 deliveries before the resubscribe, as recorded
HOLD_AFTER_DECLINE_3600 = 1.0   # recorded: 2 s without an offer, then REVIVE
SUPPRESS_WINDOW = 2.0           # recorded: 5 s without any offer while suppressed
REC_LITERALS = T.REC_LITERALS


def _free_http_port() -> int:
    """A port of this test worker's own (``tests/host_ports.py``) for the health-checked HTTP server: the recorded
    31000 is where other suites' and parallel workers' localmesos tasks listen. The task's port *resource*
    stays 31000, as recorded."""
    port: int
    for port in reversed(worker_region()):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port for the HTTP health-checked task")


def _sent_at(name: str) -> float:
    """When the recorder sent a call, on the stream clock (``t_rel_stream`` is taken after the answer).
    ``err-get-method`` carries no time: it was sent right after ``err-missing-type``."""
    ex = REC22["exchanges"][name]
    if "t_rel_stream" not in ex:
        names = list(REC22["exchanges"])
        return _sent_at(names[names.index(name) - 1])
    return float(ex["t_rel_stream"]) - float(ex["response"]["elapsed_s"])


REPLAYED = [n for n in REC22["exchanges"] if n != "ack-first"]
AFTER_RESUBSCRIBE = ("old-stream-id-after-resubscribe", "new-stream-id-after-resubscribe", "teardown",
                     "after-teardown-revive")
MAX_GAP = 1.5
# When the recorder acknowledged each (task, state): our acknowledger sends each acknowledgement only once every
# call the recorder had sent before it is sent (e.g. "reconcile-known-killed" still sees the unacked TASK_KILLED).
REC_ACK_TIMES: dict[tuple[str, str], list[float]] = {}
for _ack in REC23["acknowledgements_sent"]:
    REC_ACK_TIMES.setdefault((_ack["task"], _ack["state"]), []).append(float(_ack["t"]))


def _is_retransmission(event: dict[str, Any], seen: set[str]) -> bool:
    if event.get("type") != "UPDATE":
        return False
    uuid = event["update"]["status"].get("uuid")
    if uuid is None:
        return False
    if uuid in seen:
        return True
    seen.add(uuid)
    return False


def _comparable(events: list[tuple[float, dict[str, Any]]]) -> list[tuple[float, dict[str, Any]]]:
    """UPDATE/ERROR/RESCIND/FAILURE events, first deliveries only (no heartbeats, offers or retransmissions)."""
    seen: set[str] = set()
    out = []
    for t, ev in events:
        if ev.get("type") in ("UPDATE", "ERROR", "RESCIND", "FAILURE") and not _is_retransmission(ev, seen):
            out.append((t, ev))
    return out


@dataclass
class Replay:
    cluster: ThreadedCluster
    http_port: int
    s1: T.Stream | None = None
    s2: T.Stream | None = None
    offer_map: dict[str, str] = field(default_factory=dict)
    live_offers: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    responses: dict[str, T.Response] = field(default_factory=dict)
    sent: dict[str, Any] = field(default_factory=dict)
    call_time: dict[str, float] = field(default_factory=dict)
    acks: list[tuple[float, str, str, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    timings: dict[str, Any] = field(default_factory=dict)
    snapshots: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.address = self.cluster.address
        self.agents = [a.id for a in self.cluster.cluster.agents]
        self.agent_addresses = [f"{a.ip}:{a.port}" for a in self.cluster.cluster.agents]
        self.live_literals = T.live_literals(self.cluster)
        self._stop_ack = threading.Event()
        self._acker: threading.Thread | None = None

    # ids ------------------------------------------------------------------------------------------------
    @property
    def fid(self) -> str:
        assert self.s1 is not None
        sub = self.s1.snapshot()[0].record
        return str(sub["subscribed"]["framework_id"]["value"])

    def subst(self, obj: Any) -> Any:
        if isinstance(obj, list):
            return [self.subst(x) for x in obj]
        if isinstance(obj, dict):
            return {k: self.subst(v) for k, v in obj.items()}
        if not isinstance(obj, str):
            return obj
        if obj in self.offer_map:
            return self.offer_map[obj]
        if obj in REC_AGENTS:
            return self.agents[REC_AGENTS.index(obj)]
        if obj == REC_FID:
            return self.fid
        if obj == REC_SID and self.s1 is not None:
            return self.s1.stream_id
        if obj == REC_SID2 and self.s2 is not None:
            return self.s2.stream_id
        if obj.startswith(REC_MASTER + "-"):
            return self.cluster.master.id + obj[len(REC_MASTER):]
        return obj

    # stream helpers ---------------------------------------------------------------------------------------
    def scan_offers(self) -> None:
        assert self.s1 is not None
        rescinded = set()
        for rec in self.s1.snapshot():
            ev = rec.record
            if ev["type"] == "OFFERS":
                for o in ev["offers"]["offers"]:
                    self.live_offers.setdefault(o["id"]["value"], (rec.t, o))
            elif ev["type"] == "RESCIND":
                rescinded.add(ev["rescind"]["offer_id"]["value"])
        self.used |= rescinded

    def get_offer(self, agent_id: str, timeout: float = 15) -> tuple[float, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.scan_offers()
            for oid, (t, o) in self.live_offers.items():
                if oid not in self.used and o["agent_id"]["value"] == agent_id:
                    return t, o
            time.sleep(0.02)
        raise AssertionError(f"no offer for agent {agent_id} within {timeout}s; offers: {list(self.live_offers)}")

    def map_offer(self, recorded_id: str) -> str:
        if recorded_id not in self.offer_map and recorded_id in REC_OFFERS:
            rec_agent = REC_OFFERS[recorded_id]["agent_id"]["value"]
            _, offer = self.get_offer(self.agents[REC_AGENTS.index(rec_agent)])
            self.offer_map[recorded_id] = offer["id"]["value"]
        return self.offer_map.get(recorded_id, recorded_id)

    def live_comparable(self) -> list[tuple[float, dict[str, Any]]]:
        assert self.s1 is not None
        return _comparable([(r.t, r.record) for r in self.s1.snapshot()])

    def catch_up(self, t_limit: float, timeout: float = 20) -> None:
        """Waits until our stream carries every update/error the real one carried before ``t_limit``."""
        need = Counter(T.signature(ev, REC_LITERALS) for t, ev in _comparable(
            [(r["t"], r["record"]) for r in REC20["records"]]) if t < t_limit)
        deadline = time.monotonic() + timeout
        while True:
            have = Counter(T.signature(ev, self.live_literals) for _, ev in self.live_comparable())
            missing = need - have
            if not missing:
                return
            if time.monotonic() > deadline:
                tail = [T.signature(ev, self.live_literals) for _, ev in self.live_comparable()][-6:]
                raise AssertionError(f"before t={t_limit}: the recorded stream had {dict(missing)}, ours has not "
                                     f"(our last events: {tail})")
            time.sleep(0.02)

    # acknowledgements (as the recorder: every update with a uuid, except noack-1's) ----------------------
    def _ack_loop(self) -> None:
        try:
            assert self.s1 is not None
            index = 0
            ack_times = {key: list(times) for key, times in REC_ACK_TIMES.items()}
            while not self._stop_ack.is_set():
                records = self.s1.snapshot()
                while index < len(records) and not self._stop_ack.is_set():
                    ev = records[index].record
                    index += 1
                    if ev.get("type") != "UPDATE":
                        continue
                    st = ev["update"]["status"]
                    if "uuid" not in st or st["task_id"]["value"] == NOACK:
                        continue
                    times = ack_times.get((st["task_id"]["value"], st["state"])) or [0.0]
                    t_ack = times.pop(0) if len(times) > 1 else times[0]
                    while not self._stop_ack.is_set() and not all(
                            n in self.responses for n in REPLAYED if _sent_at(n) < t_ack):
                        time.sleep(0.005)
                    call = {"type": "ACKNOWLEDGE", "framework_id": {"value": self.fid},
                            "acknowledge": {"agent_id": st["agent_id"], "task_id": st["task_id"],
                                            "uuid": st["uuid"]}}
                    resp = T.scheduler_call(self.address, call, stream_id=self.s1.stream_id)
                    self.acks.append((self.s1.rel(), st["task_id"]["value"], st["state"], resp.status))
                    if "ack-first" not in self.responses:
                        self.sent["ack-first"] = call
                        self.responses["ack-first"] = resp
                if self.s1.end is not None:
                    return
                time.sleep(0.02)
        except Exception as exc:  # reported by the tests, never raised in the thread
            self.errors.append(f"acknowledger: {exc!r}")

    def stop_acker(self) -> None:
        self._stop_ack.set()
        if self._acker is not None:
            self._acker.join(10)

    # the replay -------------------------------------------------------------------------------------------
    def call(self, name: str) -> T.Response:
        ex = REC22["exchanges"][name]
        req = ex["request"]
        body: Any = req.get("body")
        if isinstance(body, dict):
            for section in ("accept", "decline"):
                for oid in (body.get(section) or {}).get("offer_ids") or []:
                    self.map_offer(oid["value"])
            body = self.subst(body)
            if name == "accept-launch-hc-http" and self.http_port != 31000:
                # The HTTP server and its health check use a free port; the task's port *resource* stays 31000.
                task = body["accept"]["operations"][0]["launch"]["task_infos"][0]
                task["command"]["value"] = task["command"]["value"].replace("31000", str(self.http_port))
                task["health_check"]["http"]["port"] = self.http_port
        headers = {k: self.subst(v) for k, v in T.recorded_request_headers(req).items()}
        raw = req["body_text"].encode() if "body_text" in req else None
        self.sent[name] = body
        self.call_time[name] = self.s1.rel() if self.s1 is not None else 0.0
        resp = T.request(self.address, req["method"], req["path"], headers=headers,
                         body=body if raw is None else None, raw_body=raw)
        self.responses[name] = resp
        if resp.status == 202 and isinstance(body, dict) and body.get("type") in ("ACCEPT", "DECLINE"):
            chosen: dict[str, Any] = body.get(body["type"].lower()) or {}
            self.used |= {o["value"] for o in chosen.get("offer_ids") or []}
        return resp

    def run(self) -> None:
        sub = REC20["request"]["body"]
        self.s1 = T.Stream(self.address, sub)
        assert self.s1.wait_type("SUBSCRIBED", 30), f"no SUBSCRIBED: {self.s1.status_line} {self.s1.end}"
        self._acker = threading.Thread(target=self._ack_loop, name="acknowledger", daemon=True)
        self._acker.start()
        for name, ex in REC22["exchanges"].items():
            if name == "ack-first":
                continue  # sent by the acknowledger, as the recorder did
            if name == "old-stream-id-after-resubscribe":
                self.resubscribe()
            if name not in AFTER_RESUBSCRIBE and name != "err-get-method":
                self.catch_up(_sent_at(name))
            self.before(name)
            self.pace(name)
            self.call(name)
            self.after(name)
        self.final_snapshots()

    def before(self, name: str) -> None:
        assert self.s1 is not None
        if name == "accept-launch-hc-http":
            t, _ = self.get_offer(self.agents[1])
            self.timings["decline_reoffer"] = t - self.call_time["decline-refuse3"]
        elif name == "revive":
            self.sleep_until(self.call_time["decline-refuse3600"] + HOLD_AFTER_DECLINE_3600)
            self.scan_offers()
            self.timings["offers_after_decline_3600"] = [
                oid for oid, (t, o) in self.live_offers.items()
                if t > self.call_time["decline-refuse3600"] and o["agent_id"]["value"] == self.agents[0]]
        elif name == "decline-after-suppress":
            self.map_offer(f"{REC_MASTER}-O8")
            t, _ = self.live_offers[self.offer_map[f"{REC_MASTER}-O8"]]
            self.timings["revive"] = t - self.call_time["revive"]
        elif name == "revive-2":
            self.sleep_until(self.call_time["decline-after-suppress"] + SUPPRESS_WINDOW)
            self.scan_offers()
            self.timings["offers_while_suppressed"] = [
                oid for oid, (t, _) in self.live_offers.items() if t > self.call_time["decline-after-suppress"]]
        elif name == "err-no-stream-id":
            # t-two-same and noack-1 run on agent 1 now: the moment file 19 was recorded.
            self.snapshots["statistics"] = T.request(self.agent_addresses[0], "GET", "/monitor/statistics",
                                                     headers={"Accept": "application/json"})

    def after(self, name: str) -> None:
        assert self.s1 is not None
        if name == "revive-2":
            self.map_offer(f"{REC_MASTER}-O9")
            t, _ = self.live_offers[self.offer_map[f"{REC_MASTER}-O9"]]
            self.timings["revive_2"] = t - self.call_time["revive-2"]
        elif name == "teardown":
            assert self.s2 is not None
            self.timings["teardown_answered_s2"] = self.s2.rel()
            self.timings["s2_end"] = self.s2.wait_end(30)

    def pace(self, name: str) -> None:
        """Keeps the recorded gap to the previous call (at most ``MAX_GAP``): the allocator's rounds then fall
        between the same calls as in the recording (e.g. the resources freed by the KILL are offered on their
        own before the next ACCEPT)."""
        index = REPLAYED.index(name)
        if index == 0 or name in AFTER_RESUBSCRIBE:
            return
        prev = REPLAYED[index - 1]
        gap = min(max(0.0, _sent_at(name) - _sent_at(prev)), MAX_GAP)
        self.sleep_until(self.call_time[prev] + gap)

    def sleep_until(self, t_stream: float) -> None:
        assert self.s1 is not None
        delay = t_stream - self.s1.rel()
        if delay > 0:
            time.sleep(delay)

    def resubscribe(self) -> None:
        """File 21: the same framework id subscribes from a second connection."""
        assert self.s1 is not None
        # The recording waited until t-two-same had finished and noack-1's TASK_STARTING had been re-sent 3 times.
        self.catch_up(REC20["records"][-1]["t"])
        deadline = time.monotonic() + 40  # the 4th delivery is due 14 s after the first
        while time.monotonic() < deadline and (len(self.noack_deliveries()) < 4 or len(self.acks) < len(
                REC23["acknowledgements_sent"])):  # and every acknowledgement the recorder sent was sent
            time.sleep(0.02)
        self.stop_acker()
        self.s2 = T.Stream(self.address, self.subst(REC21["request"]["body"]))
        assert self.s2.wait_type("SUBSCRIBED", 30), f"no SUBSCRIBED on the second connection: {self.s2.end}"
        self.timings["s1_end"] = self.s1.wait_end(30)
        self.s2.wait_type("OFFERS", 30)

    def noack_deliveries(self) -> list[tuple[float, dict[str, Any]]]:
        assert self.s1 is not None
        return [(r.t, r.record) for r in self.s1.snapshot() if r.record["type"] == "UPDATE"
                and r.record["update"]["status"]["task_id"]["value"] == NOACK
                and r.record["update"]["status"].get("source") == "SOURCE_EXECUTOR"]

    def final_snapshots(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the agents have stopped the framework's executors
            states = [T.request(a, "GET", "/state", headers={"Accept": "application/json"}).json()
                      for a in self.agent_addresses]
            if all(not s["frameworks"] for s in states):
                break
            time.sleep(0.1)
        get = {"Accept": "application/json"}
        op = {"Content-Type": "application/json", "Accept": "application/json"}
        for path in ("/master/state", "/state", "/master/frameworks", "/master/tasks", "/master/slaves"):
            self.snapshots[path] = T.request(self.address, "GET", path, headers=get)
        for call in ("GET_STATE", "GET_TASKS", "GET_FRAMEWORKS"):
            self.snapshots[call] = T.request(self.address, "POST", "/api/v1", headers=op, body={"type": call})
        for path in ("/state", "/slave(1)/state"):
            self.snapshots[f"agent0 {path}"] = T.request(self.agent_addresses[0], "GET", path, headers=get)

    def close(self) -> None:
        self.stop_acker()
        for s in (self.s1, self.s2):
            if s is not None:
                s.close()


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replay]:
    config = make_config(Path(tmp_path_factory.mktemp("replay")), 2, attributes=["rack:r1;zone:a", "rack:r2;zone:b"],
                         resources="cpus:2;mem:2048;disk:10000;ports:[31000-31100]", heartbeat_interval=HEARTBEAT,
                         agent_ping_timeout=0.3, max_agent_ping_timeouts=3, status_update_retry_interval=RETRY)
    cluster = ThreadedCluster(config)
    r = Replay(cluster, _free_http_port())
    try:
        r.run()
        yield r
    finally:
        r.close()
        cluster.stop()


def _rec_events(stream: dict[str, Any]) -> list[tuple[float, dict[str, Any]]]:
    return [(r["t"], r["record"]) for r in stream["records"]]


def _norm_same(replay: Replay, expected: Any, actual: Any, what: str, ignore: tuple[str, ...] = T.BY_NATURE) -> None:
    T.assert_normalized_same(expected, actual, ignore, what=what, expected_literals=REC_LITERALS,
                             actual_literals=replay.live_literals)


# -- 22: every call ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(REC22["exchanges"]))
def test_scheduler_call_answers(replay: Replay, name: str) -> None:
    """Status, reason, header names in order, Content-Type / Content-Length, body text of each call."""
    assert not replay.errors, replay.errors
    recorded = REC22["exchanges"][name]
    assert name in replay.responses, f"{name} was not sent"
    T.assert_exchange(recorded, replay.responses[name], what=name)
    if name == "ack-first":
        _norm_same(replay, recorded["request"]["body"], replay.sent[name], "ack-first request")


def test_acknowledgements_all_accepted(replay: Replay) -> None:
    """23: every ACKNOWLEDGE the recorder sent got 202, for the same (task, state) pairs in the same order."""
    recorded = [(a["task"], a["state"], a["status"]) for a in REC23["acknowledgements_sent"]]
    ours = [(task, state, status) for _, task, state, status in replay.acks]
    assert ours == recorded


# -- 20: the SUBSCRIBE stream ----------------------------------------------------------------------------
def test_subscribe_response_and_framing(replay: Replay) -> None:
    assert replay.s1 is not None and replay.s2 is not None
    T.assert_stream_headers(REC20, replay.s1)
    T.assert_stream_headers(REC21, replay.s2)
    assert replay.s1.stream_id != replay.s2.stream_id
    for stream in (replay.s1, replay.s2):
        T.assert_framing(stream)
        assert stream.end is not None and stream.end[0] == "terminating zero-length chunk", stream.end
    assert REC20["stream_end"][0] == REC21["stream_end"][0] == "terminating zero-length chunk"
    assert REC20["chunk_count"] == len(REC20["records"])


def test_subscribed_heartbeat_first_offers(replay: Replay) -> None:
    assert replay.s1 is not None
    ours = replay.s1.snapshot()
    rec = REC20["records"]
    assert [r.record["type"] for r in ours[:3]] == [r["record"]["type"] for r in rec[:3]] == [
        "SUBSCRIBED", "HEARTBEAT", "OFFERS"]
    _norm_same(replay, rec[0]["record"], ours[0].record, "SUBSCRIBED")
    assert ours[0].record["subscribed"]["heartbeat_interval_seconds"] == HEARTBEAT
    mi = ours[0].record["subscribed"]["master_info"]
    flags = replay.cluster.master.flags
    assert mi["pid"] == f"master@{flags.ip}:{flags.port}" and mi["port"] == flags.port
    a, b, c, d = (int(x) for x in flags.ip.split("."))
    assert mi["ip"] == a | b << 8 | c << 16 | d << 24
    assert mi["address"] == {"hostname": flags.hostname, "ip": flags.ip, "port": flags.port}
    # The immediate HEARTBEAT: right after SUBSCRIBED, before the first OFFERS (test_protocol_deadlines shows it
    # comes with the clock standing still).
    assert ours[1].record == {"type": "HEARTBEAT"}
    # The first OFFERS holds both agents' offers, in one event.
    _norm_same(replay, rec[2]["record"], ours[2].record, "first OFFERS")


def test_heartbeat_cadence(replay: Replay) -> None:
    """After the immediate one, heartbeats come every interval on the stream-start clock (15.01, 30.01...).

    On real time a loaded machine can only delay a heartbeat, so here: heartbeat k never before k intervals
    (the client's clock starts before the master's stream does), over a stream long enough for ten or more.
    That they come at exactly k intervals, without drift, is driven on a hand-advanced clock in
    test_protocol_deadlines."""
    assert replay.s1 is not None
    rec = [r["t"] for r in REC20["records"] if r["record"]["type"] == "HEARTBEAT"][1:]
    assert all(abs(t / 15.0 - round(t / 15.0)) < 0.01 for t in rec)  # the recording (data, not a live timing)
    beats = [r.t for r in replay.s1.snapshot() if r.record["type"] == "HEARTBEAT"][1:]
    assert len(beats) >= 10
    for k, t in enumerate(beats, start=1):
        assert t >= k * HEARTBEAT, f"heartbeat {k} early, at {t:.3f}s"


def _group_reconcile(events: list[tuple[float, dict[str, Any]]], start: float, end: float) -> list[dict[str, Any]]:
    """Answers to the implicit reconcile come in the master's hashmap order: sort that group by task id."""
    before = [ev for t, ev in events if t < start]
    group = [ev for t, ev in events if start <= t < end and ev.get("type") == "UPDATE"
             and ev["update"]["status"].get("reason") == "REASON_RECONCILIATION"]
    rest = [ev for t, ev in events if t >= start and ev not in group]
    group.sort(key=lambda ev: ev["update"]["status"]["task_id"]["value"])
    return before + group + rest


def test_update_events_one_by_one(replay: Replay) -> None:
    """Every UPDATE / ERROR of file 20 (first deliveries), in order, field by field."""
    assert replay.s1 is not None
    rec = _group_reconcile(_comparable(_rec_events(REC20)), _sent_at("reconcile-implicit"),
                           _sent_at("accept-launch-exit3"))
    ours = _group_reconcile(replay.live_comparable(), replay.call_time["reconcile-implicit"],
                            replay.call_time["accept-launch-exit3"])
    rec_sigs = [T.signature(ev, REC_LITERALS) for ev in rec]
    our_sigs = [T.signature(ev, replay.live_literals) for ev in ours]
    assert our_sigs == rec_sigs
    for i, (expected, actual) in enumerate(zip(rec, ours)):
        _norm_same(replay, expected, actual, f"event {i} {rec_sigs[i]}")


def test_update_container_ids_and_uuids(replay: Replay) -> None:
    """Per task: one container id across its updates; a fresh uuid per update; master updates have none."""
    assert replay.s1 is not None
    containers: dict[str, set[str]] = {}
    uuids = []
    for _, ev in replay.live_comparable():
        if ev["type"] != "UPDATE":
            continue
        st = ev["update"]["status"]
        if "container_status" in st:
            containers.setdefault(st["task_id"]["value"], set()).add(st["container_status"]["container_id"]["value"])
        if st["source"] == "SOURCE_MASTER":
            assert "uuid" not in st and "executor_id" not in st, st
        else:
            uuids.append(st["uuid"])
    assert all(len(c) == 1 for c in containers.values()), containers
    assert len(set().union(*containers.values())) == len(containers)
    assert len(uuids) == len(set(uuids))


def test_offers_used_by_the_calls(replay: Replay) -> None:
    """Each offer the recorder used (O3...O11) vs the live offer used in its place: resources (order ports,
    cpus, mem, disk; values after the launches), role "*", attributes, url shape, no allocation_info."""
    assert replay.offer_map
    for rec_id, live_id in replay.offer_map.items():
        _, offer = replay.live_offers[live_id]
        ignore: tuple[str, ...] = T.BY_NATURE
        if rec_id.endswith("-O11"):
            # What O11 holds depends on whether an allocation round ran between exit3's end and the ACCEPT that
            # declined O10 (in the recording: no; here the tasks start 10x faster). Compare its shape only.
            ignore += ("resources.scalar.value", "resources.ranges.range.begin", "resources.ranges.range.end")
        _norm_same(replay, REC_OFFERS[rec_id], offer, f"offer {rec_id[-3:]}", ignore)
        assert offer["url"]["address"]["port"] == next(
            a.port for a in replay.cluster.cluster.agents if a.id == offer["agent_id"]["value"])
    assert set(replay.offer_map) == {f"{REC_MASTER}-O{n}" for n in range(3, 12)}


def test_offer_timings(replay: Replay) -> None:
    """23: DECLINE refuse 3 s → re-offer after 3 s (+ up to one allocation interval); REVIVE → at once;
    SUPPRESS → no offers at all; REVIVE again → at once."""
    rec = REC23
    rec_delay = rec["decline_reoffer"]["reoffered_at"] - rec["decline_reoffer"]["declined_at"]
    assert 3.0 <= rec_delay <= 4.0  # the recording (data)
    # Live, only what load cannot change: never re-offered before the 3 s filter ends (``before`` waits for it).
    assert replay.timings["decline_reoffer"] >= 3.0, replay.timings
    assert rec["revive"]["agent1_offer_after_revive_at"] - rec["revive"]["revive_at"] < 0.1
    # Declined for an hour: nothing in the hold window; the offer that came after REVIVE is REVIVE's doing.
    assert replay.timings["offers_after_decline_3600"] == []
    assert replay.timings["revive"] > 0, replay.timings
    assert rec["suppress"]["offers_received_in_5s_while_suppressed"] == []
    assert replay.timings["offers_while_suppressed"] == []
    assert rec["suppress"]["offer_after_revive2_at"] - REC22["exchanges"]["revive-2"]["t_rel_stream"] < 0.1
    assert replay.timings["revive_2"] > 0, replay.timings


def test_unacknowledged_update_retransmission(replay: Replay) -> None:
    """23 + surprise 15: the unacked TASK_STARTING is re-sent with backoff 1:2:4..., same uuid, and the task's
    TASK_RUNNING is never delivered while it is pending."""
    rec = [(r["t"], r["record"]) for r in REC23["unacknowledged_updates_for_noack_task"]
           if r["record"]["update"]["status"]["source"] == "SOURCE_EXECUTOR"]
    ours = replay.noack_deliveries()
    for deliveries in (rec, ours):
        states = {ev["update"]["status"]["state"] for _, ev in deliveries}
        assert states == {"TASK_STARTING"}
        assert len({ev["update"]["status"]["uuid"] for _, ev in deliveries}) == 1
    rec_gaps = [b - a for (a, _), (b, _) in zip(rec, rec[1:])]
    our_gaps = [b - a for (a, _), (b, _) in zip(ours, ours[1:])]
    assert len(rec_gaps) == 3 and len(our_gaps) >= 3
    first = rec_gaps[0]
    for k, gap in enumerate(rec_gaps):
        assert abs(gap / first - 2 ** k) < 0.1 * 2 ** k  # the recording (data)
    # Live, order and ratio with bounds load cannot break: each gap longer than the one before, and none
    # shorter than half its nominal 2 s x 2^k (exact deadlines: test_protocol_deadlines, on a driven clock).
    assert our_gaps[:3] == sorted(our_gaps[:3]), our_gaps
    for k, gap in enumerate(our_gaps[:3]):
        assert gap >= 0.5 * RETRY * 2 ** k, f"gap {k}: {gap:.3f}s ({our_gaps})"
    for _, ev in ours[1:]:
        _norm_same(replay, rec[0][1], ev, "retransmission")


# -- 21: the second subscription ---------------------------------------------------------------------------
def test_failed_over_then_second_subscription(replay: Replay) -> None:
    assert replay.s1 is not None and replay.s2 is not None
    # Old stream: ERROR "Framework failed over", then a clean zero-length chunk.
    rec_last = REC20["records"][-1]["record"]
    ours = replay.s1.snapshot()
    assert rec_last == {"type": "ERROR", "error": {"message": "Framework failed over"}}
    assert ours[-1].record == rec_last
    assert replay.timings["s1_end"][0] == REC20["stream_end"][0]
    # New stream: SUBSCRIBED (same framework id), HEARTBEAT, the pending update re-sent at once, then OFFERS.
    rec2 = [r["record"] for r in REC21["records"]]
    ours2 = replay.s2.events()
    assert [e["type"] for e in ours2[:4]] == [e["type"] for e in rec2[:4]] == [
        "SUBSCRIBED", "HEARTBEAT", "UPDATE", "OFFERS"]
    _norm_same(replay, rec2[0], ours2[0], "second SUBSCRIBED")
    assert ours2[0]["subscribed"]["framework_id"]["value"] == replay.fid
    resent = ours2[2]["update"]["status"]
    _norm_same(replay, rec2[2], ours2[2], "re-sent update")
    first = replay.noack_deliveries()[0][1]["update"]["status"]
    assert resent["uuid"] == first["uuid"] and resent["task_id"]["value"] == NOACK  # at once: before any OFFERS
    for i in range(3, len(rec2)):
        rec_offer = rec2[i]["offers"]["offers"][0]
        assert [r["name"] for r in rec_offer["resources"]] == ["ports", "cpus", "mem", "disk"]
    assert all(e["type"] in ("OFFERS", "HEARTBEAT") for e in ours2[3:]), ours2[3:]
    # TEARDOWN: the stream closes with only the zero-length chunk, no event first.
    assert REC21["stream_end"][0] == "terminating zero-length chunk"
    assert REC21["stream_end"][1] - REC21["teardown_sent_at"] < 0.1
    end = replay.timings["s2_end"]
    assert end is not None and end[0] == "terminating zero-length chunk"
    assert "ERROR" not in [e["type"] for e in ours2]
    # Nothing but the end after the answer (a HEARTBEAT that fell due in between is not an event of TEARDOWN).
    after = [r.record["type"] for r in replay.s2.snapshot() if r.t > replay.timings["teardown_answered_s2"]]
    assert [kind for kind in after if kind != "HEARTBEAT"] == [], after


# -- 19: /monitor/statistics with two command tasks running ---------------------------------------------
def test_monitor_statistics(replay: Replay) -> None:
    recorded = T.load("19")
    resp = replay.snapshots["statistics"]
    rec = {e["executor_id"]: e for e in recorded["response"]["body"]["json"]}
    ours = {e["executor_id"]: e for e in resp.json()}
    assert set(ours) == set(rec) == {"t-two-same", NOACK}
    ignore = T.BY_NATURE + ("cpus_system_time_secs", "cpus_user_time_secs", "mem_rss_bytes")
    for eid in rec:
        _norm_same(replay, rec[eid], ours[eid], f"statistics {eid}", ignore)
    expected = dict(recorded)
    expected["response"] = dict(recorded["response"], body={"json": resp.json()})
    T.assert_exchange(expected, resp, what="/monitor/statistics")


# -- 11, 16, 17, 18: the state endpoints once the framework is gone ----------------------------------------
def _rec_framework(doc: dict[str, Any], key: str = "completed_frameworks") -> dict[str, Any]:
    return next(f for f in doc[key] if isinstance(f, dict) and f.get("id") == REC_FID)


def _by(items: list[Any], key: Any) -> dict[Any, Any]:
    return {key(i): i for i in items if isinstance(i, dict) and "_trimmed" not in i}


def _compare_state_framework(replay: Replay, rec_fw: dict[str, Any], our_fw: dict[str, Any], what: str) -> None:
    rec_tasks = _by(rec_fw["completed_tasks"], lambda t: t["id"])
    our_tasks = _by(our_fw["completed_tasks"], lambda t: t["id"])
    assert sorted(our_tasks) == sorted(rec_tasks), f"{what}: completed tasks {sorted(our_tasks)}"
    for tid, task in rec_tasks.items():
        _norm_same(replay, task, our_tasks[tid], f"{what} completed task {tid}")
    # The order of tasks killed by the removal follows the real master's hashmap: compare the rest as is.
    _norm_same(replay, {**rec_fw, "completed_tasks": []}, {**our_fw, "completed_tasks": []}, what)


@pytest.mark.parametrize("path,name", [("/master/state", "11"), ("/state", "11b")])
def test_master_state_after_teardown(replay: Replay, path: str, name: str) -> None:
    recorded = T.load(name)
    rec = recorded["response"]["body"]["json"]
    resp = replay.snapshots[path]
    ours = resp.json()
    assert list(ours) == list(rec)
    assert ours["frameworks"] == rec["frameworks"] == []
    assert len(ours["completed_frameworks"]) == 1
    _compare_state_framework(replay, _rec_framework(rec), ours["completed_frameworks"][0], path)


def test_master_frameworks_after_teardown(replay: Replay) -> None:
    recorded = T.load("16")
    rec = recorded["response"]["body"]["json"]
    resp = replay.snapshots["/master/frameworks"]
    ours = resp.json()
    assert list(ours) == list(rec)
    assert ours["frameworks"] == [] and ours["unregistered_frameworks"] == []
    _compare_state_framework(replay, _rec_framework(rec), ours["completed_frameworks"][0], "/master/frameworks")
    expected = dict(recorded, response=dict(recorded["response"], body={"json": ours}))
    T.assert_exchange(expected, resp, what="/master/frameworks")


def test_master_tasks_after_teardown(replay: Replay) -> None:
    """16b: the recorded list holds other frameworks' tasks; a finished command task has the same shape."""
    recorded = T.load("16b")
    rec = recorded["response"]["body"]["json"]
    resp = replay.snapshots["/master/tasks"]
    ours = resp.json()
    assert list(ours) == list(rec) == ["tasks"]
    rec_finished = next(t for t in rec["tasks"] if t.get("id") == "pym-task-1")
    our_finished = next(t for t in ours["tasks"] if t["id"] == "t-two-same")
    _norm_same(replay, rec_finished, our_finished, "finished task", T.BY_NATURE + ("id", "name"))
    rec_state = _by(_rec_framework(T.load("11")["response"]["body"]["json"])["completed_tasks"], lambda t: t["id"])
    assert sorted(t["id"] for t in ours["tasks"]) == sorted(rec_state)
    for task in ours["tasks"]:
        _norm_same(replay, rec_state[task["id"]], task, f"/master/tasks {task['id']}")


@pytest.mark.parametrize("call,name", [("GET_STATE", "17"), ("GET_TASKS", "17f"), ("GET_FRAMEWORKS", "17e")])
def test_operator_api_after_teardown(replay: Replay, call: str, name: str) -> None:
    recorded = T.load(name)
    rec = recorded["response"]["body"]["json"]
    resp = replay.snapshots[call]
    ours = resp.json()
    assert list(ours) == list(rec) == ["type", call.lower()]
    rec_body, our_body = rec[call.lower()], ours[call.lower()]
    if call == "GET_STATE":
        assert list(our_body) == list(rec_body)
        assert our_body["get_executors"] == rec_body["get_executors"] == {"executors": []}
    tasks_rec = rec_body["get_tasks"] if call == "GET_STATE" else rec_body
    tasks_our = our_body["get_tasks"] if call == "GET_STATE" else our_body
    if call in ("GET_STATE", "GET_TASKS"):
        assert list(tasks_our) == list(tasks_rec)
        assert tasks_our["tasks"] == tasks_rec["tasks"] == [] and tasks_our["unreachable_tasks"] == []
        rec_tasks = _by(tasks_rec["completed_tasks"], lambda t: (t["framework_id"]["value"], t["task_id"]["value"]))
        our_tasks = _by(tasks_our["completed_tasks"], lambda t: t["task_id"]["value"])
        for (fid, tid), task in rec_tasks.items():
            if fid == REC_FID:
                _norm_same(replay, task, our_tasks[tid], f"{call} completed task {tid}")
    fws_rec = rec_body["get_frameworks"] if call == "GET_STATE" else rec_body
    fws_our = our_body["get_frameworks"] if call == "GET_STATE" else our_body
    if call in ("GET_STATE", "GET_FRAMEWORKS"):
        assert list(fws_our) == list(fws_rec)
        assert fws_our["frameworks"] == fws_rec["frameworks"] == []
        rec_fw = next(f for f in fws_rec["completed_frameworks"] if f["framework_info"]["id"]["value"] == REC_FID)
        _norm_same(replay, rec_fw, fws_our["completed_frameworks"][0], f"{call} completed framework")
    expected = dict(recorded, response=dict(recorded["response"], body={"json": ours}))
    T.assert_exchange(expected, resp, what=call)


@pytest.mark.parametrize("path,name", [("/state", "18"), ("/slave(1)/state", "18b")])
def test_agent_state_after_teardown(replay: Replay, path: str, name: str) -> None:
    recorded = T.load(name)
    rec = recorded["response"]["body"]["json"]
    resp = replay.snapshots[f"agent0 {path}"]
    ours = resp.json()
    assert list(ours) == list(rec)
    assert ours["frameworks"] == rec["frameworks"] == []
    rec_fw = _rec_framework(rec)
    our_fw = next(f for f in ours["completed_frameworks"] if f["id"] == replay.fid)
    rec_ex = _by(rec_fw["completed_executors"], lambda e: e["id"])
    our_ex = _by(our_fw["completed_executors"], lambda e: e["id"])
    assert sorted(our_ex) == sorted(rec_ex)
    for eid, executor in rec_ex.items():
        _norm_same(replay, executor, our_ex[eid], f"agent completed executor {eid}")
    _norm_same(replay, {**rec_fw, "completed_executors": []}, {**our_fw, "completed_executors": []},
               "agent completed framework")
    expected = dict(recorded, response=dict(recorded["response"], body={"json": ours}))
    T.assert_exchange(expected, resp, what=path)
