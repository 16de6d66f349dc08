"""OpenAPI 3.1 of every route, built from the same declarations that serve them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

import live
from live.errors import ErrorCode
from live.http.api import Api, Endpoint

_REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "enum": [c.value for c in ErrorCode]},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                "retry_after": {"type": "number"},
                "until": {"type": ["string", "null"]},
            },
        }
    },
}


class Document:
    """An app's OpenAPI document, built on its first use (`GET /openapi.json`) and kept: building it
    (every model's JSON schema) was most of an app's start-up, which most processes never serve."""

    def __init__(self, apis: Sequence[Api[Any]], extra_paths: dict[str, Any] | None = None) -> None:
        self._apis = tuple(apis)
        self._extra_paths = extra_paths
        self._doc: dict[str, Any] | None = None

    def get(self) -> dict[str, Any]:
        if self._doc is None:
            self._doc = build(self._apis, self._extra_paths)
        return self._doc


def build(apis: Sequence[Api[Any]], extra_paths: dict[str, Any] | None = None) -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for api in apis:
        for ep in api.endpoints:
            path = _PARAM.sub(r"{\1}", ep.path)
            paths.setdefault(path, {})[ep.method.lower()] = _operation(ep, schemas)
    for path, ops in (extra_paths or {}).items():
        paths.setdefault(path, {}).update(ops)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "live",
            "version": live.__version__,
            "description": "HTTP API of live. WebSocket protocol: docs/protocol.md.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def _schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=_REF)
    for name, sub in schema.pop("$defs", {}).items():
        schemas[name] = sub
    schemas[model.__name__] = schema
    return {"$ref": _REF.format(model=model.__name__)}


def _operation(ep: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "tags": [ep.tag],
        "summary": ep.summary,
        "operationId": f"{ep.method.lower()}_{ep.handler.__name__}",
    }
    if ep.description and ep.description != ep.summary:
        op["description"] = ep.description
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(ep.path)
    ]
    if ep.query is not None:
        qschema = ep.query.model_json_schema(ref_template=_REF)
        required = set(qschema.get("required", []))
        for name, prop in qschema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    if params:
        op["parameters"] = params
    if ep.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema(ep.body, schemas)}},
        }
    elif ep.content_type:
        op["requestBody"] = {"required": True, "content": {ep.content_type: {"schema": {"type": "string"}}}}
    if ep.auth:
        op["security"] = [{"bearer": []}]
    ok: dict[str, Any] = {"description": "success"}
    if ep.response is not None:
        ok["content"] = {"application/json": {"schema": _schema(ep.response, schemas)}}
    elif ep.status != 204:
        ok["content"] = {"application/json": {"schema": {"type": "object"}}}
    responses: dict[str, Any] = {str(ep.status): ok}
    codes = list(ep.errors)
    if ep.auth:
        codes.append(ErrorCode.UNAUTHORIZED)
    if ep.body is not None or ep.query is not None:
        codes.append(ErrorCode.INVALID_REQUEST)
    for code in codes:
        entry = responses.setdefault(
            str(code.http_status),
            {"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        )
        entry["description"] = " | ".join(filter(None, [entry["description"], code.value]))
    op["responses"] = responses
    return op
