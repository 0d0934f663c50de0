"""The UI's files: served from the package at ``/ui``, shipped as package data, self-contained (nothing fetched
from elsewhere: the machines running it may have no internet) and live without a polling loop."""

from __future__ import annotations

import configparser
import fnmatch
import re
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from api.routes_ui import UI_FILES

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "api" / "ui"


async def test_the_files_are_served_with_their_types(served: TestServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(served.make_url("/ui"), allow_redirects=False) as resp:
            assert resp.status == 302 and resp.headers["Location"] == "/ui/"
        async with http.get(served.make_url("/ui/")) as resp:
            assert resp.status == 200 and resp.content_type == "text/html"
            assert (await resp.read()) == (UI / "index.html").read_bytes()
        for name, content_type in UI_FILES.items():
            async with http.get(served.make_url(f"/ui/{name}")) as resp:
                assert resp.status == 200 and resp.content_type == content_type, name
                assert (await resp.read()) == (UI / name).read_bytes()
        for missing in ("/ui/secret.txt", "/ui/..%2Fapp.py", "/ui/%2E%2E%2Fapp.py"):
            async with http.get(served.make_url(missing)) as resp:
                assert resp.status == 404, missing
                assert "message" in await resp.json()


async def test_the_cluster_route_lists_the_agents_with_free_resources(served: TestServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(served.make_url("/ui/api/cluster")) as resp:
            assert resp.status == 200
            body = await resp.json()
    assert body["error"] is None and len(body["agents"]) == 3
    for agent in body["agents"]:
        assert agent["resources"]["cpus"] == 4 and 0 <= agent["free"]["cpus"] <= 4
        assert set(agent["attributes"]) == {"rack", "zone"}


def test_nothing_is_fetched_from_elsewhere_and_nothing_polls() -> None:
    for name in UI_FILES:
        text = (UI / name).read_text()
        assert not re.search(r"https?://|src=\"//|href=\"//|@import", text), name
    script = (UI / "app.js").read_text()
    assert "setInterval" not in script
    assert "new EventSource(" in script


def test_the_files_are_package_data() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    patterns = [p.strip() for p in config["options.package_data"]["api"].split(",")]
    for name in UI_FILES:
        assert any(fnmatch.fnmatch(f"ui/{name}", pattern) for pattern in patterns), name
    assert sorted(p.name for p in UI.iterdir()) == sorted(UI_FILES)
