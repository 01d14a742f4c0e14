"""What Open311 GeoReport v2 reads and writes beyond a new request: the services' categories, the
request search, the request rows it shows (with their latest public note and photo link), the
tokens it hands out, and FixMyStreet's ``servicerequestupdates`` extension (the public updates of a
window; a client's update found again by its own id).

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

from geova.core.lifecycle import LIFECYCLE
from geova.store.referential import status_mapping
from geova.store.schema import (
    ImportRun,
    Intervention,
    InterventionEvent,
    Quarter,
)

IV = Intervention.__table__
EV = InterventionEvent.__table__
NOTE_KIND = "note"  # geova.store.edits.EventKind.NOTE
REPORTED_KIND = "reported"
STATUS_KINDS = tuple(s.value for s in LIFECYCLE)  # an event of these kinds is a status change
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


def existing(
    conn: Connection, ids: Sequence[int], quarters: tuple[str, ...] | None = None, lock: bool = False
) -> set[int]:
    """Which of these ids are stored requests (within ``quarters`` when given). ``lock`` holds their
    rows until the transaction ends (PostgreSQL; SQLite's writers are serialised already), so that
    two copies of one client update posted at once are recorded once."""
    if not ids:
        return set()
    query = select(IV.c.id).where(IV.c.id.in_(list(ids)))
    if quarters is not None:
        query = _in_quarters(query, quarters)
    if lock:
        query = query.with_for_update(of=IV)
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
            IV.c.due_at,
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


def _public() -> Any:
    """An event whose note the requester and Open311 may read (``detail.public`` true)."""
    return EV.c.detail["public"].as_boolean().is_(True)


def latest_public_notes(conn: Connection, ids: Sequence[int]) -> dict[int, str]:
    """Each request's latest public note (never an internal one), by id."""
    if not ids:
        return {}
    rows = conn.execute(
        select(EV.c.intervention_id, EV.c.note)
        .where(EV.c.intervention_id.in_(list(ids)), EV.c.note.is_not(None), _public())
        .order_by(EV.c.at, EV.c.id)
    )
    return {int(r.intervention_id): r.note for r in rows}  # the last one wins


def media_urls(conn: Connection, ids: Sequence[int]) -> dict[int, str]:
    """The photo link each request was reported with (kept in its ``reported`` event), by id."""
    if not ids:
        return {}
    rows = conn.execute(
        select(EV.c.intervention_id, EV.c.detail).where(
            EV.c.intervention_id.in_(list(ids)), EV.c.kind == REPORTED_KIND
        )
    )
    return {int(r.intervention_id): r.detail["media_url"] for r in rows if (r.detail or {}).get("media_url")}


@dataclass(frozen=True)
class UpdateSearch:
    """GET servicerequestupdates: the public updates made within [start, end] (inclusive)."""

    start: datetime
    end: datetime
    quarters: tuple[str, ...] | None = None
    limit: int = 1000
    offset: int = 0


def public_updates(conn: Connection, s: UpdateSearch) -> list[dict[str, Any]]:
    """Status changes (their note only when public) and public notes made within the window,
    oldest first, one page of them: event id, request id, kind, time, note, detail."""
    public_note = (EV.c.kind == NOTE_KIND) & _public()
    query = (
        select(EV.c.id, EV.c.intervention_id, EV.c.kind, EV.c.at, EV.c.note, EV.c.detail)
        .join(IV, IV.c.id == EV.c.intervention_id)
        .where(EV.c.at >= s.start, EV.c.at <= s.end)
        .where(or_(EV.c.kind.in_(STATUS_KINDS), public_note))
    )
    if s.quarters is not None:
        query = _in_quarters(query, s.quarters)
    query = query.order_by(EV.c.at, EV.c.id).limit(s.limit).offset(s.offset)
    return [dict(r._mapping) for r in conn.execute(query)]


def client_update(conn: Connection, intervention_id: int, client: str, update_id: str) -> int | None:
    """The event a client's update (its own ``update_id``) was recorded as, if it was."""
    rows = conn.execute(
        select(EV.c.id, EV.c.detail).where(EV.c.intervention_id == intervention_id).order_by(EV.c.id)
    )
    for row in rows:
        detail = row.detail or {}
        if detail.get("client") == client and detail.get("client_update_id") == update_id:
            return int(row.id)
    return None


def request_status(conn: Connection, intervention_id: int) -> str | None:
    """A request's stored status (None: no such request)."""
    found: str | None = conn.execute(select(IV.c.status).where(IV.c.id == intervention_id)).scalar()
    return found
