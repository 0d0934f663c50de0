"""The executor's Mesos health checks: the Mesos HealthCheck JSON it reads, the HTTP and TCP probes against
real local servers, and the reporting rules (Mesos' ``healthy`` updates) on top of the core's rules."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from executor.health import HealthLoop, check_spec, probe_http, probe_tcp
from mesospaas.health import PASSED, Failed


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        code = 200 if self.path == "/ok" else 302 if self.path == "/moved" else 500
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()
    thread.join(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_mesos_health_checks_become_the_cores_spec() -> None:
    http_check = check_spec({"type": "HTTP", "http": {"scheme": "https", "port": 8443, "path": "/h"},
                             "interval_seconds": 2.0, "consecutive_failures": 5, "grace_period_seconds": 1.0,
                             "delay_seconds": 0.5, "timeout_seconds": 3.0})
    assert (http_check.protocol, http_check.port, http_check.path) == ("MESOS_HTTPS", 8443, "/h")
    assert (http_check.interval_seconds, http_check.max_consecutive_failures, http_check.grace_period_seconds,
            http_check.delay_seconds, http_check.timeout_seconds) == (2.0, 5, 1.0, 0.5, 3.0)
    assert check_spec({"type": "HTTP", "http": {"port": 80}}).protocol == "MESOS_HTTP"
    tcp = check_spec({"type": "TCP", "tcp": {"port": 9000}})
    assert (tcp.protocol, tcp.port) == ("MESOS_TCP", 9000)
    command = check_spec({"command": {"value": "true"}})  # no type: inferred, as Mesos does
    assert (command.protocol, command.command) == ("COMMAND", "true")
    # Mesos' defaults for what is unset.
    assert (command.delay_seconds, command.interval_seconds, command.timeout_seconds,
            command.max_consecutive_failures, command.grace_period_seconds) == (15.0, 10.0, 20.0, 3, 10.0)
    with pytest.raises(ValueError):
        check_spec({"type": "GRPC"})


def test_http_probe(server: int) -> None:
    spec = check_spec({"type": "HTTP", "http": {"port": server, "path": "/ok"}})
    assert probe_http(spec, 5.0) == PASSED
    assert probe_http(check_spec({"type": "HTTP", "http": {"port": server, "path": "/moved"}}), 5.0) == PASSED
    assert probe_http(check_spec({"type": "HTTP", "http": {"port": server, "path": "/bad"}}), 5.0) == \
        Failed("500 Internal Server Error")
    refused = probe_http(check_spec({"type": "HTTP", "http": {"port": free_port()}}), 5.0)
    assert isinstance(refused, Failed) and "ConnectionRefusedError" in refused.cause


def test_tcp_probe(server: int) -> None:
    assert probe_tcp(check_spec({"type": "TCP", "tcp": {"port": server}}), 5.0) == PASSED
    refused = probe_tcp(check_spec({"type": "TCP", "tcp": {"port": free_port()}}), 5.0)
    assert isinstance(refused, Failed) and refused.cause.startswith("Connection to 127.0.0.1:")


def test_reports_follow_mesos_and_the_grace_period_the_core(tmp_path: Path) -> None:
    """Results judged at times this test gives: failures inside the grace period count for nothing, the first
    success is reported, each counted failure is, a success after failures is, and the kill comes once."""
    reports: list[tuple[bool, int]] = []
    kills: list[str] = []
    spec = check_spec({"type": "TCP", "tcp": {"port": 1}, "grace_period_seconds": 10.0, "consecutive_failures": 2})
    loop = HealthLoop("t", spec, running_since=100.0, report=lambda r, h: reports.append((h, r.consecutive_failures)),
                      kill=kills.append, reaper=None, cwd=tmp_path, env={})  # type: ignore[arg-type]
    loop.judge(Failed("refused"), 105.0)  # in the grace period, before any success
    assert reports == [] and kills == []
    loop.judge(PASSED, 106.0)
    loop.judge(PASSED, 107.0)  # still healthy: nothing new to say
    loop.judge(Failed("refused"), 108.0)
    loop.judge(PASSED, 109.0)
    assert reports == [(True, 0), (False, 1), (True, 0)]
    loop.judge(Failed("refused"), 120.0)
    loop.judge(Failed("refused"), 121.0)
    assert reports[-2:] == [(False, 1), (False, 2)]
    assert len(kills) == 1 and "failed 2 times in a row: refused" in kills[0]
