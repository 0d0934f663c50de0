"""Secrets: values stored encrypted in the state store, handed to Mesos only as SECRET environment variables.

Owns ``SecretStore``: ``put(path, value)``, ``delete(path)``, ``paths()`` (never the values) and
``environment(app_id, definition)``, which resolves an app's ``env`` references
(``"env": {"DB_PASSWORD": {"secret": "db"}}``, ``"secrets": {"db": {"source": "/team-a/db-password"}}``, as
Marathon has them) for ``scheduler.mesos_adapter``, which sends them as ``{"type": "SECRET", "secret":
{"type": "VALUE", "value": {"data": base64}}}``: the master never shows them (transcript 92).

Storage: namespace ``secrets`` of the ``Store`` (either backend), one key per path (percent-encoded), the value
``{"path", "nonce", "ciphertext", "updated"}`` with the ciphertext AES-256-GCM under a key derived from
``--secrets-key-file`` (SHA-256 of the file's bytes; at least 32 of them), the path as associated data (a
ciphertext moved to another path does not decrypt). The ciphertexts are cached per store object, so a new
leader's store is read afresh; plain values live only for the launch that needs them.

An app may only use secrets of its own tenant (the top-level group of its id): ``environment`` raises
``SecretError`` otherwise, and for a secret that does not exist; the launch of that task is refused and
logged (without the value). Fails: ``SecretError`` (bad key file, unknown or foreign secret, undecryptable
value); store errors propagate as ``StoreError``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from mesospaas.tenancy.grants import normalise_id, tenant_of
from scheduler.store import Delete, Put, Store

NAMESPACE = "secrets"
MIN_KEY_BYTES = 32


class SecretError(Exception):
    """A secret cannot be stored or resolved; the message never holds a value."""


def load_key(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SecretError(f"--secrets-key-file {path}: {exc.strerror or exc}") from None
    if raw.isascii() and raw.strip().decode().isprintable():  # a text key (base64, hex): its line end is not key
        raw = raw.strip()
    if len(raw) < MIN_KEY_BYTES:
        raise SecretError(f"--secrets-key-file {path}: needs at least {MIN_KEY_BYTES} bytes "
                          "(e.g. head -c 32 /dev/urandom > FILE)")
    return hashlib.sha256(raw).digest()


def secret_references(definition: Mapping[str, Any]) -> dict[str, str]:
    """``{ENV_NAME: source path}`` of an app definition's secret env entries."""
    secrets = definition.get("secrets") or {}
    out: dict[str, str] = {}
    for name, value in (definition.get("env") or {}).items():
        if isinstance(value, Mapping) and "secret" in value:
            source = (secrets.get(value["secret"]) or {}).get("source")
            if isinstance(source, str):
                out[str(name)] = normalise_id(source)
    return out


class SecretStore:
    def __init__(self, store_of: Callable[[], Store], key: bytes, clock: Callable[[], float] = time.time) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # only where secrets are used

        self._store_of = store_of
        self._aead = AESGCM(key)
        self.clock = clock
        self._cached_for: Store | None = None
        self._cache: dict[str, bytes] = {}

    def _records(self) -> dict[str, bytes]:
        store = self._store_of()
        if store is not self._cached_for:
            self._cache = dict(store.load(NAMESPACE))
            self._cached_for = store
        return self._cache

    @staticmethod
    def key_of(path: str) -> str:
        return quote(normalise_id(path), safe="")

    def _seal(self, path: str, value: str) -> bytes:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, value.encode(), path.encode())
        return json.dumps({"path": path, "nonce": base64.b64encode(nonce).decode(),
                           "ciphertext": base64.b64encode(sealed).decode(), "updated": self.clock()}).encode()

    def _open(self, path: str, raw: bytes) -> str:
        from cryptography.exceptions import InvalidTag

        try:
            record = json.loads(raw)
            return self._aead.decrypt(base64.b64decode(record["nonce"]), base64.b64decode(record["ciphertext"]),
                                      path.encode()).decode()
        except (InvalidTag, ValueError, KeyError, TypeError):
            raise SecretError(f"secret {path} cannot be decrypted (another --secrets-key-file?)") from None

    def put_now(self, path: str, value: str) -> bool:
        """Stores ``value`` at ``path``; True when the path is new. Blocks (the store is called)."""
        target = normalise_id(path)
        records = self._records()
        key = self.key_of(target)
        sealed = self._seal(target, value)
        self._store_of().commit([Put(NAMESPACE, key, sealed)])
        created = key not in records
        records[key] = sealed
        return created

    def delete_now(self, path: str) -> bool:
        records = self._records()
        key = self.key_of(path)
        if key not in records:
            return False
        self._store_of().commit([Delete(NAMESPACE, key)])
        del records[key]
        return True

    async def put(self, path: str, value: str) -> bool:
        return await asyncio.to_thread(self.put_now, path, value)

    async def delete(self, path: str) -> bool:
        return await asyncio.to_thread(self.delete_now, path)

    def paths(self) -> list[dict[str, Any]]:
        """Every secret's path and when it was last written (never a value)."""
        out = []
        for raw in self._records().values():
            record = json.loads(raw)
            out.append({"path": record["path"], "updated": record.get("updated")})
        return sorted(out, key=lambda r: str(r["path"]))

    def value(self, path: str) -> str:
        target = normalise_id(path)
        raw = self._records().get(self.key_of(target))
        if raw is None:
            raise SecretError(f"secret {target} does not exist")
        return self._open(target, raw)

    def environment(self, app_id: str, definition: Mapping[str, Any] | None) -> dict[str, str]:
        """The plain values of the app's SECRET env entries (for the launch only)."""
        if not definition:
            return {}
        out: dict[str, str] = {}
        for name, source in secret_references(definition).items():
            if tenant_of(app_id) != "/" and tenant_of(source) != tenant_of(app_id):
                raise SecretError(f"{app_id}: secret {source} belongs to another tenant than the app")
            out[name] = self.value(source)
        return out


class SecretSource(Protocol):
    """What the runtime needs at launch (``SecretStore`` or ``NoSecrets``)."""

    def environment(self, app_id: str, definition: Mapping[str, Any] | None) -> dict[str, str]: ...


class NoSecrets:
    """Without ``--secrets-key-file``: an app that references a secret cannot be launched."""

    def environment(self, app_id: str, definition: Mapping[str, Any] | None) -> dict[str, str]:
        if definition and secret_references(definition):
            raise SecretError(f"{app_id}: uses secrets, but no --secrets-key-file was given")
        return {}


def decoded_definition(raw: bytes | None) -> dict[str, Any] | None:
    """A stored definition as a dict; None when it holds no secret reference (the common case, not parsed)."""
    if raw is None or b'"secret"' not in raw:
        return None
    try:
        found = json.loads(raw)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


__all__ = ["NAMESPACE", "NoSecrets", "SecretError", "SecretSource", "SecretStore", "decoded_definition", "load_key",
           "secret_references"]
