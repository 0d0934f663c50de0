"""Principals: who may sign in with which token, holding which grants; and the principals file format.

A token reads ``msp_<id>_<secret>``: ``<id>`` (16 hex digits, not secret) selects the one principal to check,
so a request costs one scrypt however many principals the file holds; ``<secret>`` (43 url-safe characters,
256 bits) is never stored: the file keeps ``scrypt(secret, salt)`` only (``hashlib.scrypt``), compared with
``hmac.compare_digest``. Token bytes and salts are arguments (the shell draws them from ``secrets``).

The file (JSON, written by ``mesospaas auth token``)::

    {"principals": [{"name": "ci", "tokenId": "…", "salt": "<hex>", "hash": "<hex>",
                     "n": 16384, "r": 8, "p": 1, "grants": ["deploy:/team-a/**"]}],
     "quotas": {"/team-a": {"cpus": 8, "mem": 8192, "disk": 0, "instances": 20}}}

Fails: ``PrincipalsFile.parse`` raises ``ValueError`` naming the bad entry; nothing is half-loaded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from mesospaas.tenancy.grants import EVERYTHING, Action, Grant, Role, parse_grant
from mesospaas.tenancy.quota import Quota

TOKEN_PREFIX = "msp_"
SCRYPT_N = 2 ** 14
SCRYPT_R = 8
SCRYPT_P = 1


@dataclass(frozen=True, slots=True)
class TokenHash:
    salt: bytes
    digest: bytes
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P

    @classmethod
    def of(cls, secret: str, salt: bytes, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> TokenHash:
        return cls(salt, _scrypt(secret, salt, n, r, p), n, r, p)

    def verifies(self, secret: str) -> bool:
        return hmac.compare_digest(self.digest, _scrypt(secret, self.salt, self.n, self.r, self.p))


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + 2 ** 20, dklen=32)


def split_token(token: str) -> tuple[str, str] | None:
    """``msp_<id>_<secret>`` -> ``(id, secret)``; None for anything else."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    token_id, sep, secret = token[len(TOKEN_PREFIX):].partition("_")
    if not sep or len(token_id) != 16 or not secret:
        return None
    return token_id, secret


def new_token(id_bytes: bytes, secret_bytes: bytes) -> tuple[str, str, str]:
    """``(token, token id, secret)`` from 8 random bytes of id and 32 of secret."""
    token_id = id_bytes.hex()
    secret = base64.urlsafe_b64encode(secret_bytes).decode().rstrip("=")
    return f"{TOKEN_PREFIX}{token_id}_{secret}", token_id, secret


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    grants: tuple[Grant, ...]
    token_id: str = ""
    token_hash: TokenHash | None = None

    def may(self, action: Action, path: str) -> bool:
        return any(g.allows(action, path) for g in self.grants)

    @property
    def is_admin(self) -> bool:
        """Admin of every id: the cluster-wide operations (leadership, audit log, the root group)."""
        return any(g.role is Role.ADMIN and g.prefix == EVERYTHING for g in self.grants)

    @property
    def sees_everything(self) -> bool:
        return any(g.prefix == EVERYTHING for g in self.grants)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "tokenId": self.token_id}
        if self.token_hash is not None:
            out.update(salt=self.token_hash.salt.hex(), hash=self.token_hash.digest.hex(), n=self.token_hash.n,
                       r=self.token_hash.r, p=self.token_hash.p)
        out["grants"] = [str(g) for g in self.grants]
        return out


def _principal(raw: Any, index: int) -> Principal:
    where = f"principals[{index}]"
    if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise ValueError(f"{where}: needs a non-empty \"name\"")
    try:
        grants = tuple(parse_grant(str(g)) for g in raw.get("grants") or [])
        token_hash = TokenHash(bytes.fromhex(str(raw["salt"])), bytes.fromhex(str(raw["hash"])),
                               int(raw.get("n", SCRYPT_N)), int(raw.get("r", SCRYPT_R)), int(raw.get("p", SCRYPT_P)))
        token_id = str(raw["tokenId"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"{where} ({raw['name']}): {exc}") from None
    return Principal(raw["name"], grants, token_id, token_hash)


@dataclass(frozen=True, slots=True)
class PrincipalsFile:
    principals: tuple[Principal, ...] = ()
    quotas: Mapping[str, Quota] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> PrincipalsFile:
        if not text.strip():
            return cls()
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(raw, Mapping):
            raise ValueError("expected a JSON object with \"principals\"")
        principals = tuple(_principal(p, i) for i, p in enumerate(raw.get("principals") or []))
        names = [p.name for p in principals]
        if len(set(names)) != len(names):
            raise ValueError("a principal name appears twice")
        quotas: dict[str, Quota] = {}
        for prefix, limits in (raw.get("quotas") or {}).items():
            try:
                quotas[str(prefix)] = Quota.from_json(limits)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"quotas[{prefix}]: {exc}") from None
        return cls(principals, quotas)

    def dumps(self) -> str:
        return json.dumps({"principals": [p.to_json() for p in self.principals],
                           "quotas": {k: q.to_json() for k, q in sorted(self.quotas.items())}}, indent=2) + "\n"

    def by_token_id(self) -> dict[str, Principal]:
        return {p.token_id: p for p in self.principals if p.token_id}

    def with_principal(self, principal: Principal) -> PrincipalsFile:
        """Adds ``principal``, replacing one of the same name."""
        kept = tuple(p for p in self.principals if p.name != principal.name)
        return replace(self, principals=(*kept, principal))

    def without(self, names: Iterable[str]) -> tuple[PrincipalsFile, list[str]]:
        """The file without the named principals, and the names that were not there."""
        wanted = set(names)
        missing = sorted(wanted - {p.name for p in self.principals})
        return replace(self, principals=tuple(p for p in self.principals if p.name not in wanted)), missing

    def with_quota(self, prefix: str, quota: Quota | None) -> PrincipalsFile:
        quotas = {k: v for k, v in self.quotas.items() if k != prefix}
        if quota is not None:
            quotas[prefix] = quota
        return replace(self, quotas=quotas)
