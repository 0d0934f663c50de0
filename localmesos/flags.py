"""Command-line flags with environment fallbacks, and help that shows every default.

Owns ``add_env_flag`` (``--name`` whose default comes from an environment variable, then a built-in
fallback), ``FlagParser`` (an ``argparse.ArgumentParser`` whose ``--help`` shows each flag's default and
which reports a bad environment value by the variable's name) and ``FlagHelpFormatter``. Used by
``python -m localmesos`` and, since localmesos imports nothing of the framework while the framework may use
localmesos, by every ``mesospaas`` subcommand (``scheduler.serve.add_flag``, ``scheduler.cli``).

Invariants: a flag given on the command line always wins over its variable, so a bad variable is an error
only when its flag is not given. An environment value is checked against the flag's ``type`` and
``choices`` when the parser parses (not when it is built: ``--help`` works whatever the environment says).

Fails: ``FlagParser`` exits with status 2 and a usage line naming the variable, e.g.
``MESOSPAAS_HTTP_PORT: invalid int value 'abc' (the environment fallback of --http-port)``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any


class BadEnvironmentValue:
    """The default of a flag whose environment variable does not parse; ``FlagParser`` reports it."""

    def __init__(self, message: str, raw: str) -> None:
        self.message = message
        self.raw = raw

    def __str__(self) -> str:  # what --help shows as the default
        return self.raw

    def __repr__(self) -> str:
        return f"BadEnvironmentValue({self.message!r})"


def environment_default(env: str, flag: str, fallback: str | None, kw: dict[str, Any]) -> Any:
    """``env``'s value if it is set (checked against ``type`` and ``choices``), else ``fallback``."""
    raw = os.environ.get(env)
    if raw is None:
        return fallback
    convert = kw.get("type")
    fallback_of = f"(the environment fallback of {flag})"
    try:
        value = convert(raw) if callable(convert) else raw
    except argparse.ArgumentTypeError as exc:
        return BadEnvironmentValue(f"{env}: {exc} {fallback_of}", raw)
    except (TypeError, ValueError):
        name = getattr(convert, "__name__", repr(convert))
        return BadEnvironmentValue(f"{env}: invalid {name} value {raw!r} {fallback_of}", raw)
    choices = kw.get("choices")
    if choices is not None and value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        return BadEnvironmentValue(f"{env}: invalid choice {raw!r} (choose from {listed}) {fallback_of}", raw)
    return raw


def add_env_flag(parser: argparse.ArgumentParser, env: str, name: str, fallback: str | None,
                 **kw: Any) -> None:
    """``--name``, defaulting to ``$env`` and then to ``fallback``; the help names both."""
    flag = f"--{name}"
    help_text = str(kw.pop("help", "")).replace("%", "%%")
    where = f"default: %(default)s; env {env}" if fallback is not None else f"env {env}"
    parser.add_argument(flag, default=environment_default(env, flag, fallback, kw), help=f"{help_text} ({where})",
                        **kw)


class FlagHelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to a flag's help when it has a default worth showing and does not say it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if "%(default)" in text or not action.option_strings or default is argparse.SUPPRESS \
                or default is None or default is False or default == "" or default == []:
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


class FlagParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` with ``FlagHelpFormatter`` that refuses bad environment fallbacks.

    Subparsers made with ``add_subparsers().add_parser`` are ``FlagParser`` too (argparse makes them of the
    parent's class), so one root parser covers every subcommand."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        kw.setdefault("formatter_class", FlagHelpFormatter)
        super().__init__(*args, **kw)

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        for value in vars(parsed).values():
            if isinstance(value, BadEnvironmentValue):
                self.error(value.message)
        return parsed, extras


__all__ = ["BadEnvironmentValue", "FlagHelpFormatter", "FlagParser", "add_env_flag", "environment_default"]
