"""The store's layers as features: read in pages for OGC API – Features, whole for downloads.

Four layers, each a table of properties with a geometry in CRS84 (longitude, latitude):

- ``quarters``: code, name, level, parent (the parent quarter's code);
- ``zones``: code, name, kind;
- ``interventions``: id, source, source_id, category, reported_at, due_at (under the headline norm),
  resolved_at, status, state (under the headline norm, now), quarter, address, description;
- ``quarter_results``: each top-level quarter with the evaluation of a deadline norm over a period
  (by default the headline norm over the 12 months up to the month of the latest report).

Geometries are served exactly as stored (never simplified): these are the figures other GIS
tools compute with. Rows are read with SQL LIMIT/OFFSET, so a page never loads the whole table;
downloads (GeoJSON, GeoPackage, French Excel CSV) read the whole layer once.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from sqlalchemy import Connection, Engine, Select, and_, func, or_, select

from geova.core.evaluate import evaluate_deadline
from geova.core.norms import Norm, NormKind
from geova.io.exports import to_excel_csv
from geova.store.records import RecordFilter, load_records
from geova.store.referential import load_norms
from geova.store.schema import Intervention, Quarter, Zone
from geova.store.status import settings

LAYERS = ("quarters", "zones", "interventions", "quarter_results")
PUBLIC_LAYERS = ("quarters", "zones", "quarter_results")
RESULT_COUNTS = (
    "requests",
    "on_time",
    "late",
    "open_overdue",
    "open_at_risk",
    "open_in_time",
    "no_deadline",
    "excluded",
)
# property -> JSON type ("string", "integer", "number", "date-time", "date")
SCHEMAS: dict[str, dict[str, str]] = {
    "quarters": {"code": "string", "name": "string", "level": "integer", "parent": "string"},
    "zones": {"code": "string", "name": "string", "kind": "string"},
    "interventions": {
        "id": "integer",
        "source": "string",
        "source_id": "string",
        "category": "string",
        "reported_at": "date-time",
        "due_at": "date-time",
        "resolved_at": "date-time",
        "status": "string",
        "state": "string",
        "quarter": "string",
        "address": "string",
        "description": "string",
    },
    "quarter_results": {
        "code": "string",
        "name": "string",
        "norm": "string",
        "period_from": "date",
        "period_to": "date",
        **dict.fromkeys(RESULT_COUNTS, "integer"),
        "on_time_rate": "number",
        "median_hours": "number",
        "p90_hours": "number",
    },
}
ID_PROPERTY = {"quarters": "code", "zones": "code", "interventions": "id", "quarter_results": "code"}
# properties a client may filter on with ?name=value (pushed down into the SQL)
QUERYABLES: dict[str, tuple[str, ...]] = {
    "quarters": ("code", "level", "parent"),
    "zones": ("code", "kind"),
    "interventions": ("source", "source_id", "category", "status", "quarter"),
    "quarter_results": ("code",),
}
TITLES = {
    "quarters": "Quarters",
    "zones": "Priority zones",
    "interventions": "Intervention requests",
    "quarter_results": "Results per quarter",
}


@dataclass(frozen=True)
class Query:
    """Which features to read; every condition goes into the SQL."""

    bbox: tuple[float, float, float, float] | None = None  # CRS84; minx > maxx crosses the antimeridian
    start: pd.Timestamp | None = None  # inclusive, aware
    end: pd.Timestamp | None = None  # inclusive, aware
    equals: tuple[tuple[str, str], ...] = ()  # (queryable property, value)
    feature_id: str | None = None


@dataclass(frozen=True)
class Results:
    """The evaluation a ``quarter_results`` layer shows: a deadline norm over local days."""

    norm: Norm | None
    start: pd.Timestamp  # local midnight, inclusive
    end: pd.Timestamp  # local midnight, exclusive
    as_of: pd.Timestamp

    @property
    def last_day(self) -> date:
        return (self.end - pd.Timedelta(days=1)).date()


@dataclass
class Page:
    matched: int
    frame: gpd.GeoDataFrame = field(repr=False)


class LayerError(ValueError):
    """A request the layer cannot answer (unknown norm, bad value of a queryable)."""


# -- the headline norm and the default period ---------------------------------------------------


def deadline_norms(conn: Connection) -> dict[str, Norm]:
    return {n.code: n for n in load_norms(conn, active_only=True) if n.kind is NormKind.DEADLINE}


def headline_norm(conn: Connection) -> Norm | None:
    """Settings' ``headline_norm`` when it names an active deadline norm, else the first one by code."""
    norms = deadline_norms(conn)
    if not norms:
        return None
    return norms.get(settings(conn).get("headline_norm") or "") or norms[sorted(norms)[0]]


def timezone(conn: Connection) -> str:
    from geova.config import DEFAULT_TIMEZONE

    return settings(conn).get("timezone", DEFAULT_TIMEZONE)


def results_for(
    engine: Engine,
    norm_code: str | None = None,
    first_day: date | None = None,
    last_day: date | None = None,
    as_of: pd.Timestamp | None = None,
    months: int = 12,
) -> Results:
    """The evaluation to show: the given deadline norm (default: the headline norm) over local days
    ``first_day`` to ``last_day`` included (default: the ``months`` months up to the end of the
    month of the latest report, as the web pages do: the data may be older than today)."""
    as_of = as_of if as_of is not None else pd.Timestamp(datetime.now(UTC))
    with engine.connect() as conn:
        tz = timezone(conn)
        if norm_code:
            norm = deadline_norms(conn).get(norm_code)
            if norm is None:
                raise LayerError(f"unknown or inactive deadline norm: {norm_code}")
        else:
            norm = headline_norm(conn)
        latest = conn.execute(select(func.max(Intervention.__table__.c.reported_at))).scalar()
    local_now = as_of.tz_convert(tz)
    anchor = min(local_now, pd.Timestamp(latest).tz_convert(tz)) if latest is not None else local_now
    end = (
        pd.Timestamp(last_day).tz_localize(tz) + pd.Timedelta(days=1)
        if last_day
        else (anchor.normalize() + pd.offsets.MonthBegin(1)).normalize()
    )
    start = pd.Timestamp(first_day).tz_localize(tz) if first_day else end - pd.DateOffset(months=months)
    if start >= end:
        raise LayerError("the period ends before it starts")
    return Results(norm=norm, start=start, end=end, as_of=as_of)


# -- SQL ---------------------------------------------------------------------------------------


def _envelopes(bbox: tuple[float, float, float, float]) -> list[tuple[float, float, float, float]]:
    minx, miny, maxx, maxy = bbox
    if minx > maxx:  # across the antimeridian: two boxes
        return [(minx, miny, 180.0, maxy), (-180.0, miny, maxx, maxy)]
    return [bbox]


def _polygon_wkt(box: tuple[float, float, float, float]) -> str:
    x0, y0, x1, y1 = box
    return f"POLYGON(({x0!r} {y0!r},{x1!r} {y0!r},{x1!r} {y1!r},{x0!r} {y1!r},{x0!r} {y0!r}))"


def _bbox_condition(geom: Any, bbox: tuple[float, float, float, float], points: bool) -> Any:
    parts = []
    for box in _envelopes(bbox):
        x0, y0, x1, y1 = box
        if points:
            x, y = func.ST_X(geom), func.ST_Y(geom)
            parts.append(and_(x.between(x0, x1), y.between(y0, y1)))
        elif x0 == x1 or y0 == y1:  # a line or a point: still intersects what it touches
            line = f"LINESTRING({x0!r} {y0!r},{x1!r} {y1!r})"
            parts.append(func.ST_Intersects(geom, func.ST_GeomFromText(line, 4326)))
        else:
            parts.append(func.ST_Intersects(geom, func.ST_GeomFromText(_polygon_wkt(box), 4326)))
    return or_(*parts)


def _select(layer: str) -> tuple[Select, dict[str, Any], Any, Any]:
    """(query, queryable columns, geometry column, feature id column) of a layer, in a stable order."""
    if layer in ("quarters", "quarter_results"):
        q = Quarter.__table__
        parent = Quarter.__table__.alias("parent")
        query = (
            select(
                q.c.code,
                q.c.name,
                q.c.level,
                parent.c.code.label("parent"),
                func.ST_AsBinary(q.c.geom).label("wkb"),
            )
            .select_from(q)
            .outerjoin(parent, parent.c.id == q.c.parent_id)
            .order_by(q.c.id)
        )
        if layer == "quarter_results":
            query = query.where(q.c.level == 0)
        return query, {"code": q.c.code, "level": q.c.level, "parent": parent.c.code}, q.c.geom, q.c.code
    if layer == "zones":
        z = Zone.__table__
        query = select(z.c.code, z.c.name, z.c.kind, func.ST_AsBinary(z.c.geom).label("wkb")).order_by(z.c.id)
        return query, {"code": z.c.code, "kind": z.c.kind}, z.c.geom, z.c.code
    if layer == "interventions":
        iv = Intervention.__table__
        q1 = Quarter.__table__.alias("q1")
        query = (
            select(
                iv.c.id,
                iv.c.source,
                iv.c.source_id,
                iv.c.category_code.label("category"),
                iv.c.reported_at,
                iv.c.resolved_at,
                iv.c.status,
                q1.c.code.label("quarter"),
                iv.c.address,
                iv.c.description,
                func.ST_AsBinary(iv.c.geom).label("wkb"),
            )
            .select_from(iv)
            .outerjoin(q1, q1.c.id == iv.c.quarter_id)
            .order_by(iv.c.id)
        )
        cols = {
            "source": iv.c.source,
            "source_id": iv.c.source_id,
            "category": iv.c.category_code,
            "status": iv.c.status,
            "quarter": q1.c.code,
        }
        return query, cols, iv.c.geom, iv.c.id
    raise LayerError(f"unknown layer: {layer}")


def _filtered(layer: str, query: Query) -> Select:
    sql, queryables, geom, key = _select(layer)
    if query.bbox is not None:
        sql = sql.where(_bbox_condition(geom, query.bbox, points=layer == "interventions"))
    if layer == "interventions":
        reported = Intervention.__table__.c.reported_at
        if query.start is not None:
            sql = sql.where(reported >= query.start.to_pydatetime())
        if query.end is not None:
            sql = sql.where(reported <= query.end.to_pydatetime())
    for name, value in query.equals:
        if name not in queryables:
            raise LayerError(f"{name} is not a queryable property of {layer}")
        if SCHEMAS[layer][name] == "integer":
            try:
                sql = sql.where(queryables[name] == int(value))
            except ValueError:
                raise LayerError(f"{name} must be an integer") from None
        else:
            sql = sql.where(queryables[name] == value)
    if query.feature_id is not None:
        if layer == "interventions":
            if not query.feature_id.isdigit():
                return sql.where(key.is_(None))  # matches nothing
            sql = sql.where(key == int(query.feature_id))
        else:
            sql = sql.where(key == query.feature_id)
    return sql


def _period_matches(results: Results, query: Query) -> bool:
    """Whether the evaluated period meets the asked ``datetime`` (the features' temporal extent)."""
    if query.start is not None and query.start >= results.end:
        return False
    return not (query.end is not None and query.end < results.start)


# -- reading -----------------------------------------------------------------------------------


def read_layer(
    engine: Engine,
    layer: str,
    query: Query | None = None,
    limit: int | None = None,
    offset: int = 0,
    results: Results | None = None,
    as_of: pd.Timestamp | None = None,
) -> Page:
    """One page of a layer (``limit`` None: all of it) and how many features match in all."""
    query = query or Query()
    if layer not in LAYERS:
        raise LayerError(f"unknown layer: {layer}")
    as_of = as_of if as_of is not None else pd.Timestamp(datetime.now(UTC))
    if layer == "quarter_results":
        results = results or results_for(engine, as_of=as_of)
    sql = _filtered(layer, query)
    with engine.connect() as conn:
        if layer == "quarter_results" and not _period_matches(results, query):  # type: ignore[arg-type]
            matched, rows = 0, []
        else:
            matched = conn.execute(
                select(func.count()).select_from(sql.order_by(None).subquery())
            ).scalar_one()
            page = sql
            if limit is not None:
                page = page.limit(limit)
            if offset:
                page = page.offset(offset)
            rows = [r._asdict() for r in conn.execute(page)] if matched > offset else []
        geoms = [shapely.from_wkb(bytes(r.pop("wkb"))) for r in rows]
        frame = pd.DataFrame(rows, columns=[c.name for c in sql.selected_columns if c.name != "wkb"])
        if layer == "interventions":
            frame = _with_verdicts(engine, conn, frame, limit is not None, as_of)
    if layer == "quarter_results":
        frame = _with_results(engine, frame, results, limit is not None)  # type: ignore[arg-type]
    columns = list(SCHEMAS[layer])
    frame = frame.reindex(columns=columns)
    for name, kind in SCHEMAS[layer].items():
        if kind == "date-time":
            frame[name] = pd.to_datetime(frame[name], utc=True)
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326", index=frame.index))
    return Page(matched=int(matched), frame=gdf)


def _with_verdicts(
    engine: Engine, conn: Connection, frame: pd.DataFrame, paged: bool, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Due date and state of each request under the headline norm, at ``as_of``; None outside its
    scope (the norm does not apply to that request)."""
    frame = frame.copy()
    frame["due_at"] = pd.Series([pd.NaT] * len(frame), dtype="datetime64[ns, UTC]", index=frame.index)
    frame["state"] = None
    norm = headline_norm(conn)
    if norm is None or frame.empty:
        return frame
    from geova.evaluation import territory_of

    ids = tuple(int(i) for i in frame["id"])
    where = RecordFilter(ids=ids) if paged else None
    recs, zones = load_records(conn, norm.categories, where=where)
    verdicts = evaluate_deadline(norm, recs, zones, as_of, territory_of(engine)).set_index("id")
    frame["due_at"] = pd.to_datetime(frame["id"].map(verdicts["due_at"]), utc=True)
    frame["state"] = frame["id"].map(verdicts["state"]).astype(object).where(frame["id"].isin(verdicts.index))
    frame["state"] = frame["state"].map(lambda s: s if isinstance(s, str) else None)
    return frame


def _with_results(engine: Engine, frame: pd.DataFrame, results: Results, paged: bool) -> pd.DataFrame:
    from geova.evaluation import evaluate

    frame = frame.copy()
    frame["norm"] = results.norm.code if results.norm else None
    frame["period_from"] = results.start.date().isoformat()
    frame["period_to"] = results.last_day.isoformat()
    for col in RESULT_COUNTS:
        frame[col] = 0
    for col in ("on_time_rate", "median_hours", "p90_hours"):
        frame[col] = np.nan
    if results.norm is None or frame.empty:
        return frame
    where = RecordFilter(
        quarters=tuple(frame["code"]) if paged else None,
        reported_from=results.start,
        reported_to=results.end,
    )
    evaluation = evaluate(
        engine, as_of=results.as_of, norm_codes=[results.norm.code], by=["quarter"], where=where
    )
    agg = evaluation.aggregates
    if agg.empty:
        return frame
    agg = agg.set_index("quarter")
    for col in (*RESULT_COUNTS, "on_time_rate", "median_hours", "p90_hours"):
        values = frame["code"].map(agg[col])
        frame[col] = values.fillna(0).astype(np.int64) if col in RESULT_COUNTS else values.astype(float)
    return frame


# -- encodings ---------------------------------------------------------------------------------


def rfc3339(value: Any) -> str | None:
    """An instant in UTC as RFC 3339 (``2015-01-02T20:33:48Z``)."""
    if value is None or value is pd.NaT:
        return None
    ts = pd.Timestamp(value)
    if ts is pd.NaT:
        return None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    text = ts.strftime("%Y-%m-%dT%H:%M:%S")
    if ts.microsecond:
        text += f".{ts.microsecond:06d}".rstrip("0")
    return text + "Z"


def _plain(value: Any, kind: str) -> Any:
    if value is None or value is pd.NaT:
        return None
    if kind == "date-time":
        return rfc3339(value)
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def to_features(layer: str, frame: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """GeoJSON features: the layer's properties as plain JSON values, the stored geometry."""
    schema = SCHEMAS[layer]
    key = ID_PROPERTY[layer]
    out = []
    for row, geom in zip(frame[list(schema)].to_dict("records"), frame.geometry, strict=True):
        props = {name: _plain(row[name], kind) for name, kind in schema.items()}
        out.append(
            {
                "type": "Feature",
                "id": props[key],
                "geometry": shapely.geometry.mapping(geom) if geom is not None else None,
                "properties": props,
            }
        )
    return out


def to_geojson(layer: str, frame: gpd.GeoDataFrame, extra: dict[str, Any] | None = None) -> bytes:
    doc = {"type": "FeatureCollection", "name": layer, **(extra or {}), "features": to_features(layer, frame)}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def to_geopackage(layer: str, frame: gpd.GeoDataFrame) -> bytes:
    """A GeoPackage file holding the layer (written by GDAL through pyogrio). Instants are UTC date-time
    fields; the days of a period stay ISO 8601 text (``2015-03-01``)."""
    out = frame
    with tempfile.TemporaryDirectory(prefix="geova-export-") as folder:
        path = Path(folder) / f"{layer}.gpkg"
        pyogrio.write_dataframe(out, path, layer=layer, driver="GPKG")
        return path.read_bytes()


def _decimal(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float | np.floating) and math.isnan(value)):
        return ""
    return f"{float(value):.{digits}f}".replace(".", ",")


def to_csv(layer: str, frame: gpd.GeoDataFrame, tz: str) -> str:
    """French Excel CSV (BOM, ``;``, decimal comma, day-first local dates). The geometry becomes a
    longitude and a latitude: the point itself, or a point inside a polygon (Excel cannot hold
    polygons; take the GeoPackage or the GeoJSON for shapes)."""
    out = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    for name, kind in SCHEMAS[layer].items():
        if kind == "date":
            out[name] = pd.to_datetime(out[name]).dt.strftime("%d/%m/%Y").fillna("")
        elif kind == "integer":
            out[name] = out[name].astype("Int64")
    points = frame.geometry.map(
        lambda g: None if g is None else (g if g.geom_type == "Point" else g.point_on_surface())
    )
    out["longitude"] = [_decimal(p.x if p is not None else None, 6) for p in points]
    out["latitude"] = [_decimal(p.y if p is not None else None, 6) for p in points]
    return to_excel_csv(out, tz)


def json_schema(layer: str, title: str | None = None) -> dict[str, Any]:
    """The JSON schema of a layer's features (what OGC's ``describedby`` link points to)."""
    props: dict[str, Any] = {}
    for name, kind in SCHEMAS[layer].items():
        if name == "id":
            continue  # the feature's own id: GDAL takes it from the features, twice if listed here
        if kind in ("date-time", "date"):
            props[name] = {"type": "string", "format": kind}
        else:
            props[name] = {"type": kind}
    geometry = "Point" if layer == "interventions" else "MultiPolygon"
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": layer,
        "title": title or TITLES[layer],
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": "integer" if layer == "interventions" else "string"},
            "geometry": {"type": "object", "description": f"GeoJSON {geometry} in CRS84"},
            "properties": {"type": "object", "properties": props},
        },
    }


def extent(engine: Engine, layer: str) -> tuple[list[float] | None, list[str | None] | None]:
    """(CRS84 bbox, [first, last] instants) of a layer; None for what it does not have."""
    _sql, _q, geom, _key = _select(layer)
    pg = engine.dialect.name == "postgresql"
    names = (
        ("ST_XMin", "ST_YMin", "ST_XMax", "ST_YMax") if pg else ("ST_MinX", "ST_MinY", "ST_MaxX", "ST_MaxY")
    )
    aggs = [
        func.min(getattr(func, names[0])(geom)),
        func.min(getattr(func, names[1])(geom)),
        func.max(getattr(func, names[2])(geom)),
        func.max(getattr(func, names[3])(geom)),
    ]
    query = select(*aggs)
    if layer == "quarter_results":
        query = query.where(Quarter.__table__.c.level == 0)
    with engine.connect() as conn:
        row = conn.execute(query).one()
        temporal = None
        if layer == "interventions":
            reported = Intervention.__table__.c.reported_at
            first, last = conn.execute(select(func.min(reported), func.max(reported))).one()
            if first is not None:
                temporal = [rfc3339(first), rfc3339(last)]
    bbox = [float(v) for v in row] if row[0] is not None else None
    return bbox, temporal
