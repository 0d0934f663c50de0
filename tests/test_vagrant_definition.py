"""The production-like cluster in ``vagrant/``, checked without Vagrant or a hypervisor.

What can go stale without anyone booting the cluster: a provisioning script the Vagrantfile names but nobody
wrote (or one nobody runs or sources), a script that calls the shared helpers of ``provision/lib.sh`` without
sourcing it, a script that does not parse or that shellcheck rejects, the README's node table
or settings table drifting from the Vagrantfile's defaults, and the README or the mesospaas unit's
environment file naming ``mesospaas serve`` flags the code does not have (or leaving out ones it has).

shellcheck: skipped with a reason when the binary is missing on a workstation, but a failure under ``CI=true``,
where the test setup installs it: in CI this check must never silently not run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from scheduler.serve import add_scheduler_arguments

ROOT = Path(__file__).resolve().parents[1]
VAGRANT = ROOT / "vagrant"
VAGRANTFILE = VAGRANT / "Vagrantfile"
README = VAGRANT / "README.md"
PROVISION = VAGRANT / "provision"
SCRIPTS = sorted(PROVISION.glob("*.sh"))
LIB = PROVISION / "lib.sh"
SYNCED_CHECKOUT = "/mesospaas"  # where the Vagrantfile syncs the checkout (`..`) in every VM


def vagrantfile() -> str:
    return VAGRANTFILE.read_text()


def readme() -> str:
    return README.read_text()


def referenced_scripts() -> list[str]:
    """Every ``path: "provision/..."`` of a provisioner in the Vagrantfile."""
    return re.findall(r'\bpath:\s*"([^"]+)"', vagrantfile())


def sourced_scripts(script: Path) -> list[Path]:
    """The files ``script`` sources (``source`` or ``.``), each named by the shellcheck directive just above the
    command, ``# shellcheck ... source=PATH`` with PATH from the checkout's root (see test_sources_are_declared)."""
    return [ROOT / path for path in re.findall(r"^[ \t]*# shellcheck [^\n]*\bsource=(\S+)[^\n]*\n[ \t]*(?:source|\.)\s",
                                               script.read_text(), re.M)]


def code_lines(script: Path) -> list[str]:
    """The lines of ``script`` with comments (whole-line ones and `` # ...`` at the end) blanked."""
    return [re.sub(r"(^|\s)#.*", "", line) for line in script.read_text().splitlines()]


def lib_functions() -> list[str]:
    """The functions ``provision/lib.sh`` defines."""
    return re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)\(\)\s*\{", LIB.read_text(), re.M)


def vagrantfile_settings() -> dict[str, tuple[str | None, str]]:
    """Constant -> (environment variable or None, default) from the settings at the top of the Vagrantfile:
    ``NAME = env_int("VAR", 3)``, ``NAME = ENV.fetch("VAR", "x")`` and ``NAME = 11``."""
    settings: dict[str, tuple[str | None, str]] = {}
    pattern = re.compile(r'^([A-Z][A-Z0-9_]*)\s*=\s*(?:env_int\("(\w+)",\s*(\d+)\)|ENV\.fetch\("(\w+)",\s*"([^"]*)"\)'
                         r'|(\d+)\b)', re.M)
    for m in pattern.finditer(vagrantfile()):
        name, int_var, int_default, str_var, str_default, literal = m.groups()
        if int_var:
            settings[name] = (int_var, int_default)
        elif str_var:
            settings[name] = (str_var, str_default)
        else:
            settings[name] = (None, literal)
    return settings


def default_nodes() -> dict[str, str]:
    """Node name -> address with the default settings, derived as the Vagrantfile derives them."""
    s = vagrantfile_settings()
    net = s["NET"][1]
    nodes: dict[str, str] = {}
    for count, first_ip, prefix in (("MASTERS", "MASTER_IP", "master"), ("AGENTS", "AGENT_IP", "agent"),
                                    ("SCHEDULERS", "SCHEDULER_IP", "mesospaas")):
        for i in range(1, int(s[count][1]) + 1):
            nodes[f"{prefix}{i}"] = f"{net}.{int(s[first_ip][1]) + i - 1}"
    nodes["edge"] = f"{net}.{int(s['EDGE_IP'][1])}"
    return nodes


def readme_section(heading: str) -> str:
    """The README text under ``heading`` (a whole heading line) up to the next heading of any level."""
    text = readme()
    start = text.index(heading + "\n") + len(heading) + 1
    following = re.search(r"^#{1,6} ", text[start:], re.M)
    return text[start:start + following.start()] if following else text[start:]


def table_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row in ``text``, header and separator rows left out."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|") or re.fullmatch(r"\|[-|: ]+\|", line.strip()):
            continue
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows[1:] if rows else rows


def serve_flags(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """``mesospaas serve``'s flags (without ``--``) and their defaults, with no MESOSPAAS_* variable set."""
    return parser_flags(add_scheduler_arguments, monkeypatch)


def parser_flags(add_arguments: Callable[[argparse.ArgumentParser], None],
                 monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """The flags (without ``--``) ``add_arguments`` defines, and their defaults, with no MESOSPAAS_* variable set."""
    for name in list(os.environ):
        if name.startswith("MESOSPAAS_"):
            monkeypatch.delenv(name)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    flags: dict[str, object] = {}
    for action in parser._actions:
        default = action.default
        if isinstance(default, str) and callable(action.type):
            default = action.type(default)  # what argparse makes of a string default
        flags.update({option[2:]: default for option in action.option_strings
                      if option.startswith("--") and option != "--help"})
    return flags


def env_name(flag: str) -> str:
    return "MESOSPAAS_" + flag.upper().replace("-", "_")


# -- the scripts ------------------------------------------------------------------------------------------------

def test_every_script_the_vagrantfile_names_exists() -> None:
    referenced = referenced_scripts()
    assert referenced, "the Vagrantfile names no provisioning scripts"
    missing = [path for path in referenced if not (VAGRANT / path).is_file()]
    assert missing == []


def test_every_provisioning_script_is_used() -> None:
    """Run by a provisioner, or sourced by a script that is used."""
    used = {(VAGRANT / path).resolve() for path in referenced_scripts()}
    pending = list(used)
    while pending:
        script = pending.pop()
        for sourced in sourced_scripts(script):
            if sourced.resolve() not in used:
                used.add(sourced.resolve())
                pending.append(sourced.resolve())
    assert [s.name for s in SCRIPTS if s.resolve() not in used] == []


def test_sources_are_declared() -> None:
    """Every ``source``/``.`` in a script has the shellcheck directive naming the file, and the path the command
    reads in the VM is that file in the synced checkout: what shellcheck checks is what runs."""
    assert re.search(rf'synced_folder\s+"\.\.",\s*"{SYNCED_CHECKOUT}"', vagrantfile()), \
        f"the Vagrantfile no longer syncs the checkout to {SYNCED_CHECKOUT}"
    for script in SCRIPTS:
        commands = [line for line in code_lines(script) if re.match(r"\s*(?:source|\.)\s", line)]
        sourced = sourced_scripts(script)
        assert len(sourced) == len(commands), f"{script.name}: a source command without '# shellcheck source='"
        for path in sourced:
            assert path.is_file(), f"{script.name} sources {path}, which does not exist"
            assert f"{SYNCED_CHECKOUT}/{path.relative_to(ROOT)}" in script.read_text(), \
                f"{script.name} does not read {path.relative_to(ROOT)} from the synced checkout"


def test_the_shared_helpers_are_sourced_where_used() -> None:
    """A script that calls a function of lib.sh sources lib.sh before the first call, and defines none of them
    again itself."""
    functions = lib_functions()
    assert {"log", "die", "apt_install", "put_file"} <= set(functions)
    users = []
    for script in SCRIPTS:
        if script == LIB:
            continue
        lines = code_lines(script)
        redefined = [f for f in functions if any(re.match(rf"\s*{f}\(\)", line) for line in lines)]
        assert redefined == [], f"{script.name} defines lib.sh's {redefined} again"
        calls = [i for i, line in enumerate(lines)
                 if any(re.search(rf"(?<![\w$/.-]){f}(?![\w-])", line) for f in functions)]
        if not calls:
            continue
        users.append(script.name)
        assert LIB in sourced_scripts(script), f"{script.name} calls lib.sh's functions without sourcing it"
        source_line = next(i for i, line in enumerate(lines) if re.match(r"\s*(?:source|\.)\s", line))
        assert source_line < calls[0], f"{script.name} calls a lib.sh function before sourcing it"
        tag = re.search(r"^LOG_TAG=(\S+)$", "\n".join(lines[:source_line]), re.M)
        assert tag, f"{script.name} sets no LOG_TAG before sourcing lib.sh"
    assert users, "no script uses lib.sh"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_parses(script: Path) -> None:
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_is_strict_bash(script: Path) -> None:
    lines = script.read_text().splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in lines[:30], "set -euo pipefail belongs before the first command"


def test_scripts_pass_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        if os.environ.get("CI") == "true":
            pytest.fail("shellcheck is not installed, but CI=true: the CI test setup must install it "
                        "(Debian package shellcheck)")
        pytest.skip("shellcheck is not installed (Debian package shellcheck); CI runs this check")
    # -x: each script is checked with the lib.sh it sources (found through its `source=` directive).
    result = subprocess.run([shellcheck, "-x", "--shell=bash", *map(str, SCRIPTS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# -- the README against the Vagrantfile and the code ------------------------------------------------------------

def test_readme_node_table_matches_the_vagrantfile_defaults() -> None:
    rows = table_rows(readme_section("## What runs where"))
    table = {}
    for row in rows:
        name, address = re.fullmatch(r"`([a-z0-9-]+)`", row[0]), re.fullmatch(r"`([0-9.]+)`", row[1])
        assert name and address, f"not a node row: {row}"
        table[name.group(1)] = address.group(1)
    assert table == default_nodes()


def test_readme_settings_table_matches_the_vagrantfile() -> None:
    variables = {var: default for var, default in vagrantfile_settings().values() if var is not None}
    documented: dict[str, str] = {}
    for row in table_rows(readme_section("### Settings")):
        names = re.findall(r"`([A-Z][A-Z0-9_]*)`", row[0])
        defaults = [d.strip() for d in row[1].split(",")] if len(names) > 1 else [row[1].strip()]
        assert names and len(defaults) == len(names), f"cannot read the settings row {row}"
        for name, default in zip(names, defaults):
            literal = re.fullmatch(r"`([^`]*)`", default)
            documented[name] = literal.group(1) if literal else ""  # "empty", "one per CPU": no value
    assert set(documented) == set(variables)
    assert documented == variables


def test_readme_documents_exactly_the_serve_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    flags = serve_flags(monkeypatch)
    rows = table_rows(readme_section("### `mesospaas serve` flags"))
    documented = {}
    for row in rows:
        flag_cell = re.fullmatch(r"`--([a-z0-9-]+)`", row[0])
        env_cell = re.fullmatch(r"`(MESOSPAAS_[A-Z0-9_]+)`", row[1])
        assert flag_cell and env_cell, f"not a flag row: {row}"
        documented[flag_cell.group(1)] = (env_cell.group(1), row[2])
    assert set(documented) == set(flags)
    for flag, (env, default_cell) in documented.items():
        assert env == env_name(flag)
        literal = re.match(r"`([^`$]*)`", default_cell)
        actual = flags[flag]
        if actual is None or literal is None or literal.group(1).startswith("--"):
            continue  # no default, or one described rather than given (another flag's value, a path)
        if isinstance(actual, (int, float)):
            assert float(literal.group(1)) == float(actual), flag
        else:
            assert literal.group(1) == actual, flag


@pytest.mark.parametrize("path", [README, PROVISION / "mesospaas.sh"], ids=lambda p: p.name)
def test_mesospaas_variables_are_serve_flags(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    known = {env_name(flag) for flag in serve_flags(monkeypatch)}
    named = set(re.findall(r"\bMESOSPAAS_[A-Z0-9_]*[A-Z0-9]\b", path.read_text())) - lb_variables_named(path)
    assert named, f"{path.name} names no MESOSPAAS_* variable"
    assert named - known == set()


def test_the_service_is_configured_for_zookeeper_and_a_reachable_api() -> None:
    script = (PROVISION / "mesospaas.sh").read_text()
    env_file = re.search(r"put_file /etc/default/mesospaas 0644 <<EOF\n(.*?)\nEOF\n", script, re.S)
    assert env_file, "mesospaas.sh writes no /etc/default/mesospaas"
    settings = dict(line.split("=", 1) for line in env_file.group(1).splitlines() if not line.startswith("#"))
    assert settings["MESOSPAAS_MASTER"] == "$MASTER_ZK"
    assert settings["MESOSPAAS_ZK"] == "$STATE_ZK"
    assert settings["MESOSPAAS_HTTP_ADDRESS"] == "$NODE_IP"  # what /v2/leader and the standby's proxy use
    text = vagrantfile()
    assert re.search(r'MESOS_ZK\s*=\s*"zk://#\{ZK_HOSTS\}/mesos"', text)
    assert re.search(r'MESOSPAAS_ZK\s*=\s*"zk://#\{ZK_HOSTS\}/mesospaas"', text)


# -- the edge node: mesospaas lb ---------------------------------------------------------------------------------

def lb_flags(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """``mesospaas lb``'s flags (without ``--``)."""
    from scheduler.lb import cli as lb_cli
    return set(parser_flags(lb_cli.add_arguments, monkeypatch))


def lb_variables_named(path: Path) -> set[str]:
    return set(re.findall(r"\bMESOSPAAS_LB_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))


@pytest.mark.parametrize("path", [README, PROVISION / "haproxy.sh"], ids=lambda p: p.name)
def test_lb_variables_are_lb_flags(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    known = {"MESOSPAAS_LB_" + flag.upper().replace("-", "_") for flag in lb_flags(monkeypatch)}
    named = lb_variables_named(path)
    assert named, f"{path.name} names no MESOSPAAS_LB_* variable"
    assert named - known == set()


def test_the_edge_runs_mesospaas_lb_with_its_own_haproxy_against_every_api() -> None:
    script = (PROVISION / "haproxy.sh").read_text()
    env_file = re.search(r"put_file /etc/default/mesospaas-lb 0644 <<EOF\n(.*?)\nEOF\n", script, re.S)
    assert env_file, "haproxy.sh writes no /etc/default/mesospaas-lb"
    settings = dict(line.split("=", 1) for line in env_file.group(1).splitlines() if not line.startswith("#"))
    assert settings["MESOSPAAS_LB_API"] == "$API_URLS"
    assert settings["MESOSPAAS_LB_RUN_HAPROXY"] == "true"
    unit = re.search(r"put_file /etc/systemd/system/mesospaas-lb.service 0644 <<EOF\n(.*?)\nEOF\n", script, re.S)
    assert unit and re.search(r"^ExecStart=\$APP/\.venv/bin/mesospaas lb$", unit.group(1), re.M)
    assert "systemctl mask haproxy.service" in script  # the lb owns HAProxy; the package's unit must not hold :80
    text = vagrantfile()
    edge = text[text.index("when :edge"):]
    assert re.search(r'"API_URLS"\s*=>\s*api_urls', edge)
    assert re.search(r'select \{ \|m\| m\[:role\] == :mesospaas \}\.map \{ \|m\| "http://#\{m\[:ip\]\}:#\{API_PORT\}" \}', edge)
