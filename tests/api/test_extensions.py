"""Our extension fields never reach a Marathon shape unless asked for: app versions, groups and the plans in
deployment events render definitions through ``public_definition`` (the released client rejects unknown keys)."""

from __future__ import annotations

from typing import Any

from api.plans import group_json, stored_app_json
from api.schemas import dump_app
from api.schemas.extensions import has_extensions, public_definition
from mesospaas.model.group import Group
from tests.api.helpers import accepted, an_app, client_incompatibilities

EXTENDED = an_app(
    id="/shop/web", placementStrategy="BINPACK", affinity={"apps": [{"app": "/shop/db", "type": "AFFINITY"}]},
    upgradeStrategy={"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5, "progressDeadlineSeconds": 60,
                     "autoRollback": True, "canary": {"instances": 1}})


def test_public_definition_drops_exactly_the_extensions() -> None:
    definition = accepted(EXTENDED).definition
    assert has_extensions(definition)
    public = public_definition(definition)
    assert not has_extensions(public)
    assert public["upgradeStrategy"] == {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5}
    assert {k: v for k, v in definition.items() if k not in ("affinity", "placementStrategy", "upgradeStrategy")} \
        == {k: v for k, v in public.items() if k != "upgradeStrategy"}
    assert public_definition(definition, extensions=True) == definition
    assert definition["upgradeStrategy"]["canary"] == {"instances": 1, "healthySeconds": 60.0, "promote": "AUTO"}


def test_groups_and_event_plans_render_apps_without_extensions() -> None:
    app = accepted(EXTENDED)
    stored: dict[Any, dict[str, Any]] = {(app.spec.id, app.spec.version): app.definition}
    render = stored_app_json(None, lambda platform, app_id, version: stored.get((app_id, version)))  # type: ignore[arg-type]
    root = Group.of([app.spec])
    (shop,) = group_json(root, render)["groups"]
    (rendered,) = shop["apps"]
    assert client_incompatibilities(rendered) == []
    assert rendered["upgradeStrategy"] == {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5}
    assert client_incompatibilities(dump_app(app)) == []
    assert client_incompatibilities(dump_app(app, extensions=True)) != []  # the opt-in really shows them
