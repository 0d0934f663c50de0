"""The Marathon v2 API as the lb uses it: several URLs, failover, the apps list and the event stream.

Owns: ``ApiClient``. Requests go to the URL that last worked; on a connection error, a timeout or a 5xx
the next URL is tried, so the lb follows the leader across a failover (a standby either proxies to the
leader or answers the event stream with a 302 to it, which is followed). Raises ``ApiUnavailable`` when no
URL answers.

The event stream yields parsed events; it raises ``StreamSilent`` after ``silence`` seconds without a byte
(mesospaas sends a keep-alive every 10 s), so a silently dead connection is noticed (marathon-lb 238, 32).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp

log = logging.getLogger("mesospaas.lb")

EVENT_TYPES = ("api_post_event", "health_status_changed_event", "status_update_event",
               "deployment_step_success", "deployment_success", "app_terminated_event")
HEADERS = {"Accept": "application/json", "Content-Type": "application/json", "User-Agent": "mesospaas-lb"}


class ApiUnavailable(RuntimeError):
    pass


class StreamSilent(RuntimeError):
    pass


class ApiClient:
    def __init__(self, urls: Sequence[str], session: aiohttp.ClientSession, *, timeout: float = 46.0) -> None:
        if not urls:
            raise ValueError("at least one --api URL is needed")
        self.urls = [u.rstrip("/") for u in urls]
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=3.05)
        self.current = 0

    @property
    def url(self) -> str:
        return self.urls[self.current]

    async def request(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        """JSON of ``method path`` from the first URL that answers (starting at the one that last worked)."""
        errors: list[str] = []
        for step in range(len(self.urls)):
            index = (self.current + step) % len(self.urls)
            url = self.urls[index] + path
            try:
                async with self.session.request(method, url, json=body, params=params or None, headers=HEADERS,
                                                timeout=self.timeout) as response:
                    if response.status >= 500:
                        errors.append(f"{url}: HTTP {response.status}")
                        continue
                    payload = await response.json(content_type=None)
                    self.current = index
                    if response.status >= 400:
                        raise ApiError(response.status, payload)
                    return payload
            except (aiohttp.ClientError, asyncio.TimeoutError, json.JSONDecodeError) as exc:
                errors.append(f"{url}: {exc!r}")
        raise ApiUnavailable("; ".join(errors))

    async def apps(self) -> dict[str, Any]:
        body: dict[str, Any] = await self.request("GET", "/v2/apps", embed="apps.tasks")
        return body

    async def events(self, silence: float) -> AsyncIterator[dict[str, Any]]:
        """Events from the current URL (moving on to the next on failure at connect time)."""
        params = [("event_type", t) for t in EVENT_TYPES] + [("plan-format", "light")]
        last: Exception | None = None
        for step in range(len(self.urls)):
            index = (self.current + step) % len(self.urls)
            try:
                response = await self.session.get(
                    self.urls[index] + "/v2/events", params=params, max_redirects=1,
                    headers={"Accept": "text/event-stream", "User-Agent": "mesospaas-lb"},
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=3.05))
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                last = exc
                continue
            if response.status != 200:
                response.release()
                last = ApiUnavailable(f"event stream answered HTTP {response.status}")
                continue
            self.current = index
            try:
                async for event in _parse_stream(response, silence):
                    yield event
            finally:
                response.release()
            return
        raise ApiUnavailable(f"no event stream: {last!r}")


class ApiError(RuntimeError):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


async def _parse_stream(response: aiohttp.ClientResponse, silence: float) -> AsyncIterator[dict[str, Any]]:
    buffer = b""
    while True:
        try:
            chunk = await asyncio.wait_for(response.content.readany(), timeout=silence)
        except asyncio.TimeoutError:
            raise StreamSilent(f"no data for {silence} s") from None
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            text = line.rstrip(b"\r").decode("utf-8", "replace")
            if text.startswith("data:"):
                try:
                    event = json.loads(text[5:].strip())
                except json.JSONDecodeError:
                    log.warning("unreadable event: %.200s", text)
                    continue
                if isinstance(event, dict):
                    yield event
