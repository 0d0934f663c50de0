"""The OpenAPI entries of the security routes (sessions, secrets, the audit log), for ``api.routes_docs``."""

from __future__ import annotations

from marshmallow import fields

from api.openapi import RouteSpec
from api.schemas.app import StrictSchema, meta
from api.schemas.fields import JsonList, JsonNested, JsonString


class SessionRequestSchema(StrictSchema):
    """``POST /v2/session``: the token to sign in with (or none, and an ``Authorization`` header)."""

    token = JsonString(metadata=meta("A token from mesospaas auth token (msp_...)."))


class SessionSchema(StrictSchema):
    principal = JsonString(metadata=meta("The signed-in principal."))
    grants = JsonList(JsonString(), metadata=meta("ROLE:PREFIX grants."))


class SecretValueSchema(StrictSchema):
    """``PUT /v2/secrets/{path}``: the value (never readable back)."""

    value = JsonString(required=True, metadata=meta("The secret value."))


class SecretPathSchema(StrictSchema):
    path = JsonString(metadata=meta("The secret's path."))
    updated = fields.Float(metadata=meta("When it was last written (seconds since the epoch)."))


class SecretListSchema(StrictSchema):
    secrets = JsonList(JsonNested(SecretPathSchema))


class AuditListSchema(StrictSchema):
    records = JsonList(fields.Dict(), metadata=meta(
        "Recent accepted changes: time, principal, method, path, query, status, remote, forwardedFor, deploymentId."))


SECRET_PATH = {"secret_path": "Secret path without the leading slash (team-a/db-password)."}

SECURITY_ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("POST", "/v2/session", "Sign in (the UI): a token in, an HttpOnly SameSite=Strict session cookie out",
              request=SessionRequestSchema, response=SessionSchema, status_codes=(200, 401, 404), tags=("security",)),
    RouteSpec("GET", "/v2/session", "Who is signed in", response=SessionSchema, status_codes=(200, 401, 404),
              tags=("security",)),
    RouteSpec("DELETE", "/v2/session", "Sign out (the session cookie is dropped)", status_codes=(204,),
              tags=("security",)),
    RouteSpec("GET", "/v2/secrets", "Secret paths (never values)", response=SecretListSchema,
              status_codes=(200, 401, 403, 404), tags=("security",)),
    RouteSpec("PUT", "/v2/secrets/{secret_path:.+}", "Write a secret (encrypted in the state store)",
              request=SecretValueSchema, response=SecretPathSchema, status_codes=(200, 201, 400, 401, 403, 404, 422),
              tags=("security",), path_descriptions=SECRET_PATH),
    RouteSpec("DELETE", "/v2/secrets/{secret_path:.+}", "Delete a secret", status_codes=(204, 401, 403, 404, 422),
              tags=("security",), path_descriptions=SECRET_PATH),
    RouteSpec("GET", "/v2/audit", "Recent accepted changes (admins)", response=AuditListSchema,
              status_codes=(200, 401, 403), tags=("security",)),
)
"""The entries of ``api.routes_docs.ROUTES`` for the security routes."""

__all__ = ["SECURITY_ROUTES"]
