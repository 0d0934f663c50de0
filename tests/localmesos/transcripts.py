"""Golden-transcript helpers for the localmesos contract tests.

Loads the recordings of a real Mesos 1.11.1 master and agents (``transcripts/`` beside this file; see its README),
talks to a live localmesos cluster the way the recorder talked to the real one (``http.client`` for plain calls,
a raw socket that decodes HTTP/1.1 chunked framing and RecordIO itself for SUBSCRIBE streams), and compares
the two field by field.

Comparison rules (``assert_same_shape``): every JSON object must have exactly the same set of keys at every
level (``ordered=True``, the default of ``assert_normalized_same`` and ``assert_exchange``: in the same order
too, as the real JSON writer follows the proto field order), every list the same length (a recorded
``{"_trimmed": "N more items ..."}`` marker stands for N more items), every scalar the same JSON type
(bool / int / float / str / null), and every value the same, except at the paths given in ``ignore`` (values
that differ by nature: timestamps, pids, ports, IPs, paths...), where only presence and type are compared.
Ids are not compared as such: ``Normalizer`` replaces framework, agent, offer, plain UUID and base64-UUID ids by
placeholders numbered by first appearance (``FW0``, ``AG0``, ``OF0``, ``UUID0``, ``B64UUID0``), separately for
the recorded and the live document, so the *pattern* of ids (which ones are the same) is still compared; host
names are replaced by ``<host>`` (``REC_LITERALS`` / ``live_literals``) and then compared like any text.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

TRANSCRIPTS = Path(__file__).resolve().parent / "transcripts"


def load(prefix: str) -> Any:
    """The transcript whose file name starts with ``<prefix>-`` (e.g. ``"11c"``, ``"22"``)."""
    matches = sorted(TRANSCRIPTS.glob(f"{prefix}-*.json"))
    assert len(matches) == 1, f"transcript {prefix!r}: {matches}"
    return json.loads(matches[0].read_text())


# -- normalisation ---------------------------------------------------------------------------------------
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_ID = re.compile(rf"(?<![0-9A-Za-z])({_UUID})(?:-(S\d+|O\d+|\d{{4}}))?(?![0-9A-Za-z])")
_B64_UUID = re.compile(r"^[A-Za-z0-9+/]{22}==$")


class Normalizer:
    """Replaces ids by placeholders numbered by first appearance, consistently within one document."""

    def __init__(self, literals: Mapping[str, str] | None = None) -> None:
        self.maps: dict[str, dict[str, str]] = {}
        self.literals = dict(literals or {})
        self.substituted = False

    def _placeholder(self, kind: str, value: str) -> str:
        table = self.maps.setdefault(kind, {})
        if value not in table:
            table[value] = f"{kind}{len(table)}"
        self.substituted = True
        return table[value]

    def text(self, s: str) -> str:
        def repl(m: re.Match[str]) -> str:
            suffix = m.group(2)
            if suffix is None:
                return self._placeholder("UUID", m.group(0))
            kind = {"S": "AG", "O": "OF"}.get(suffix[0], "FW")
            return self._placeholder(kind, m.group(0))

        out = _ID.sub(repl, s)
        if _B64_UUID.match(out):
            return self._placeholder("B64UUID", out)
        for literal, placeholder in self.literals.items():
            if literal and literal in out:
                out = re.sub(rf"(?<![\w.]){re.escape(literal)}(?![\w])", placeholder, out)
        return out

    def __call__(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, list):
            return [self(x) for x in obj]
        if isinstance(obj, dict):
            return {k: self(v) for k, v in obj.items()}
        return obj


# Host names are compared after replacing them by a placeholder: the recording's hosts were all "localhost".
REC_LITERALS = {"localhost": "<host>", "127.0.0.1": "<ip>"}


def live_literals(cluster: Any) -> dict[str, str]:
    """The live cluster's host names (each agent has its own loopback address as host name) -> ``<host>``."""
    out = {a.hostname: "<host>" for a in cluster.cluster.agents}
    out[cluster.master.flags.hostname] = "<host>"
    out["localhost"] = "<host>"
    return out


def normalized_pair(expected: Any, actual: Any, *, expected_literals: Mapping[str, str] | None = None,
                    actual_literals: Mapping[str, str] | None = None) -> tuple[Any, Any]:
    return Normalizer(expected_literals)(expected), Normalizer(actual_literals)(actual)


# -- the comparator --------------------------------------------------------------------------------------
# Values that differ by nature between the recording and our cluster: only presence and JSON type are compared.
BY_NATURE = (
    "timestamp", "executor_pid", "ip", "port", "pid", "ip_address", "start_time", "elected_time",
    "registered_time", "reregistered_time", "unregistered_time", "nanoseconds", "build_date", "build_time",
    "heartbeat_interval_seconds", "directory", "leader", "log_dir", "master_hostname", "url.address.*",
)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _ignored(path: str, ignore: Iterable[str]) -> bool:
    bare = re.sub(r"\[\d+\]", "", path)
    for pattern in ignore:
        if fnmatchcase(bare, pattern) or fnmatchcase(bare, "*." + pattern):
            return True
    return False


def _trim_marker(item: Any) -> int | None:
    if isinstance(item, dict) and set(item) == {"_trimmed"}:
        m = re.match(r"(\d+) more", str(item["_trimmed"]))
        return int(m.group(1)) if m else 0
    return None


def first_difference(expected: Any, actual: Any, ignore: Iterable[str] = (), path: str = "$",
                     ordered: bool = False) -> str | None:
    """The JSON path and nature of the first difference, or None. ``ordered``: keys in the same order too."""
    ignore = tuple(ignore)
    te, ta = _json_type(expected), _json_type(actual)
    if te != ta:
        return f"{path}: expected {te} {_short(expected)}, got {ta} {_short(actual)}"
    if isinstance(expected, dict):
        missing = [k for k in expected if k not in actual]
        extra = [k for k in actual if k not in expected]
        if missing or extra:
            return (f"{path}: keys differ: missing {missing}, unexpected {extra} "
                    f"(expected keys {list(expected)}, got {list(actual)})")
        if ordered and list(expected) != list(actual):
            return f"{path}: key order {list(actual)} != recorded {list(expected)}"
        for key in expected:
            diff = first_difference(expected[key], actual[key], ignore, f"{path}.{key}", ordered)
            if diff:
                return diff
        return None
    if isinstance(expected, list):
        items = list(expected)
        more = _trim_marker(items[-1]) if items else None
        if more is not None:
            items = items[:-1]
            if len(actual) != len(items) + more:
                return (f"{path}: expected {len(items)} + {more} (trimmed) items, got {len(actual)}: "
                        f"{_short(actual)}")
        elif len(items) != len(actual):
            return f"{path}: expected {len(items)} items, got {len(actual)}: {_short(expected)} vs {_short(actual)}"
        for i, item in enumerate(items):
            diff = first_difference(item, actual[i], ignore, f"{path}[{i}]", ordered)
            if diff:
                return diff
        return None
    if _ignored(path, ignore):
        return None
    if expected != actual:
        return f"{path}: expected {_short(expected)}, got {_short(actual)}"
    return None


def assert_same_shape(expected: Any, actual: Any, ignore: Iterable[str] = BY_NATURE, *, what: str = "",
                      ordered: bool = False) -> None:
    """Fails with the JSON path of the first difference (see the module docstring for the rules)."""
    diff = first_difference(expected, actual, ignore, ordered=ordered)
    if diff:
        raise AssertionError(f"{what + ': ' if what else ''}{diff}")


def assert_normalized_same(expected: Any, actual: Any, ignore: Iterable[str] = BY_NATURE, *, what: str = "",
                           expected_literals: Mapping[str, str] | None = None,
                           actual_literals: Mapping[str, str] | None = None, ordered: bool = True) -> None:
    """``assert_same_shape`` after replacing ids (fresh placeholder tables for each side); keys in the recorded
    order too, unless ``ordered=False``."""
    e, a = normalized_pair(expected, actual, expected_literals=expected_literals, actual_literals=actual_literals)
    assert_same_shape(e, a, ignore, what=what, ordered=ordered)


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# -- plain HTTP exchanges -------------------------------------------------------------------------------
@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def request(address: str, method: str, path: str, *, headers: Mapping[str, str] | None = None,
            body: Any = None, raw_body: bytes | None = None, timeout: float = 10) -> Response:
    """One plain exchange, sent the way the recorder sent it (headers in the given order, no extras)."""
    host, port = address.rsplit(":", 1)
    if body is not None and raw_body is None:
        raw_body = json.dumps(body).encode()
    hdrs = {"Host": address, **dict(headers or {})}
    if raw_body is not None:
        hdrs.setdefault("Content-Length", str(len(raw_body)))
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders(raw_body)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.reason, list(r.getheaders()), data)
    finally:
        conn.close()


def scheduler_call(address: str, call: Any, *, stream_id: str | None = None, ctype: str | None = "application/json",
                   accept: str | None = "application/json", raw_body: bytes | None = None) -> Response:
    headers: dict[str, str] = {}
    if ctype is not None:
        headers["Content-Type"] = ctype
    if accept is not None:
        headers["Accept"] = accept
    if stream_id is not None:
        headers["Mesos-Stream-Id"] = stream_id
    return request(address, "POST", "/api/v1/scheduler", headers=headers,
                   body=call if raw_body is None else None, raw_body=raw_body)


def recorded_request_headers(recorded_request: Mapping[str, Any]) -> dict[str, str]:
    """The headers the recorder sent, minus Host and Content-Length (set again for the live body)."""
    return {k: v for k, v in recorded_request.get("headers", {}).items() if k not in ("Host", "Content-Length")}


def body_of(recorded_response: Mapping[str, Any]) -> Any:
    body = recorded_response.get("body") or {}
    return body["json"] if "json" in body else body.get("text", "")


def assert_exchange(recorded: Mapping[str, Any], live: Response, *, ignore: Iterable[str] = BY_NATURE,
                    what: str = "", expected_literals: Mapping[str, str] | None = None,
                    actual_literals: Mapping[str, str] | None = None,
                    location: str | None = None, ordered: bool = True) -> None:
    """Status, reason phrase, header names in order, header values, Content-Length and body, field by field."""
    rec = recorded["response"] if "response" in recorded else recorded
    label = what or f"{recorded.get('request', {}).get('method', '')} {recorded.get('request', {}).get('path', '')}"
    assert (live.status, live.reason) == (rec["status"], rec["reason"]), (
        f"{label}: status {live.status} {live.reason!r} != recorded {rec['status']} {rec['reason']!r}; "
        f"body {live.text[:300]!r}")
    names = [k for k, _ in live.headers]
    assert names == [k for k, _ in rec["headers"]], f"{label}: header names/order {names} != {rec['headers']}"
    recorded_body = body_of(rec)
    exp_norm = Normalizer(expected_literals)
    act_norm = Normalizer(actual_literals)
    if isinstance(recorded_body, str):
        live_body: Any = live.text
        assert act_norm(live_body) == exp_norm(recorded_body), (
            f"{label}: body {live_body!r} != recorded {recorded_body!r}")
    else:
        live_body = live.json()
        assert_same_shape(exp_norm(recorded_body), act_norm(live_body), ignore, what=f"{label} body",
                          ordered=ordered)
    ids_in_body = exp_norm.substituted or act_norm.substituted
    for (name, value), (_, rec_value) in zip(live.headers, rec["headers"]):
        if name == "Date":
            assert email.utils.parsedate_to_datetime(value) is not None and value.endswith(" GMT"), value
        elif name == "Content-Length":
            assert int(value) == len(live.body), f"{label}: Content-Length {value} but {len(live.body)} body bytes"
            if isinstance(recorded_body, str) and not ids_in_body:
                assert value == rec_value, f"{label}: Content-Length {value} != recorded {rec_value}"
        elif name == "Location":
            assert re.fullmatch(r"//[^/:]+:\d+", value) and re.fullmatch(r"//[^/:]+:\d+", rec_value), value
            if location is not None:
                assert value == location, f"{label}: Location {value!r} != {location!r}"
        elif name == "Mesos-Stream-Id":
            assert re.fullmatch(_UUID, value), value
        else:
            assert value == rec_value, f"{label}: header {name}: {value!r} != recorded {rec_value!r}"


# -- SUBSCRIBE streams -----------------------------------------------------------------------------------
@dataclass
class Record:
    t: float
    length: int
    record: dict[str, Any]
    raw: bytes
    chunk: int  # index of the HTTP chunk that completed this record


@dataclass
class Stream:
    """A raw-socket streaming POST: decodes HTTP/1.1 chunked framing and RecordIO, keeps chunk boundaries."""

    address: str
    body: Any
    path: str = "/api/v1/scheduler"
    extra_headers: Mapping[str, str] | None = None
    raw_body: bytes | None = None
    records: list[Record] = field(default_factory=list)
    chunks: list[tuple[float, int, bytes]] = field(default_factory=list)
    status_line: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    end: tuple[str, float] | None = None
    body_nonstream: bytes | None = None
    framing_errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        host, port = self.address.rsplit(":", 1)
        payload = self.raw_body if self.raw_body is not None else json.dumps(self.body).encode()
        self.request_headers = {"Host": self.address, "Content-Type": "application/json",
                                "Accept": "application/json", "Connection": "close", **(self.extra_headers or {})}
        self.request_headers["Content-Length"] = str(len(payload))
        self.cv = threading.Condition()
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.sock.settimeout(None)
        self.t0 = time.monotonic()
        head = f"POST {self.path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in self.request_headers.items())
        self.sock.sendall(head.encode() + b"\r\n" + payload)
        self._buf = b""
        self._thread = threading.Thread(target=self._run, name="stream-reader", daemon=True)
        self._thread.start()
        with self.cv:
            self.cv.wait_for(lambda: self.status_line is not None or self.end is not None, timeout=10)

    # reader ---------------------------------------------------------------------------------------------
    def rel(self) -> float:
        return time.monotonic() - self.t0

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed by peer")
        self._buf += data

    def _readline(self) -> bytes:
        while b"\r\n" not in self._buf:
            self._fill()
        line, self._buf = self._buf.split(b"\r\n", 1)
        return line

    def _readn(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._fill()
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _finish(self, how: str) -> None:
        with self.cv:
            if self.end is None:
                self.end = (how, self.rel())
            self.cv.notify_all()

    def _run(self) -> None:
        try:
            status = self._readline().decode()
            headers: list[tuple[str, str]] = []
            while True:
                line = self._readline().decode()
                if not line:
                    break
                k, v = line.split(":", 1)
                headers.append((k.strip(), v.strip()))
            with self.cv:
                self.status_line = status
                self.headers = headers
                self.cv.notify_all()
            lower = {k.lower(): v for k, v in headers}
            if lower.get("transfer-encoding", "").lower() != "chunked":
                self.body_nonstream = self._readn(int(lower.get("content-length", "0")))
                self._finish("non-stream response")
                return
            pending = b""
            while True:
                size = int(self._readline().split(b";")[0], 16)
                if size == 0:
                    self._readline()
                    if pending:
                        self.framing_errors.append(f"{len(pending)} bytes of an unfinished record at the end")
                    self._finish("terminating zero-length chunk")
                    return
                data = self._readn(size)
                if self._readline() != b"":
                    self.framing_errors.append("chunk not followed by CRLF")
                t = self.rel()
                with self.cv:
                    self.chunks.append((t, size, data))
                index = len(self.chunks) - 1
                pending += data
                while b"\n" in pending:
                    length_text, rest = pending.split(b"\n", 1)
                    if not length_text.isdigit():
                        self.framing_errors.append(f"bad RecordIO length {length_text[:40]!r}")
                        pending = b""
                        break
                    n = int(length_text)
                    if len(rest) < n:
                        break
                    raw, pending = rest[:n], rest[n:]
                    try:
                        decoded = json.loads(raw)
                    except ValueError:
                        decoded = {"_undecodable": raw.decode("utf-8", "replace")}
                    with self.cv:
                        self.records.append(Record(t, n, decoded, raw, index))
                        self.cv.notify_all()
        except (EOFError, OSError, ValueError) as exc:
            self._finish(f"connection closed: {exc!r}")
        except Exception as exc:  # never let the reader thread die with an exception (filterwarnings = error)
            self.framing_errors.append(f"reader crashed: {exc!r}")
            self._finish(f"reader crashed: {exc!r}")

    # queries --------------------------------------------------------------------------------------------
    @property
    def stream_id(self) -> str | None:
        for k, v in self.headers:
            if k.lower() == "mesos-stream-id":
                return v
        return None

    @property
    def status(self) -> int:
        assert self.status_line is not None, "no status line"
        return int(self.status_line.split()[1])

    def snapshot(self) -> list[Record]:
        with self.cv:
            return list(self.records)

    def events(self) -> list[dict[str, Any]]:
        return [r.record for r in self.snapshot()]

    def wait(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 15, start: int = 0) -> Record | None:
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for rec in self.records[start:]:
                    if pred(rec.record):
                        return rec
                left = deadline - time.monotonic()
                if left <= 0 or self.end is not None:
                    return None
                self.cv.wait(left)

    def wait_type(self, kind: str, timeout: float = 15, start: int = 0) -> Record | None:
        return self.wait(lambda r: r.get("type") == kind, timeout, start)

    def wait_end(self, timeout: float = 15) -> tuple[str, float] | None:
        with self.cv:
            self.cv.wait_for(lambda: self.end is not None, timeout)
            return self.end

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._thread.join(5)

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def assert_framing(stream: Stream) -> None:
    """RecordIO over chunked HTTP as the real master frames it: one record per chunk, length = payload bytes."""
    assert not stream.framing_errors, stream.framing_errors
    chunks = list(stream.chunks)
    records = stream.snapshot()
    assert len(chunks) == len(records), f"{len(chunks)} chunks for {len(records)} records"
    for i, (rec, (_, size, data)) in enumerate(zip(records, chunks)):
        assert rec.chunk == i, f"record {i} completed in chunk {rec.chunk}"
        assert data == str(len(rec.raw)).encode() + b"\n" + rec.raw, f"chunk {i} is not exactly one record"
        assert rec.length == len(rec.raw), f"record {i}: length {rec.length} != {len(rec.raw)} bytes"
        assert size == len(data)


def assert_stream_headers(recorded: Mapping[str, Any], stream: Stream) -> None:
    rec = recorded["response"]
    assert stream.status_line is not None
    assert stream.status_line.strip() == rec["status_line"].strip(), stream.status_line
    assert [k for k, _ in stream.headers] == [k for k, _ in rec["headers"]], (
        f"stream headers {stream.headers} != recorded {rec['headers']}")
    for (name, value), (_, rec_value) in zip(stream.headers, rec["headers"]):
        if name == "Date":
            assert value.endswith(" GMT") and email.utils.parsedate_to_datetime(value) is not None
        elif name == "Mesos-Stream-Id":
            assert re.fullmatch(_UUID, value), value
        else:
            assert value == rec_value, f"{name}: {value!r} != {rec_value!r}"


def update_status(event: Mapping[str, Any]) -> dict[str, Any]:
    return dict(event["update"]["status"])


def signature(event: Mapping[str, Any], literals: Mapping[str, str] | None = None) -> tuple[Any, ...]:
    """What identifies an event regardless of ids and times (used to pair recorded and live events)."""
    kind = event.get("type")
    if kind == "UPDATE":
        st = event["update"]["status"]
        message = Normalizer(literals)(st["message"]) if "message" in st else None
        return ("UPDATE", st["task_id"]["value"], st["state"], st.get("source"), st.get("reason"),
                message, "healthy" in st)
    if kind == "ERROR":
        return ("ERROR", event["error"]["message"])
    return (kind,)


# -- a small scheduler client for the scenario tests (50-67) --------------------------------------------
def command_task(task_id: str, agent_id: str, command: str, cpus: float = 0.1, mem: float = 32) -> dict[str, Any]:
    """A TaskInfo exactly as the recorder built them (``fw.py``: ``task()`` with ``res()``)."""
    return {"name": task_id, "task_id": {"value": task_id}, "agent_id": {"value": agent_id},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
                          {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}],
            "command": {"value": command, "shell": True}}


class Scheduler:
    """One framework on a raw SUBSCRIBE stream, with the recorder's auto-acknowledger (``fw.py``)."""

    def __init__(self, address: str, framework_info: dict[str, Any], framework_id: str | None = None,
                 autoack: bool = True, noack: Iterable[str] = ()) -> None:
        self.address = address
        self.info = dict(framework_info)
        body: dict[str, Any] = {"type": "SUBSCRIBE", "subscribe": {"framework_info": dict(self.info)}}
        if framework_id:
            body["framework_id"] = {"value": framework_id}
            body["subscribe"]["framework_info"]["id"] = {"value": framework_id}
        self.noack = set(noack)
        self.used: set[str] = set()
        self.acks: list[tuple[str, str, int]] = []
        self.errors: list[str] = []
        self.stream = Stream(address, body)
        sub = self.stream.wait_type("SUBSCRIBED", 10)
        self.fid = sub.record["subscribed"]["framework_id"]["value"] if sub else framework_id
        self._stop = threading.Event()
        self._acker: threading.Thread | None = None
        if autoack and sub is not None:
            self._acker = threading.Thread(target=self._ack_loop, name="acknowledger", daemon=True)
            self._acker.start()

    @property
    def sid(self) -> str | None:
        return self.stream.stream_id

    def _ack_loop(self) -> None:
        index = 0
        try:
            while not self._stop.is_set():
                records = self.stream.snapshot()
                while index < len(records) and not self._stop.is_set():
                    ev = records[index].record
                    index += 1
                    if ev.get("type") != "UPDATE":
                        continue
                    st = ev["update"]["status"]
                    if "uuid" in st and st["task_id"]["value"] not in self.noack:
                        resp = self.call({"type": "ACKNOWLEDGE", "framework_id": {"value": self.fid},
                                          "acknowledge": {"agent_id": st["agent_id"], "task_id": st["task_id"],
                                                          "uuid": st["uuid"]}})
                        self.acks.append((st["task_id"]["value"], st["state"], resp.status))
                if self.stream.end is not None:
                    return
                time.sleep(0.02)
        except Exception as exc:  # reported by the tests, never raised in the thread
            self.errors.append(repr(exc))

    def call(self, call: dict[str, Any]) -> Response:
        return scheduler_call(self.address, call, stream_id=self.sid)

    def get_offer(self, agent_id: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rescinded = {e["rescind"]["offer_id"]["value"] for e in self.stream.events() if e["type"] == "RESCIND"}
            for ev in self.stream.events():
                if ev["type"] != "OFFERS":
                    continue
                for offer in ev["offers"]["offers"]:
                    oid = offer["id"]["value"]
                    if oid not in self.used and oid not in rescinded and offer["agent_id"]["value"] == agent_id:
                        return dict(offer)
            time.sleep(0.02)
        raise AssertionError(f"no offer for {agent_id} within {timeout}s")

    def accept(self, offer: dict[str, Any], tasks: list[dict[str, Any]], filters: Any = None) -> Response:
        call: dict[str, Any] = {"type": "ACCEPT", "framework_id": {"value": self.fid},
                                "accept": {"offer_ids": [offer["id"]],
                                           "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}]}}
        if filters is not None:
            call["accept"]["filters"] = filters
        self.used.add(offer["id"]["value"])
        return self.call(call)

    def wait_update(self, task_id: str, state: str | None = None, timeout: float = 15,
                    pred: Callable[[dict[str, Any]], bool] | None = None) -> Record | None:
        return self.stream.wait(lambda r: r.get("type") == "UPDATE"
                                and r["update"]["status"]["task_id"]["value"] == task_id
                                and (state is None or r["update"]["status"]["state"] == state)
                                and (pred is None or pred(r["update"]["status"])), timeout)

    def close(self) -> None:
        """Drops the TCP connection, as the recorder's ``Stream.close``."""
        self._stop.set()
        self.stream.close()
        if self._acker is not None:
            self._acker.join(5)
