"""OGC API – Features (Part 1: Core, GeoJSON) under /ogc, and downloads of every layer under /exports.

What any GIS (QGIS, ArcGIS, GDAL's OAPIF driver) reads without a plug-in:

- ``/ogc``: landing page; ``/ogc/conformance``; ``/ogc/collections``;
- ``/ogc/collections/{id}`` (with its CRS84 extent and, where it applies, its temporal interval);
- ``/ogc/collections/{id}/items``: ``bbox`` (4 numbers, or 6 whose heights are ignored),
  ``limit`` (1 to 10000, default 100), ``offset``, ``datetime`` (an RFC 3339 instant or interval,
  open ends as ``..``; a bare date is that local day) and equality filters on the properties listed
  in the collection's ``queryables``; links self, next, prev;
- ``/ogc/collections/{id}/items/{featureId}``; ``/ogc/collections/{id}/schema`` (JSON schema).

Collections: ``quarters``, ``zones``, ``quarter_results`` (public) and ``interventions`` (a
logged-in user, or an active API key of any role as ``Authorization: Bearer <key>`` or
``?api_key=``; listed only to those who may read it; links never repeat the key). ``datetime``
filters ``reported_at`` on interventions and the evaluated period on quarter_results; quarters and
zones have no time and ignore it once it is checked. Errors are JSON ``{code, description}`` with
the HTTP status; unknown query parameters are errors too (400), as the standard asks.

Not implemented: HTML pages (``f=html``), an OpenAPI definition of /ogc itself (the landing page
links the JSON API's when the app serves one), other CRSs (Part 2), CQL filters (Part 3).

Downloads: ``/exports/{layer}.geojson``, ``.gpkg`` (GeoPackage) and ``.csv`` (French Excel) of
the same four layers, with the same filters; ``/exports/quarter_results.*`` also takes
``norm=``, ``from=`` and ``to=`` (local days, both included) to export the evaluation of any
active deadline norm over any period.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
from flask import Blueprint, Response, abort, current_app, request, url_for
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from geova.io import layer_exports as lx
from geova.store import apikeys
from geova.web import engine
from geova.web.format import territory_tz

bp = Blueprint("ogc", __name__)

GEOJSON = "application/geo+json"
JSON = "application/json"
GPKG = "application/geopackage+sqlite3"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
OPENAPI_PATH = "/api/v1/openapi.json"
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
PROTECTED = ("interventions",)
EXPORT_FORMATS = ("geojson", "gpkg", "csv")
DESCRIPTIONS = {
    "quarters": "The territory's quarters and sub-quarters (level 0, 1...), with their parent's code.",
    "zones": "Priority zones drawn over the quarters: commercial, sensitive, black spots, waste land.",
    "interventions": (
        "Intervention requests with their due date and state under the headline norm, now "
        "(null where the norm does not apply). "
        "Requires a logged-in user or an API key."
    ),
    "quarter_results": (
        "Each quarter with the evaluation of the headline norm over the last 12 months of data: "
        "requests, on time, late, open overdue, on-time rate, median hours to resolve."
    ),
}
ERROR_CODES = {
    400: "InvalidParameterValue",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
}
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@bp.errorhandler(HTTPException)
@bp.errorhandler(400)
@bp.errorhandler(401)
@bp.errorhandler(404)
@bp.errorhandler(405)
def _error(exc: HTTPException) -> Response:
    """JSON errors; registered per status too, as an app-wide handler of a status would win over this
    blueprint's handler of every HTTP error."""
    status = exc.code or 500
    body = {"code": ERROR_CODES.get(status, "NoApplicableCode"), "description": exc.description}
    response = _json(body, status=status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="geova"'
    return response


@bp.errorhandler(lx.LayerError)
def _layer_error(exc: lx.LayerError) -> Response:
    return _json({"code": ERROR_CODES[400], "description": str(exc)}, status=400)


def _json(doc: Any, status: int = 200, mimetype: str = JSON) -> Response:
    return Response(json.dumps(doc, ensure_ascii=False), status=status, mimetype=mimetype)


# -- who may read interventions --------------------------------------------------------------------


def _presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.args.get("api_key") or None


def _key_is_valid(token: str) -> bool:
    with engine().connect() as conn:
        return apikeys.authenticate(conn, token) is not None


def _authorised() -> bool:
    """A logged-in user, or an active API key (any role: reading requests is what a key is for)."""
    if current_user.is_authenticated:
        return True
    key = _presented_key()
    return bool(key and _key_is_valid(key))


def _visible(cid: str) -> bool:
    return cid not in PROTECTED or _authorised()


def _collection_or_abort(cid: str) -> None:
    if cid not in lx.LAYERS:
        abort(404, f"no collection {cid!r}; see /ogc/collections")
    if not _visible(cid):
        abort(401, f"the {cid} collection is not public: log in or send an API key")


# -- parameters --------------------------------------------------------------------------------


def _check_params(allowed: set[str]) -> None:
    unknown = sorted(set(request.args) - allowed - {"f", "api_key"})
    if unknown:
        abort(400, f"unknown query parameter(s): {', '.join(unknown)}")
    fmt = request.args.get("f")
    if fmt is not None and fmt.lower() not in ("json", "geojson"):
        abort(400, f"unsupported format f={fmt}: this service speaks JSON and GeoJSON")


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        abort(400, "bbox must be 4 numbers: minlon,minlat,maxlon,maxlat (CRS84)")
    if len(values) == 6:  # with heights: ignored, the layers are flat
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or any(v != v or v in (float("inf"), float("-inf")) for v in values):
        abort(400, "bbox must be 4 numbers: minlon,minlat,maxlon,maxlat (CRS84)")
    minx, miny, maxx, maxy = values
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
        abort(400, "bbox out of range: longitudes within -180..180, latitudes within -90..90")
    if miny > maxy:
        abort(400, "bbox: the minimum latitude is above the maximum")
    return (minx, miny, maxx, maxy)


def _bound(text: str, tz: str, end: bool) -> pd.Timestamp:
    if _INSTANT.match(text):
        try:
            return pd.Timestamp(text.upper()).tz_convert("UTC")
        except ValueError:
            pass
    elif _DAY.match(text):
        try:
            day = pd.Timestamp(date.fromisoformat(text)).tz_localize(tz)
        except ValueError:
            pass
        else:
            return (day + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)) if end else day
    abort(400, f"datetime: {text!r} is not an RFC 3339 date-time (2015-03-01T00:00:00Z) or date")


def parse_datetime(text: str | None, tz: str) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """(start, end), both included, from an instant or an interval with open ends ``..``."""
    if text is None:
        return None, None
    if "/" not in text:
        if text in ("", ".."):
            abort(400, "datetime: an instant cannot be open")
        return _bound(text, tz, end=False), _bound(text, tz, end=True)
    parts = text.split("/")
    if len(parts) != 2:
        abort(400, "datetime: an interval is start/end")
    start = None if parts[0] in ("", "..") else _bound(parts[0], tz, end=False)
    end = None if parts[1] in ("", "..") else _bound(parts[1], tz, end=True)
    if start is not None and end is not None and start > end:
        abort(400, "datetime: the interval ends before it starts")
    return start, end


def _int(name: str, default: int, low: int, high: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        abort(400, f"{name} must be an integer")
    if value < low or (high is not None and value > high):
        abort(400, f"{name} must be between {low} and {high}" if high else f"{name} must be at least {low}")
    return value


def _query(cid: str, tz: str) -> lx.Query:
    start, end = parse_datetime(request.args.get("datetime"), tz)
    return lx.Query(
        bbox=parse_bbox(request.args.get("bbox")),
        start=start if cid in ("interventions", "quarter_results") else None,
        end=end if cid in ("interventions", "quarter_results") else None,
        equals=tuple((k, request.args[k]) for k in lx.QUERYABLES[cid] if k in request.args),
    )


# -- documents ---------------------------------------------------------------------------------


def _link(href: str, rel: str, type_: str = JSON, title: str | None = None) -> dict[str, str]:
    link = {"href": href, "rel": rel, "type": type_}
    if title:
        link["title"] = title
    return link


def _openapi_url() -> str | None:
    """The API definition of the JSON API, when the app serves one."""
    for rule in current_app.url_map.iter_rules():
        if rule.rule == OPENAPI_PATH:
            return url_for(rule.endpoint, _external=True)
    return None


@bp.get("/ogc/")
@bp.get("/ogc")  # registered first: the landing page's own links say /ogc
def landing() -> Response:
    _check_params(set())
    links = [
        _link(url_for("ogc.landing", _external=True), "self", title="This document"),
        _link(url_for("ogc.conformance", _external=True), "conformance", title="Conformance classes"),
        _link(url_for("ogc.collections", _external=True), "data", title="Collections"),
    ]
    openapi = _openapi_url()
    if openapi:
        links.insert(
            1,
            _link(
                openapi,
                "service-desc",
                "application/vnd.oai.openapi+json;version=3.0",
                "The API definition",
            ),
        )
    return _json(
        {
            "title": "geova – quality of proximity urban services",
            "description": "Quarters, priority zones, results per quarter and intervention requests "
            "as OGC API – Features (GeoJSON, CRS84).",
            "links": links,
        }
    )


@bp.get("/ogc/<path:rest>")
def unknown(rest: str) -> Response:
    """Any other path under /ogc: a JSON 404 (GDAL, for one, probes /ogc/api)."""
    abort(404, f"nothing at /ogc/{rest}; start from /ogc")


@bp.get("/ogc/conformance")
def conformance() -> Response:
    _check_params(set())
    return _json({"conformsTo": CONFORMANCE})


def _collection(cid: str, results: lx.Results | None) -> dict[str, Any]:
    bbox, temporal = lx.extent(engine(), cid)
    description = DESCRIPTIONS[cid]
    if cid == "quarter_results" and results is not None:
        temporal = [lx.rfc3339(results.start), lx.rfc3339(results.end)]
        if results.norm is not None:
            description += (
                f" Norm {results.norm.code} ({results.norm.label_en}), from {results.start.date()} "
                f"to {results.last_day} included."
            )
    if cid == "interventions":
        with engine().connect() as conn:
            norm = lx.headline_norm(conn)
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
        "title": lx.TITLES[cid],
        "description": description,
        "itemType": "feature",
        "crs": [CRS84],
        "queryables": list(lx.QUERYABLES[cid]),
        "links": links,
    }
    if extent:
        doc["extent"] = extent
    return doc


def _results() -> lx.Results:
    return lx.results_for(engine())


@bp.get("/ogc/collections")
def collections() -> Response:
    _check_params(set())
    results = _results()
    docs = [_collection(cid, results) for cid in lx.LAYERS if _visible(cid)]
    return _json(
        {
            "links": [_link(url_for("ogc.collections", _external=True), "self", title="The collections")],
            "collections": docs,
        }
    )


@bp.get("/ogc/collections/<cid>")
def collection(cid: str) -> Response:
    _collection_or_abort(cid)
    _check_params(set())
    return _json(_collection(cid, _results() if cid == "quarter_results" else None))


@bp.get("/ogc/collections/<cid>/schema")
def schema(cid: str) -> Response:
    _collection_or_abort(cid)
    _check_params(set())
    return _json(lx.json_schema(cid), mimetype="application/schema+json")


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
    _check_params({"bbox", "limit", "offset", "datetime", *lx.QUERYABLES[cid]})
    limit = _int("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int("offset", 0, 0)
    query = _query(cid, territory_tz())
    results = _results() if cid == "quarter_results" else None
    page = lx.read_layer(engine(), cid, query, limit=limit, offset=offset, results=results)
    features = lx.to_features(cid, page.frame)
    links = [
        _link(_here(), "self", GEOJSON, "This page"),
        _link(url_for("ogc.collection", cid=cid, _external=True), "collection", JSON, "The collection"),
    ]
    if offset + len(features) < page.matched:
        links.append(_page_link("next", offset + limit, limit))
    if offset > 0:
        links.append(_page_link("prev", max(0, offset - limit), limit))
    doc = {
        "type": "FeatureCollection",
        "features": features,
        "links": links,
        "numberMatched": page.matched,
        "numberReturned": len(features),
        "timeStamp": lx.rfc3339(datetime.now(UTC).replace(microsecond=0)),
    }
    return _json(doc, mimetype=GEOJSON)


@bp.get("/ogc/collections/<cid>/items/<fid>")
def item(cid: str, fid: str) -> Response:
    _collection_or_abort(cid)
    _check_params(set())
    results = _results() if cid == "quarter_results" else None
    page = lx.read_layer(engine(), cid, lx.Query(feature_id=fid), results=results)
    if page.matched == 0:
        abort(404, f"no feature {fid!r} in {cid}")
    feature = lx.to_features(cid, page.frame)[0]
    feature["links"] = [
        _link(_here(), "self", GEOJSON, "This feature"),
        _link(url_for("ogc.collection", cid=cid, _external=True), "collection", JSON, "The collection"),
    ]
    return _json(feature, mimetype=GEOJSON)


# -- downloads ---------------------------------------------------------------------------------


def _day_arg(name: str) -> date | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        abort(400, f"{name} must be a date as YYYY-MM-DD")


@bp.get("/exports/<layer>.<fmt>")
def export(layer: str, fmt: str) -> Response:
    """The whole layer (filtered like /items) as GeoJSON, GeoPackage or French Excel CSV."""
    if fmt not in EXPORT_FORMATS:
        abort(404, f"no export format {fmt!r}: choose among {', '.join(EXPORT_FORMATS)}")
    _collection_or_abort(layer)
    extra = {"norm", "from", "to"} if layer == "quarter_results" else set()
    _check_params({"bbox", "datetime", *lx.QUERYABLES[layer], *extra})
    tz = territory_tz()
    query = _query(layer, tz)
    results = None
    name = f"geova-{layer}"
    if layer == "quarter_results":
        results = lx.results_for(engine(), request.args.get("norm") or None, _day_arg("from"), _day_arg("to"))
        if results.norm is not None:
            name += f"-{results.norm.code}"
        name += f"-{results.start.date():%Y%m%d}-{results.last_day:%Y%m%d}"
    else:
        name += f"-{datetime.now(UTC):%Y%m%d}"
    page = lx.read_layer(engine(), layer, query, results=results)
    if fmt == "geojson":
        meta: dict[str, Any] = {"numberMatched": page.matched}
        if results is not None:
            meta["norm"] = results.norm.code if results.norm else None
        body, mimetype = lx.to_geojson(layer, page.frame, meta), GEOJSON
    elif fmt == "gpkg":
        body, mimetype = lx.to_geopackage(layer, page.frame), GPKG
    else:
        body, mimetype = lx.to_csv(layer, page.frame, tz).encode("utf-8"), "text/csv"
    response = Response(body, mimetype=mimetype)
    if fmt == "csv":
        response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response
