"""Our extension fields of an app definition, and keeping them out of Marathon's shapes.

Owns which keys of a canonical app definition are mesospaas extensions, how a response leaves them out, and
how a partial update keeps them.

- Top level: ``affinity`` and ``placementStrategy``.
- Inside ``upgradeStrategy``: ``progressDeadlineSeconds``, ``autoRollback`` and ``canary``.

The released ``marathon`` client (0.13.0) raises on any key it does not know in an app or an upgrade
strategy, so one app using an extension would break ``list_apps()`` for everyone. Every Marathon-shaped
rendering of a definition (app and app list responses, stored versions, groups, the plans inside deployment
events, ``api_post_event``) goes through ``public_definition``, which drops them unless the request opted in
with ``embed=app.extensions`` / ``embed=apps.extensions``.

A partial update (``PATCH``, ``PUT`` with ``partialUpdate`` true, the default) keeps the extensions it does
not name, even inside an ``upgradeStrategy`` it replaces: a Marathon client that sends back the app it read
(without the extensions) must not wipe them. A full replace (``partialUpdate=false``) resets what it leaves
out, as Marathon resets any field it is not given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

EXTENSIONS_EMBED = "extensions"
"""The last segment of the embed value that asks for the extensions (``app.extensions``, ``apps.extensions``)."""
TOP_LEVEL_EXTENSIONS = ("affinity", "placementStrategy")
UPGRADE_EXTENSIONS = ("progressDeadlineSeconds", "autoRollback", "canary")


def has_extensions(definition: Mapping[str, Any]) -> bool:
    upgrade = definition.get("upgradeStrategy") or {}
    return any(k in definition for k in TOP_LEVEL_EXTENSIONS) or any(k in upgrade for k in UPGRADE_EXTENSIONS)


def public_definition(definition: Mapping[str, Any], extensions: bool = False) -> dict[str, Any]:
    """``definition`` as a Marathon response shows it: without the extension keys unless ``extensions``.

    Returns a new top-level dict (nested values are shared with ``definition`` except ``upgradeStrategy``,
    which is copied when it is trimmed)."""
    out = dict(definition)
    if extensions or not has_extensions(definition):
        return out
    for key in TOP_LEVEL_EXTENSIONS:
        out.pop(key, None)
    upgrade = out.get("upgradeStrategy")
    if isinstance(upgrade, Mapping):
        out["upgradeStrategy"] = {k: v for k, v in upgrade.items() if k not in UPGRADE_EXTENSIONS}
    return out


def keep_upgrade_extensions(existing: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """A partial update's ``upgradeStrategy`` with the existing extensions it does not name kept."""
    out = dict(update)
    for key in UPGRADE_EXTENSIONS:
        if key in existing and key not in out:
            out[key] = existing[key]
    return out


__all__ = ["EXTENSIONS_EMBED", "TOP_LEVEL_EXTENSIONS", "UPGRADE_EXTENSIONS", "has_extensions",
           "keep_upgrade_extensions", "public_definition"]
