"""Security figures (issue 17): the latency authentication and authorisation add per request, with 1,000
principals in the principals file and 10,000 apps.

One scheduler runtime (on a simulated localmesos cluster in its own process) holds P tenants' apps
(``/team-NNN/app-M``, ``instances: 0``, A in all); two APIs serve it side by side on 127.0.0.1: one open (no
``AuthConfig``) and one with a principals file of P principals (``deploy:/team-NNN/**`` each, plus an admin)
and ``--http-credentials``. For each request kind the p50/p99 are taken on both, alternating, and the
difference is what security costs:

- ``GET /v2/apps/{id}`` with a tenant token (authentication from the verified-token cache + the path check);
- the same with HTTP Basic;
- ``GET /v2/apps`` as a tenant (the listing of A apps filtered to its own) and as the admin (no filtering);
- ``PUT /v2/apps/{id}`` (a change: the root-group diff of the guarded platform over A apps, plus the audit line).

Also the one-off cost of a token's first request (one scrypt, n=2^14) and of the in-process pieces alone.
The 1,000 principals other than the measured ones are hashed with a cheaper scrypt (n=2^10) so the file is made
in seconds: a request reads only its own principal (the token id selects it), so their cost does not enter
any figure. Prints figures; asserts nothing.

Usage: .venv/bin/python benchmarks/auth_bench.py --principals 1000 --apps 10000 --samples 300
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import secrets
import sys
import tempfile
import time
import types
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from api.app import ApiConfig, build_api_app  # noqa: E402
from api.auth import AuthConfig, Authenticator  # noqa: E402
from api.auth_routes import AccessTable, apps_listing, filtered  # noqa: E402
from api.routes_docs import ROUTES  # noqa: E402
from benchmarks.localmesos_bench import start_cluster, stop_cluster  # noqa: E402
from mesospaas.tenancy import Principal, PrincipalsFile, TokenHash, parse_grant  # noqa: E402
from mesospaas.tenancy.principals import new_token  # noqa: E402
from scheduler.runtime import RuntimeSettings, SchedulerRuntime  # noqa: E402
from scheduler.store import LocalDirectoryStore  # noqa: E402

BASIC = ("ops", "ops-pass")


def principals_file(path: Path, tenants: int) -> dict[str, str]:
    """P tenant principals and an admin; returns the tokens of the measured ones (real scrypt cost)."""
    measured = {"team-007": "deploy:/team-007/**", "admin": "admin:/**"}
    tokens: dict[str, str] = {}
    content = PrincipalsFile()
    for index in range(tenants):
        name = f"team-{index:03d}"
        grant = measured.get(name, f"deploy:/{name}/**")
        token, token_id, secret = new_token(secrets.token_bytes(8), secrets.token_bytes(32))
        cost = 2 ** 14 if name in measured else 2 ** 10
        content = content.with_principal(Principal(name, (parse_grant(grant),), token_id,
                                                   TokenHash.of(secret, secrets.token_bytes(16), n=cost)))
        tokens[name] = token
    token, token_id, secret = new_token(secrets.token_bytes(8), secrets.token_bytes(32))
    content = content.with_principal(Principal("admin", (parse_grant("admin:/**"),), token_id,
                                               TokenHash.of(secret, secrets.token_bytes(16))))
    tokens["admin"] = token
    path.write_text(content.dumps())
    return tokens


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


async def sample(session: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str],
                 body: object = None) -> float:
    start = time.perf_counter()
    async with session.request(method, url, headers=headers, json=body) as response:
        await response.read()
        assert response.status < 300, (method, url, response.status)
    return time.perf_counter() - start


async def compare(label: str, session: aiohttp.ClientSession, open_url: str, secured_url: str, method: str,
                  path: str, headers: dict[str, str], samples: int, body: object = None) -> None:
    plain: list[float] = []
    guarded: list[float] = []
    for i in range(samples):
        actual = path.format(i=i)
        payload = body(i) if callable(body) else body  # type: ignore[operator]
        plain.append(await sample(session, method, open_url + actual, {}, payload))
        guarded.append(await sample(session, method, secured_url + actual, headers, payload))
    print(f"{label:<44} open p50 {pct(plain, 50):7.2f} ms p99 {pct(plain, 99):7.2f} | secured p50 "
          f"{pct(guarded, 50):7.2f} ms p99 {pct(guarded, 99):7.2f} | added p50 "
          f"{pct(guarded, 50) - pct(plain, 50):+6.2f} ms")


def in_process(auth_file: Path, tokens: dict[str, str], rounds: int) -> None:
    config = AuthConfig(credentials=BASIC, auth_file=auth_file)
    start = time.perf_counter()
    authenticator = Authenticator(config)
    print(f"load the principals file ({len(authenticator.file.principals)} principals): "
          f"{(time.perf_counter() - start) * 1000:.1f} ms")
    header = f"Bearer {tokens['team-007']}"
    start = time.perf_counter()
    assert authenticator.header(header) is not None
    print(f"first request of a token (one scrypt, n=2^14): {(time.perf_counter() - start) * 1000:.1f} ms")
    start = time.perf_counter()
    for _ in range(rounds):
        authenticator.header(header)
    print(f"a token again (HMAC-keyed cache): {(time.perf_counter() - start) / rounds * 1e6:.1f} us")
    basic = "Basic " + base64.b64encode(f"{BASIC[0]}:{BASIC[1]}".encode()).decode()
    start = time.perf_counter()
    for _ in range(rounds):
        authenticator.header(basic)
    print(f"HTTP Basic (constant-time compare): {(time.perf_counter() - start) / rounds * 1e6:.1f} us")
    table = AccessTable([(r.method, r.path) for r in ROUTES])
    start = time.perf_counter()
    for _ in range(rounds):
        table.find("GET", "/v2/apps/team-007/app-3/tasks")
    print(f"route lookup ({len(table.operations)} operations): {(time.perf_counter() - start) / rounds * 1e6:.1f} us")


async def run(tenants: int, apps: int, samples: int) -> None:
    cluster, master = start_cluster("--simulate", "true", "--agents", "1")
    work = Path(tempfile.mkdtemp())
    runners: list[web.AppRunner] = []
    store = LocalDirectoryStore(work / "state")
    runtime = SchedulerRuntime(store, RuntimeSettings(master=master, seed=1))
    try:
        start = time.perf_counter()
        tokens = principals_file(work / "principals.json", tenants)
        print(f"principals file: {tenants + 1} principals in {time.perf_counter() - start:.1f} s")
        in_process(work / "principals.json", tokens, 20000)
        await runtime.start()
        per_tenant = max(1, apps // tenants)
        urls = []
        for security in (None, AuthConfig(credentials=BASIC, auth_file=work / "principals.json",
                                          audit_log=work / "audit.jsonl")):
            runner = web.AppRunner(build_api_app(runtime, runtime.events, ApiConfig(master=master),
                                                 security=security), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            runners.append(runner)
            urls.append(f"http://127.0.0.1:{runner.addresses[0][1]}")
        open_url, secured_url = urls
        tenant = {"Authorization": f"Bearer {tokens['team-007']}"}
        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        basic = {"Authorization": "Basic " + base64.b64encode(f"{BASIC[0]}:{BASIC[1]}".encode()).decode()}
        async with aiohttp.ClientSession() as session:
            root = {"id": "/", "groups": [{"id": f"/team-{t:03d}", "apps": [
                {"id": f"/team-{t:03d}/app-{m}", "cmd": "sleep 1", "instances": 0, "cpus": 0.01, "mem": 1}
                for m in range(per_tenant)]} for t in range(tenants)]}
            await sample(session, "PUT", open_url + "/v2/groups", {}, root)
            specs = list(runtime.state.apps)
            print(f"{len(specs)} apps in {tenants} tenants")
            await sample(session, "GET", secured_url + "/v2/apps/team-007/app-0", tenant)  # the first scrypt
            await sample(session, "GET", secured_url + "/v2/apps/team-007/app-0", admin)
            n = per_tenant
            await compare("GET /v2/apps/{id}, tenant token", session, open_url, secured_url, "GET",
                          "/v2/apps/team-007/app-0", tenant, samples)
            await compare("GET /v2/apps/{id}, HTTP Basic", session, open_url, secured_url, "GET",
                          "/v2/apps/team-007/app-0", basic, samples)
            await compare(f"GET /v2/apps ({len(specs)} apps), tenant (sees {n})", session, open_url, secured_url,
                          "GET", "/v2/apps", tenant, max(10, samples // 10))
            await compare(f"GET /v2/apps ({len(specs)} apps), admin", session, open_url, secured_url, "GET",
                          "/v2/apps", admin, max(10, samples // 10))
            await compare("PUT /v2/apps/{id} (a deployment), tenant", session, open_url, secured_url, "PUT",
                          "/v2/apps/team-007/app-0?force=true", tenant, max(10, samples // 10),
                          body=lambda i: {"labels": {"round": str(i)}})
            after_change: list[float] = []
            for i in range(max(5, samples // 30)):  # a change, then the tenant's first listing after it
                await sample(session, "PUT", open_url + "/v2/apps/team-000/app-0?force=true", {},
                             {"labels": {"change": str(i)}})
                after_change.append(await sample(session, "GET", secured_url + "/v2/apps", tenant))
            print(f"GET /v2/apps ({len(specs)} apps), tenant, first after a change: p50 {pct(after_change, 50):.2f} ms "
                  f"p99 {pct(after_change, 99):.2f} ms")
            async with session.get(open_url + "/v2/apps") as response:
                listing = await response.read()
        tenant_principal = Principal("team-007", (parse_grant("deploy:/team-007/**"),))
        uncached = types.SimpleNamespace(app={})  # a request without the filtered-bodies memo
        start = time.perf_counter()
        filtered(web.Response(body=listing, content_type="application/json"), apps_listing, tenant_principal,
                 uncached)  # type: ignore[arg-type]
        print(f"(for comparison: the JSON filter alone over the whole listing, {len(listing) / 1e6:.1f} MB: "
              f"{(time.perf_counter() - start) * 1000:.1f} ms; the listing routes render the tenant's view instead)")
        print(f"audit lines written: {len((work / 'audit.jsonl').read_text().splitlines())}")
    finally:
        for runner in runners:
            await runner.cleanup()
        await runtime.stop()
        store.close()
        stop_cluster(cluster)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--principals", type=int, default=1000)
    parser.add_argument("--apps", type=int, default=10000)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(run(args.principals, args.apps, args.samples))


if __name__ == "__main__":
    main()
