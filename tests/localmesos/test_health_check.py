"""Tests for localmesos.health_check: config parsing, the pure state machine (table tests),
the real probes (processes, an HTTP server on 127.0.0.1, TCP sockets) and the async loop."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web

from localmesos.health_check import (
    HealthCheckConfig,
    HealthChecker,
    HealthCheckState,
    HealthUpdate,
    ProbeResult,
    command_probe,
    http_probe,
    make_probe,
    parse_health_check,
    tcp_probe,
)
from localmesos.process_stats import read_proc_stat
from tests.polling import eventually

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def _alive(pid: int) -> bool:
    stat = read_proc_stat(pid)
    return stat is not None and stat.state not in ("Z", "X")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port



# --------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------


def test_defaults_are_the_mesos_defaults() -> None:
    config = parse_health_check({"type": "COMMAND", "command": {"value": "true"}})
    assert config == HealthCheckConfig(
        type="COMMAND", spec={"value": "true"}, delay=15.0, interval=10.0, timeout=20.0,
        consecutive_failures=3, grace_period=10.0,
    )


@pytest.mark.parametrize(
    ("raw", "expected_type"),
    [
        ({"command": {"value": "true"}}, "COMMAND"),
        ({"http": {"port": 8080}}, "HTTP"),
        ({"tcp": {"port": 8080}}, "TCP"),
        ({"type": "HTTP", "http": {"port": "8080", "path": "/x", "scheme": "https"}}, "HTTP"),
    ],
)
def test_type_is_inferred_when_absent(raw: dict[str, Any], expected_type: str) -> None:
    assert parse_health_check(raw).type == expected_type


def test_explicit_values_and_zero_timeout_means_no_timeout() -> None:
    config = parse_health_check({
        "type": "TCP", "tcp": {"port": 1}, "delay_seconds": "0.5", "interval_seconds": 0.1,
        "timeout_seconds": 0, "consecutive_failures": "2", "grace_period_seconds": 0,
    })
    assert (config.delay, config.interval, config.timeout) == (0.5, 0.1, None)
    assert (config.consecutive_failures, config.grace_period) == (2, 0.0)


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"command": {"value": "true"}, "http": {"port": 1}},
        {"type": "UNKNOWN", "command": {"value": "true"}},
        {"type": "HTTP", "command": {"value": "true"}},
        {"type": "COMMAND", "command": {"value": ""}},
        {"type": "HTTP", "http": {}},
        {"type": "HTTP", "http": {"port": 70000}},
        {"type": "HTTP", "http": {"port": 80, "scheme": "ftp"}},
        {"type": "TCP", "tcp": {"port": "x"}},
        {"type": "TCP", "tcp": {"port": 1}, "interval_seconds": -1},
        {"type": "TCP", "tcp": {"port": 1}, "consecutive_failures": -1},
        {"type": "TCP", "tcp": {"port": 1}, "delay_seconds": "soon"},
    ],
)
def test_invalid_health_checks_raise_value_error(raw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        parse_health_check(raw)


# --------------------------------------------------------------------------------------
# State machine: (limit, grace, [(ok, now), ...]) -> [None | (healthy, kill, failures)]
# --------------------------------------------------------------------------------------

Expected = tuple[bool, bool, int] | None

STATE_TABLE: list[tuple[str, int, float, list[tuple[bool, float]], list[Expected]]] = [
    ("first success is reported once", 3, 10.0,
     [(True, 1), (True, 2), (True, 3)],
     [(True, False, 0), None, None]),
    ("failures in grace period are ignored", 3, 10.0,
     [(False, 1), (False, 5), (False, 10), (True, 11)],
     [None, None, None, (True, False, 0)]),
    ("grace boundary is inclusive", 1, 10.0,
     [(False, 10.0), (False, 10.001)],
     [None, (False, True, 1)]),
    ("failures after grace count while initializing", 3, 2.0,
     [(False, 1), (False, 3), (False, 4), (False, 5)],
     [None, (False, False, 1), (False, False, 2), (False, True, 3)]),
    ("zero grace counts the first failure", 3, 0.0,
     [(False, 0), (False, 0.1)],
     [(False, False, 1), (False, False, 2)]),
    ("after a success, failures count even inside grace", 2, 100.0,
     [(True, 1), (False, 2), (False, 3)],
     [(True, False, 0), (False, False, 1), (False, True, 2)]),
    ("recovery is reported once and resets the counter", 3, 0.0,
     [(False, 1), (False, 2), (True, 3), (True, 4), (False, 5), (False, 6), (True, 7)],
     [(False, False, 1), (False, False, 2), (True, False, 0), None,
      (False, False, 1), (False, False, 2), (True, False, 0)]),
    ("limit 1 kills on the first counted failure", 1, 0.0,
     [(True, 1), (False, 2)],
     [(True, False, 0), (False, True, 1)]),
    ("failures keep asking for the kill past the limit", 2, 0.0,
     [(False, 1), (False, 2), (False, 3)],
     [(False, False, 1), (False, True, 2), (False, True, 3)]),
]


@pytest.mark.parametrize(
    ("limit", "grace", "events", "expected"),
    [row[1:] for row in STATE_TABLE],
    ids=[row[0] for row in STATE_TABLE],
)
def test_state_machine(
    limit: int, grace: float, events: list[tuple[bool, float]], expected: list[Expected]
) -> None:
    state = HealthCheckState(consecutive_failures_limit=limit, grace_period=grace, started_at=0.0)
    outputs: list[Expected] = []
    for ok, now in events:
        update = state.on_result(ok, now)
        outputs.append(
            None if update is None
            else (update.healthy, update.kill_task, update.consecutive_failures)
        )
    assert outputs == expected


def test_state_for_config_uses_config_values() -> None:
    config = parse_health_check({"tcp": {"port": 1}, "consecutive_failures": 5,
                                 "grace_period_seconds": 7})
    state = HealthCheckState.for_config(config, started_at=100.0)
    assert (state.consecutive_failures_limit, state.grace_period, state.started_at) == (5, 7.0, 100.0)
    assert state.on_result(False, 107.0) is None
    assert state.on_result(False, 107.5) == HealthUpdate(healthy=False, consecutive_failures=1)


# --------------------------------------------------------------------------------------
# COMMAND probe
# --------------------------------------------------------------------------------------


async def test_command_probe_exit_codes(tmp_path: pathlib.Path) -> None:
    assert (await command_probe({"value": "true"}, env=ENV, cwd=tmp_path)()).ok
    result = await command_probe({"value": "exit 4"}, env=ENV, cwd=tmp_path)()
    assert result == ProbeResult(False, "Command exited with status 4")
    result = await command_probe({"value": "kill -KILL $$"}, env=ENV, cwd=tmp_path)()
    assert result == ProbeResult(False, "Command terminated with signal Killed")


async def test_command_probe_env_cwd_and_output(tmp_path: pathlib.Path) -> None:
    (tmp_path / "marker").write_text("x")
    output = tmp_path / "stderr"
    output.write_text("earlier\n")
    command = {
        "value": 'test "$FROM_TASK" = task && test "$FROM_CHECK" = check && test -f marker '
                 '&& echo out && echo err >&2',
        "environment": {"variables": [
            {"name": "FROM_CHECK", "value": "check"},
            {"name": "HIDDEN", "type": "SECRET", "secret": {"type": "REFERENCE"}},
        ]},
    }
    probe = command_probe(command, env={**ENV, "FROM_TASK": "task"}, cwd=tmp_path,
                          output_path=output)
    assert (await probe()).ok
    assert output.read_text() == "earlier\nout\nerr\n"
    # the check's variables do not leak into the task's mapping
    assert (await command_probe({"value": 'test -z "$FROM_CHECK"'}, env=ENV, cwd=tmp_path)()).ok


async def test_command_probe_without_shell_uses_execvp(tmp_path: pathlib.Path) -> None:
    probe = command_probe(
        {"shell": False, "value": "test", "arguments": ["test", "-d", str(tmp_path)]},
        env=ENV, cwd=tmp_path,
    )
    assert (await probe()).ok
    missing = command_probe({"shell": False, "value": "/nonexistent/check"}, env=ENV)
    result = await missing()
    assert not result.ok and "Failed to create subprocess" in result.message


@pytest.fixture
def stray_pids() -> Iterator[list[int]]:
    """PIDs a test started indirectly: SIGKILLed at teardown if still alive."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


async def test_cancelled_command_probe_kills_its_processes(
    tmp_path: pathlib.Path, stray_pids: list[int]
) -> None:
    probe = command_probe(
        {"value": "sleep 600 & echo $! > child.pid; echo $$ > main.pid; exec sleep 600"},
        env=ENV, cwd=tmp_path,
    )
    # The probe's own timeout ends it; the outer deadline only catches a cancellation that waits for the
    # probe's processes to end by themselves (600 s).
    async with asyncio.timeout(60):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(probe(), 0.3)
    pids = [int((tmp_path / name).read_text()) for name in ("child.pid", "main.pid")]
    stray_pids.extend(pids)
    await eventually(lambda: not any(_alive(pid) for pid in pids))


# --------------------------------------------------------------------------------------
# HTTP and TCP probes against real sockets on 127.0.0.1
# --------------------------------------------------------------------------------------


@pytest.fixture
async def http_port() -> AsyncIterator[int]:
    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="x")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(location=request.query["to"])

    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await asyncio.wait_for(release.wait(), 5)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/slow", slow)
    app.router.add_get("/", root)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield port
    finally:
        release.set()
        await runner.cleanup()


async def root(request: web.Request) -> web.Response:
    return web.Response(text="root")


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        ("/status/200", True),
        ("/status/204", True),
        ("/status/399", True),
        ("/status/400", False),
        ("/status/404", False),
        ("/status/500", False),
        ("/redirect?to=/status/200", True),
        ("/redirect?to=/status/503", False),
        ("status/200", True),  # a path without the leading slash still works
        (None, True),  # no path: GET on the root
    ],
)
async def test_http_probe_status_ranges_and_redirects(
    http_port: int, path: str | None, ok: bool
) -> None:
    spec: dict[str, Any] = {"port": http_port, "statuses": [418]}  # statuses is ignored
    if path is not None:
        spec["path"] = path
    result = await http_probe(spec)()
    assert result.ok is ok, result.message


async def test_http_probe_connection_refused_is_unhealthy() -> None:
    result = await http_probe({"port": _free_port(), "path": "/"})()
    assert not result.ok


async def test_http_check_timeout_is_a_failure(http_port: int) -> None:
    config = parse_health_check({
        "http": {"port": http_port, "path": "/slow"}, "delay_seconds": 0,
        "interval_seconds": 0.05, "timeout_seconds": 0.2, "grace_period_seconds": 0,
        "consecutive_failures": 1,
    })
    updates: list[HealthUpdate] = []
    checker = HealthChecker(config, make_probe(config, env=ENV), updates.append)
    checker.start()
    try:
        await eventually(lambda: bool(updates))  # /slow answers only after 5 s: the 0.2 s timeout ended it
    finally:
        await checker.aclose()
    assert updates[0].healthy is False and updates[0].kill_task is True
    assert updates[0].message == "HTTP health check has not returned after 0.2s"


async def test_tcp_probe() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        assert (await tcp_probe({"port": port})()).ok
    finally:
        server.close()
        await server.wait_closed()
    assert not (await tcp_probe({"port": port})()).ok


# --------------------------------------------------------------------------------------
# The loop (real COMMAND probes toggled through a marker file)
# --------------------------------------------------------------------------------------


def _checker(tmp_path: pathlib.Path, command: str, updates: list[tuple[float, HealthUpdate]],
             **timing: float) -> HealthChecker:
    raw: dict[str, Any] = {"command": {"value": command}, "delay_seconds": 0,
                           "interval_seconds": 0.05, "timeout_seconds": 5,
                           "grace_period_seconds": 0, "consecutive_failures": 3}
    raw.update({f"{k}_seconds" if k != "consecutive_failures" else k: v
                for k, v in timing.items()})
    config = parse_health_check(raw)
    probe = make_probe(config, env=ENV, cwd=tmp_path)
    return HealthChecker(config, probe, lambda u: updates.append((time.monotonic(), u)))


async def test_delay_is_respected(tmp_path: pathlib.Path) -> None:
    updates: list[tuple[float, HealthUpdate]] = []
    checker = _checker(tmp_path, "true", updates, delay=0.4)
    started = time.monotonic()
    checker.start()
    try:
        await eventually(lambda: bool(updates))
    finally:
        await checker.aclose()
    assert updates[0][0] - started >= 0.4
    assert updates[0][1] == HealthUpdate(healthy=True, message="Command exited with status 0")


async def test_interval_starts_after_the_previous_check_finished(tmp_path: pathlib.Path) -> None:
    updates: list[tuple[float, HealthUpdate]] = []
    config = parse_health_check({"command": {"value": "sleep 0.2"}, "delay_seconds": 0, "interval_seconds": 0.1,
                                 "timeout_seconds": 5, "grace_period_seconds": 0, "consecutive_failures": 3})
    real_probe = make_probe(config, env=ENV, cwd=tmp_path)
    runs: list[tuple[float, float]] = []

    async def timed_probe() -> Any:
        began = time.monotonic()
        result = await real_probe()
        runs.append((began, time.monotonic()))
        return result

    checker = HealthChecker(config, timed_probe, lambda u: updates.append((time.monotonic(), u)))
    checker.start()
    try:
        await eventually(lambda: len(runs) >= 3, what="three checks")
    finally:
        await checker.aclose()
    # Never overlapping, and each one starts a full interval after the previous one ended (load only delays).
    for (_, ended), (began, _) in zip(runs, runs[1:]):
        assert began - ended >= 0.1, runs
    assert [u.healthy for _, u in updates] == [True]


async def test_grace_period_ignores_failures_until_it_ends(tmp_path: pathlib.Path) -> None:
    # The grace period counts on the checker's clock: here one the test moves.
    now = [100.0]
    updates: list[HealthUpdate] = []
    config = parse_health_check({"command": {"value": "false"}, "delay_seconds": 0, "interval_seconds": 0.02,
                                 "timeout_seconds": 5, "grace_period_seconds": 0.5, "consecutive_failures": 1})
    checker = HealthChecker(config, make_probe(config, env=ENV, cwd=tmp_path), updates.append,
                            clock=lambda: now[0])
    checker.start()
    try:
        await eventually(lambda: checker.checks_run >= 3, what="three failed checks")
        assert updates == []  # all ignored: still within the grace period
        now[0] += 0.5  # its last instant: still ignored
        ran = checker.checks_run
        await eventually(lambda: checker.checks_run >= ran + 2, what="two more failed checks")
        assert updates == []
        now[0] += 0.125  # the grace period is over: the next failure counts
        await eventually(lambda: bool(updates))
    finally:
        await checker.aclose()
    assert updates[0].healthy is False and updates[0].kill_task is True


async def test_health_changes_are_reported_once_per_change(tmp_path: pathlib.Path) -> None:
    marker = tmp_path / "ok"
    updates: list[tuple[float, HealthUpdate]] = []
    checker = _checker(tmp_path, "test -f ok", updates, consecutive_failures=100)
    marker.write_text("")
    checker.start()
    try:
        await eventually(lambda: len(updates) == 1)
        await asyncio.sleep(0.3)  # still healthy: nothing new
        assert len(updates) == 1
        marker.unlink()
        await eventually(lambda: len(updates) >= 3)  # every counted failure is reported
        marker.write_text("")
        await eventually(lambda: updates[-1][1].healthy)
        count = len(updates)
        await asyncio.sleep(0.3)
        assert len(updates) == count  # the recovery was reported exactly once
    finally:
        await checker.aclose()
    healthy = [u.healthy for _, u in updates]
    assert healthy[0] is True and healthy[-1] is True
    assert healthy[1:-1] == [False] * (len(healthy) - 2)
    assert [u.consecutive_failures for _, u in updates[1:-1]] == list(range(1, len(healthy) - 1))


async def test_stop_from_the_update_callback(tmp_path: pathlib.Path) -> None:
    updates: list[HealthUpdate] = []

    def on_update(update: HealthUpdate) -> None:
        updates.append(update)
        if update.kill_task:
            checker.stop()

    config = parse_health_check({"command": {"value": "false"}, "delay_seconds": 0,
                                 "interval_seconds": 0.02, "grace_period_seconds": 0,
                                 "consecutive_failures": 2})
    checker = HealthChecker(config, make_probe(config, env=ENV, cwd=tmp_path), on_update)
    checker.start()
    await eventually(lambda: not checker.running)
    await asyncio.sleep(0.2)
    await checker.aclose()
    assert [(u.healthy, u.kill_task) for u in updates] == [(False, False), (False, True)]


async def test_aclose_kills_a_running_probe(
    tmp_path: pathlib.Path, stray_pids: list[int]
) -> None:
    updates: list[tuple[float, HealthUpdate]] = []
    checker = _checker(tmp_path, "echo $$ > probe.pid; exec sleep 600", updates, timeout=0)
    checker.start()
    await eventually(lambda: (tmp_path / "probe.pid").exists()
                      and (tmp_path / "probe.pid").read_text().strip() != "")
    pid = int((tmp_path / "probe.pid").read_text())
    stray_pids.append(pid)
    assert _alive(pid)
    async with asyncio.timeout(60):  # a deadline for a close that would wait for the probe's 600 s
        await checker.aclose()
    assert not _alive(pid)
    assert not checker.running and updates == []
