"""marathon-lb's HAProxy templates: defaults shipped as package data, overridable three ways.

Owns: ``Templates`` (name -> text), ``default_templates`` and the override order of marathon-lb:
a per-port label ``HAPROXY_{n}_<NAME>`` (most specific, resolved at render time by ``for_port``) beats an
environment variable ``HAPROXY_<NAME>`` (``\\n`` un-escaped), which beats a file ``HAPROXY_<NAME>`` in a
templates directory, which beats the default. The shell reads the environment and the directory and hands
them in as plain mappings (``with_overrides``), so this module stays pure.

Global-only templates (``GLOBAL_ONLY``) ignore per-port labels. Templates are ``str.format`` strings
(literal braces doubled), except ``RAW`` ones, which are copied as they are (as marathon-lb does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

GLOBAL_ONLY = frozenset({
    "HEAD", "HTTP_FRONTEND_HEAD", "HTTP_FRONTEND_APPID_HEAD", "HTTPS_FRONTEND_HEAD",
    "HTTP_BACKEND_ACL_ALLOW_DENY", "TCP_BACKEND_ACL_ALLOW_DENY",
    "HTTP_BACKEND_REDIR",  # its label ``HAPROXY_{n}_HTTP_BACKEND_REDIR`` is the redirect path, not a template
})
RAW = frozenset({
    "BACKEND_HTTP_OPTIONS", "BACKEND_STICKY_OPTIONS", "BACKEND_HSTS_OPTIONS",
    "HTTP_BACKEND_ACL_ALLOW_DENY", "TCP_BACKEND_ACL_ALLOW_DENY",
})


def _load_defaults() -> Mapping[str, str]:
    found: dict[str, str] = {}
    for entry in resources.files("mesospaas.routing").joinpath("templates").iterdir():
        if entry.name.endswith(".cfg"):
            found[entry.name[: -len(".cfg")]] = entry.read_text(encoding="utf-8")
    return MappingProxyType(found)


_DEFAULTS = _load_defaults()
NAMES = frozenset(_DEFAULTS)


@dataclass(frozen=True, slots=True)
class Templates:
    values: Mapping[str, str]

    def get(self, name: str) -> str:
        return self.values[name]

    def for_port(self, name: str, labels: Mapping[str, str], index: int) -> str:
        """The template for service port ``index``: its ``HAPROXY_{index}_<name>`` label, else the global one."""
        if name not in GLOBAL_ONLY:
            label = labels.get(f"HAPROXY_{index}_{name}")
            if label is not None:
                return label
        return self.values[name]

    def with_overrides(self, files: Mapping[str, str] | None = None,
                       environment: Mapping[str, str] | None = None) -> Templates:
        """Overrides from a templates directory (file name -> text) and the environment (variable -> value).

        Both are keyed ``HAPROXY_<NAME>``; unknown names are ignored; the environment wins."""
        merged = dict(self.values)
        for source, unescape in ((files or {}, False), (environment or {}, True)):
            for key, text in source.items():
                name = key[len("HAPROXY_"):] if key.startswith("HAPROXY_") else None
                if name in NAMES:
                    merged[name] = text.replace("\\n", "\n") if unescape else text
        return Templates(MappingProxyType(merged))


def default_templates() -> Templates:
    return Templates(_DEFAULTS)
