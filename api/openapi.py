"""An OpenAPI 3.0 document of the HTTP API, generated from the same marshmallow schemas that validate it.

Owns ``RouteSpec``/``QueryParam`` (what the route table declares), ``openapi_document(routes)``, the
marshmallow-field -> JSON-schema converter it uses (``json_schema``), and ``render_html(doc)``, a
self-contained page (inline CSS, no scripts, nothing fetched) for humans.

Conversion rules: the strict JSON fields of ``api.schemas.fields`` map to their JSON types (integers carry
``format: int32``/``int64``, numbers ``double``); ``Range``/``Length``/``Regexp``/``OneOf`` validators become
``minimum``/``maximum``/``exclusiveMinimum``/``minLength``/``minItems``/``pattern``/``enum``; field
``metadata`` gives ``description``/``default``/``example``; nested schemas become ``$ref``s to
``components.schemas`` named after the class without its ``Schema`` suffix; ``dump_only`` fields are
``readOnly``. A schema *instance* created with ``many=True`` describes a JSON array.

Error responses are filled in by status: 400 and 422 use ``ValidationError``, 409 ``LockedError`` or
``Message``, every other 4xx/5xx ``Message``.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from marshmallow import Schema, fields, validate

from api.schemas.app import AppSchema
from api.schemas.fields import (
    JsonBoolean,
    JsonDict,
    JsonEnum,
    JsonInteger,
    JsonNumber,
    JsonString,
    OneOfTypes,
)
from api.schemas.group import GroupSchema
from api.schemas.responses import InvalidJsonSchema, LockedErrorSchema, MessageSchema, ValidationErrorSchema

OPENAPI_VERSION = "3.0.3"
SchemaRef = type[Schema] | Schema | None

_STATUS_TEXT = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 302: "Found",
    400: "Bad request (Invalid JSON)", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 422: "Object is not valid", 500: "Internal server error",
    502: "No leader", 503: "Unavailable",
}
_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[^{}]*)?\}")


@dataclass(frozen=True, slots=True)
class QueryParam:
    name: str
    type: str = "string"
    """``string``, ``boolean``, ``integer`` or ``number``."""
    description: str = ""
    required: bool = False
    repeated: bool = False
    """Given several times for a list (``embed=a&embed=b``)."""
    default: Any = None
    enum: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One operation. ``path`` may use aiohttp's ``{name}`` or ``{name:regex}`` placeholders."""

    method: str
    path: str
    summary: str
    request: SchemaRef = None
    response: SchemaRef = None
    status_codes: tuple[int, ...] = (200,)
    """The 2xx codes get ``response`` (except 202/204, which have no body); 4xx/5xx get an error body."""
    query: tuple[QueryParam, ...] = ()
    description: str = ""
    tags: tuple[str, ...] = ()
    response_content_type: str = "application/json"
    path_descriptions: Mapping[str, str] = field(default_factory=dict)


def component_name(schema: Schema | type[Schema]) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__
    return name[: -len("Schema")] if name.endswith("Schema") and name != "Schema" else name


class _Components:
    """Collects component schemas as they are referenced (handles self-reference: ``GroupSchema``)."""

    def __init__(self) -> None:
        self.schemas: dict[str, dict[str, Any]] = {}

    def ref(self, schema: Schema | type[Schema]) -> dict[str, Any]:
        name = component_name(schema)
        if name not in self.schemas:
            self.schemas[name] = {}  # placeholder first: breaks recursion
            instance = schema() if isinstance(schema, type) else schema
            self.schemas[name] = self.object_schema(instance)
        return {"$ref": f"#/components/schemas/{name}"}

    def object_schema(self, schema: Schema) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for name, fld in schema.fields.items():
            key = fld.data_key or name
            properties[key] = self.field(fld)
            if fld.required:
                required.append(key)
        out: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            out["required"] = required
        doc = (type(schema).__doc__ or "").strip()
        if doc:
            out["description"] = " ".join(doc.split())
        return out

    def field(self, fld: fields.Field) -> dict[str, Any]:
        out = self._type(fld)
        for validator in _validators(fld):
            out.update(_constraints(validator, out))
        metadata = dict(fld.metadata)
        if "description" in metadata:
            out["description"] = metadata["description"]
        if "default" in metadata:
            out["default"] = metadata["default"]
        if "example" in metadata:
            out["example"] = metadata["example"]
        if fld.dump_only:
            out["readOnly"] = True
        if fld.allow_none and out:
            out["nullable"] = True  # null is accepted (and means "absent")
        if "$ref" in out and len(out) > 1:  # OpenAPI 3.0 ignores siblings of $ref: wrap it
            ref = {"$ref": out.pop("$ref")}
            out = {"allOf": [ref], **out}
        return out

    def _type(self, fld: fields.Field) -> dict[str, Any]:
        if isinstance(fld, JsonEnum):
            return {"type": "string", "enum": list(fld.choices)}
        if isinstance(fld, JsonString | fields.String):
            return {"type": "string"}
        if isinstance(fld, JsonInteger):
            return {"type": "integer", "format": "int64" if fld.int64 else "int32"}
        if isinstance(fld, fields.Integer):
            return {"type": "integer"}
        if isinstance(fld, JsonNumber | fields.Float | fields.Number):
            return {"type": "number", "format": "double"}
        if isinstance(fld, JsonBoolean | fields.Boolean):
            return {"type": "boolean"}
        if isinstance(fld, fields.Nested):
            nested = fld.schema
            ref = self.ref(nested)
            if getattr(nested, "many", False) or fld.many:
                return {"type": "array", "items": ref}
            return ref
        if isinstance(fld, fields.List):
            return {"type": "array", "items": self.field(fld.inner)}
        if isinstance(fld, JsonDict):
            return {"type": "object", "additionalProperties": self.field(fld.value_field)}
        if isinstance(fld, fields.Dict):
            value_field = fld.value_field
            return {"type": "object", "additionalProperties": self.field(value_field) if value_field else {}}
        if isinstance(fld, OneOfTypes):
            return {"oneOf": [self.field(alternative) for alternative in fld.alternatives]}
        return {}


def _validators(fld: fields.Field) -> Iterable[Any]:
    return list(getattr(fld, "validators", ()) or ())


def _constraints(validator: Any, described: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(validator, validate.Range):
        if validator.min is not None:
            out["minimum"] = validator.min
            if not validator.min_inclusive:
                out["exclusiveMinimum"] = True
        if validator.max is not None:
            out["maximum"] = validator.max
            if not validator.max_inclusive:
                out["exclusiveMaximum"] = True
    elif isinstance(validator, validate.Length):
        array = described.get("type") == "array"
        if validator.min is not None:
            out["minItems" if array else "minLength"] = validator.min
        if validator.max is not None:
            out["maxItems" if array else "maxLength"] = validator.max
    elif isinstance(validator, validate.Regexp):
        out["pattern"] = validator.regex.pattern
    elif isinstance(validator, validate.OneOf):
        out["enum"] = list(validator.choices)
    return out


def json_schema(schema: Schema | type[Schema]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The JSON schema (a ``$ref``) of ``schema`` and the components it needs."""
    components = _Components()
    ref = components.ref(schema)
    return ref, components.schemas


def _body_schema(components: _Components, schema: Schema | type[Schema]) -> dict[str, Any]:
    ref = components.ref(schema)
    if isinstance(schema, Schema) and schema.many:
        return {"type": "array", "items": ref}
    return ref


def _operation_id(method: str, path: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", _PATH_PARAM.sub(lambda m: "by " + m.group(1), path))
    return method.lower() + "".join(w[:1].upper() + w[1:] for w in words)


def _query_parameter(param: QueryParam) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": param.type}
    if param.enum:
        schema["enum"] = list(param.enum)
    if param.default is not None:
        schema["default"] = param.default
    if param.repeated:
        schema = {"type": "array", "items": schema}
    out: dict[str, Any] = {"name": param.name, "in": "query", "required": param.required, "schema": schema}
    if param.description:
        out["description"] = param.description
    if param.repeated:
        out["style"] = "form"
        out["explode"] = True
    return out


def _error_response(components: _Components, status: int) -> dict[str, Any]:
    description = _STATUS_TEXT.get(status, "Error")
    if status == 422:
        schema: dict[str, Any] = components.ref(ValidationErrorSchema)
    elif status == 400:
        # Marathon's 400 "Invalid JSON" carries the parser's message as a string when the body is not JSON.
        schema = {"anyOf": [components.ref(ValidationErrorSchema), components.ref(InvalidJsonSchema)]}
    elif status == 409:
        # A lock (with ``deployments``) or "already exists" (message only). Not ``oneOf``: neither shape has a
        # required key, so every body matches both and ``oneOf`` would reject all of them.
        schema = {"anyOf": [components.ref(LockedErrorSchema), components.ref(MessageSchema)]}
    else:
        schema = components.ref(MessageSchema)
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_document(
    routes: Sequence[RouteSpec],
    *,
    title: str = "mesospaas: Marathon v2 compatible API",
    version: str = "1.0",
    description: str = (
        "Marathon REST API v2, as served by mesospaas. Validation errors use Marathon's bodies: "
        "422 {\"message\": \"Object is not valid\", \"details\": [{\"path\": \"/healthChecks(0)/portIndex\", "
        "\"errors\": [...]}]}."
    ),
) -> dict[str, Any]:
    """OpenAPI 3.0 for ``routes``; ``components.schemas`` holds App, Group and every schema referenced."""
    components = _Components()
    for schema in (AppSchema, GroupSchema, ValidationErrorSchema, MessageSchema, LockedErrorSchema):
        components.ref(schema)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        path = _PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", route.path)
        operation: dict[str, Any] = {"summary": route.summary, "operationId": _operation_id(route.method, route.path)}
        if route.description:
            operation["description"] = route.description
        if route.tags:
            operation["tags"] = list(route.tags)
        parameters = [
            {
                "name": name, "in": "path", "required": True, "schema": {"type": "string"},
                **({"description": route.path_descriptions[name]} if name in route.path_descriptions else {}),
            }
            for name in _PATH_PARAM.findall(route.path)
        ]
        parameters.extend(_query_parameter(q) for q in route.query)
        if parameters:
            operation["parameters"] = parameters
        if route.request is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _body_schema(components, route.request)}},
            }
        responses: dict[str, Any] = {}
        for status in route.status_codes:
            if status >= 400:
                responses[str(status)] = _error_response(components, status)
                continue
            entry: dict[str, Any] = {"description": _STATUS_TEXT.get(status, "Success")}
            if route.response is not None and status not in (202, 204, 302):
                entry["content"] = {route.response_content_type: {"schema": _body_schema(components, route.response)}}
            responses[str(status)] = entry
        operation["responses"] = responses or {"default": {"description": "Response"}}
        paths.setdefault(path, {})[route.method.lower()] = operation
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {"schemas": dict(sorted(components.schemas.items()))},
    }


# --- HTML rendering ---------------------------------------------------------------------------------------

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1d2330;background:#f7f8fa}
header{background:#22304a;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}
header p{margin:6px 0 0;color:#c9d3e6;max-width:980px}
main{display:flex;gap:24px;padding:24px 32px}nav{min-width:260px;max-width:300px;font-size:13px}
nav ul{list-style:none;padding:0;margin:0 0 16px}nav li{margin:2px 0}nav a{color:#22304a;text-decoration:none}
nav h3{font-size:12px;text-transform:uppercase;color:#6b7385;margin:16px 0 6px}
article{flex:1;min-width:0}section{background:#fff;border:1px solid #dde2ea;border-radius:6px;
padding:14px 18px;margin-bottom:16px}h2{font-size:18px;margin:24px 0 10px}
.op{display:flex;align-items:center;gap:10px;font-family:Menlo,Consolas,monospace;font-size:15px}
.m{display:inline-block;min-width:58px;text-align:center;border-radius:4px;color:#fff;font-weight:600;
font-size:12px;padding:3px 6px}.get{background:#2f7dd1}.post{background:#2f9e5b}.put{background:#c7851a}
.patch{background:#7a5bc4}.delete{background:#c8423b}.head,.options{background:#6b7385}
table{border-collapse:collapse;width:100%;font-size:13px;margin:8px 0}
th,td{border-bottom:1px solid #e6e9ef;text-align:left;padding:5px 8px;vertical-align:top}
th{color:#6b7385;font-weight:600}code,.t{font-family:Menlo,Consolas,monospace;font-size:12px}
.req{color:#c8423b;font-size:11px}.muted{color:#6b7385}a{color:#2f62b5}
"""


REQUIRED_MARK = ' <span class="req">required</span>'


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _anchor(kind: str, name: str) -> str:
    return f"{kind}-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


def _type_html(schema: Mapping[str, Any]) -> str:
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return f'<a href="#{_anchor("schema", name)}">{_e(name)}</a>'
    if "allOf" in schema:
        return " &amp; ".join(_type_html(s) for s in schema["allOf"])
    if "oneOf" in schema:
        return " | ".join(_type_html(s) for s in schema["oneOf"])
    kind = schema.get("type", "any")
    if kind == "array":
        return "array of " + _type_html(schema.get("items", {}))
    if kind == "object" and "additionalProperties" in schema:
        return "map of " + _type_html(schema["additionalProperties"] or {})
    text = _e(kind)
    if "format" in schema:
        text += f" <span class=\"muted\">({_e(schema['format'])})</span>"
    if "enum" in schema:
        text += ": " + ", ".join(f"<code>{_e(v)}</code>" for v in schema["enum"])
    return text


def _limits_html(schema: Mapping[str, Any]) -> str:
    parts = []
    for key, label in (("minimum", "&ge;"), ("maximum", "&le;"), ("minLength", "length &ge;"),
                       ("maxLength", "length &le;"), ("minItems", "items &ge;"), ("maxItems", "items &le;")):
        if key in schema:
            strict = schema.get("exclusive" + key[0].upper() + key[1:], False) is True
            symbol = {"&ge;": "&gt;", "&le;": "&lt;"}.get(label, label) if strict else label
            parts.append(f"{symbol} {_e(schema[key])}")
    if "pattern" in schema:
        parts.append(f"matches <code>{_e(schema['pattern'])}</code>")
    if schema.get("readOnly"):
        parts.append("read-only")
    return "; ".join(parts)


def _properties_table(schema: Mapping[str, Any]) -> str:
    properties = schema.get("properties") or {}
    if not properties:
        return '<p class="muted">Any JSON object.</p>'
    required = set(schema.get("required") or ())
    rows = []
    for name, prop in properties.items():
        default = f"<code>{_e(json.dumps(prop['default']))}</code>" if "default" in prop else ""
        marker = REQUIRED_MARK if name in required else ""
        limits = _limits_html(prop)
        limits_html = f'<br><span class="muted">{limits}</span>' if limits else ""
        rows.append(
            f"<tr><td><code>{_e(name)}</code>{marker}</td><td class=\"t\">{_type_html(prop)}</td>"
            f"<td>{default}</td><td>{_e(prop.get('description', ''))}{limits_html}</td></tr>"
        )
    return ("<table><tr><th>Field</th><th>Type</th><th>Default</th><th>Description</th></tr>"
            + "".join(rows) + "</table>")


def render_html(doc: Mapping[str, Any]) -> str:
    """A self-contained HTML page for an OpenAPI document (inline CSS only; no scripts, no external links)."""
    info = doc.get("info", {})
    paths: Mapping[str, Mapping[str, Any]] = doc.get("paths", {})
    schemas: Mapping[str, Mapping[str, Any]] = doc.get("components", {}).get("schemas", {})
    nav_ops = []
    sections = []
    for path, operations in paths.items():
        for method, op in operations.items():
            anchor = _anchor("op", f"{method}-{path}")
            nav_ops.append(f'<li><a href="#{anchor}"><span class="t">{_e(method.upper())}</span> {_e(path)}</a></li>')
            parts = [
                f'<section id="{anchor}"><div class="op"><span class="m {_e(method)}">{_e(method.upper())}</span>'
                f"<span>{_e(path)}</span></div><p>{_e(op.get('summary', ''))}</p>"
            ]
            if op.get("description"):
                parts.append(f"<p class=\"muted\">{_e(op['description'])}</p>")
            params = op.get("parameters") or []
            if params:
                param_rows = "".join(
                    f"<tr><td><code>{_e(p['name'])}</code>{REQUIRED_MARK if p.get('required') else ''}"
                    f"</td><td>{_e(p['in'])}</td><td class=\"t\">{_type_html(p.get('schema', {}))}</td>"
                    f"<td>{_e(p.get('description', ''))}</td></tr>"
                    for p in params
                )
                parts.append("<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>Description</th></tr>"
                             + param_rows + "</table>")
            body = op.get("requestBody")
            if body:
                media_types: list[Mapping[str, Any]] = list((body.get("content") or {}).values())
                body_schema = media_types[0].get("schema", {}) if media_types else {}
                parts.append(f"<p><b>Body:</b> <span class=\"t\">{_type_html(body_schema)}</span></p>")
            rows: list[str] = []
            for status, response in (op.get("responses") or {}).items():
                content = response.get("content") or {}
                schema_html = ""
                for content_type, media in content.items():
                    schema_html = f"<span class=\"t\">{_type_html(media.get('schema', {}))}</span>"
                    if content_type != "application/json":
                        schema_html += f" <span class=\"muted\">({_e(content_type)})</span>"
                rows.append(f"<tr><td><code>{_e(status)}</code></td><td>{_e(response.get('description', ''))}</td>"
                            f"<td>{schema_html}</td></tr>")
            parts.append("<table><tr><th>Status</th><th>Meaning</th><th>Body</th></tr>" + "".join(rows) + "</table>")
            parts.append("</section>")
            sections.append("".join(parts))
    schema_sections = []
    nav_schemas = []
    for name, schema in schemas.items():
        anchor = _anchor("schema", name)
        nav_schemas.append(f'<li><a href="#{anchor}">{_e(name)}</a></li>')
        description = f"<p class=\"muted\">{_e(schema['description'])}</p>" if schema.get("description") else ""
        schema_sections.append(f'<section id="{anchor}"><h3>{_e(name)}</h3>{description}'
                               f"{_properties_table(schema)}</section>")
    title = _e(info.get("title", "API"))
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{title}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{title} <span class=\"muted\">{_e(info.get('version', ''))}</span></h1>"
        f"<p>{_e(info.get('description', ''))}</p></header><main>"
        f"<nav><h3>Operations</h3><ul>{''.join(nav_ops)}</ul><h3>Schemas</h3><ul>{''.join(nav_schemas)}</ul></nav>"
        f"<article><h2>Operations</h2>{''.join(sections)}<h2>Schemas</h2>{''.join(schema_sections)}</article>"
        "</main></body></html>"
    )
