"""The OpenAPI 3.1 document, generated from the endpoint registry and the pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api.endpoint import REGISTRY, EndpointSpec

REF = "#/components/schemas/{model}"
_DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Malformed request",
    401: "Missing, malformed or expired token",
    402: "Payment declined",
    403: "Role not allowed",
    404: "Not found (or not yours)",
    409: "Conflict",
    422: "Invalid or not eligible",
    502: "Upstream gateway unavailable",
}


def _models(specs: list[EndpointSpec], extra: list[type[BaseModel]]) -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {}
    for spec in specs:
        for model in [spec.body, spec.query, *spec.responses.values()]:
            if model is not None:
                seen.setdefault(model.__name__, model)
    for model in extra:
        seen.setdefault(model.__name__, model)
    return list(seen.values())


def build_openapi(
    *,
    title: str,
    version: str,
    extra_paths: dict[str, Any] | None = None,
    extra_models: list[type[BaseModel]] | None = None,
) -> dict[str, Any]:
    models = _models(REGISTRY, extra_models or [])
    refs, defs = models_json_schema(
        [(m, "validation") for m in models] + [(m, "serialization") for m in models], ref_template=REF
    )

    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return dict(refs[(model, mode)])  # type: ignore[index]

    paths: dict[str, Any] = {}
    for spec in REGISTRY:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec, ref)
    paths.update(extra_paths or {})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Event-sourced order ledger for telehealth refills. Errors are RFC 9457 "
            "problem+json with stable `reasons` codes.",
        },
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{"bearer": []}],
    }


def _operation(spec: EndpointSpec, ref: Any) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in re.findall(r"{(\w+)}", spec.path)
    ]
    params += [
        {
            "name": h,
            "in": "header",
            "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
        }
        for h in spec.headers
    ]
    if spec.query is not None:
        schema = spec.query.model_json_schema(ref_template=REF)
        required = set(schema.get("required", []))
        params += [
            {"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in schema.get("properties", {}).items()
        ]
    op: dict[str, Any] = {
        "summary": spec.summary,
        "tags": [spec.tag],
        "operationId": f"{spec.method.lower()}{_op_name(spec.path)}",
        "description": f"Roles: {', '.join(spec.roles)}.",
        "parameters": params,
        "responses": {
            str(code): _response(code, ref(model, "serialization"))
            for code, model in sorted(spec.responses.items())
        },
    }
    if spec.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(spec.body, "validation")}},
        }
    return op


def _response(code: int, schema: dict[str, Any]) -> dict[str, Any]:
    media = "application/problem+json" if code >= 400 else "application/json"
    return {"description": _DESCRIPTIONS.get(code, "Response"), "content": {media: {"schema": schema}}}


def _op_name(path: str) -> str:
    return "".join(part.strip("{}").replace("-", "_").title().replace("_", "") for part in path.split("/"))
