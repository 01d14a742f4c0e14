"""The OpenAPI document of /api/v1, generated from the routes and the pydantic models they use.

Each view declares what it reads and answers with :func:`documented` (its query model, body model,
response model and error statuses); :func:`document` walks the app's routes under /api/v1 and turns
those declarations into OpenAPI 3.1 with apispec, the JSON Schemas coming from pydantic's
``models_json_schema``.

Why apispec rather than spectree or flask-openapi3 (all three install with pip): those two also
*validate* requests, each with its own query-string reading (no comma-separated lists) and its own
error format, which would make a second parameter parser next to geova.web.params and a second error
policy next to geova.web.errors. apispec (marshmallow-code, maintained) only assembles the document,
so parsing and errors stay in the one HTTP layer that /open311 and /ogc share.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apispec import APISpec
from flask import current_app
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from geova.web.api_models import Problem
from geova.web.params import MAX_ID

PREFIX = "/api/v1"
TITLE = "geova JSON API"
VERSION = "1.0"
REF = "#/components/schemas/{model}"
PROBLEM_TYPE = "application/problem+json"
STATUS_TEXT = {
    400: "a malformed parameter or body",
    401: "no, an unknown or a revoked API key, and no session",
    403: "the caller's role may not do this",
    404: "no such resource",
    413: "a body larger than 64 KiB",
    422: "a well-formed body the store refuses (nothing is changed)",
    503: "the store is busy; retry after Retry-After seconds",
}
AUTH: list[dict[str, list[str]]] = [{"bearer": []}, {"session": []}]
DESCRIPTION = """The territory, the referential, requests, evaluations and the audit grid of geova.

Authentication: an API key in the `Authorization: Bearer KEY` header, or a logged-in session. Writes take a
JSON body (`Content-Type: application/json`), so a page of another site cannot make them with a
visitor's cookie. Errors are RFC 9457 problem details (`application/problem+json`).

Who reads requests: everybody reads the referential and aggregated evaluations; requests one by one
need a key or a session, unless the city publishes them (then without description, address or
history names); a correspondent reads the requests of their quarter."""


@dataclass(frozen=True)
class Operation:
    """What one view reads and answers."""

    summary: str
    response: type[BaseModel]
    status: int = 200
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    errors: tuple[int, ...] = (400, 503)
    auth: bool = False  # a key or a session is required (401 without)
    optional_auth: bool = False  # anonymous callers are served less (or refused by policy)
    description: str = ""


def documented(summary: str, response: type[BaseModel], **kwargs: Any) -> Callable:
    """Declare the view's contract for the document (put it right under the route decorator)."""
    operation = Operation(summary, response, **kwargs)

    def decorator(view: Callable) -> Callable:
        view.openapi = operation  # type: ignore[attr-defined]
        return view

    return decorator


def _strip(schema: dict[str, Any]) -> dict[str, Any]:
    """A property's schema as a query parameter's: absent means null, so no ``null`` branch."""
    schema = {k: v for k, v in schema.items() if k not in ("title", "description")}
    branches = schema.get("anyOf")
    if branches:
        kept = [b for b in branches if b.get("type") != "null"]
        if len(kept) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            schema = {**kept[0], **rest}
        else:
            schema["anyOf"] = kept
    if schema.get("type") == "array" and "maxLength" in schema:  # pydantic's name for a tuple's bound
        schema["maxItems"] = schema.pop("maxLength")
    if schema.get("default") is None:
        schema.pop("default", None)
    return schema


def _parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(by_alias=True, ref_template=REF)
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema.get("properties", {}).items():
        param_schema = _strip(prop)
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": param_schema,
        }
        if prop.get("description"):
            param["description"] = prop["description"]
        if param_schema.get("type") == "array":
            # lists repeat (x=a&x=b; a,b works too), a bounding box is one comma-separated value
            fixed = "prefixItems" in param_schema
            param.update(style="form", explode=not fixed)
        out.append(param)
    return out


def _path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """A Flask rule as an OpenAPI path, with its path parameters."""
    params = []
    for converter, name in re.findall(r"<(?:(\w+):)?(\w+)>", rule):
        schema: dict[str, Any] = (
            {"type": "integer", "minimum": 0, "description": f"an id (at most {MAX_ID} is ever found)"}
            if converter == "int"
            else {"type": "string", "minLength": 1, "maxLength": 200}
        )
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule), params


def _models(operations: list[Operation]) -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
    """Every body and response model's schema reference, and the definitions they point to."""
    wanted: list[tuple[type[BaseModel], Any]] = [(Problem, "serialization")]
    for op in operations:
        wanted.append((op.response, "serialization"))
        if op.body is not None:
            wanted.append((op.body, "validation"))
    unique = list(dict.fromkeys(wanted))
    refs, defs = models_json_schema(unique, by_alias=True, ref_template=REF)
    return dict(refs), defs.get("$defs", {})


def build() -> dict[str, Any]:
    """The document of the current app's /api/v1 routes."""
    spec = APISpec(
        title=TITLE,
        version=VERSION,
        openapi_version="3.1.0",
        info={"description": DESCRIPTION},
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme("session", {"type": "apiKey", "in": "cookie", "name": "session"})
    routes = []
    for rule in current_app.url_map.iter_rules():
        view = current_app.view_functions.get(rule.endpoint)
        operation = getattr(view, "openapi", None)
        if rule.rule.startswith(PREFIX + "/") and operation is not None:
            routes.append((rule, operation))
    refs, definitions = _models([op for _, op in routes])
    for name, schema in definitions.items():
        spec.components.schema(name, schema)
    problem = {PROBLEM_TYPE: {"schema": refs[(Problem, "serialization")]}}
    paths: dict[str, dict[str, Any]] = {}
    for rule, op in sorted(routes, key=lambda r: r[0].rule):
        path, path_params = _path(rule.rule)
        responses: dict[str, Any] = {
            str(op.status): {
                "description": op.summary,
                "content": {"application/json": {"schema": refs[(op.response, "serialization")]}},
            }
        }
        statuses = set(op.errors) | ({401} if op.auth or op.optional_auth else set())
        statuses |= {404} if path_params else set()
        for status in sorted(statuses):
            responses[str(status)] = {"description": STATUS_TEXT[status], "content": problem}
        entry: dict[str, Any] = {
            "summary": op.summary,
            "operationId": rule.endpoint.removeprefix("api."),
            "parameters": path_params + (_parameters(op.query) if op.query else []),
            "responses": responses,
            "security": AUTH if op.auth else [*AUTH, {}],
        }
        if op.description:
            entry["description"] = op.description
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
            }
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = entry
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def document() -> dict[str, Any]:
    """The document, built once per app (the routes and models do not change while it runs)."""
    cached = current_app.extensions.get("geova_api_openapi")
    if cached is None:
        cached = current_app.extensions["geova_api_openapi"] = build()
    return cached
