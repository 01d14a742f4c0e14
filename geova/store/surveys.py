"""Field surveys and exploratory walks in the store: grids and survey norms of the referential,
campaigns and their drawn transects, the surveyors' entries (idempotent by the browser's entry id),
walk observations and their turning into requests.

The figures are computed by the pure core (geova.core.surveys); the functions the monthly report
calls are :func:`campaign_results` and :func:`campaign_norms` (one campaign) and
:func:`latest_results` (the latest campaign overlapping a period).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import shapely
from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from geova.core.surveys import (
    Graded,
    NormOutcome,
    ResultRow,
    Transect,
    draw_sample,
    evaluate_survey_norm,
    survey_results,
)
from geova.store import edits
from geova.store.schema import (
    Category,
    Quarter,
    SurveyCampaign,
    SurveyEntry,
    SurveyTransect,
    WalkObservation,
    Zone,
)
from geova.store.survey_grids import grids, store_survey_referential, survey_norms

C, T, E = SurveyCampaign.__table__, SurveyTransect.__table__, SurveyEntry.__table__
W = WalkObservation.__table__
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ENTRY_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MAX_NOTE = 2000
MAX_SIZE = 500  # transects per quarter


__all__ = ["grids", "store_survey_referential", "survey_norms"]  # re-exported for the web and the report


class CampaignNotFound(LookupError):
    pass


# ---- campaigns -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Campaign:
    id: int
    code: str
    name: str
    grid: str
    starts: date
    ends: date
    size: int
    seed: int
    allocation: dict[str, int] | None
    example: bool


def _campaign(row: Any) -> Campaign:
    return Campaign(
        row.id,
        row.code,
        row.name,
        row.grid_code,
        row.starts,
        row.ends,
        row.size,
        row.seed,
        row.allocation,
        bool(row.example),
    )


def create_campaign(
    conn: Connection,
    code: str,
    name: str,
    grid: str,
    starts: date,
    ends: date,
    size: int,
    seed: int,
    allocation: dict[str, int] | None = None,
    *,
    example: bool = False,
) -> Campaign:
    """A new campaign (its transects are drawn by :func:`draw`)."""
    if not CODE.match(code or ""):
        raise ValueError(f"code '{code}': letters, digits, '.', '_' or '-', at most 64")
    if not name or len(name) > 200:
        raise ValueError("name: between 1 and 200 characters")
    if grid not in grids(conn):
        raise ValueError(f"grid: unknown grid '{grid}' (one of {', '.join(sorted(grids(conn)))})")
    if ends < starts:
        raise ValueError("period: the end is before the start")
    if not 0 <= size <= MAX_SIZE:
        raise ValueError(f"size: between 0 and {MAX_SIZE} transects per quarter")
    if not 0 <= seed < 2**31:
        raise ValueError("seed: a whole number between 0 and 2147483647")
    if allocation is not None and any(
        not isinstance(v, int) or not 0 <= v <= MAX_SIZE for v in allocation.values()
    ):
        raise ValueError(f"allocation: each zone kind between 0 and {MAX_SIZE} transects")
    if conn.execute(select(C.c.id).where(C.c.code == code)).first():
        raise ValueError(f"campaign '{code}' already exists")
    conn.execute(
        insert(SurveyCampaign).values(
            code=code,
            name=name,
            grid_code=grid,
            starts=starts,
            ends=ends,
            size=size,
            seed=seed,
            allocation=allocation,
            example=example,
            created_at=datetime.now(UTC),
        )
    )
    found = campaign(conn, code)
    assert found is not None
    return found


def campaign(conn: Connection, code: str) -> Campaign | None:
    row = conn.execute(select(C).where(C.c.code == code)).first()
    return _campaign(row) if row else None


def _campaign_or_raise(conn: Connection, code: str) -> Campaign:
    found = campaign(conn, code)
    if found is None:
        raise CampaignNotFound(f"no survey campaign '{code}'")
    return found


def campaigns(conn: Connection) -> list[Campaign]:
    return [_campaign(r) for r in conn.execute(select(C).order_by(C.c.starts.desc(), C.c.code))]


def draw(conn: Connection, code: str) -> list[Transect]:
    """Draw (or draw again, while nothing is graded) the campaign's transects from its seed, over
    the top-level quarters and the priority zones stored now."""
    c = _campaign_or_raise(conn, code)
    ids = select(T.c.id).where(T.c.campaign_id == c.id)
    if conn.execute(select(func.count()).select_from(E).where(E.c.transect_id.in_(ids))).scalar_one():
        raise ValueError(f"campaign '{code}' already has graded transects: its sample is kept")
    q, z = Quarter.__table__, Zone.__table__
    quarters = [
        (r.code, shapely.from_wkb(bytes(r.wkb)))
        for r in conn.execute(select(q.c.code, func.ST_AsBinary(q.c.geom).label("wkb")).where(q.c.level == 0))
    ]
    zones = [
        (r.code, r.kind, shapely.from_wkb(bytes(r.wkb)))
        for r in conn.execute(select(z.c.code, z.c.kind, func.ST_AsBinary(z.c.geom).label("wkb")))
    ]
    if not quarters:
        raise ValueError("no quarter in the store: import the quarters layer first")
    sample = draw_sample(quarters, zones, c.size, c.seed, c.allocation)
    conn.execute(delete(SurveyTransect).where(T.c.campaign_id == c.id))
    if sample:
        conn.execute(
            insert(SurveyTransect),
            [
                {
                    "campaign_id": c.id,
                    "position": t.position,
                    "quarter_code": t.quarter,
                    "zone_kind": t.zone_kind,
                    "zone_code": t.zone,
                    "lon": t.lon,
                    "lat": t.lat,
                }
                for t in sample
            ],
        )
    return sample


def transects(conn: Connection, code: str) -> list[dict[str, Any]]:
    """The campaign's transects in drawn order, each with its latest grades, note and photo (the
    entry id the photo is served under), None when not graded."""
    c = _campaign_or_raise(conn, code)
    latest = _latest_entries(conn, c.id)
    return [
        {
            "position": r.position,
            "quarter": r.quarter_code,
            "zone_kind": r.zone_kind,
            "zone": r.zone_code,
            "lon": r.lon,
            "lat": r.lat,
            "grades": latest[r.id]["grades"] if r.id in latest else None,
            "note": latest[r.id]["note"] if r.id in latest else None,
            "photo": latest[r.id]["photo"] if r.id in latest else None,  # the entry id of its photo
        }
        for r in conn.execute(select(T).where(T.c.campaign_id == c.id).order_by(T.c.position))
    ]


def _latest_entries(conn: Connection, campaign_id: int) -> dict[int, dict[str, Any]]:
    rows = conn.execute(
        select(E.c.transect_id, E.c.grades, E.c.note, E.c.photo, E.c.graded_at, E.c.received_at, E.c.entry_id)
        .join(T, T.c.id == E.c.transect_id)
        .where(T.c.campaign_id == campaign_id)
        .order_by(E.c.graded_at, E.c.received_at, E.c.entry_id)
    )
    return {  # the last one wins
        r.transect_id: {"grades": r.grades, "note": r.note, "photo": r.entry_id if r.photo else None}
        for r in rows
    }


def record_entry(
    conn: Connection,
    code: str,
    entry_id: str,
    position: int,
    grades: dict[str, str],
    note: str | None,
    surveyor: str | None,
    graded_at: datetime,
    photo: str | None = None,
) -> bool:
    """Store one grading of transect ``position``; False (and nothing changed) when an entry with
    this id is already stored, so a browser re-sending after a lost answer never duplicates."""
    if not ENTRY_ID.match(entry_id or ""):
        raise ValueError("entry_id: a UUID made by the browser")
    if conn.execute(select(E.c.entry_id).where(E.c.entry_id == entry_id.lower())).first():
        return False
    c = _campaign_or_raise(conn, code)
    grid = grids(conn).get(c.grid)
    if grid is None:
        raise ValueError(f"the campaign's grid '{c.grid}' is no longer in the referential")
    checked = grid.check(grades)
    if note is not None and len(note) > MAX_NOTE:
        raise ValueError(f"note: at most {MAX_NOTE} characters")
    if note is not None and "\x00" in note:
        raise ValueError("note: contains a NUL character")
    row = conn.execute(select(T.c.id).where(T.c.campaign_id == c.id, T.c.position == position)).first()
    if row is None:
        raise ValueError(f"transect: campaign '{code}' has no transect {position}")
    if graded_at.tzinfo is None:
        raise ValueError("graded_at: a time with its offset")
    try:
        with conn.begin_nested():  # the same entry sent twice at the same instant: stored once
            conn.execute(
                insert(SurveyEntry).values(
                    entry_id=entry_id.lower(),
                    transect_id=row.id,
                    grades=checked,
                    note=note or None,
                    photo=photo,
                    surveyor=surveyor,
                    graded_at=graded_at,
                    received_at=datetime.now(UTC),
                )
            )
    except IntegrityError:
        return False
    return True


def entry_count(conn: Connection, code: str) -> int:
    c = _campaign_or_raise(conn, code)
    return int(
        conn.execute(
            select(func.count())
            .select_from(E.join(T, T.c.id == E.c.transect_id))
            .where(T.c.campaign_id == c.id)
        ).scalar_one()
    )


def graded(conn: Connection, code: str) -> list[Graded]:
    """The campaign's graded transects, each with its latest grades."""
    c = _campaign_or_raise(conn, code)
    latest = _latest_entries(conn, c.id)
    return [
        Graded(r.quarter_code, r.zone_kind, r.zone_code, latest[r.id]["grades"])
        for r in conn.execute(select(T).where(T.c.campaign_id == c.id).order_by(T.c.position))
        if r.id in latest
    ]


def campaign_results(conn: Connection, code: str) -> list[ResultRow]:
    """Per city, quarter, zone and zone kind, per element and for any element: transects graded,
    how many below the acceptable grade, the share and its 95 % Wilson interval."""
    c = _campaign_or_raise(conn, code)
    return survey_results(graded(conn, code), grids(conn)[c.grid])


def campaign_norms(conn: Connection, code: str) -> list[NormOutcome]:
    """Each survey norm on the campaign's grid: met, not met, or not enough transects."""
    c = _campaign_or_raise(conn, code)
    grid = grids(conn)[c.grid]
    rows = graded(conn, code)
    return [evaluate_survey_norm(n, rows, grid) for n in survey_norms(conn, c.grid)]


def latest_results(conn: Connection, start: date, end: date) -> tuple[Campaign, list[ResultRow]] | None:
    """The results of the latest campaign whose period overlaps [start, end], or None."""
    row = conn.execute(
        select(C)
        .where(C.c.starts <= end, C.c.ends >= start)
        .order_by(C.c.ends.desc(), C.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    found = _campaign(row)
    return found, campaign_results(conn, found.code)


# ---- exploratory walks ---------------------------------------------------------------------------


def add_observation(
    conn: Connection,
    walk: str,
    lon: float,
    lat: float,
    category: str,
    note: str | None,
    username: str | None,
    when: datetime,
) -> int:
    """One observation of a walk with residents: a point, a category of the referential, a note."""
    walk = (walk or "").strip()
    if not walk or len(walk) > 128:
        raise ValueError("walk: a name of 1 to 128 characters")
    if not conn.execute(
        select(Category.__table__.c.code).where(Category.__table__.c.code == category)
    ).first():
        raise ValueError(f"category: unknown category '{category}'")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValueError("longitude/latitude: outside ±180 / ±90")
    if note is not None and (len(note) > MAX_NOTE or "\x00" in note):
        raise ValueError(f"note: at most {MAX_NOTE} characters, no NUL")
    result = conn.execute(
        insert(WalkObservation).values(
            walk=walk,
            lon=lon,
            lat=lat,
            category_code=category,
            note=note or None,
            recorded_by=username,
            recorded_at=when,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def observations(conn: Connection, walk: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """The latest observations (of one walk when named), newest first."""
    query = select(W).order_by(W.c.recorded_at.desc(), W.c.id.desc()).limit(limit)
    if walk:
        query = query.where(W.c.walk == walk)
    return [dict(r._mapping) for r in conn.execute(query)]


def observation_to_request(
    conn: Connection, observation_id: int, username: str | None, when: datetime
) -> int:
    """The observation as an open intervention request (the correspondent form's own function);
    returns the request's id. Done once: asked again, the same request's id."""
    row = conn.execute(select(W).where(W.c.id == observation_id)).first()
    if row is None:
        raise LookupError(f"no walk observation {observation_id}")
    if row.intervention_id is not None:
        return int(row.intervention_id)
    description = f"[{row.walk}] {row.note}" if row.note else f"[{row.walk}]"
    new_id = edits.report_intervention(
        conn, row.category_code, description, None, row.lon, row.lat, username, when, channel="walk"
    )
    conn.execute(update(WalkObservation).where(W.c.id == observation_id).values(intervention_id=new_id))
    return new_id
