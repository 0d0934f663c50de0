"""What the leader-proxy tests build their instances from: a ``LeaderView`` as plain fields, a platform that must
not be used, and real servers for them (``serve``).

``Leadership`` is the real interface (``api.platform.LeaderView``) with nothing behind it: a test sets the
fields the way the election would. ``ScriptedLeadership`` changes its own fields on the n-th look at
``is_leader``, so "a leader appears while a standby waits" happens at a known step, not after some time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from api.app import ApiConfig, build_api_app
from api.platform import LeaderView
from scheduler.events import EventBus
from scheduler.metrics import Metrics


class Leadership:
    """A ``LeaderView`` made of fields. ``abdicate`` counts its calls, steps down, and (when ``hold`` is given)
    stays inside the call until ``hold`` is set, to show that the answer does not wait for it."""

    def __init__(self, me: str = "", leader: str | None = None, is_leader: bool = False) -> None:
        self.me = me
        self.leader = leader
        self.is_leader = is_leader
        self.abdications = 0
        self.abdicating = asyncio.Event()
        self.abdicated = asyncio.Event()
        self.hold: asyncio.Event | None = None

    async def abdicate(self) -> None:
        self.abdications += 1
        self.abdicating.set()
        if self.hold is not None:
            await self.hold.wait()
        self.is_leader = False
        self.leader = None
        self.abdicated.set()


class ScriptedLeadership(Leadership):
    """Counts the looks at ``is_leader`` (one per decision of the proxy); ``script[n]`` holds the fields that
    change just before the n-th look (1-based)."""

    def __init__(self, me: str = "", leader: str | None = None, is_leader: bool = False,
                 script: dict[int, dict[str, Any]] | None = None) -> None:
        self.looks = 0
        self.script = script or {}
        super().__init__(me, leader, is_leader)

    @property
    def is_leader(self) -> bool:
        self.looks += 1
        for name, value in self.script.get(self.looks, {}).items():
            setattr(self, name, value)
        return self._is_leader

    @is_leader.setter
    def is_leader(self, value: bool) -> None:
        self._is_leader = value


class NoPlatform:
    """The platform of an instance that must answer without one.

    A standby hands every request to the leader before any route runs (``api.leader_proxy``), so it must never
    read its platform: on a real standby the runtime is not running and its state is not the leader's, and an
    answer built from it would be wrong. Every read raises ``AssertionError`` (the API answers it 500 and the
    test fails on the status). The only thing allowed is what ``build_api_app`` does while it is built: it
    hands the platform its plan renderer (``plan_json``), which nothing here reads back.
    """

    def __init__(self, role: str = "standby") -> None:
        object.__setattr__(self, "_role", role)

    def __getattribute__(self, name: str) -> Any:
        role = object.__getattribute__(self, "_role")
        raise AssertionError(f"a {role} must not use the platform (it read .{name})")

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "plan_json":
            role = object.__getattribute__(self, "_role")
            raise AssertionError(f"a {role} must not use the platform (it set .{name})")
        object.__setattr__(self, name, value)


def address(server: TestServer) -> str:
    return f"{server.host}:{server.port}"


@asynccontextmanager
async def serve(app: web.Application, view: Leadership | None = None) -> AsyncIterator[TestServer]:
    """``app`` on a random port of 127.0.0.1; ``view.me`` becomes that address once it is known."""
    server = TestServer(app, host="127.0.0.1")
    async with server:
        if view is not None:
            view.me = address(server)
        yield server


def api_app(view: LeaderView | None, platform: Any = None, **config: Any) -> web.Application:
    """An API instance; without ``platform`` one that must not use it (``NoPlatform``)."""
    chosen: Any = platform if platform is not None else NoPlatform()
    return build_api_app(chosen, EventBus(), ApiConfig(**config), leadership=view, metrics=Metrics(process=False))
