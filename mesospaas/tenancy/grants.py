"""Roles granted on id prefixes, and the one decision "may this principal do this action on this id".

A grant is ``ROLE:PREFIX``: ``deploy:/team-a/**`` covers the group ``/team-a`` and everything under it,
``read:/team-a/web`` covers exactly ``/team-a/web`` (an app or a group id), ``admin:/**`` covers every id.
Roles are ordered: ``admin`` includes ``deploy`` (create, update, scale, restart, kill), which includes
``read``. The cluster-wide operations (leadership, the audit log, the root group) need ``admin`` on ``/**``.

Job ids are dotted (Metronome): the first dotted segment is the tenant, so ``team-a.nightly`` is checked as
the id ``/team-a/nightly``.

Fails: ``parse_grant`` raises ``ValueError`` with a message fit for a command line.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.IntEnum):
    READ = 1
    DEPLOY = 2
    ADMIN = 3


class Action(enum.IntEnum):
    """What a request does; the least role that allows it has the same value."""

    READ = 1
    DEPLOY = 2
    ADMIN = 3


ROOT = "/"
EVERYTHING = "/**"


def normalise_id(path: str) -> str:
    """``team-a/web/`` -> ``/team-a/web``; the root is ``/``."""
    stripped = path.strip("/")
    return "/" + stripped if stripped else ROOT


def prefix_matches(prefix: str, path: str) -> bool:
    """Whether the grant prefix covers the id ``path`` (``/a/**`` covers ``/a`` and ``/a/b``, not ``/ab``)."""
    target = normalise_id(path)
    if prefix.endswith("/**"):
        base = normalise_id(prefix[:-3])
        return base == ROOT or target == base or target.startswith(base + "/")
    return normalise_id(prefix) == target


def overlaps(prefix: str, path: str) -> bool:
    """Whether the grant covers ``path`` or something under it (a group that holds some granted ids)."""
    if prefix_matches(prefix, path):
        return True
    base = normalise_id(prefix[:-3] if prefix.endswith("/**") else prefix)
    target = normalise_id(path)
    return target == ROOT or base.startswith(target + "/")


@dataclass(frozen=True, slots=True)
class Grant:
    role: Role
    prefix: str

    def __str__(self) -> str:
        return f"{self.role.name.lower()}:{self.prefix}"

    def allows(self, action: Action, path: str) -> bool:
        return self.role >= action and prefix_matches(self.prefix, path)


def parse_grant(text: str) -> Grant:
    """``deploy:/team-a/**`` -> ``Grant(Role.DEPLOY, "/team-a/**")``."""
    role_name, sep, prefix = text.partition(":")
    if not sep:
        raise ValueError(f"grant {text!r}: expected ROLE:PREFIX, e.g. deploy:/team-a/**")
    try:
        role = Role[role_name.strip().upper()]
    except KeyError:
        raise ValueError(f"grant {text!r}: the role must be one of admin, deploy, read") from None
    prefix = prefix.strip()
    if not prefix.startswith("/"):
        raise ValueError(f"grant {text!r}: the prefix must be an absolute id such as /team-a/**")
    if "**" in prefix[:-3] or ("*" in prefix and not prefix.endswith("/**")):
        raise ValueError(f"grant {text!r}: only a trailing /** is a wildcard")
    return Grant(role, prefix)


def job_tenant(job_id: str) -> str:
    """The id a job is checked as: ``team-a.nightly`` -> ``/team-a/nightly``."""
    return normalise_id("/".join(job_id.split(".")))


def tenant_of(path: str) -> str:
    """The top-level group of an id: ``/team-a/web`` -> ``/team-a`` (the root for ``/``)."""
    parts = normalise_id(path).strip("/").split("/")
    return "/" + parts[0] if parts[0] else ROOT
