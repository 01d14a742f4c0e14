"""What people change in the web app: a request reported, resolved or handed to another service.

Each write goes with an ``InterventionEvent`` naming who did what and when, so that a request's
history in geova can be told apart from what its source system said. Bad input is refused with
``ValueError`` (the page shows the message and nothing is stored); an unknown request id raises
``LookupError``. The caller owns the transaction: ``with geova.store.db.write(engine) as conn``, which
takes the write lock first on SQLite (see geova.store.db).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import shapely
from geoalchemy2.shape import from_shape
from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from geova.core.assign import assign_points
from geova.core.checks import outside_extent
from geova.core.lifecycle import TransitionRefused, check_transition, is_open
from geova.core.model import Flag, Status
from geova.core.records import HASHED, content_hashes
from geova.core.requesters import Contact
from geova.core.routing import queue_mapper
from geova.store.areas import load_areas, territory_bounds
from geova.store.db import StoreBusy
from geova.store.events import record_event
from geova.store.outbox import enqueue_resolution_notice
from geova.store.referential import services
from geova.store.requesters import add_requester
from geova.store.routing import due_for, placed_request, service_for
from geova.store.schema import (
    SRID,
    Category,
    Intervention,
    InterventionEvent,
    InterventionFlag,
    InterventionZone,
)

WEB_SOURCE = "geova-web"
WEB_CHANNEL = "geova"
SOURCE_ID_PREFIX = "W-"
MAX_TEXT = 2000  # description (forms, /api/v1), note
MAX_DESCRIPTION = 4000  # the longest description any write path takes (Open311 GeoReport v2 allows 4,000)
MAX_SHORT_TEXT = 300  # address, service
# A resolution may be entered a little ahead of the server's clock, never in the future.
CLOCK_SKEW = timedelta(minutes=5)
# Draws of the next W- number. On SQLite writers are serialised, so the first draw wins; on
# PostgreSQL concurrent reports may draw the same number, and each lost draw means another report
# committed that number, so a draw is lost at most once per concurrent writer.
SOURCE_ID_DRAWS = 50

IV = Intervention.__table__
EV = InterventionEvent.__table__


class OutsideTerritory(ValueError):
    """A new request placed outside every quarter of the territory."""


class ResolvedBeforeReport(ValueError):
    """A resolution time earlier than the report."""

    def __init__(self) -> None:
        super().__init__("a request cannot be resolved before it was reported")


class ResolvedInFuture(ValueError):
    """A resolution time ahead of the server's clock (beyond the skew allowed)."""

    def __init__(self) -> None:
        super().__init__("a resolution time cannot be in the future")


class UnknownService(ValueError):
    """A service the referential does not define."""

    def __init__(self, service: str, known: list[str]) -> None:
        self.service = service
        super().__init__(f"unknown service '{service}' (the referential's: {', '.join(sorted(known))})")


class EventKind:
    """``reported``, ``reassigned``, or the status a transition led to (``acknowledged``,
    ``resolved``...: geova.core.lifecycle)."""

    REPORTED = "reported"
    RESOLVED = "resolved"
    REASSIGNED = "reassigned"
    NOTE = "note"  # a note alone, without a status change (add_note)


def _instant(when: Any, what: str) -> datetime:
    """An aware UTC datetime; a naive one is refused (it would silently shift by the offset)."""
    if when is None:
        raise ValueError(f"{what}: a date and time is needed")
    try:
        ts = pd.Timestamp(when)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: '{when}' is not a date and time") from exc
    if ts is pd.NaT:
        raise ValueError(f"{what}: a date and time is needed")
    if ts.tzinfo is None:
        raise ValueError(f"{what}: a time zone is needed (got {when!r})")
    return ts.tz_convert("UTC").to_pydatetime()


def _text(value: str | None, what: str, limit: int, required: bool = False) -> str | None:
    text = (value or "").strip()
    if required and not text:
        raise ValueError(f"{what} is required")
    if len(text) > limit:
        raise ValueError(f"{what} is longer than {limit} characters")
    return text or None


def _coordinates(lon: Any, lat: Any) -> tuple[float, float]:
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError) as exc:
        raise ValueError("longitude and latitude must be numbers") from exc
    if not (math.isfinite(x) and -180 <= x <= 180):
        raise ValueError(f"longitude {lon} is outside -180..180")
    if not (math.isfinite(y) and -90 <= y <= 90):
        raise ValueError(f"latitude {lat} is outside -90..90")
    return x, y


def _hash(values: dict[str, Any]) -> str:
    """The same content digest imports compute (geova.core.records.content_hashes)."""
    frame = pd.DataFrame({name: [values.get(name)] for name in HASHED})
    for name in ("reported_at", "resolved_at", "due_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    frame["insulting"] = frame["insulting"].astype(bool)
    frame["x"], frame["y"] = frame["x"].astype(float), frame["y"].astype(float)
    return content_hashes(frame)[0]


def _next_source_id(conn: Connection) -> str:
    last = conn.execute(
        select(IV.c.source_id)
        .where(IV.c.source == WEB_SOURCE)
        .order_by(func.length(IV.c.source_id).desc(), IV.c.source_id.desc())
        .limit(1)
    ).scalar()
    try:
        n = int(str(last).removeprefix(SOURCE_ID_PREFIX)) if last else 0
    except ValueError:
        n = conn.execute(select(func.count()).where(IV.c.source == WEB_SOURCE)).scalar_one()
    return f"{SOURCE_ID_PREFIX}{n + 1:06d}"


def _insert_numbered(conn: Connection, row: dict[str, Any], source_id: str | None) -> int:
    """Insert a new request under ``source_id``, or under the next free W- number when none is given.

    Two reports at once may draw the same number (PostgreSQL runs them side by side): the loser's
    insert fails on the unique (source, source_id) constraint inside a savepoint, and it draws again
    after the winner's commit. A given id that is taken is the caller's mistake (ValueError).
    """
    for _ in range(SOURCE_ID_DRAWS if source_id is None else 1):
        try:
            with conn.begin_nested():
                drawn = source_id or _next_source_id(conn)
                return int(conn.execute(insert(IV).values(source_id=drawn, **row)).inserted_primary_key[0])
        except IntegrityError as exc:
            if source_id is not None:
                raise ValueError(f"request {row['source']} {source_id} already exists") from exc
    raise StoreBusy(f"no free request number after {SOURCE_ID_DRAWS} draws; too many reports at once")


def report_intervention(
    conn: Connection,
    category: str,
    description: str | None,
    address: str | None,
    lon: float,
    lat: float,
    username: str | None,
    when: datetime | pd.Timestamp,
    *,
    insulting: bool = False,
    severity: str | None = None,
    channel: str | None = None,
    source: str | None = None,
    source_id: str | None = None,
    media_url: str | None = None,
    photo: Mapping[str, str] | None = None,
    requester: Contact | None = None,
) -> int:
    """Store a new open request reported in geova; returns its id.

    It gets a source id of its own (``W-000001``...), the channel ``geova``, the status ``new``, the
    service the referential routes it to and the due date the norms' own targets give it
    (geova.store.routing), and is assigned to its quarter, sub-quarter and zones exactly as imports
    assign them. The APIs may pass what a form does not: whether it is
    insulting, its severity, its channel, a source with its own id (Open311 tokens) and a
    ``media_url`` (Open311's photo link), kept in the ``reported`` event's detail; the web form a
    ``photo`` it stored on disk (its file name and Content-Type), kept there too. The
    ``requester``'s contact (checked by geova.core.requesters) is kept apart (geova.store.requesters).
    """
    if (source is None) != (source_id is None):
        raise ValueError("give both source and source_id, or neither")
    known = conn.execute(select(Category.__table__.c.code).where(Category.__table__.c.code == category))
    if not category or known.first() is None:
        raise ValueError(f"unknown category '{category}'")
    description = _text(description, "description", MAX_DESCRIPTION, required=True)
    address = _text(address, "address", MAX_SHORT_TEXT)
    media_url = _text(media_url, "media_url", MAX_TEXT)
    x, y = _coordinates(lon, lat)
    reported_at = _instant(when, "report time")
    quarters, zones = load_areas(conn)
    placed = assign_points(np.array([x]), np.array([y]), quarters, zones)
    quarter_id = int(placed.quarter[0]) if placed.quarter[0] >= 0 else None
    subquarter_id = int(placed.subquarter[0]) if placed.subquarter[0] >= 0 else None
    if quarter_id is None and len(quarters):
        # Imports keep such rows (flagged) because the source system is authoritative; a new report
        # made here is a mistake of the person or the client (swapped or foreign coordinates).
        raise OutsideTerritory(f"the point lon={x:g}, lat={y:g} is outside the territory's quarters")
    values: dict[str, Any] = {
        "category_code": category,
        "source_category": None,
        "reported_at": reported_at,
        "resolved_at": None,
        "due_at": None,
        "status": Status.NEW.value,
        "channel": channel or WEB_CHANNEL,
        "insulting": bool(insulting),
        "severity": severity,
        "service": None,
        "description": description,
        "address": address,
        "x": x,
        "y": y,
    }
    row = {k: v for k, v in values.items() if k not in ("x", "y")}
    row.update(
        source=source or WEB_SOURCE,
        quarter_id=quarter_id,
        subquarter_id=subquarter_id,
        content_hash=_hash(values),
        import_id=None,
        geom=from_shape(shapely.Point(x, y), srid=SRID),
    )
    new_id = _insert_numbered(conn, row, source_id)
    zone_ids = [z for _, z in placed.zone_pairs]
    if zone_ids:
        conn.execute(
            insert(InterventionZone.__table__), [{"intervention_id": new_id, "zone_id": z} for z in zone_ids]
        )
    if outside_extent(np.array([x]), np.array([y]), territory_bounds(quarters))[0]:
        conn.execute(
            insert(InterventionFlag.__table__).values(intervention_id=new_id, code=Flag.OUTSIDE_EXTENT.value)
        )
    records, zones_frame = placed_request(conn, new_id)
    service = service_for(conn, records, zones_frame)
    due = due_for(conn, records, zones_frame)
    due_at = None if due is None else pd.Timestamp(due).to_pydatetime()
    values.update(service=service, due_at=due_at)
    conn.execute(
        update(IV).where(IV.c.id == new_id).values(service=service, due_at=due_at, content_hash=_hash(values))
    )
    record_event(
        conn,
        new_id,
        EventKind.REPORTED,
        reported_at,
        username,
        None,
        {
            "category": category,
            "lon": x,
            "lat": y,
            "service": service,
            "due_at": None if due_at is None else due_at.isoformat(),
            **({"media_url": media_url} if media_url else {}),
            **({"photo": dict(photo)} if photo else {}),
        },
    )
    add_requester(conn, new_id, requester)
    return new_id


def _current(conn: Connection, intervention_id: int) -> dict[str, Any]:
    row = conn.execute(
        select(
            *(IV.c[name] for name in HASHED if name not in ("x", "y")),
            IV.c.id,
            func.ST_X(IV.c.geom).label("x"),
            func.ST_Y(IV.c.geom).label("y"),
        ).where(IV.c.id == intervention_id)
    ).first()
    if row is None:
        raise LookupError(f"no request with id {intervention_id}")
    return dict(row._mapping)


def transition(
    conn: Connection,
    intervention_id: int,
    status: str,
    username: str | None,
    note: str | None = None,
    *,
    public: bool = False,
    when: datetime | pd.Timestamp | None = None,
    reason: str | None = None,
    duplicate_of: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Move a request along its life cycle (geova.core.lifecycle), with an event saying who, when,
    from which status to which, and a note marked public or internal.

    ``resolved`` stops the norm's clock at ``when`` (the resolution time, default now; never
    before the report nor in the future); reopening a resolved request (``in_progress``) clears it.
    ``rejected`` needs a ``reason``; ``duplicate`` the id of the request it repeats. A change the
    life cycle does not allow raises TransitionRefused (a ValueError). ``extra`` is kept in the
    event's detail (an Open311 client's own update id). A resolution writes the requester's
    notice in the outbox, in this same transaction (geova.store.outbox)."""
    current = _current(conn, intervention_id)
    note = _text(note, "note", MAX_TEXT)
    reason = _text(reason, "reason", MAX_SHORT_TEXT)
    target = check_transition(intervention_id, current["status"], status)
    now = datetime.now(UTC)
    changes: dict[str, Any] = {"status": target.value}
    detail: dict[str, Any] = {**(extra or {}), "from": current["status"], "to": target.value}
    detail["public"] = bool(public)
    if target is Status.REJECTED:
        if not reason:
            raise TransitionRefused(intervention_id, current["status"], status, "reason")
        detail["reason"] = reason
    if target is Status.DUPLICATE:
        if duplicate_of is None:
            raise TransitionRefused(intervention_id, current["status"], status, "duplicate_of")
        if int(duplicate_of) == intervention_id:
            raise ValueError(f"request {intervention_id} cannot be a duplicate of itself")
        if conn.execute(select(IV.c.id).where(IV.c.id == int(duplicate_of))).first() is None:
            raise LookupError(f"no request with id {duplicate_of}")
        detail["duplicate_of"] = int(duplicate_of)
    if target is Status.RESOLVED:
        resolved_at = _instant(when if when is not None else now, "resolution time")
        if resolved_at < current["reported_at"]:
            raise ResolvedBeforeReport()
        if resolved_at > now + CLOCK_SKEW:
            raise ResolvedInFuture()
        changes["resolved_at"] = resolved_at
        detail["resolved_at"] = resolved_at.isoformat()
    elif target is Status.IN_PROGRESS and current["resolved_at"] is not None:
        changes["resolved_at"] = None  # reopened: the norm's clock runs again
    current.update(changes)
    conn.execute(update(IV).where(IV.c.id == intervention_id).values(**changes, content_hash=_hash(current)))
    record_event(conn, intervention_id, target.value, now, username, note, detail)
    if target is Status.RESOLVED:
        enqueue_resolution_notice(conn, intervention_id)  # sent once committed (geova.mailing)


def resolve(
    conn: Connection,
    intervention_id: int,
    when: datetime | pd.Timestamp,
    note: str | None,
    username: str | None,
    *,
    public: bool = True,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Mark an open request resolved at ``when`` (the norm's clock stops there), with an event."""
    current = _current(conn, intervention_id)
    _instant(when, "resolution time")
    if not is_open(current["status"]) or current["resolved_at"] is not None:
        raise TransitionRefused(intervention_id, current["status"], Status.RESOLVED.value)
    transition(
        conn, intervention_id, Status.RESOLVED.value, username, note, public=public, when=when, extra=extra
    )


def add_note(
    conn: Connection,
    intervention_id: int,
    note: str | None,
    username: str | None,
    *,
    public: bool,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """A note on a request without a status change (public: the requester and Open311 read it),
    as an event naming who wrote it, when, and the status the request had."""
    current = _current(conn, intervention_id)
    text = _text(note, "note", MAX_TEXT, required=True)
    detail = {**(extra or {}), "status": current["status"], "public": bool(public)}
    record_event(conn, intervention_id, EventKind.NOTE, datetime.now(UTC), username, text, detail)


def reassign(
    conn: Connection, intervention_id: int, service: str | None, note: str | None, username: str | None
) -> None:
    """Hand a request to another service (with an event saying who, when, from which and to which).
    When the referential defines services, ``service`` must be one of them (or a source queue code
    one of them claims)."""
    current = _current(conn, intervention_id)
    new = _text(service, "service", MAX_SHORT_TEXT, required=True)
    note = _text(note, "note", MAX_TEXT)
    defined = services(conn)
    if defined and new is not None:
        new = queue_mapper(defined)(new)  # a source's queue code names its service
        known = {s.code for s in defined}
        if new not in known:
            raise UnknownService(new, sorted(known))
    old = current["service"]
    if new == old:
        raise ValueError(f"request {intervention_id} is already assigned to {new}")
    current["service"] = new
    conn.execute(
        update(IV).where(IV.c.id == intervention_id).values(service=new, content_hash=_hash(current))
    )
    record_event(
        conn,
        intervention_id,
        EventKind.REASSIGNED,
        datetime.now(UTC),
        username,
        note,
        {"from": old, "to": new},
    )


def events(conn: Connection, intervention_id: int) -> list[dict[str, Any]]:
    """A request's history in geova, oldest first."""
    rows = conn.execute(select(EV).where(EV.c.intervention_id == intervention_id).order_by(EV.c.at, EV.c.id))
    return [dict(r._mapping) for r in rows]
