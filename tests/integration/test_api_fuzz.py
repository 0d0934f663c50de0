"""Fuzzing every operation of ``GET /openapi.json`` with schemathesis, against the real API on a real cluster.

The API is served on a real TCP port (aiohttp's ``TestServer`` on the test's loop) over the scheduler runtime
and a real localmesos cluster. schemathesis loads the document the server publishes and generates requests
for every operation (its Hypothesis strategies, in positive and negative mode, with random path parameters and
with ids of real objects: an app with a running task, a deployment that cannot finish, a group); they are sent
from a worker thread so the loop keeps serving.

What must hold for every response:

- no 5xx (``not_a_server_error``), and nothing logged at ERROR by the API or the scheduler (a crashed runtime
  or a caught bug would otherwise hide behind a 4xx);
- it conforms to the document: a documented status code, the documented content type, a body that validates
  against the response schema.

Generated app bodies are made harmless before they are sent (``map_body``): every ``cmd``/``args``/health-check
command becomes ``sleep``/``true``, custom executors are dropped and ``instances`` is capped at 1, because the
tasks really run on this machine. Everything else the generator produces is sent as it is (resource amounts
too, however large: ``test_huge_resources_do_not_stop_the_scheduler`` pins the overflow fuzzing once found).

Bounded: ``EXAMPLES`` per operation and mode (about 550 requests, 40-45 s), derandomized (the same generated
data every run), no shrinking: every failed check is collected, one example per operation, kind and status,
reported with a curl line; an error logged by the server is reported with the requests sent just before it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.routes_docs import ROUTES, api_document
from tests.localmesos.conftest import ThreadedCluster
from tests.polling import eventually, wait_for


EXAMPLES = {"random": 10, "negative": 8, "known ids": 10}
"""Examples per operation: positive with random path parameters, negative, positive with real ids. Operations
whose body is a group tree get half (generating nested groups of apps is what takes the time)."""
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
REQUEST_TIMEOUT = 10.0


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


def base_url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


# -- the document ---------------------------------------------------------------------------------------------
async def test_the_document_is_served_valid_and_covers_every_route(served: TestServer) -> None:
    async with ClientSession() as http:
        async with http.get(served.make_url("/openapi.json")) as resp:
            assert resp.status == 200 and resp.content_type == "application/json"
            doc = await resp.json()
        async with http.get(served.make_url("/openapi")) as resp:
            assert resp.status == 200 and resp.content_type == "text/html"
            page = await resp.text()
    assert doc == api_document(doc["info"]["version"])
    schemathesis.openapi.from_dict(doc).validate()  # the OpenAPI 3.0 meta-schema, as bundled with schemathesis
    assert doc["openapi"].startswith("3.0.")
    assert page.startswith("<!DOCTYPE html>") and "/v2/apps/{app_id}/tasks/{task_id}" in page

    documented = {(method.upper(), path) for path, operations in doc["paths"].items() for method in operations}
    assert len(documented) == len(ROUTES)
    for route in served.app.router.routes():
        if route.method == "HEAD":
            continue
        path = re.sub(r"\{(\w+)(:[^{}]*)?\}", r"{\1}", route.resource.canonical if route.resource else "")
        path = path.rstrip("/") or "/"
        # A handler may take a path tail ({app_id:.+}) and dispatch on it (and on the method, for "*"):
        # documented as the operations below its path.
        assert any(route.method in ("*", m) and (p == path or p.startswith(path + "/"))
                   for m, p in documented), (route.method, path)


# -- fuzzing --------------------------------------------------------------------------------------------------
SAFE_CMD = "sleep 600"


def harmless(body: Any) -> Any:
    """An app or group body (or a list of them) with nothing in it that would run arbitrary commands."""
    if isinstance(body, list):
        return [harmless(item) for item in body]
    if not isinstance(body, dict):
        return body
    out = dict(body)
    if isinstance(out.get("cmd"), str):
        out["cmd"] = SAFE_CMD
    if isinstance(out.get("args"), list):
        out["args"] = ["sleep", "600"]
    if isinstance(out.get("executor"), str) and out["executor"] not in ("", "//cmd"):
        out["executor"] = "//cmd"
    if isinstance(out.get("instances"), int) and not isinstance(out["instances"], bool) and out["instances"] > 1:
        out["instances"] = 1
    if isinstance(out.get("healthChecks"), list):
        out["healthChecks"] = [{**check, "command": {"value": "true"}}
                               if isinstance(check, dict) and "command" in check else check
                               for check in out["healthChecks"]]
    for nested in ("apps", "groups"):
        if isinstance(out.get(nested), list):
            out[nested] = harmless(out[nested])
    return out


@dataclass
class Findings:
    """Failed checks, one example per (operation, kind of failure, status)."""

    examples: dict[tuple[str, str, int], str] = field(default_factory=dict)
    counts: dict[tuple[str, str, int], int] = field(default_factory=dict)
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    sent: list[tuple[float, str, int]] = field(default_factory=list)
    """(time, curl line, status) of every request, to find what preceded a logged error."""
    ungenerated: list[str] = field(default_factory=list)
    """(operation, mode) pairs schemathesis cannot generate data for (e.g. negative data for string-only input)."""

    def add(self, label: str, kind: str, status: int, example: str) -> None:
        key = (label, kind, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        self.examples.setdefault(key, example)

    def report(self) -> str:
        lines = []
        for key, example in sorted(self.examples.items()):
            lines.append(f"{key[0]} -> {key[2]}: {key[1]} (x{self.counts[key]})\n{example}")
        return "\n\n".join(lines)


def describe(case: Any, response: requests.Response, group: FailureGroup | None) -> str:
    curl = case.as_curl_command()
    text = response.text if len(response.text) < 600 else response.text[:600] + "..."
    messages = "" if group is None else "\n".join(f"  - {f.title}: {f.message[:400]}" for f in group.exceptions)
    return f"  {curl}\n  response {response.status_code}: {text}\n{messages}"


def fuzz(operation: Any, strategy: Any, examples: int, url: str, http: requests.Session, findings: Findings) -> None:
    """Sends ``examples`` generated requests of one operation; records failed checks instead of stopping."""

    @hypothesis.settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                         phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @hypothesis.given(case=strategy)
    def run(case: Any) -> None:
        try:
            response = case.call(base_url=url, session=http, timeout=REQUEST_TIMEOUT)
        except requests.RequestException as exc:
            findings.add(operation.label, f"no response: {type(exc).__name__}", 0, f"  {case.as_curl_command()}")
            return
        findings.requests += 1
        findings.sent.append((time.time(), case.as_curl_command(), response.status_code))
        findings.statuses[response.status_code] = findings.statuses.get(response.status_code, 0) + 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            for failure in group.exceptions:
                findings.add(operation.label, failure.title, response.status_code, describe(case, response, group))

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        findings.ungenerated.append(operation.label)


@dataclass(frozen=True)
class KnownIds:
    app_id: str
    task_id: str
    version: str
    deployment_id: str
    group_id: str

    def for_operation(self, operation: Any) -> dict[str, str]:
        values = {"app_id": self.app_id, "task_id": self.task_id, "version": self.version,
                  "deployment_id": self.deployment_id, "group_id": self.group_id}
        return {p.name: values[p.name] for p in operation.path_parameters if p.name in values}


def seed(url: str, http: requests.Session) -> KnownIds:
    """Real objects for the known-id examples: an app with a running task, a stuck deployment, a group."""
    def post(path: str, body: dict[str, Any]) -> None:
        response = http.post(url + path, json=body, timeout=REQUEST_TIMEOUT)
        assert response.status_code == 201, response.text

    post("/v2/apps", {"id": "/fuzz/seed", "cmd": SAFE_CMD, "cpus": 0.1, "mem": 32, "instances": 1})
    post("/v2/apps", {"id": "/stuck", "cmd": SAFE_CMD, "cpus": 64, "mem": 32, "instances": 1})  # no agent fits
    app = wait_for(lambda: (a := http.get(url + "/v2/apps/fuzz/seed", timeout=REQUEST_TIMEOUT).json()["app"])
                     ["tasksRunning"] == 1 and a)
    deployments = http.get(url + "/v2/deployments", timeout=REQUEST_TIMEOUT).json()
    stuck = next(d["id"] for d in deployments if d["affectedApps"] == ["/stuck"])
    return KnownIds(app_id="fuzz/seed", task_id=app["tasks"][0]["id"], version=app["version"],
                    deployment_id=stuck, group_id="fuzz")


_METHOD_ORDER = {"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}


def ordered(operations: list[Any]) -> list[Any]:
    """Reads first, deletes last (and the deletes of tasks before those of apps and groups)."""
    return sorted(operations, key=lambda op: (_METHOD_ORDER.get(op.method.upper(), 5),
                                              -op.path.count("/"), op.path))


SHARDS = 8
"""The operations are fuzzed in this many tests, each on a cluster of its own (xdist runs them side by side, and
none comes near the timeout on a loaded machine: with four, one shard failed a run beside 4 CPU burners, so the
work is cut finer); together they send every operation every example."""


def shard_of(operations: list[Any], shard: int) -> list[Any]:
    """Every ``SHARDS``-th operation of the ordered list, from ``shard``: reads still first, deletes last."""
    return operations[shard::SHARDS]


def run_fuzz(url: str, http: requests.Session, shard: int) -> Findings:
    schema = schemathesis.openapi.from_url(url + "/openapi.json", timeout=REQUEST_TIMEOUT)
    schema.validate()

    @schema.hook
    def map_body(context: Any, body: Any) -> Any:
        return harmless(body)

    @schema.hook
    def map_query(context: Any, query: Any) -> Any:
        # ``follow=true`` on a task's logs is a stream that ends only with the task (the seeded one runs on):
        # no single request/response check can judge it. The logs tests follow real streams to their end.
        if isinstance(query, dict) and "follow" in query and context.operation.path.endswith("/logs"):
            query = {**query, "follow": "false"}
        return query

    known = seed(url, http)
    findings = Findings()
    operations = shard_of(ordered([result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]),
                          shard)
    for operation in operations:
        strategies: dict[str, Any] = {"random": operation.as_strategy(GenerationMode.POSITIVE)}
        if operation.path_parameters or operation.query or operation.body:
            strategies["negative"] = operation.as_strategy(GenerationMode.NEGATIVE)
        if operation.path_parameters:
            strategies["known ids"] = operation.as_strategy(GenerationMode.POSITIVE,
                                                            path_parameters=known.for_operation(operation))
        group_tree = operation.path.startswith("/v2/groups") and operation.method.upper() in ("POST", "PUT")
        for name, strategy in strategies.items():
            before = len(findings.ungenerated)
            fuzz(operation, strategy, EXAMPLES[name] // 2 if group_tree else EXAMPLES[name], url, http, findings)
            if len(findings.ungenerated) > before:
                findings.ungenerated[-1] += f" ({name})"
    return findings


def test_the_shards_together_are_every_operation_once() -> None:
    operations = list(range(23))
    shards = [shard_of(operations, n) for n in range(SHARDS)]
    assert sorted(op for part in shards for op in part) == operations
    assert all(part == sorted(part) for part in shards)  # each keeps the reads-first, deletes-last order


@pytest.mark.slow
@pytest.mark.timeout(900)  # a deadline for a broken build (a hung request), not a duration check
@pytest.mark.parametrize("shard", range(SHARDS))
async def test_every_operation_of_the_document(served: TestServer, session: requests.Session,
                                               caplog: pytest.LogCaptureFixture, shard: int) -> None:
    caplog.set_level(logging.ERROR)
    started = time.monotonic()
    findings = await asyncio.to_thread(run_fuzz, base_url(served), session, shard)
    elapsed = time.monotonic() - started
    errors = []
    for record in caplog.records:
        if record.levelno < logging.ERROR:
            continue
        before = [f"    {status} <- {curl}" for at, curl, status in findings.sent if at <= record.created][-6:]
        errors.append(f"{record.name}: {record.getMessage()}\n{record.exc_text or ''}\n  the last requests before it:\n"
                      + "\n".join(before))
        if len(errors) >= 3:
            break
    summary = (f"{findings.requests} requests in {elapsed:.1f}s, statuses {dict(sorted(findings.statuses.items()))}; "
               f"no data could be generated for: {findings.ungenerated}")
    print(summary)
    assert not findings.examples and not errors, (
        f"{summary}\n\nFAILED CHECKS\n{findings.report()}\n\nLOGGED ERRORS\n" + "\n".join(errors))
    assert findings.requests >= 300 // SHARDS, summary  # every operation of the shard was reached


# -- what fuzzing found, kept as regression tests ---------------------------------------------------------
@pytest.mark.parametrize("huge", [{"cpus": 1e306}, {"cpus": 1.7e308, "mem": 1.7e308, "disk": 1.7e308}],
                         ids=["cpus-1e306", "all-near-max-float"])
async def test_huge_resources_do_not_stop_the_scheduler(served: TestServer, mesos: ThreadedCluster,
                                                        huge: dict[str, float]) -> None:
    """Absurd amounts once overflowed placement's arithmetic and stopped the runtime. Marathon accepts any
    non-negative amount: the app is created, waits in the queue for ever (no agent has that much), and the
    scheduler goes on launching everything else."""
    async with ClientSession() as http:
        async def get(path: str) -> Any:
            async with http.get(served.make_url(path)) as resp:
                assert resp.status == 200, (path, resp.status, await resp.text())
                return json.loads(await resp.text(), parse_constant=not_json)  # no Infinity / NaN in a body

        body = {"id": "/big", "cmd": SAFE_CMD, "cpus": 0.1, "mem": 32, "instances": 3, **huge}
        async with http.post(served.make_url("/v2/apps"), json=body) as resp:
            assert resp.status == 201, await resp.text()
            created = await resp.json()
        assert {key: created[key] for key in huge} == huge  # kept exactly, not clamped

        async def big_queued() -> Any:
            queue = await get("/v2/queue")
            return [(e["app"]["id"], e["count"]) for e in queue["queue"]] == [("/big", 3)] and queue

        queue = await eventually(big_queued, what="/big waiting in the queue")
        assert queue["queue"][0]["delay"]["overdue"] is True  # waiting for an offer, not backed off
        # The scheduler still launches: a new app's task reaches TASK_RUNNING in the Mesos master.
        async with http.post(served.make_url("/v2/apps"),
                             json={"id": "/small", "cmd": SAFE_CMD, "cpus": 0.1, "mem": 32, "instances": 1}) as resp:
            assert resp.status == 201, await resp.text()

        async def small_running() -> list[dict[str, Any]] | None:
            tasks = await asyncio.to_thread(master_tasks, mesos)
            running = [t for t in tasks if t["id"].startswith("small.") and t["state"] == "TASK_RUNNING"]
            return tasks if running else None

        tasks = await eventually(small_running, what="/small's task running in Mesos")
        assert not [t for t in tasks if t["id"].startswith("big.")]  # never placed
        assert (await get("/v2/apps/big"))["app"]["tasksRunning"] == 0
        async with http.delete(served.make_url("/v2/apps/big")) as resp:
            assert resp.status == 200, await resp.text()

        async def only_small_left() -> bool:
            return [a["id"] for a in (await get("/v2/apps"))["apps"]] == ["/small"]

        await eventually(only_small_left, what="/big deleted")


def not_json(constant: str) -> Any:
    raise AssertionError(f"{constant} is not JSON")


def master_tasks(mesos: ThreadedCluster) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{mesos.url}/master/state", timeout=10) as resp:
        state = json.loads(resp.read())
    return [t for f in state["frameworks"] for t in f["tasks"]]
