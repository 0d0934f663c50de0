"""Fuzzing every jobs operation of ``GET /openapi.json`` (``/v1/...``, ``/v0/scheduled-jobs``) with schemathesis,
against the real API on a real localmesos cluster, as ``test_api_fuzz.py`` does for the app API (its
machinery is reused: the same checks, bounded and derandomized examples, collected findings).

What must hold for every response: no 5xx, nothing logged at ERROR, and conformance to the document (status
code, content type, body schema). Generated job bodies are made harmless before they are sent: ``cmd``
becomes ``true`` and ``args`` ``["true"]``, since the tasks really run here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp.test_utils import TestServer
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode

from tests.integration.test_api_fuzz import REQUEST_TIMEOUT, Findings, base_url, fuzz, ordered, session  # noqa: F401
from tests.polling import wait_for

EXAMPLES = {"random": 12, "negative": 8, "known ids": 12}


def harmless_job(body: Any) -> Any:
    if not isinstance(body, dict):
        return body
    out = dict(body)
    run = out.get("run")
    if isinstance(run, dict):
        run = dict(run)
        if isinstance(run.get("cmd"), str):
            run["cmd"] = "true"
        if isinstance(run.get("args"), list):
            run["args"] = ["true"]
        out["run"] = run
    return out


def seed(url: str, http: requests.Session) -> dict[str, str]:
    """A job with an active run and a schedule, for the known-id examples."""
    body = {"id": "fuzz.seed", "run": {"cmd": "sleep 600", "cpus": 0.1, "mem": 32, "disk": 0},
            "schedules": [{"id": "daily", "cron": "0 3 * * *", "timezone": "Europe/Berlin"}]}
    response = http.post(url + "/v1/jobs", json=body, timeout=REQUEST_TIMEOUT)
    assert response.status_code == 201, response.text
    run = http.post(url + "/v1/jobs/fuzz.seed/runs", timeout=REQUEST_TIMEOUT).json()
    wait_for(lambda: http.get(url + f"/v1/jobs/fuzz.seed/runs/{run['id']}",
                              timeout=REQUEST_TIMEOUT).json()["status"] == "ACTIVE")
    return {"job_id": "fuzz.seed", "run_id": run["id"], "schedule_id": "daily", "name": "stdout"}


def run_fuzz(url: str, http: requests.Session) -> Findings:
    schema = schemathesis.openapi.from_url(url + "/openapi.json", timeout=REQUEST_TIMEOUT)

    @schema.hook
    def map_body(context: Any, body: Any) -> Any:
        return harmless_job(body)

    known = seed(url, http)
    findings = Findings()
    operations = ordered([r.ok() for r in schema.get_all_operations() if isinstance(r, Ok)
                          and r.ok().path.startswith(("/v1/", "/v0/"))])
    assert len(operations) >= 18
    for operation in operations:
        strategies: dict[str, Any] = {"random": operation.as_strategy(GenerationMode.POSITIVE)}
        if operation.path_parameters or operation.query or operation.body:
            strategies["negative"] = operation.as_strategy(GenerationMode.NEGATIVE)
        if operation.path_parameters:
            ids = {p.name: known[p.name] for p in operation.path_parameters if p.name in known}
            strategies["known ids"] = operation.as_strategy(GenerationMode.POSITIVE, path_parameters=ids)
        for name, strategy in strategies.items():
            fuzz(operation, strategy, EXAMPLES[name], url, http, findings)
    return findings


@pytest.mark.slow
async def test_every_jobs_operation_of_the_document(served: TestServer, session: requests.Session,  # noqa: F811
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    started = time.monotonic()
    findings = await asyncio.to_thread(run_fuzz, base_url(served), session)
    errors = [f"{r.name}: {r.getMessage()}\n{r.exc_text or ''}" for r in caplog.records if r.levelno >= logging.ERROR]
    summary = (f"{findings.requests} requests in {time.monotonic() - started:.1f}s, "
               f"statuses {dict(sorted(findings.statuses.items()))}; ungenerated: {findings.ungenerated}")
    print(summary)
    assert not findings.examples and not errors, f"{summary}\n\n{findings.report()}\n\n" + "\n".join(errors[:3])
    assert findings.requests >= 200, summary
