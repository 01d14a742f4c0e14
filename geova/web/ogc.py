"""OGC API – Features (Part 1: Core, GeoJSON) under /ogc, and downloads of every layer under /exports.

What any GIS (QGIS, ArcGIS, GDAL's OAPIF driver) reads without a plug-in:

- ``/ogc``: landing page; ``/ogc/conformance``; ``/ogc/collections``; ``/ogc/api``: this API's
  OpenAPI 3.0 document (the landing page's ``service-desc``), generated from the parameter models;
- ``/ogc/collections/{id}`` (with its CRS84 extent and, where it applies, its temporal interval);
- ``/ogc/collections/{id}/items``: ``bbox``, ``limit`` (1 to 10000, default 100), ``offset``,
  ``datetime`` and equality filters on the properties listed in the collection's ``queryables``
  (see :mod:`geova.web.params_ogc`); links self, next, prev;
- ``/ogc/collections/{id}/items/{featureId}``; ``/ogc/collections/{id}/schema`` (JSON schema).

Collections: ``quarters``, ``zones``, ``quarter_results`` (public) and ``interventions``, read under
the one access rule (:func:`geova.web.access.request_access`): anonymous callers only when the
territory publishes its requests, and then without address and description; correspondents their
quarter; other roles and API keys everything. It is listed only to those who may read it, and links
never repeat an API key. Errors are the OGC exception document ``{code, description}``, registered
for /ogc and /exports with the app's one error policy (:mod:`geova.web.errors`).

Downloads: ``/exports/{layer}.geojson``, ``.gpkg`` (GeoPackage) and ``.csv`` (French Excel) of the
same four layers, with the same filters and the same access rule, at most
:data:`geova.features.MAX_EXPORT_FEATURES` features (beyond, a 400 says how to narrow the download);
``/exports/quarter_results.*`` also takes ``norm=``, ``from=`` and ``to=`` (local days, both
included) to export the evaluation of any active deadline norm over any period.

Not implemented: HTML pages (``f=html``), other CRSs (Part 2), CQL filters (Part 3).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, abort, request, url_for
from pydantic import TypeAdapter, ValidationError

from geova import features as ft
from geova.io import feature_formats
from geova.store.referential import headline_norm
from geova.web import engine
from geova.web.access import request_access
from geova.web.errors import Failure, ParamError, register_format
from geova.web.format import territory_tz
from geova.web.ogc_openapi import OPENAPI_TYPE, openapi_document
from geova.web.params import Code, Id
from geova.web.params_ogc import EXPORTS, ITEMS, Filters, OgcParams, parse

bp = Blueprint("ogc", __name__)
ID: TypeAdapter[int] = TypeAdapter(Id)
CODE: TypeAdapter[str] = TypeAdapter(Code)

GEOJSON = "application/geo+json"
JSON = "application/json"
GPKG = "application/geopackage+sqlite3"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
PROTECTED = ("interventions",)
EXPORT_FORMATS = ("geojson", "gpkg", "csv")
DESCRIPTIONS = {
    "quarters": "The territory's quarters and sub-quarters (level 0, 1...), with their parent's code.",
    "zones": "Priority zones drawn over the quarters: commercial, sensitive, black spots, waste land.",
    "interventions": (
        "Intervention requests with their due date and state under the headline norm, now "
        "(null where the norm does not apply). "
        "Needs a logged-in user or an API key, unless the city publishes its requests (then without "
        "address and description); correspondents read their own quarter's."
    ),
    "quarter_results": (
        "Each quarter with the evaluation of the headline norm over the last 12 months of data: "
        "requests, on time, late, open overdue, on-time rate, median hours to resolve."
    ),
}
OGC_CODES = {
    400: "InvalidParameterValue",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    503: "ServiceUnavailable",
}


def ogc_exception(failure: Failure) -> Response:
    """The OGC API exception document (OGC API – Common's ``{code, description}``)."""
    body = {"code": OGC_CODES.get(failure.status, "NoApplicableCode"), "description": failure.message}
    return _json(body, status=failure.status, headers=failure.headers)


register_format("/ogc", ogc_exception)
register_format("/exports", ogc_exception)


def _json(
    doc: Any, status: int = 200, mimetype: str = JSON, headers: dict[str, str] | None = None
) -> Response:
    return Response(json.dumps(doc, ensure_ascii=False), status=status, mimetype=mimetype, headers=headers)


# -- who may read what -----------------------------------------------------------------------------


def _visibility() -> ft.Visibility:
    access = request_access()
    return ft.Visibility(quarters=access.quarters, personal=access.personal)


def _visible(cid: str) -> bool:
    return cid not in PROTECTED or request_access().allowed


def _collection_or_abort(cid: str) -> None:
    if cid not in ft.LAYERS:
        abort(404, f"no collection {cid!r}; see /ogc/collections")
    if not _visible(cid):
        abort(401, f"the {cid} collection is not public: log in or send an API key")


# -- parameters --------------------------------------------------------------------------------


def _query(cid: str, params: Filters, tz: str) -> ft.Query:
    start, end = params.interval.bounds(tz) if params.interval is not None else (None, None)
    timed = cid in ("interventions", "quarter_results")
    equals = tuple(
        (name, value) for name in ft.QUERYABLES[cid] if (value := getattr(params, name, None)) is not None
    )
    return ft.Query(
        bbox=params.bbox, start=start if timed else None, end=end if timed else None, equals=equals
    )


# -- documents ---------------------------------------------------------------------------------


def _link(href: str, rel: str, type_: str = JSON, title: str | None = None) -> dict[str, str]:
    link = {"href": href, "rel": rel, "type": type_}
    if title:
        link["title"] = title
    return link


@bp.get("/ogc/")
@bp.get("/ogc")  # registered first: the landing page's own links say /ogc
def landing() -> Response:
    parse(OgcParams)
    links = [
        _link(url_for("ogc.landing", _external=True), "self", title="This document"),
        _link(url_for("ogc.api", _external=True), "service-desc", OPENAPI_TYPE, "The API definition"),
        _link(url_for("ogc.conformance", _external=True), "conformance", title="Conformance classes"),
        _link(url_for("ogc.collections", _external=True), "data", title="Collections"),
    ]
    return _json(
        {
            "title": "geova – quality of proximity urban services",
            "description": "Quarters, priority zones, results per quarter and intervention requests "
            "as OGC API – Features (GeoJSON, CRS84).",
            "links": links,
        }
    )


@bp.get("/ogc/api")
def api() -> Response:
    """The OpenAPI 3.0 document of /ogc and /exports."""
    parse(OgcParams)
    doc = openapi_document(request.host_url.rstrip("/"), {cid: DESCRIPTIONS[cid] for cid in ft.LAYERS})
    return _json(doc, mimetype=OPENAPI_TYPE.split(";")[0])


@bp.get("/ogc/conformance")
def conformance() -> Response:
    parse(OgcParams)
    return _json({"conformsTo": CONFORMANCE})


def _collection(cid: str, results: ft.Results | None) -> dict[str, Any]:
    bbox, temporal = ft.extent(engine(), cid, _visibility() if cid in PROTECTED else None)
    description = DESCRIPTIONS[cid]
    if cid == "quarter_results" and results is not None:
        temporal = [feature_formats.rfc3339(results.start), feature_formats.rfc3339(results.end)]
        if results.norm is not None:
            description += (
                f" Norm {results.norm.code} ({results.norm.label_en}), from {results.start.date()} "
                f"to {results.last_day} included."
            )
    if cid == "interventions":
        with engine().connect() as conn:
            norm = headline_norm(conn)
        if norm is not None:
            description += f" Headline norm: {norm.code} ({norm.label_en})."
    extent: dict[str, Any] = {}
    if bbox is not None:
        extent["spatial"] = {"bbox": [bbox], "crs": CRS84}
    if temporal is not None:
        extent["temporal"] = {"interval": [temporal], "trs": GREGORIAN}
    links = [
        _link(url_for("ogc.collection", cid=cid, _external=True), "self", title="This collection"),
        _link(url_for("ogc.items", cid=cid, _external=True), "items", GEOJSON, "The features"),
        _link(
            url_for("ogc.schema", cid=cid, _external=True),
            "describedby",
            "application/schema+json",
            "JSON schema of a feature",
        ),
    ]
    for fmt, type_ in (("geojson", GEOJSON), ("gpkg", GPKG), ("csv", "text/csv")):
        links.append(
            _link(
                url_for("ogc.export", layer=cid, fmt=fmt, _external=True),
                "enclosure",
                type_,
                f"Download ({fmt})",
            )
        )
    doc: dict[str, Any] = {
        "id": cid,
        "title": ft.TITLES[cid],
        "description": description,
        "itemType": "feature",
        "crs": [CRS84],
        "queryables": list(ft.QUERYABLES[cid]),
        "links": links,
    }
    if extent:
        doc["extent"] = extent
    return doc


def _results() -> ft.Results:
    return ft.results_for(engine())


@bp.get("/ogc/collections")
def collections() -> Response:
    parse(OgcParams)
    results = _results()
    docs = [_collection(cid, results) for cid in ft.LAYERS if _visible(cid)]
    return _json(
        {
            "links": [_link(url_for("ogc.collections", _external=True), "self", title="The collections")],
            "collections": docs,
        }
    )


@bp.get("/ogc/collections/<cid>")
def collection(cid: str) -> Response:
    _collection_or_abort(cid)
    parse(OgcParams)
    return _json(_collection(cid, _results() if cid == "quarter_results" else None))


@bp.get("/ogc/collections/<cid>/schema")
def schema(cid: str) -> Response:
    _collection_or_abort(cid)
    parse(OgcParams)
    return _json(ft.json_schema(cid, _visibility()), mimetype="application/schema+json")


def _here(**changes: Any) -> str:
    """This request's URL with ``changes``, and never the API key: links may be logged or shared, the
    key stays with the caller (GDAL repeats the query of the URL it was given on every request)."""
    args = {k: v for k, v in request.args.items() if k != "api_key"}
    args.update({k: str(v) for k, v in changes.items()})
    return url_for(request.endpoint or "ogc.landing", _external=True, **(request.view_args or {}), **args)


def _page_link(rel: str, offset: int, limit: int) -> dict[str, str]:
    title = {"next": "Next page", "prev": "Previous page"}.get(rel)
    return _link(_here(limit=limit, offset=offset), rel, GEOJSON, title)


@bp.get("/ogc/collections/<cid>/items")
def items(cid: str) -> Response:
    _collection_or_abort(cid)
    params = parse(ITEMS[cid])
    query = _query(cid, params, territory_tz())
    results = _results() if cid == "quarter_results" else None
    visibility = _visibility()
    page = ft.read_layer(
        engine(), cid, query, limit=params.limit, offset=params.offset, results=results, visibility=visibility
    )
    features = feature_formats.to_features(page.frame, ft.properties(cid, visibility), ft.ID_PROPERTY[cid])
    links = [
        _link(_here(), "self", GEOJSON, "This page"),
        _link(url_for("ogc.collection", cid=cid, _external=True), "collection", JSON, "The collection"),
    ]
    if params.offset + len(features) < page.matched:
        links.append(_page_link("next", params.offset + params.limit, params.limit))
    if params.offset > 0:
        links.append(_page_link("prev", max(0, params.offset - params.limit), params.limit))
    doc = {
        "type": "FeatureCollection",
        "features": features,
        "links": links,
        "numberMatched": page.matched,
        "numberReturned": len(features),
        "timeStamp": feature_formats.rfc3339(datetime.now(UTC).replace(microsecond=0)),
    }
    return _json(doc, mimetype=GEOJSON)


def _feature_id(cid: str, fid: str) -> str | int:
    """The feature id of the path: a code, or a request's 64-bit id (anything else is not there)."""
    try:
        if ft.SCHEMAS[cid][ft.ID_PROPERTY[cid]] != "integer":
            return CODE.validate_python(fid)
        return ID.validate_strings(fid)
    except ValidationError:
        abort(404, f"no feature {fid[:40]!r} in {cid}")


@bp.get("/ogc/collections/<cid>/items/<fid>")
def item(cid: str, fid: str) -> Response:
    _collection_or_abort(cid)
    parse(OgcParams)
    results = _results() if cid == "quarter_results" else None
    query = ft.Query(feature_id=_feature_id(cid, fid))
    visibility = _visibility()
    page = ft.read_layer(engine(), cid, query, limit=1, results=results, visibility=visibility)
    if page.matched == 0:
        abort(404, f"no feature {fid[:40]!r} in {cid}")
    schema = ft.properties(cid, visibility)
    feature = feature_formats.to_features(page.frame, schema, ft.ID_PROPERTY[cid])[0]
    feature["links"] = [
        _link(_here(), "self", GEOJSON, "This feature"),
        _link(url_for("ogc.collection", cid=cid, _external=True), "collection", JSON, "The collection"),
    ]
    return _json(feature, mimetype=GEOJSON)


# -- downloads ---------------------------------------------------------------------------------


@bp.get("/exports/<layer>.<fmt>")
def export(layer: str, fmt: str) -> Response:
    """The whole layer (filtered like /items, under the same access rule) as GeoJSON, GeoPackage or
    French Excel CSV."""
    if fmt not in EXPORT_FORMATS:
        abort(404, f"no export format {fmt!r}: choose among {', '.join(EXPORT_FORMATS)}")
    _collection_or_abort(layer)
    params = parse(EXPORTS[layer])
    tz = territory_tz()
    query = _query(layer, params, tz)
    results = None
    name = f"geova-{layer}"
    if layer == "quarter_results":
        norm, first, last = (getattr(params, k) for k in ("norm", "start", "end"))
        try:
            results = ft.results_for(engine(), norm, first, last)
        except ft.LayerError as exc:
            raise ParamError("norm", str(exc)) from None
        if results.norm is not None:
            name += f"-{results.norm.code}"
        name += f"-{results.start.date():%Y%m%d}-{results.last_day:%Y%m%d}"
    else:
        name += f"-{datetime.now(UTC):%Y%m%d}"
    visibility = _visibility()
    try:
        page = ft.read_layer(engine(), layer, query, results=results, visibility=visibility)
    except ft.TooManyFeatures as exc:
        abort(400, str(exc))
    schema = ft.properties(layer, visibility)
    if fmt == "geojson":
        meta: dict[str, Any] = {"numberMatched": page.matched}
        if results is not None:
            meta["norm"] = results.norm.code if results.norm else None
        body = feature_formats.to_geojson(layer, page.frame, schema, ft.ID_PROPERTY[layer], meta)
        mimetype = GEOJSON
    elif fmt == "gpkg":
        body, mimetype = feature_formats.to_geopackage(layer, page.frame), GPKG
    else:
        body, mimetype = feature_formats.to_csv(page.frame, schema, tz).encode("utf-8"), "text/csv"
    response = Response(body, mimetype=mimetype)
    if fmt == "csv":
        response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response
