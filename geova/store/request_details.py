"""Individual requests as pages show them one by one: a request by id, the texts of several,
a source id, and where a request was placed.

Ids come from addresses (``/geo/interventions/<id>.json``): an id outside the column's range is
simply not found here, rather than an integer overflow in the database (PostgreSQL's ``integer``
ends at 2**31 - 1, SQLite's at 2**63 - 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from geova.store.schema import Intervention, Quarter

IV = Intervention.__table__
# intervention.id is an INTEGER column: 32 bits on PostgreSQL, which refuses a larger bound value with
# an error. An id beyond it names no request (404), so it is never sent to the database.
MAX_STORED_ID = 2**31 - 1
CHUNK = 5000  # ids per IN (...) list: below every backend's limit on bound parameters


def storable_id(intervention_id: int) -> bool:
    """Whether ``intervention_id`` can name a stored request at all."""
    return 1 <= intervention_id <= MAX_STORED_ID


@dataclass(frozen=True)
class RequestRow:
    """One stored request with the codes of the quarter and sub-quarter it was placed in."""

    id: int
    source_id: str
    category: str
    reported_at: datetime
    resolved_at: datetime | None
    status: str
    service: str | None
    address: str | None
    description: str | None
    quarter: str | None
    quarter_name: str | None
    subquarter: str | None
    due_at: datetime | None = None  # the request's own due date (the source's, or geova's own)


def request_row(conn: Connection, intervention_id: int) -> RequestRow | None:
    """The request with this id, or None (also for an id no row can have)."""
    if not storable_id(intervention_id):
        return None
    q1, q2 = Quarter.__table__.alias("q1"), Quarter.__table__.alias("q2")
    row = conn.execute(
        select(
            IV.c.id,
            IV.c.source_id,
            IV.c.category_code,
            IV.c.reported_at,
            IV.c.resolved_at,
            IV.c.status,
            IV.c.service,
            IV.c.address,
            IV.c.description,
            q1.c.code,
            q1.c.name,
            q2.c.code,
            IV.c.due_at,
        )
        .select_from(IV)
        .outerjoin(q1, q1.c.id == IV.c.quarter_id)
        .outerjoin(q2, q2.c.id == IV.c.subquarter_id)
        .where(IV.c.id == intervention_id)
    ).first()
    return RequestRow(*row) if row is not None else None


def source_id(conn: Connection, intervention_id: int) -> str | None:
    """The request's id in its source system, or None when there is no such request."""
    if not storable_id(intervention_id):
        return None
    value = conn.execute(select(IV.c.source_id).where(IV.c.id == intervention_id)).scalar()
    return str(value) if value is not None else None


@dataclass(frozen=True)
class RequestText:
    """The free-text fields of a request (they may hold personal data)."""

    address: str | None
    description: str | None
    service: str | None
    status: str = ""


def request_texts(conn: Connection, ids: Sequence[int]) -> dict[int, RequestText]:
    """Address, description, service and status of the requests with these ids (missing ids are absent)."""
    wanted = sorted({int(i) for i in ids if storable_id(int(i))})
    out: dict[int, RequestText] = {}
    for start in range(0, len(wanted), CHUNK):
        part = wanted[start : start + CHUNK]
        query = select(IV.c.id, IV.c.address, IV.c.description, IV.c.service, IV.c.status).where(
            IV.c.id.in_(part)
        )
        for r in conn.execute(query):
            out[int(r.id)] = RequestText(r.address, r.description, r.service, r.status)
    return out


@dataclass(frozen=True)
class Placement:
    """Where a request landed: its source id, top-level quarter (code, name) and sub-quarter."""

    source_id: str
    quarter: str | None
    quarter_name: str | None
    subquarter: str | None


def placement(conn: Connection, intervention_id: int) -> Placement | None:
    """Where the request with this id was placed, or None when there is no such request."""
    row = request_row(conn, intervention_id)
    if row is None:
        return None
    return Placement(row.source_id, row.quarter, row.quarter_name, row.subquarter)
