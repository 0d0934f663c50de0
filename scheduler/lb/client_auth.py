"""How the platform's own clients (``mesospaas lb``, ``logs``, ``secret``) authenticate to the API (issue 17).

Owns the client flags: ``--http-credentials user:password`` (HTTP Basic), ``--token TOKEN`` (sent as
``Authorization: Bearer TOKEN``) and ``--ca-file PEM`` (the CA an ``https://`` API's certificate is verified
against; without it the system's CAs). Each reads ``MESOSPAAS_<FLAG>`` too. ``headers(args)`` and
``ssl_context(args)`` turn them into what ``urllib`` or ``aiohttp`` need; ``session_kwargs(args)`` is the
whole ``aiohttp.ClientSession`` setup. Fails: ``ValueError`` for a malformed ``--http-credentials`` and
``OSError``/``ssl.SSLError`` for an unreadable ``--ca-file`` (the CLIs turn them into usage errors).

It lives beside the lb because the lb, a process of its own, imports nothing of the scheduler outside
``scheduler/lb`` (the import rules); the other CLIs use it through ``scheduler.api_client_auth``.
"""

from __future__ import annotations

import argparse
import base64
import os
import ssl
import urllib.request
from typing import Any

ENV_PREFIX = "MESOSPAAS_"


def add_client_arguments(parser: argparse.ArgumentParser, env_prefix: str = ENV_PREFIX) -> None:
    """The three flags, each reading ``<env_prefix><FLAG>`` (the lb's are ``MESOSPAAS_LB_*``)."""
    for name, help_text in (("http-credentials", "user:password for the API's HTTP Basic authentication"),
                            ("token", "a token for the API (mesospaas auth token), sent as a Bearer token"),
                            ("ca-file", "PEM file of the CA that signed an https:// API's certificate")):
        env = env_prefix + name.upper().replace("-", "_")
        if any(name == a.lstrip("-") for action in parser._actions for a in action.option_strings):
            continue  # the command has it already
        parser.add_argument(f"--{name}", default=os.environ.get(env), help=f"{help_text} (env {env})")


def headers(args: argparse.Namespace) -> dict[str, str]:
    token = getattr(args, "token", None)
    if token:
        return {"Authorization": f"Bearer {token}"}
    credentials = getattr(args, "http_credentials", None)
    if credentials:
        user, sep, password = credentials.partition(":")
        if not sep or not user:
            raise ValueError("--http-credentials: expected user:password")
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
    return {}


def ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """A verifying context with ``--ca-file`` (None: the library's default, the system's CAs)."""
    ca_file = getattr(args, "ca_file", None)
    if not ca_file:
        return None
    return ssl.create_default_context(cafile=ca_file)


def request(args: argparse.Namespace, url: str, method: str = "GET", data: bytes | None = None,
            extra: dict[str, str] | None = None) -> urllib.request.Request:
    """A ``urllib`` request to the API carrying the credentials."""
    return urllib.request.Request(url, data=data, method=method, headers={**headers(args), **(extra or {})})


def session_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``aiohttp.ClientSession(**session_kwargs(args))``: default headers and a verifying connector."""
    import aiohttp

    out: dict[str, Any] = {"headers": headers(args)}
    context = ssl_context(args)
    if context is not None:
        out["connector"] = aiohttp.TCPConnector(ssl=context)
    return out


__all__ = ["add_client_arguments", "headers", "request", "session_kwargs", "ssl_context"]
