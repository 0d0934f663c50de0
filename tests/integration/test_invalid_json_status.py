"""JSON of the wrong type or shape is 422 ``Invalid JSON`` (Marathon 1.5 and later; 1.4 answered 400) on every
Marathon route that takes a definition, and 422 on the Metronome job routes; a body that is not JSON at all
stays 400 on the Marathon routes. Either way nothing changes."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from .test_api_on_localmesos import api

__all__ = ["api"]  # the fixture: the API of a scheduler on a real localmesos cluster

APP = {"id": "/web", "cmd": "sleep 600", "cpus": 0.1, "mem": 32, "instances": 0}
WRONG_TYPES: list[tuple[str, dict[str, Any], str, str]] = [
    ("mem is a string", {"mem": "lots"}, "/mem", "error.expected.jsnumber"),
    ("unknown enum literal", {"killSelection": "RANDOM"}, "/killSelection", "error.unknown.enum.literal"),
    ("env value is an object", {"env": {"A": {"deep": 1}}}, "/env/A", ""),
]


async def invalid_json(resp: Any, path: str, code: str) -> None:
    body = await resp.json()
    assert resp.status == 422, body
    assert body["message"] == "Invalid JSON"
    errors = [e for d in body["details"] if path in d["path"] for e in d["errors"]]
    assert errors and all(e.startswith("error.") for e in errors), body
    assert not code or code in errors, body


async def snapshot(api: TestClient) -> Any:
    return [await (await api.get(path)).json() for path in ("/v2/apps", "/v2/groups", "/v1/jobs")]


@pytest.mark.parametrize(("change", "path", "code"), [case[1:] for case in WRONG_TYPES],
                         ids=[case[0] for case in WRONG_TYPES])
async def test_wrong_json_types_are_422_invalid_json_on_every_app_and_group_route(
        api: TestClient, change: dict[str, Any], path: str, code: str) -> None:
    assert (await api.post("/v2/apps", json=APP)).status == 201
    before = await snapshot(api)
    bad = {**APP, **change}
    await invalid_json(await api.post("/v2/apps", json={**bad, "id": "/other"}), path, code)
    await invalid_json(await api.put("/v2/apps/web", json=change), path, code)
    await invalid_json(await api.put("/v2/apps", json=[bad]), path, code)
    await invalid_json(await api.post("/v2/groups", json={"id": "/shop", "apps": [{**bad, "id": "a"}]}), path, code)
    await invalid_json(await api.put("/v2/groups/shop", json={"apps": [{**bad, "id": "a"}]}), path, code)
    assert await snapshot(api) == before


async def test_wrong_json_types_of_jobs_are_422(api: TestClient) -> None:
    job: dict[str, Any] = {"id": "nightly", "run": {"cmd": "true", "cpus": 0.1, "mem": 32, "disk": 0}}
    assert (await api.post("/v1/jobs", json=job)).status == 201
    before = await snapshot(api)
    for body in ({**job, "id": "other", "run": {**job["run"], "mem": "lots"}},
                 {**job, "id": "other", "run": {**job["run"], "env": {"A": {"deep": 1}}}},
                 {**job, "id": "other", "run": {**job["run"], "restart": {"policy": "SOMETIMES"}}}):
        resp = await api.post("/v1/jobs", json=body)
        assert resp.status == 422, await resp.text()
        resp = await api.put("/v1/jobs/nightly", json={**body, "id": "nightly"})
        assert resp.status == 422, await resp.text()
    assert await snapshot(api) == before


async def test_a_body_that_is_not_json_stays_400(api: TestClient) -> None:
    before = await snapshot(api)
    for method, path in (("POST", "/v2/apps"), ("PUT", "/v2/apps/web"), ("PUT", "/v2/apps"),
                         ("POST", "/v2/groups"), ("PUT", "/v2/groups/shop")):
        resp = await api.request(method, path, data=b'{"id": ', headers={"Content-Type": "application/json"})
        body = await resp.json()
        assert resp.status == 400 and body["message"] == "Invalid JSON", (path, body)
        assert isinstance(body["details"], str) and body["details"], body  # the parser's message
    assert await snapshot(api) == before
