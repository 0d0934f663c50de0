"""The OpenAPI document comes from the validating schemas; the HTML page is self-contained."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from api.openapi import QueryParam, RouteSpec, json_schema, openapi_document, render_html
from api.schemas import AppSchema, GroupSchema
from api.schemas.responses import (
    AppListResponseSchema,
    AppResponseSchema,
    DeploymentInfoSchema,
    DeploymentResultSchema,
)

ROUTES = [
    RouteSpec("GET", "/v2/apps", "List apps", response=AppListResponseSchema, tags=("apps",),
              query=(QueryParam("cmd"), QueryParam("embed", repeated=True, description="app.tasks, ..."))),
    RouteSpec("POST", "/v2/apps", "Create an app", request=AppSchema, response=AppResponseSchema,
              status_codes=(201, 400, 409, 422), query=(QueryParam("force", "boolean", default=False),)),
    RouteSpec("PUT", "/v2/apps/{app_id:.+}", "Update an app", request=AppSchema, response=DeploymentResultSchema,
              status_codes=(200, 201, 400, 409, 422),
              query=(QueryParam("partialUpdate", "boolean", default=True),),
              path_descriptions={"app_id": "App path without the leading slash"}),
    RouteSpec("PUT", "/v2/apps", "Update many apps", request=AppSchema(many=True), response=DeploymentResultSchema),
    RouteSpec("GET", "/v2/deployments", "Running deployments", response=DeploymentInfoSchema(many=True)),
    RouteSpec("DELETE", "/v2/deployments/{id}", "Cancel", response=DeploymentResultSchema, status_codes=(200, 202, 404)),
    RouteSpec("POST", "/v2/groups", "Create a group", request=GroupSchema, response=DeploymentResultSchema,
              status_codes=(201, 409, 422)),
    RouteSpec("GET", "/ping", "Liveness", response_content_type="text/plain"),
]


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi_document(ROUTES)


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def test_the_document_is_openapi_3_and_json(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.0")
    assert json.loads(json.dumps(doc)) == doc


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    names = set(doc["components"]["schemas"])
    found = set(refs(doc))
    assert found
    assert {ref.rsplit("/", 1)[-1] for ref in found} <= names
    assert all(ref.startswith("#/components/schemas/") for ref in found)


def test_the_app_component_has_every_field_of_the_schema(doc: dict[str, Any]) -> None:
    app = doc["components"]["schemas"]["App"]
    assert set(app["properties"]) == set(AppSchema().fields)
    assert app["properties"]["versionInfo"]["readOnly"] is True


def test_validators_become_json_schema_constraints(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    props = schemas["App"]["properties"]
    assert props["cpus"] == {"type": "number", "format": "double", "minimum": 0.001,
                             "description": "CPU shares per instance.", "default": 1.0,
                             "nullable": True}  # null is accepted and means "absent"
    assert props["instances"]["minimum"] == 0 and props["instances"]["format"] == "int32"
    assert props["killSelection"]["enum"] == ["YOUNGEST_FIRST", "OLDEST_FIRST"]
    assert props["executor"]["pattern"] == r"^(//cmd)|(//mesospaas)|(/?[^/]+(/[^/]+)*)|$"
    assert props["constraints"] == {"type": "array", "items": {"type": "array", "items": {"type": "string"}},
                                    "description": props["constraints"]["description"], "default": [],
                                    "nullable": True}
    assert props["labels"]["additionalProperties"] == {"type": "string"}
    assert {"$ref": "#/components/schemas/UnreachableEnabled"} in props["unreachableStrategy"]["oneOf"]
    upgrade = schemas["UpgradeStrategy"]["properties"]["minimumHealthCapacity"]
    assert (upgrade["minimum"], upgrade["maximum"]) == (0.0, 1.0)
    assert schemas["PersistentVolumeInfo"]["required"] == ["size"]
    assert schemas["PortDefinition"]["properties"]["port"]["maximum"] == 65535
    assert schemas["Artifact"]["properties"]["uri"]["maxLength"] == 1024


def test_the_group_component_refers_to_itself_and_to_app(doc: dict[str, Any]) -> None:
    group = doc["components"]["schemas"]["Group"]["properties"]
    assert group["groups"]["items"] == {"$ref": "#/components/schemas/Group"}
    assert group["apps"]["items"] == {"$ref": "#/components/schemas/App"}


def test_operations(doc: dict[str, Any]) -> None:
    paths = doc["paths"]
    assert set(paths) == {"/v2/apps", "/v2/apps/{app_id}", "/v2/deployments", "/v2/deployments/{id}",
                          "/v2/groups", "/ping"}
    create = paths["/v2/apps"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/App"}
    assert create["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AppResponse"}
    assert create["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationError"}
    # Both 409 bodies match both shapes (no required keys), so anyOf: oneOf would reject every real body.
    assert create["responses"]["409"]["content"]["application/json"]["schema"] == {"anyOf": [
        {"$ref": "#/components/schemas/LockedError"}, {"$ref": "#/components/schemas/Message"}]}
    assert create["responses"]["400"]["content"]["application/json"]["schema"] == {"anyOf": [
        {"$ref": "#/components/schemas/ValidationError"}, {"$ref": "#/components/schemas/InvalidJson"}]}
    update = paths["/v2/apps/{app_id}"]["put"]
    assert update["parameters"][0] == {"name": "app_id", "in": "path", "required": True, "schema": {"type": "string"},
                                       "description": "App path without the leading slash"}
    assert update["parameters"][1]["schema"] == {"type": "boolean", "default": True}
    listing = paths["/v2/apps"]["get"]
    embed = next(p for p in listing["parameters"] if p["name"] == "embed")
    assert embed["schema"] == {"type": "array", "items": {"type": "string"}} and embed["explode"] is True
    many = paths["/v2/apps"]["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert many == {"type": "array", "items": {"$ref": "#/components/schemas/App"}}
    deployments = paths["/v2/deployments"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert deployments["type"] == "array"
    assert "content" not in paths["/v2/deployments/{id}"]["delete"]["responses"]["202"]
    assert paths["/ping"]["get"]["responses"]["200"] == {"description": "OK"}  # no response schema given
    assert len({op["operationId"] for ops in paths.values() for op in ops.values()}) == len(ROUTES)


def test_json_schema_of_one_schema() -> None:
    ref, components = json_schema(GroupSchema)
    assert ref == {"$ref": "#/components/schemas/Group"}
    assert {"Group", "App", "Container", "HealthCheck"} <= set(components)


def test_html_is_self_contained_and_escaped(doc: dict[str, Any]) -> None:
    page = render_html(doc)
    assert page.startswith("<!DOCTYPE html>")
    lowered = page.lower()
    assert "<script" not in lowered
    assert 'src="' not in lowered and "<link" not in lowered and "@import" not in lowered
    assert 'href="http' not in lowered
    for name in doc["components"]["schemas"]:
        assert f'id="schema-{name}"' in page
    assert "/v2/apps/{app_id}" in page
    hostile = render_html({"info": {"title": "<script>alert(1)</script>"}, "paths": {}, "components": {"schemas": {}}})
    assert "<script>alert" not in hostile and "&lt;script&gt;" in hostile
