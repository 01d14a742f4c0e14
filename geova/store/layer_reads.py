"""The read model of the published layers: quarters, zones and requests as rows with a geometry.

OGC API – Features and the downloads read the store through these queries only. Every value a
caller gives (a bounding box, an instant, a property value, an id) reaches the database as a bound
parameter, never as SQL text: a bounding box is sent as WKB, not formatted into WKT.

Rows come back in a stable order (the table's id), with the geometry as a shapely object exactly as
stored (never simplified), and the count of every matching row so that a page can say how many
there are in all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import shapely
from sqlalchemy import Connection, LargeBinary, Select, and_, bindparam, func, or_, select

from geova.store.schema import Intervention, Quarter, Zone

SOURCES = ("quarters", "zones", "interventions")
# property -> the column an equality filter compares with (every other property is not filterable)
FILTERABLE: dict[str, tuple[str, ...]] = {
    "quarters": ("code", "level", "parent"),
    "zones": ("code", "kind"),
    "interventions": ("source", "source_id", "category", "status", "quarter"),
}
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class LayerFilter:
    """Which rows to read; every condition goes into the SQL as bound parameters."""

    bbox: Box | None = None  # CRS84; minx > maxx crosses the antimeridian
    start: datetime | None = None  # aware, inclusive (requests' report instant)
    end: datetime | None = None  # aware, inclusive
    equals: tuple[tuple[str, str | int], ...] = ()  # (filterable property, value)
    key: str | int | None = None  # the feature's id: a code, or a request's id
    quarters: tuple[str, ...] | None = None  # requests in these quarters or sub-quarters only


@dataclass
class Rows:
    matched: int  # rows matching the filter, whatever the page
    columns: list[str]
    rows: list[dict[str, Any]] = field(repr=False)
    geometries: list[shapely.Geometry | None] = field(repr=False)


class UnknownSource(ValueError):
    """A layer or a filter the read model does not have."""


def _envelopes(bbox: Box) -> list[Box]:
    minx, miny, maxx, maxy = bbox
    if minx > maxx:  # across the antimeridian: two boxes
        return [(minx, miny, 180.0, maxy), (-180.0, miny, maxx, maxy)]
    return [bbox]


def _shape(box: Box) -> Any:
    """The box as a geometry parameter: WKB bound like any value (a flat box is a line or a point,
    which still intersects what it touches)."""
    x0, y0, x1, y1 = box
    if x0 == x1 and y0 == y1:
        geom = shapely.Point(x0, y0)
    elif x0 == x1 or y0 == y1:
        geom = shapely.LineString([(x0, y0), (x1, y1)])
    else:
        geom = shapely.box(x0, y0, x1, y1)
    return func.ST_GeomFromWKB(bindparam(None, shapely.to_wkb(geom), type_=LargeBinary), 4326)


def _bbox_condition(geom: Any, bbox: Box, points: bool) -> Any:
    parts = []
    for box in _envelopes(bbox):
        x0, y0, x1, y1 = box
        if points:
            parts.append(and_(func.ST_X(geom).between(x0, x1), func.ST_Y(geom).between(y0, y1)))
        else:
            parts.append(func.ST_Intersects(geom, _shape(box)))
    return or_(*parts)


def _select(source: str) -> tuple[Select, dict[str, Any], Any, Any]:
    """(query, filterable columns, geometry column, key column) of a source, in a stable order."""
    if source == "quarters":
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
        return query, {"code": q.c.code, "level": q.c.level, "parent": parent.c.code}, q.c.geom, q.c.code
    if source == "zones":
        z = Zone.__table__
        query = select(z.c.code, z.c.name, z.c.kind, func.ST_AsBinary(z.c.geom).label("wkb")).order_by(z.c.id)
        return query, {"code": z.c.code, "kind": z.c.kind}, z.c.geom, z.c.code
    if source == "interventions":
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
    raise UnknownSource(f"unknown layer: {source}")


def _filtered(source: str, where: LayerFilter) -> Select:
    sql, filterable, geom, key = _select(source)
    if where.bbox is not None:
        sql = sql.where(_bbox_condition(geom, where.bbox, points=source == "interventions"))
    if source == "interventions":
        iv = Intervention.__table__
        if where.start is not None:
            sql = sql.where(iv.c.reported_at >= where.start)
        if where.end is not None:
            sql = sql.where(iv.c.reported_at <= where.end)
        if where.quarters is not None:
            qt = Quarter.__table__
            ids = select(qt.c.id).where(qt.c.code.in_(list(where.quarters)))
            sql = sql.where(or_(iv.c.quarter_id.in_(ids), iv.c.subquarter_id.in_(ids)))
    for name, value in where.equals:
        if name not in filterable:
            raise UnknownSource(f"{name} is not a filterable property of {source}")
        sql = sql.where(filterable[name] == value)
    if where.key is not None:
        sql = sql.where(key == where.key)
    return sql


def read_rows(
    conn: Connection, source: str, where: LayerFilter | None = None, limit: int | None = None, offset: int = 0
) -> Rows:
    """One page of a source (``limit`` None: all of it) and how many rows match in all."""
    sql = _filtered(source, where or LayerFilter())
    matched = count_rows(conn, source, where)
    page = sql.limit(limit) if limit is not None else sql
    if offset:
        page = page.offset(offset)
    rows = [r._asdict() for r in conn.execute(page)] if matched > offset else []
    geoms = [shapely.from_wkb(bytes(r.pop("wkb"))) if r["wkb"] is not None else None for r in rows]
    columns = [c.name for c in sql.selected_columns if c.name != "wkb"]
    return Rows(matched=int(matched), columns=columns, rows=rows, geometries=geoms)


def count_rows(conn: Connection, source: str, where: LayerFilter | None = None) -> int:
    sql = _filtered(source, where or LayerFilter())
    return int(conn.execute(select(func.count()).select_from(sql.order_by(None).subquery())).scalar_one())


def extent(conn: Connection, source: str, where: LayerFilter | None = None) -> Box | None:
    """The CRS84 bounding box of the matching rows' geometries; None when there are none."""
    sql = _filtered(source, where or LayerFilter()).order_by(None)
    geom = _select(source)[2]
    pg = conn.dialect.name == "postgresql"
    names = (
        ("ST_XMin", "ST_YMin", "ST_XMax", "ST_YMax") if pg else ("ST_MinX", "ST_MinY", "ST_MaxX", "ST_MaxY")
    )
    boxes = sql.with_only_columns(*(getattr(func, n)(geom).label(n) for n in names)).subquery()
    row = conn.execute(
        select(
            func.min(boxes.c[names[0]]),
            func.min(boxes.c[names[1]]),
            func.max(boxes.c[names[2]]),
            func.max(boxes.c[names[3]]),
        )
    ).one()
    return None if row[0] is None else (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


def report_span(conn: Connection) -> tuple[datetime, datetime] | None:
    """The first and last report instants of the stored requests (aware, UTC)."""
    reported = Intervention.__table__.c.reported_at
    first, last = conn.execute(select(func.min(reported), func.max(reported))).one()
    return None if first is None else (first, last)
