"""The commands, as operators run them: ``serve`` refusing an open non-loopback API, ``serve`` with TLS, a
principals file and a secrets key (a real process on a real localmesos master), SIGHUP re-reading the file,
``mesospaas secret put`` (value on stdin), ``mesospaas lb --dry-run`` and ``mesospaas logs`` to an https API
with ``--ca-file`` and ``--token``, and ``mesospaas auth list``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesospaas.tenancy.principals import split_token
from tests.integration.test_serve import stop
from tests.localmesos.conftest import ThreadedCluster
from tests.polling import wait_for
from tests.security.conftest import make_token
from tests.security.tls import make_pki

CLI = [sys.executable, "-m", "scheduler.cli"]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True, timeout=120)


def test_serve_refuses_an_open_api_on_a_non_loopback_address(tmp_path: Path) -> None:
    result = run("serve", "--http-address", "192.0.2.10", "--work-dir", str(tmp_path), "--master", "127.0.0.1:1")
    assert result.returncode == 2
    assert "is not a loopback address: give --http-credentials or --auth-file" in result.stderr
    assert not (tmp_path / "state").exists()  # refused before anything started


def test_auth_list_shows_names_and_grants_never_hashes(tmp_path: Path) -> None:
    auth_file = tmp_path / "p.json"
    token = make_token(auth_file, "ci", ["deploy:/team-a/**", "read:/shared/**"])
    assert run("auth", "quota", "--file", str(auth_file), "--prefix", "/team-a", "--cpus", "4").returncode == 0
    listed = run("auth", "list", "--file", str(auth_file))
    assert listed.stdout.splitlines() == ["ci\tdeploy:/team-a/** read:/shared/**", 'quota /team-a\t{"cpus": 4.0}']
    split = split_token(token)
    assert split is not None
    assert split[1] not in auth_file.read_text()  # the secret (which may itself hold "_") is never stored
    assert oct(auth_file.stat().st_mode & 0o777) == "0o600"
    bad = run("auth", "token", "--file", str(auth_file), "--name", "x", "--grant", "owner:/a/**")
    assert bad.returncode == 2 and "the role must be one of admin, deploy, read" in bad.stderr


@pytest.fixture
def served(mesos: ThreadedCluster, tmp_path: Path) -> Iterator[tuple[str, Path, Path, dict[str, str], subprocess.Popen[str]]]:
    pki = make_pki(tmp_path)
    auth_file = tmp_path / "principals.json"
    tokens = {"admin": make_token(auth_file, "admin", ["admin:/**"]),
              "deployer-a": make_token(auth_file, "deployer-a", ["deploy:/team-a/**"])}
    key = tmp_path / "secrets.key"
    key.write_text("k" * 44 + "\n")
    out = tmp_path / "serve.out"
    with out.open("w") as stdout:
        proc = subprocess.Popen([*CLI, "serve", "--master", mesos.address, "--work-dir", str(tmp_path / "work"),
                                 "--framework-name", "mesospaas-security-test", "--http-port", "0",
                                 "--auth-file", str(auth_file), "--secrets-key-file", str(key),
                                 "--ssl-cert", str(pki.cert), "--ssl-key", str(pki.key),
                                 "--audit-log", str(tmp_path / "audit.jsonl")],
                                stdout=stdout, stderr=subprocess.STDOUT, text=True)
    try:
        url = wait_for(lambda: (m.group(1) if (m := re.search(r"mesospaas API: (https://\S+)", out.read_text()))
                                else None if proc.poll() is None else f"exited: {out.read_text()}"),
                       timeout=60, what="the ready line")
        assert url.startswith("https://"), url
        yield url, pki.ca, auth_file, tokens, proc
    finally:
        stop(proc)


def test_the_commands_against_a_served_https_api(served: tuple[str, Path, Path, dict[str, str],
                                                              subprocess.Popen[str]]) -> None:
    url, ca, auth_file, tokens, proc = served
    client = ["--api", url, "--ca-file", str(ca)]
    put = run("secret", *client, "--token", tokens["deployer-a"], "put", "/team-a/db-password", stdin="hunter2\n")
    assert (put.returncode, put.stdout.strip()) == (0, "/team-a/db-password"), put.stderr
    foreign = run("secret", *client, "--token", tokens["deployer-a"], "put", "/team-b/x", stdin="v")
    assert foreign.returncode == 1 and "403" in foreign.stderr
    listed = run("secret", *client, "--token", tokens["admin"], "list")
    assert listed.stdout.split() == ["/team-a/db-password"] and "hunter2" not in listed.stdout
    anonymous = run("secret", *client, "list")
    assert anonymous.returncode == 1 and "401" in anonymous.stderr

    late = make_token(auth_file, "late", ["read:/**"])
    assert run("secret", *client, "--token", late, "list").returncode == 1
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: run("secret", *client, "--token", late, "list").returncode == 0, timeout=30,
             what="the new principal after SIGHUP")

    lb = run("lb", "--api", url, "--ca-file", str(ca), "--token", tokens["admin"], "--dry-run", "--group", "*",
             "--config", str(auth_file.parent / "haproxy.cfg"))
    assert lb.returncode == 0 and "frontend" in lb.stdout, lb.stderr
    lb_unverified = run("lb", "--api", url, "--token", tokens["admin"], "--dry-run", "--group", "*",
                        "--config", str(auth_file.parent / "haproxy2.cfg"))
    assert lb_unverified.returncode != 0  # the system CAs do not know the test CA

    logs = run("logs", "no-such-task", *client, "--token", tokens["admin"])
    assert logs.returncode == 1 and "401" not in logs.stderr and "Authentication" not in logs.stderr
    logs_anonymous = run("logs", "no-such-task", *client)
    assert logs_anonymous.returncode == 1 and "Authentication required" in logs_anonymous.stderr
    assert os.path.exists(auth_file.parent / "audit.jsonl")
    assert '"principal":"deployer-a"' in (auth_file.parent / "audit.jsonl").read_text()
