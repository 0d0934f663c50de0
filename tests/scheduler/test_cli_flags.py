"""Every subcommand's flags through the real ``mesospaas`` command (and ``python -m localmesos``): ``--help``
shows the defaults, and a bad ``MESOSPAAS_*`` value is reported by the variable's name (issue 11)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def run(module: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MESOSPAAS_", "LOCALMESOS_"))}
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=60,
                          env={**clean, "COLUMNS": "200", **(env or {})})


def help_line(text: str, flag: str) -> str:
    """The help of ``flag``: its line and the continuation lines up to the next option, joined."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith((flag + " ", flag + ",")))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("-")), len(lines))
    return " ".join(line.strip() for line in lines[start:end])


@pytest.mark.parametrize(("command", "flag", "default"), [
    (("local",), "--http-port", "default: 8080"),
    (("local",), "--http-address", "default: 127.0.0.1"),
    (("local",), "--work-dir", "mesospaas/local"),
    (("local",), "--failover-timeout", "default: 604800"),
    (("serve",), "--http-port", "default: 8080"),
    (("serve",), "--master", "default: 127.0.0.1:5050"),
    (("serve",), "--log-format", "default: text"),
    (("local-mesos",), "--port", "default: 5050"),
    (("local-mesos",), "--heartbeat-interval", "default: 15"),
    (("lb",), "--config", "default: /etc/haproxy/haproxy.cfg"),
    (("lb", "zdd"), "--step-delay", "default: 5.0"),
    (("logs",), "--api", "default: http://127.0.0.1:8080"),
])
def test_help_shows_every_default(command: tuple[str, ...], flag: str, default: str) -> None:
    result = run("scheduler.cli", *command, "--help")
    assert result.returncode == 0, result.stderr
    assert default in help_line(result.stdout, flag)


def test_local_says_how_many_agents_it_starts_and_never_prints_none() -> None:
    result = run("scheduler.cli", "local", "--help")
    assert "default 3, or as many as --cluster lists" in help_line(result.stdout, "--agents")
    assert "default: None" not in result.stdout and "default: False" not in result.stdout


@pytest.mark.parametrize("command", ["local", "serve"])
def test_a_bad_environment_value_is_reported_by_the_variable(command: str) -> None:
    result = run("scheduler.cli", command, env={"MESOSPAAS_HTTP_PORT": "abc"})
    assert result.returncode == 2
    assert "usage:" in result.stderr
    assert f"mesospaas {command}: error: MESOSPAAS_HTTP_PORT: invalid int value 'abc'" in result.stderr
    assert "argument --http-port" not in result.stderr
    result = run("scheduler.cli", command, env={"MESOSPAAS_LOG_LEVEL": "LOUD"})
    assert result.returncode == 2 and "MESOSPAAS_LOG_LEVEL: invalid choice 'LOUD'" in result.stderr


def test_the_flag_wins_over_a_bad_variable() -> None:
    # --http-port given: the bad variable is not used, so the next check (a bad timeout) is what fails.
    result = run("scheduler.cli", "serve", "--http-port", "0", "--failover-timeout", "-1",
                 env={"MESOSPAAS_HTTP_PORT": "abc"})
    assert result.returncode == 2
    assert "--failover-timeout must be positive" in result.stderr and "MESOSPAAS_HTTP_PORT" not in result.stderr


def test_help_works_whatever_the_environment_says() -> None:
    result = run("scheduler.cli", "local", "--help", env={"MESOSPAAS_HTTP_PORT": "abc"})
    assert result.returncode == 0 and "default: abc" in help_line(result.stdout, "--http-port")


def test_localmesos_reports_its_own_variables() -> None:
    result = run("scheduler.cli", "local-mesos", env={"MESOSPAAS_AGENTS": "many"})
    assert result.returncode == 2 and "MESOSPAAS_AGENTS: invalid int value 'many'" in result.stderr
    result = run("localmesos", env={"LOCALMESOS_PORT": "x"})
    assert result.returncode == 2 and "localmesos: error: LOCALMESOS_PORT: invalid int value 'x'" in result.stderr
    result = run("localmesos", env={"LOCALMESOS_SIMULATE": "perhaps"})
    assert result.returncode == 2 and "LOCALMESOS_SIMULATE: not a boolean: 'perhaps'" in result.stderr


def test_local_on_an_exposed_address_needs_authentication() -> None:
    result = run("scheduler.cli", "local", "--http-address", "10.255.255.1", "--http-port", "0")
    assert result.returncode == 2 and "is not a loopback address" in result.stderr
