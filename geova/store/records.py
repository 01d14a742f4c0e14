"""Reading stored requests as columns for the evaluation engine.

Timestamps are read as numbers or raw text and converted by pandas in one vectorised step: going
through SQLAlchemy's per-row type processing would dominate the evaluation of a million requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Float, Select, cast, column, extract, func, select, table, type_coerce
from sqlalchemy import Text as SAText

from geova.core.periodic import Units
from geova.store.schema import (
    Activity,
    ActivityZone,
    Intervention,
    InterventionZone,
    Quarter,
    ShareMeasure,
    VerdictStale,
    Zone,
)

IV = Intervention.__table__
TIME_COLUMNS = ("reported_at", "resolved_at", "due_at")


def time_expr(conn: Connection, column):
    if conn.dialect.name == "postgresql":
        return cast(extract("epoch", column), Float)
    return type_coerce(column, SAText)  # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" in UTC


def to_utc(conn: Connection, values: list) -> pd.Series:
    if conn.dialect.name == "postgresql":
        return pd.to_datetime(pd.Series(values, dtype="float64"), unit="s", utc=True).dt.round("us")
    return pd.to_datetime(pd.Series(values, dtype=object), format="%Y-%m-%d %H:%M:%S.%f", utc=True)


def _raw_cursor(conn: Connection, query: Select) -> Any:
    """The driver's cursor with ``query`` executed on it."""
    # Values travel as bound parameters (never formatted into the SQL text); IN lists are expanded
    # into one parameter each, since the driver's cursor knows nothing of SQLAlchemy's expansion.
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    args: Any = tuple(params[name] for name in compiled.positiontup or ()) if compiled.positional else params
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cur = raw.cursor()
    try:
        cur.execute(str(compiled), args)
    except BaseException:
        cur.close()
        raise
    return cur


def fetch_raw(conn: Connection, query: Select) -> list[tuple]:
    """Rows as plain tuples from the driver's cursor.

    Skips SQLAlchemy's Row objects and result processing, which cost more than the query itself
    for a million rows; the caller converts the columns it needs in one vectorised step.
    """
    cur = _raw_cursor(conn, query)
    try:
        return cur.fetchall()
    finally:
        cur.close()


def fetch_chunks(conn: Connection, query: Select, size: int) -> Iterator[list[tuple]]:
    """Rows as fetch_raw gives them, ``size`` at a time, so that a large read never sits whole in
    memory as Python objects (SQLite's cursor steps through the result as it is fetched)."""
    cur = _raw_cursor(conn, query)
    try:
        while rows := cur.fetchmany(size):
            yield rows
    finally:
        cur.close()


@dataclass(frozen=True)
class RecordFilter:
    """Which requests to read; every condition is pushed down into the SQL."""

    categories: tuple[str, ...] | None = None
    quarters: tuple[str, ...] | None = None  # quarter or sub-quarter codes
    services: tuple[str, ...] | None = None
    zones: tuple[str, ...] | None = None  # zone codes
    reported_from: pd.Timestamp | None = None  # inclusive
    reported_to: pd.Timestamp | None = None  # exclusive
    bbox: tuple[float, float, float, float] | None = None  # lon/lat
    ids: tuple[int, ...] | None = None
    stale: bool = False  # only the requests queued for their verdicts (geova.store.verdicts)


def instant(ts: pd.Timestamp) -> datetime:
    """A bound for a time column (geova.store.types.UTCDateTime converts it for each backend)."""
    return pd.Timestamp(ts).tz_convert("UTC").to_pydatetime()


def filter_query(conn: Connection, query: Select, f: RecordFilter, q1, q2) -> Select:
    """``query`` (over interventions, outer-joined to quarters ``q1`` and sub-quarters ``q2``) restricted
    to what ``f`` selects, with bound parameters only."""
    if f.categories is not None:
        query = query.where(IV.c.category_code.in_(list(f.categories)))
    if f.quarters is not None:
        # through the quarter ids, so that the indexes on intervention.quarter_id can serve
        qt = Quarter.__table__
        found = conn.execute(select(qt.c.id, qt.c.level).where(qt.c.code.in_(list(f.quarters)))).all()
        tops = [i for i, level in found if level == 0]
        subs = [i for i, level in found if level > 0]
        if tops and not subs:
            query = query.where(IV.c.quarter_id.in_(tops))
        elif subs and not tops:
            query = query.where(IV.c.subquarter_id.in_(subs))
        else:
            query = query.where(IV.c.quarter_id.in_(tops) | IV.c.subquarter_id.in_(subs))
    if f.services is not None:
        query = query.where(IV.c.service.in_(list(f.services)))
    if f.ids is not None:
        query = query.where(IV.c.id.in_(list(f.ids)))
    if f.stale:
        query = query.where(IV.c.id.in_(select(VerdictStale.__table__.c.intervention_id)))
    if f.zones is not None:
        zt, iz = Zone.__table__, InterventionZone.__table__
        inside = (
            select(iz.c.intervention_id).join(zt, zt.c.id == iz.c.zone_id).where(zt.c.code.in_(list(f.zones)))
        )
        query = query.where(IV.c.id.in_(inside))
    # the column itself against an instant (not an expression of it), so that its index serves: on
    # PostgreSQL, EXTRACT(epoch ...) >= x read every request of the quarter (0.7 s at 1M)
    if f.reported_from is not None:
        query = query.where(IV.c.reported_at >= instant(f.reported_from))
    if f.reported_to is not None:
        query = query.where(IV.c.reported_at < instant(f.reported_to))
    if f.bbox is not None:
        query = query.where(box_condition(conn, f.bbox))
    return query


def box_condition(conn: Connection, bbox: tuple[float, float, float, float]) -> Any:
    """The requests inside a lon/lat box, as a condition on ``intervention`` itself. On PostGIS the
    GiST test sits on the row (a self-join by id made the planner expect one row and look each of
    34,000 points up again: 0.5 s at 1M); SpatiaLite's R*Tree is a table, read by in_box."""
    if conn.dialect.name == "postgresql":
        return in_box(conn, bbox).whereclause
    return IV.c.id.in_(in_box(conn, bbox))


def in_box(conn: Connection, bbox: tuple[float, float, float, float]) -> Select:
    """The ids of the requests inside a lon/lat box, found through the spatial index (PostGIS's
    GiST with ``&&``, SpatiaLite's R*Tree table) rather than by reading every point."""
    minx, miny, maxx, maxy = (float(v) for v in bbox)
    x, y = func.ST_X(IV.c.geom), func.ST_Y(IV.c.geom)
    exact = x.between(minx, maxx) & y.between(miny, maxy)
    if conn.dialect.name == "postgresql":
        box = func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326)
        return select(IV.c.id).where(IV.c.geom.op("&&")(box), exact)
    # the R*Tree keeps 32-bit bounds rounded outwards: candidates, then the exact test
    rtree = table("idx_intervention_geom", *(column(c) for c in ("pkid", "xmin", "xmax", "ymin", "ymax")))
    near = select(rtree.c.pkid).where(
        rtree.c.xmin <= maxx, rtree.c.xmax >= minx, rtree.c.ymin <= maxy, rtree.c.ymax >= miny
    )
    return select(IV.c.id).where(IV.c.id.in_(near), exact)


def load_records(
    conn: Connection,
    categories: Iterable[str] | None = None,
    where: RecordFilter | None = None,
    with_location: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(records, zones) frames as documented in geova.core.evaluate; ``with_location`` adds the
    lon/lat columns ``x`` and ``y``."""
    where = where or RecordFilter()
    if categories is not None:
        cats = tuple(categories)
        where = replace(
            where, categories=cats if where.categories is None else tuple(set(cats) & set(where.categories))
        )
    q1 = Quarter.__table__.alias("q1")
    q2 = Quarter.__table__.alias("q2")
    location = [func.ST_X(IV.c.geom).label("x"), func.ST_Y(IV.c.geom).label("y")] if with_location else []
    query = (
        select(
            IV.c.id,
            IV.c.source_id,
            IV.c.category_code,
            *(time_expr(conn, IV.c[name]).label(name) for name in TIME_COLUMNS),
            IV.c.status,
            IV.c.insulting,
            IV.c.severity,
            q1.c.code.label("quarter"),
            q2.c.code.label("subquarter"),
            IV.c.service,
            IV.c.channel,
            *location,
        )
        .select_from(IV)
        .outerjoin(q1, q1.c.id == IV.c.quarter_id)
        .outerjoin(q2, q2.c.id == IV.c.subquarter_id)
        .order_by(IV.c.id)
    )
    query = filter_query(conn, query, where, q1, q2)
    rows = fetch_raw(conn, query)
    names = [
        "id",
        "source_id",
        "category",
        *TIME_COLUMNS,
        "status",
        "insulting",
        "severity",
        "quarter",
        "subquarter",
        "service",
        "channel",
        *(["x", "y"] if with_location else []),
    ]
    records = pd.DataFrame.from_records(rows, columns=names, coerce_float=False)
    records["id"] = records["id"].astype(np.int64)
    records["insulting"] = records["insulting"].astype(bool)
    for name in TIME_COLUMNS:
        records[name] = to_utc(conn, records[name].tolist())
    zt = Zone.__table__
    zq = select(InterventionZone.__table__.c.intervention_id, zt.c.code, zt.c.kind).join(
        zt, zt.c.id == InterventionZone.__table__.c.zone_id
    )
    if where != RecordFilter():
        ids = filter_query(
            conn,
            select(IV.c.id)
            .select_from(IV)
            .outerjoin(q1, q1.c.id == IV.c.quarter_id)
            .outerjoin(q2, q2.c.id == IV.c.subquarter_id),
            where,
            q1,
            q2,
        )
        zq = zq.where(InterventionZone.__table__.c.intervention_id.in_(ids))
    zones = pd.DataFrame.from_records(fetch_raw(conn, zq), columns=["id", "zone", "kind"])
    zones["id"] = zones["id"].astype(np.int64)
    return records, zones


def load_activities(conn: Connection) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(entries, entry zones) for frequency and count norms, shaped like geova.core.periodic wants."""
    a = Activity.__table__
    q1 = Quarter.__table__.alias("q1")
    q2 = Quarter.__table__.alias("q2")
    rows = conn.execute(
        select(a.c.id, a.c.category_code, time_expr(conn, a.c.at).label("at"), q1.c.code, q2.c.code)
        .select_from(a)
        .outerjoin(q1, q1.c.id == a.c.quarter_id)
        .outerjoin(q2, q2.c.id == a.c.subquarter_id)
    ).all()
    names = ["id", "category", "at", "quarter", "subquarter"]
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    entries = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in zip(names, cols, strict=True)})
    entries["id"] = entries["id"].astype(np.int64)
    entries["at"] = to_utc(conn, list(cols[2]))
    zt, az = Zone.__table__, ActivityZone.__table__
    zrows = conn.execute(
        select(az.c.activity_id, zt.c.code, zt.c.kind).join(zt, zt.c.id == az.c.zone_id)
    ).all()
    zones = pd.DataFrame(zrows, columns=["id", "zone", "kind"]).astype({"id": np.int64})
    return entries, zones


def load_units(conn: Connection) -> Units:
    q, z = Quarter.__table__, Zone.__table__
    parent = Quarter.__table__.alias("parent")
    quarters = pd.DataFrame(
        conn.execute(
            select(q.c.code, q.c.name, q.c.level, parent.c.code)
            .outerjoin(parent, parent.c.id == q.c.parent_id)
            .order_by(q.c.level, q.c.code)
        ).all(),
        columns=["code", "name", "level", "parent"],
    )
    zones = pd.DataFrame(
        conn.execute(select(z.c.code, z.c.name, z.c.kind).order_by(z.c.code)).all(),
        columns=["code", "name", "kind"],
    )
    return Units(quarters=quarters, zones=zones)


def load_shares(conn: Connection) -> pd.DataFrame:
    s = ShareMeasure.__table__
    rows = conn.execute(
        select(s.c.norm_code, s.c.quarter_code, s.c.period_start, s.c.value).order_by(s.c.recorded_at, s.c.id)
    ).all()
    return pd.DataFrame(rows, columns=["norm", "quarter", "period_start", "value"])


def names(conn: Connection) -> dict[str, dict[str, str]]:
    """Display names of quarters and zones by code, for the evaluation's outputs."""
    q, z = Quarter.__table__, Zone.__table__
    return {
        "quarter": dict(conn.execute(select(q.c.code, q.c.name)).all()),
        "zone": dict(conn.execute(select(z.c.code, z.c.name)).all()),
    }
