"""The security flags of ``serve`` and ``local``, and the ``mesospaas auth`` and ``mesospaas secret`` commands.

Server flags (each also ``MESOSPAAS_<FLAG>``): ``--http-credentials user:password``, ``--auth-file FILE``
(re-read on SIGHUP), ``--auth-exempt-ping``, ``--auth-exempt-metrics``, ``--insecure-no-auth``,
``--rate-limit N/s``, ``--max-event-streams N``, ``--audit-log PATH``, ``--secrets-key-file FILE``,
``--ssl-cert PEM`` / ``--ssl-key PEM`` (the API serves https). ``serve`` on an address that is not loopback
refuses to start without ``--http-credentials`` or ``--auth-file`` unless ``--insecure-no-auth`` says so.

``mesospaas auth token --file F --name N --grant ROLE:PREFIX [--grant ...]`` adds (or replaces) a principal
and prints its new token once (``Authorization: Bearer TOKEN``); ``auth list`` shows names and grants (never
hashes); ``auth revoke --name N``; ``auth quota --prefix /team-a --cpus 8 --mem 8192 --instances 20`` (or
``--remove``). The file is written atomically with mode 0600; a running API picks it up on SIGHUP.

``mesospaas secret put PATH`` reads the value from stdin and PUTs it to ``--api``; ``secret list`` and
``secret delete PATH`` beside it (with the client flags of ``scheduler.api_client_auth``).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import secrets
import signal
import ssl
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from api.auth import AUTH, AuthConfig, parse_credentials
from mesospaas.tenancy import PrincipalsFile, Quota, parse_grant
from mesospaas.tenancy.principals import Principal, TokenHash, new_token
from scheduler import api_client_auth
from scheduler.store import Store

ENV_PREFIX = "MESOSPAAS_"


def _env(name: str) -> str:
    return ENV_PREFIX + name.upper().replace("-", "_")


def _truthy(name: str) -> bool:
    return os.environ.get(_env(name), "").lower() in ("1", "true", "yes")


# -- server flags -------------------------------------------------------------------------------------------
def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    def flag(name: str, help_text: str, **kw: Any) -> None:
        parser.add_argument(f"--{name}", default=os.environ.get(_env(name)), help=f"{help_text} (env {_env(name)})",
                            **kw)

    def switch(name: str, help_text: str) -> None:
        parser.add_argument(f"--{name}", action="store_true", default=_truthy(name),
                            help=f"{help_text} (env {_env(name)})")

    flag("http-credentials", "user:password: HTTP Basic authentication for the API (an admin of every id)")
    flag("auth-file", "principals file (mesospaas auth token); re-read on SIGHUP")
    switch("auth-exempt-ping", "answer /ping without credentials")
    switch("auth-exempt-metrics", "answer /metrics and /metrics/prometheus without credentials")
    switch("insecure-no-auth", "serve on a non-loopback address without authentication")
    flag("rate-limit", "requests per second per principal, e.g. 50/s (429 beyond; default unlimited)")
    flag("max-event-streams", "concurrent /v2/events streams per principal (default 16)")
    flag("audit-log", "append every accepted change to this file as JSON lines")
    flag("secrets-key-file", "file of at least 32 random bytes: the key the secrets are encrypted with")
    flag("ssl-cert", "PEM certificate (chain): the API serves https")
    flag("ssl-key", "PEM private key of --ssl-cert")
    flag("ssl-ca-file", "PEM CA the instances' certificates are verified against (HA: a standby proxying "
                        "to the leader over https; default: the system's CAs)")


def _rate(text: str | None, parser: argparse.ArgumentParser) -> float | None:
    if not text:
        return None
    number = text.strip().removesuffix("/s")
    try:
        rate = float(number)
    except ValueError:
        parser.error(f"--rate-limit: expected N/s, got {text!r}")
    if rate <= 0:
        parser.error("--rate-limit must be positive")
    return rate


def is_loopback(address: str) -> bool:
    if address in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def security_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser, address: str,
                       store_of: Callable[[], Store] | None, *, require_on_exposed: bool) -> AuthConfig:
    """The API's security settings; exits with a usage error for bad values or an exposed, open API."""
    credentials = None
    if args.http_credentials:
        try:
            credentials = parse_credentials(args.http_credentials)
        except ValueError as exc:
            parser.error(f"--http-credentials: {exc}")
    auth_file = Path(args.auth_file) if args.auth_file else None
    if require_on_exposed and not is_loopback(address) and credentials is None and auth_file is None \
            and not args.insecure_no_auth:
        parser.error(f"--http-address {address} is not a loopback address: give --http-credentials or "
                     "--auth-file (or --insecure-no-auth to serve it open)")
    streams = 16
    if args.max_event_streams:
        try:
            streams = int(args.max_event_streams)
        except ValueError:
            parser.error("--max-event-streams must be a number")
        if streams < 1:
            parser.error("--max-event-streams must be at least 1")
    config = AuthConfig(credentials=credentials, auth_file=auth_file, exempt_ping=args.auth_exempt_ping,
                        exempt_metrics=args.auth_exempt_metrics, rate_limit=_rate(args.rate_limit, parser),
                        max_event_streams=streams, audit_log=Path(args.audit_log) if args.audit_log else None)
    if auth_file is not None:
        try:
            PrincipalsFile.parse(auth_file.read_text() if auth_file.exists() else "")
        except (OSError, ValueError) as exc:
            parser.error(f"--auth-file {auth_file}: {exc}")
    if args.secrets_key_file:
        from scheduler.secrets import SecretError, SecretStore, load_key
        if store_of is None:
            parser.error("--secrets-key-file needs a state store")
        try:
            config.secrets = SecretStore(store_of, load_key(Path(args.secrets_key_file)))
        except SecretError as exc:
            parser.error(str(exc))
    return config


def server_ssl_context(args: argparse.Namespace, parser: argparse.ArgumentParser) -> ssl.SSLContext | None:
    if not args.ssl_cert and not args.ssl_key:
        return None
    if not (args.ssl_cert and args.ssl_key):
        parser.error("--ssl-cert and --ssl-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(args.ssl_cert, args.ssl_key)
    except (OSError, ssl.SSLError) as exc:
        parser.error(f"--ssl-cert/--ssl-key: {exc}")
    return context


def leader_tls(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[str, Any]:
    """``(scheme, ssl)`` a standby uses to reach the leader: https, verified with ``--ssl-ca-file``, with TLS."""
    if not args.ssl_cert:
        return "http", True
    if not args.ssl_ca_file:
        return "https", True
    try:
        return "https", ssl.create_default_context(cafile=args.ssl_ca_file)
    except (OSError, ssl.SSLError) as exc:
        parser.error(f"--ssl-ca-file: {exc}")


def reload_on_sighup(app: web.Application) -> None:
    """SIGHUP re-reads the principals file of ``app`` (nothing without authentication)."""
    import asyncio

    state = app.get(AUTH)
    if state is None or state.config.auth_file is None:
        return
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, state.authenticator.reload)


# -- mesospaas auth -----------------------------------------------------------------------------------------
def _read(path: Path) -> PrincipalsFile:
    return PrincipalsFile.parse(path.read_text() if path.exists() else "")


def _write(path: Path, content: PrincipalsFile) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(content.dumps())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add_auth_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="auth_command", metavar="COMMAND", required=True)

    def with_file(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--file", default=os.environ.get(_env("auth-file")), required=not os.environ.get(
            _env("auth-file")), help=f"the principals file (env {_env('auth-file')})")
        return p

    token = with_file(sub.add_parser("token", help="add or replace a principal and print its new token"))
    token.add_argument("--name", required=True)
    token.add_argument("--grant", action="append", required=True, metavar="ROLE:PREFIX",
                       help="admin|deploy|read on an id prefix, e.g. deploy:/team-a/**; repeatable")
    token.set_defaults(auth_handler=_token)
    listing = with_file(sub.add_parser("list", help="the principals and their grants"))
    listing.set_defaults(auth_handler=_list)
    revoke = with_file(sub.add_parser("revoke", help="remove principals (their tokens stop working)"))
    revoke.add_argument("--name", required=True, action="append")
    revoke.set_defaults(auth_handler=_revoke)
    quota = with_file(sub.add_parser("quota", help="set or remove a tenant's quota"))
    quota.add_argument("--prefix", required=True, help="the tenant's group, e.g. /team-a")
    for name in ("cpus", "mem", "disk"):
        quota.add_argument(f"--{name}", type=float)
    quota.add_argument("--instances", type=int)
    quota.add_argument("--remove", action="store_true")
    quota.set_defaults(auth_handler=_quota)


def _token(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        grants = tuple(parse_grant(g) for g in args.grant)
    except ValueError as exc:
        parser.error(str(exc))
    path = Path(args.file)
    try:
        current = _read(path)
    except ValueError as exc:
        parser.error(f"--file {path}: {exc}")
    token, token_id, secret = new_token(secrets.token_bytes(8), secrets.token_bytes(32))
    principal = Principal(args.name, grants, token_id, TokenHash.of(secret, secrets.token_bytes(16)))
    _write(path, current.with_principal(principal))
    print(f"Authorization: Bearer {token}")
    return 0


def _list(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        current = _read(Path(args.file))
    except ValueError as exc:
        parser.error(f"--file {args.file}: {exc}")
    for principal in current.principals:
        print(f"{principal.name}\t{' '.join(str(g) for g in principal.grants)}")
    for prefix, quota in sorted(current.quotas.items()):
        print(f"quota {prefix}\t{json.dumps(quota.to_json(), sort_keys=True)}")
    return 0


def _revoke(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    path = Path(args.file)
    try:
        kept, missing = _read(path).without(args.name)
    except ValueError as exc:
        parser.error(f"--file {path}: {exc}")
    if missing:
        print(f"mesospaas auth: no principal named {', '.join(missing)}", file=sys.stderr)
        return 1
    _write(path, kept)
    return 0


def _quota(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    path = Path(args.file)
    limits = {k: getattr(args, k) for k in ("cpus", "mem", "disk", "instances") if getattr(args, k) is not None}
    if not args.remove and not limits:
        parser.error("give --cpus, --mem, --disk or --instances (or --remove)")
    try:
        quota = None if args.remove else Quota.from_json(limits)
        current = _read(path)
    except ValueError as exc:
        parser.error(str(exc))
    _write(path, current.with_quota("/" + args.prefix.strip("/"), quota))
    return 0


def run_auth(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    result: int = args.auth_handler(args, parser)
    return result


# -- mesospaas secret ---------------------------------------------------------------------------------------
def add_secret_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", default=os.environ.get(_env("api"), "http://127.0.0.1:8080"),
                        help=f"the mesospaas API (env {_env('api')})")
    api_client_auth.add_client_arguments(parser)
    sub = parser.add_subparsers(dest="secret_command", metavar="COMMAND", required=True)
    put = sub.add_parser("put", help="store a secret; the value is read from stdin")
    put.add_argument("path", metavar="PATH", help="e.g. /team-a/db-password")
    put.set_defaults(secret_handler=_secret_put)
    sub.add_parser("list", help="the secret paths (never values)").set_defaults(secret_handler=_secret_list)
    delete = sub.add_parser("delete", help="delete a secret")
    delete.add_argument("path", metavar="PATH")
    delete.set_defaults(secret_handler=_secret_delete)


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    url = args.api.rstrip("/") + path
    data = json.dumps(body).encode() if body is not None else None
    request = api_client_auth.request(args, url, method, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60, context=api_client_auth.ssl_context(args)) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read())
        except ValueError:
            return exc.code, {"message": exc.reason}


def _secret_url(path: str) -> str:
    return "/v2/secrets/" + urllib.parse.quote(path.strip("/"), safe="/")


def _secret_put(args: argparse.Namespace) -> tuple[int, Any]:
    value = sys.stdin.read()
    if value.endswith("\n"):
        value = value[:-1]
    return _call(args, "PUT", _secret_url(args.path), {"value": value})


def _secret_list(args: argparse.Namespace) -> tuple[int, Any]:
    return _call(args, "GET", "/v2/secrets")


def _secret_delete(args: argparse.Namespace) -> tuple[int, Any]:
    return _call(args, "DELETE", _secret_url(args.path))


def run_secret(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        status, body = args.secret_handler(args)
    except ValueError as exc:
        parser.error(str(exc))
    except (urllib.error.URLError, OSError) as exc:
        print(f"mesospaas secret: cannot reach {args.api}: {exc}", file=sys.stderr)
        return 1
    if status >= 400:
        print(f"mesospaas secret: {status}: {(body or {}).get('message', '')}", file=sys.stderr)
        return 1
    if args.secret_command == "list":
        for entry in (body or {}).get("secrets", []):
            print(entry["path"])
    elif args.secret_command == "put":
        print(body["path"])
    return 0


__all__ = ["add_auth_arguments", "add_secret_arguments", "add_server_arguments", "is_loopback",
           "leader_tls", "reload_on_sighup", "run_auth", "run_secret", "security_from_args", "server_ssl_context"]
