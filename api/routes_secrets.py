"""``/v2/secrets``: write, list and delete secrets; a value is never readable back through the API.

- ``PUT /v2/secrets/{path}`` ``{"value": "..."}``: 201 ``{"path"}`` when new, 200 when replaced.
- ``GET /v2/secrets``: ``{"secrets": [{"path", "updated"}]}``, only paths (filtered to what the caller may
  read, ``api.auth_routes``).
- ``DELETE /v2/secrets/{path}``: 204, or 404.

Paths are ids like app ids (``/team-a/db-password``) and tenant-scoped like apps: writing one needs ``deploy``
on it. The values go to ``scheduler.secrets.SecretStore`` (encrypted in the state store). Without
``--secrets-key-file`` every route answers 404. The request body is never logged or echoed (not even in a 422).
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from api.errors import InvalidDefinition, NotFound, Violation

SECRETS = web.AppKey("secrets", object)
MAX_VALUE_BYTES = 64 * 1024
_SEGMENT = re.compile(r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$")
OFF = "Secrets are off on this instance: start it with --secrets-key-file"


def _store(request: web.Request) -> Any:
    store = request.app.get(SECRETS)
    if store is None:
        raise NotFound(OFF)
    return store


def secret_path(request: web.Request) -> str:
    raw = request.match_info["secret_path"].strip("/")
    segments = raw.split("/")
    if not raw or not all(_SEGMENT.match(s) for s in segments):
        raise InvalidDefinition([Violation("/path", "a secret path is like an app id: lowercase letters, digits, "
                                                    "'-', '.', '_' in segments separated by '/'")])
    return "/" + raw


async def put_secret(request: web.Request) -> web.Response:
    store = _store(request)
    path = secret_path(request)
    try:
        body = json.loads(await request.read() or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidDefinition([Violation("/", "error.expected.jsobject")]) from None
    value = body.get("value") if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise InvalidDefinition([Violation("/value", "error.expected.jsstring")])
    if len(value.encode()) > MAX_VALUE_BYTES:
        raise InvalidDefinition([Violation("/value", f"a secret value may have at most {MAX_VALUE_BYTES} bytes")])
    created = await store.put(path, value)
    return web.json_response({"path": path}, status=201 if created else 200)


async def list_secrets(request: web.Request) -> web.Response:
    store = _store(request)
    return web.json_response({"secrets": store.paths()})


async def delete_secret(request: web.Request) -> web.Response:
    store = _store(request)
    path = secret_path(request)
    if not await store.delete(path):
        raise NotFound(f"Secret '{path}' does not exist")
    return web.Response(status=204)


def register(app: web.Application) -> None:
    app.router.add_get("/v2/secrets", list_secrets)
    app.router.add_put("/v2/secrets/{secret_path:.+}", put_secret)
    app.router.add_delete("/v2/secrets/{secret_path:.+}", delete_secret)


__all__ = ["SECRETS", "register"]
