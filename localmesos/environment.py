"""Environment variables of a CommandInfo as a Mesos agent resolves them for the process it starts.

Owns ``resolve_variables``: a ``VALUE`` variable gives its ``value``; a ``SECRET`` variable whose secret is
of type ``VALUE`` gives its decoded ``value.data`` (what Mesos' default secret resolver does: the secret
reaches the process's environment, never the master's or agent's state endpoints as a plain value). A
``REFERENCE`` secret needs a secret-resolver module the agent does not have: it is left out and logged, as
the agent's launch would fail it.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger(__name__)


def resolve_variables(environment: Mapping[str, Any] | None) -> dict[str, str]:
    """``{name: value}`` for the variables of an ``Environment`` message (JSON form)."""
    out: dict[str, str] = {}
    for variable in (environment or {}).get("variables") or []:
        if not isinstance(variable, Mapping) or not variable.get("name"):
            continue
        name = str(variable["name"])
        kind = variable.get("type") or "VALUE"
        if kind == "VALUE":
            out[name] = str(variable.get("value", ""))
            continue
        secret = variable.get("secret") or {}
        if kind == "SECRET" and secret.get("type") == "VALUE":
            try:
                out[name] = base64.b64decode(str((secret.get("value") or {}).get("data", ""))).decode()
            except (binascii.Error, UnicodeDecodeError):
                logger.warning("environment variable %r: its secret value is not valid base64 text", name)
            continue
        logger.warning("environment variable %r: a %s secret needs a secret resolver this agent does not have",
                       name, secret.get("type") or kind)
    return out


__all__ = ["resolve_variables"]
