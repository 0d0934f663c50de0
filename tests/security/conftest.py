"""Fixtures for the security tests: a principals file made with ``mesospaas auth token``, and the API with
authentication on over a real scheduler runtime on a real localmesos cluster (``tests/integration``'s fixtures).

Principals: ``admin`` (admin:/**), ``reader-a`` (read:/team-a/**), ``deployer-a`` (deploy:/team-a/**),
``reader-b`` and ``deployer-b`` likewise for ``/team-b``; plus the Basic user ``ops:ops-pass``
(``--http-credentials``). Every fixture stops what it started.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from api.app import ApiConfig, build_api_app
from api.auth import AuthConfig
from scheduler.cli import main
from scheduler.secrets import SecretStore, load_key
from tests.integration.conftest import RuntimeHandle, mesos, scheduler  # noqa: F401 (fixtures)

GRANTS = {"admin": ["admin:/**"], "reader-a": ["read:/team-a/**"], "deployer-a": ["deploy:/team-a/**"],
          "reader-b": ["read:/team-b/**"], "deployer-b": ["deploy:/team-b/**"]}
BASIC = ("ops", "ops-pass")


def make_token(auth_file: Path, name: str, grants: list[str]) -> str:
    """``mesospaas auth token``: the token it prints once."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["auth", "token", "--file", str(auth_file), "--name", name,
                     *(a for g in grants for a in ("--grant", g))]) == 0
    line = out.getvalue().strip()
    assert line.startswith("Authorization: Bearer "), line
    return line[len("Authorization: Bearer "):]


@pytest.fixture
def principals(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    auth_file = tmp_path / "principals.json"
    return auth_file, {name: make_token(auth_file, name, grants) for name, grants in GRANTS.items()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@dataclass
class Secured:
    """The API with authentication on, and a client that remembers every body it received."""

    server: TestServer
    handle: RuntimeHandle
    tokens: dict[str, str]
    auth_file: Path
    audit_log: Path
    session: aiohttp.ClientSession
    bodies: list[bytes] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.server.make_url(""))

    @property
    def runtime(self) -> Any:
        return self.handle.runtime

    def who(self, name: str | None) -> dict[str, str]:
        if name is None:
            return {}
        if name == "ops":
            return basic(*BASIC)
        return bearer(self.tokens[name])

    async def call(self, method: str, path: str, who: str | None = "admin", body: Any = None,
                   headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
        """``(status, body (JSON or text), headers)``; every body is kept in ``bodies``."""
        data = json.dumps(body).encode() if body is not None else None
        async with self.session.request(method, self.url.rstrip("/") + path, data=data, allow_redirects=False,
                                        headers={**self.who(who), "Content-Type": "application/json",
                                                 **(headers or {})}) as response:
            raw = await response.read()
            self.bodies.append(raw)
            try:
                payload: Any = json.loads(raw) if raw else None
            except ValueError:
                payload = raw.decode(errors="replace")
            return response.status, payload, response.headers


@pytest.fixture
async def secured(scheduler: RuntimeHandle, principals: tuple[Path, dict[str, str]],  # noqa: F811
                  tmp_path: Path) -> AsyncIterator[Secured]:
    auth_file, tokens = principals
    runtime = await scheduler.start()
    key_file = tmp_path / "secrets.key"
    key_file.write_bytes(os.urandom(32))
    secrets = SecretStore(lambda: runtime.store, load_key(key_file))
    runtime.secrets = secrets
    audit_log = tmp_path / "audit.jsonl"
    security = AuthConfig(credentials=BASIC, auth_file=auth_file, audit_log=audit_log, secrets=secrets)
    app = build_api_app(runtime, runtime.events, ApiConfig(master=scheduler.mesos.address), security=security)
    server = TestServer(app, host="127.0.0.1")
    async with server, aiohttp.ClientSession() as session:
        yield Secured(server, scheduler, tokens, auth_file, audit_log, session)
