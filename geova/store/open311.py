"""What Open311 GeoReport v2 reads and writes beyond a new request: the services' categories, the
request search, the request rows it shows and the tokens it hands out.

The web module (geova.web.open311) only shapes these into the spec's documents; every query lives
here, with bound parameters only. A new request itself is stored by geova.store.edits like every
other write path.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, or_, select

from geova.store.referential import status_mapping
from geova.store.schema import (
    ImportRun,
    Intervention,
    InterventionEvent,
    Quarter,
)

IV = Intervention.__table__
SOURCE = "open311"
TOKEN_PREFIX = "O311-"
TOKEN_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: no I, L, O, U
TOKEN_LENGTH = 10


def used_categories(conn: Connection) -> set[str]:
    """Categories stored requests use (a service stays listed while requests of it exist)."""
    return set(conn.execute(select(IV.c.category_code).distinct()).scalars())


def last_import(conn: Connection) -> datetime | None:
    """When the last import finished: the services change with the referential and the imports."""
    value: datetime | None = conn.execute(select(func.max(ImportRun.__table__.c.finished_at))).scalar()
    return value


def _in_quarters(query: Select, quarters: Sequence[str]) -> Select:
    """Requests whose quarter or sub-quarter has one of these codes."""
    qt = Quarter.__table__
    ids = select(qt.c.id).where(qt.c.code.in_(list(quarters)))
    return query.where(or_(IV.c.quarter_id.in_(ids), IV.c.subquarter_id.in_(ids)))


@dataclass(frozen=True)
class Search:
    """A GET requests search. ``quarters`` is the caller's reach (None: every quarter)."""

    start: datetime  # inclusive, aware
    end: datetime  # inclusive, aware (the spec's end_date includes its instant)
    categories: tuple[str, ...] = ()  # () = all
    status: str | None = None  # "open", "closed" or None for both
    quarters: tuple[str, ...] | None = None
    limit: int = 1000
    offset: int = 0


def open311_open_statuses(conn: Connection) -> list[str]:
    """The stored statuses Open311 calls ``open`` (the referential's status mapping)."""
    return sorted(k for k, v in status_mapping(conn).items() if v.get("open311") == "open")


def _open(conn: Connection) -> Any:
    return IV.c.status.in_(open311_open_statuses(conn))


def search(conn: Connection, s: Search) -> list[int]:
    """Ids of the requests reported within [start, end], most recent first, one page of them."""
    query = select(IV.c.id).where(IV.c.reported_at >= s.start, IV.c.reported_at <= s.end)
    if s.categories:
        query = query.where(IV.c.category_code.in_(list(s.categories)))
    if s.status == "open":
        query = query.where(_open(conn))
    elif s.status == "closed":
        query = query.where(~_open(conn))
    if s.quarters is not None:
        query = _in_quarters(query, s.quarters)
    query = query.order_by(IV.c.reported_at.desc(), IV.c.id.desc()).limit(s.limit).offset(s.offset)
    return [int(i) for i in conn.execute(query).scalars()]


def existing(conn: Connection, ids: Sequence[int], quarters: tuple[str, ...] | None = None) -> set[int]:
    """Which of these ids are stored requests (within ``quarters`` when given)."""
    if not ids:
        return set()
    query = select(IV.c.id).where(IV.c.id.in_(list(ids)))
    if quarters is not None:
        query = _in_quarters(query, quarters)
    return {int(i) for i in conn.execute(query).scalars()}


def request_rows(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """What a GeoReport request shows, by id: stored fields, location and the last event's time."""
    if not ids:
        return {}
    ev = InterventionEvent.__table__
    last_event = (
        select(func.max(ev.c.at)).where(ev.c.intervention_id == IV.c.id).scalar_subquery().label("last_event")
    )
    rows = conn.execute(
        select(
            IV.c.id,
            IV.c.category_code,
            IV.c.status,
            IV.c.reported_at,
            IV.c.resolved_at,
            IV.c.service,
            IV.c.address,
            IV.c.description,
            func.ST_X(IV.c.geom).label("lon"),
            func.ST_Y(IV.c.geom).label("lat"),
            last_event,
        ).where(IV.c.id.in_(list(ids)))
    )
    return {int(r.id): dict(r._mapping) for r in rows}


def token_request(conn: Connection, token: str) -> int | None:
    """The id of the request a POST answered with this token."""
    found = conn.execute(select(IV.c.id).where((IV.c.source == SOURCE) & (IV.c.source_id == token))).scalar()
    return None if found is None else int(found)


def new_token(conn: Connection) -> str:
    """A token no stored Open311 request has: ``O311-`` and 10 characters of Crockford's base 32
    (50 bits: a collision is retried, never expected)."""
    while True:
        token = TOKEN_PREFIX + "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))
        if token_request(conn, token) is None:
            return token
