"""Read models of individual requests and the referential, as the APIs list them.

The JSON API (and Open311) page through requests by id and show each one with its quarter codes,
zones, flags and position; the SQL for that lives here so that the web layer only shapes answers.
Every value reaches the database as a bound parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Select, func, select

from geova.store.records import RecordFilter, filter_query
from geova.store.request_details import storable_id
from geova.store.schema import (
    Category,
    Intervention,
    InterventionFlag,
    InterventionZone,
    Quarter,
    Zone,
)

IV = Intervention.__table__


def _base(conn: Connection, columns: Sequence[Any], where: RecordFilter) -> Select:
    q1 = Quarter.__table__.alias("q1")
    q2 = Quarter.__table__.alias("q2")
    query = (
        select(*columns)
        .select_from(IV)
        .outerjoin(q1, q1.c.id == IV.c.quarter_id)
        .outerjoin(q2, q2.c.id == IV.c.subquarter_id)
    )
    return filter_query(conn, query, where, q1, q2)


def count_requests(conn: Connection, where: RecordFilter) -> int:
    return int(conn.execute(_base(conn, [func.count()], where)).scalar_one())


def request_ids(conn: Connection, where: RecordFilter, limit: int, offset: int) -> list[int]:
    """One page of the ids ``where`` selects, in id order."""
    query = _base(conn, [IV.c.id], where).order_by(IV.c.id).limit(limit).offset(offset)
    return [int(i) for i in conn.execute(query).scalars()]


def request_rows(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Stored fields, quarter codes, zones, flags and location of these requests, by id (ids the
    store cannot hold are simply absent)."""
    ids = [int(i) for i in ids if storable_id(int(i))]
    if not ids:
        return {}
    q1 = Quarter.__table__.alias("q1")
    q2 = Quarter.__table__.alias("q2")
    rows = conn.execute(
        select(
            IV.c.id,
            IV.c.source,
            IV.c.source_id,
            IV.c.category_code,
            IV.c.status,
            IV.c.reported_at,
            IV.c.resolved_at,
            IV.c.due_at,
            IV.c.service,
            IV.c.channel,
            IV.c.address,
            IV.c.description,
            IV.c.insulting,
            IV.c.severity,
            q1.c.code.label("quarter"),
            q2.c.code.label("subquarter"),
            func.ST_X(IV.c.geom).label("lon"),
            func.ST_Y(IV.c.geom).label("lat"),
        )
        .select_from(IV)
        .outerjoin(q1, q1.c.id == IV.c.quarter_id)
        .outerjoin(q2, q2.c.id == IV.c.subquarter_id)
        .where(IV.c.id.in_(ids))
    )
    out = {int(r.id): {**r._mapping, "zones": [], "flags": []} for r in rows}
    zt, iz = Zone.__table__, InterventionZone.__table__
    for rid, code in conn.execute(
        select(iz.c.intervention_id, zt.c.code)
        .join(zt, zt.c.id == iz.c.zone_id)
        .where(iz.c.intervention_id.in_(ids))
        .order_by(zt.c.code)
    ):
        out[int(rid)]["zones"].append(code)
    fl = InterventionFlag.__table__
    for rid, code in conn.execute(
        select(fl.c.intervention_id, fl.c.code).where(fl.c.intervention_id.in_(ids)).order_by(fl.c.code)
    ):
        out[int(rid)]["flags"].append(code)
    return out


def quarter_rows(conn: Connection) -> list[dict[str, Any]]:
    """Quarters and sub-quarters with their parent's code, top level first."""
    q = Quarter.__table__
    parent = q.alias("parent")
    rows = conn.execute(
        select(q.c.code, q.c.name, q.c.level, parent.c.code.label("parent"))
        .outerjoin(parent, parent.c.id == q.c.parent_id)
        .order_by(q.c.level, q.c.code)
    ).all()
    return [dict(r._mapping) for r in rows]


def zone_rows(conn: Connection) -> list[dict[str, Any]]:
    z = Zone.__table__
    return [dict(r._mapping) for r in conn.execute(select(z.c.code, z.c.name, z.c.kind).order_by(z.c.code))]


KNOWN_CODES = {
    "quarter": Quarter.__table__.c.code,
    "zone": Zone.__table__.c.code,
    "category": Category.__table__.c.code,
}


def unknown_codes(conn: Connection, kind: str, codes: Sequence[str]) -> list[str]:
    """Those of ``codes`` that name no ``kind`` (quarter, zone or category) in the store."""
    if not codes:
        return []
    column = KNOWN_CODES[kind]
    found = set(conn.execute(select(column).where(column.in_(list(codes)))).scalars())
    return [c for c in codes if c not in found]
