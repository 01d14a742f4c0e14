"""The OpenAPI 3.0 document of /ogc and /exports, generated from the parameter models.

Every query parameter's schema is its pydantic model's JSON schema (``model_json_schema``), turned
into OpenAPI 3.0's dialect (no ``null`` type: an absent parameter is the null; ``const`` as an
``enum``); the features' property schemas come from :mod:`geova.features`. So the bounds the
document states (``limit`` at most 10,000, ids within 64 bits...) are the ones the models enforce:
GDAL, for one, reads ``limit``'s maximum here to size its pages.

Written by hand here, rather than with a generator such as apispec or flask-openapi3, because OGC
API – Features wants one path per collection with that collection's own queryables, which those
tools would only reach by registering one Flask route per collection.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from geova import features as ft
from geova.web.params import MAX_ID
from geova.web.params_ogc import EXPORTS, ITEMS, OgcParams, names

OPENAPI_TYPE = "application/vnd.oai.openapi+json;version=3.0"
SECURED = ("interventions",)


def to_oas30(schema: Any) -> Any:
    """A JSON schema (draft 2020-12, as pydantic writes it) in OpenAPI 3.0's subset."""
    if isinstance(schema, list):
        return [to_oas30(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: to_oas30(v) for k, v in schema.items()}
    if "anyOf" in out:
        branches = [b for b in out["anyOf"] if b != {"type": "null"}]
        if len(branches) == 1:
            del out["anyOf"]
            out = {**branches[0], **out}
        else:
            out["anyOf"] = branches
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if out.get("default", 0) is None:
        del out["default"]
    return out


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The model's fields as OpenAPI query parameters, with their JSON schema and description."""
    js = model.model_json_schema(by_alias=True)
    props, required = js.get("properties", {}), set(js.get("required", []))
    out = []
    for key in names(model):
        schema = to_oas30(props[key])
        description = schema.pop("description", None)
        schema.pop("title", None)
        param: dict[str, Any] = {"name": key, "in": "query", "required": key in required, "schema": schema}
        if description:
            param["description"] = description
        if schema.get("type") == "array":
            param.update(style="form", explode=False)
        out.append(param)
    return out


def _content(media: str, ref: str) -> dict[str, Any]:
    return {media: {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _ok(description: str, media: str = "application/json", ref: str = "Document") -> dict[str, Any]:
    return {"description": description, "content": _content(media, ref)}


ERRORS = {
    "400": {"$ref": "#/components/responses/InvalidParameter"},
    "404": {"$ref": "#/components/responses/NotFound"},
    "500": {"$ref": "#/components/responses/ServerError"},
}


def _get(
    summary: str, params: list[dict[str, Any]], responses: dict[str, Any], cid: str | None = None
) -> Any:
    op: dict[str, Any] = {"summary": summary, "parameters": params, "responses": {**responses, **ERRORS}}
    if cid in SECURED:
        op["responses"]["401"] = {"$ref": "#/components/responses/Unauthorized"}
        op["security"] = [{"bearer": []}, {"session": []}, {}]
    if cid:
        op["tags"] = [cid]
    return {"get": op}


def _feature_schema(cid: str) -> dict[str, Any]:
    props = {}
    for name, kind in ft.SCHEMAS[cid].items():
        if kind in ("date-time", "date"):
            props[name] = {"type": "string", "format": kind, "nullable": True}
        else:
            props[name] = {"type": kind, "nullable": True}
    return {
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": ft.SCHEMAS[cid][ft.ID_PROPERTY[cid]]},
            "geometry": {"type": "object", "description": f"GeoJSON {ft.GEOMETRY.get(cid, 'MultiPolygon')}"},
            "properties": {"type": "object", "properties": props},
            "links": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}},
        },
    }


def _collection_paths(cid: str, description: str) -> dict[str, Any]:
    f = query_parameters(OgcParams)
    base = f"/ogc/collections/{cid}"
    key_type = ft.SCHEMAS[cid][ft.ID_PROPERTY[cid]]
    key_schema: dict[str, Any] = {"type": key_type}
    if key_type == "integer":
        key_schema.update(minimum=1, maximum=MAX_ID, format="int64")
    feature_id = {"name": "featureId", "in": "path", "required": True, "schema": key_schema}
    fmt = {
        "name": "format",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": ["geojson", "gpkg", "csv"]},
    }
    collection = f"{cid.title().replace('_', '')}Collection"
    feature = f"{cid.title().replace('_', '')}Feature"
    return {
        base: _get(f"The {cid} collection", f, {"200": _ok(description)}, cid),
        f"{base}/items": _get(
            f"Features of {cid}",
            query_parameters(ITEMS[cid]),
            {"200": _ok("A page of features", "application/geo+json", collection)},
            cid,
        ),
        f"{base}/items/{{featureId}}": _get(
            f"One feature of {cid}",
            [feature_id, *f],
            {"200": _ok("The feature", "application/geo+json", feature)},
            cid,
        ),
        f"{base}/schema": _get(
            f"JSON schema of a {cid} feature", f, {"200": _ok("JSON schema", "application/schema+json")}, cid
        ),
        f"/exports/{cid}.{{format}}": _get(
            f"Download {cid} (GeoJSON, GeoPackage or French Excel CSV)",
            [fmt, *query_parameters(EXPORTS[cid])],
            {
                "200": {
                    "description": "The file",
                    "content": {
                        "application/geo+json": {"schema": {"$ref": f"#/components/schemas/{collection}"}},
                        "application/geopackage+sqlite3": {"schema": {"type": "string", "format": "binary"}},
                        "text/csv": {"schema": {"type": "string"}},
                    },
                }
            },
            cid,
        ),
    }


def _components() -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Exception": {
            "type": "object",
            "required": ["code"],
            "properties": {"code": {"type": "string"}, "description": {"type": "string"}},
        },
        "Link": {
            "type": "object",
            "required": ["href", "rel"],
            "properties": {
                "href": {"type": "string"},
                "rel": {"type": "string"},
                "type": {"type": "string"},
                "title": {"type": "string"},
            },
        },
        "Document": {"type": "object", "description": "A JSON document with links"},
    }
    for cid in ft.LAYERS:
        name = cid.title().replace("_", "")
        schemas[f"{name}Feature"] = _feature_schema(cid)
        schemas[f"{name}Collection"] = {
            "type": "object",
            "required": ["type", "features"],
            "properties": {
                "type": {"type": "string", "enum": ["FeatureCollection"]},
                "features": {"type": "array", "items": {"$ref": f"#/components/schemas/{name}Feature"}},
                "links": {"type": "array", "items": {"$ref": "#/components/schemas/Link"}},
                "numberMatched": {"type": "integer", "minimum": 0},
                "numberReturned": {"type": "integer", "minimum": 0},
                "timeStamp": {"type": "string", "format": "date-time"},
            },
        }

    def error(description: str) -> dict[str, Any]:
        return {"description": description, "content": _content("application/json", "Exception")}

    return {
        "schemas": schemas,
        "responses": {
            "InvalidParameter": error("A parameter is not valid (code InvalidParameterValue)"),
            "Unauthorized": error("Log in, or send an API key (code Unauthorized)"),
            "NotFound": error("No such collection or feature (code NotFound)"),
            "ServerError": error("An error on the server's side, logged (code NoApplicableCode)"),
        },
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "An API key"},
            "session": {"type": "apiKey", "in": "cookie", "name": "session", "description": "A login"},
        },
    }


def openapi_document(server: str, descriptions: dict[str, str]) -> dict[str, Any]:
    """The whole document; ``server`` is the app's root URL (paths start with /ogc and /exports)."""
    f = query_parameters(OgcParams)
    paths: dict[str, Any] = {
        "/ogc": _get("Landing page", f, {"200": _ok("The landing page")}),
        "/ogc/api": _get(
            "This document",
            f,
            {
                "200": {
                    "description": "OpenAPI 3.0",
                    "content": {OPENAPI_TYPE: {"schema": {"type": "object"}}},
                }
            },
        ),
        "/ogc/conformance": _get("Conformance classes", f, {"200": _ok("The conformance classes")}),
        "/ogc/collections": _get("The collections", f, {"200": _ok("The collections the caller may read")}),
    }
    for cid in ft.LAYERS:
        paths.update(_collection_paths(cid, descriptions[cid]))
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "geova – OGC API – Features",
            "version": "1.0.0",
            "description": "Quarters, priority zones, results per quarter and intervention requests as "
            "OGC API – Features (Part 1: Core, GeoJSON, CRS84), and downloads of the same layers.",
        },
        "servers": [{"url": server}],
        "tags": [{"name": cid, "description": ft.TITLES[cid]} for cid in ft.LAYERS],
        "paths": paths,
        "components": _components(),
    }
