"""Requester follow-ups and share measures recorded by people (not imported from a source system)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
from sqlalchemy import Connection, select

from geova.core.followups import STEP_CODES
from geova.core.norms import Period
from geova.core.periodic import period_starts
from geova.store.records import time_expr, to_utc
from geova.store.schema import FollowUp, Intervention, Norm, Quarter, ShareMeasure

F = FollowUp.__table__
IV = Intervention.__table__


def record_followup(
    conn: Connection,
    source_id: str,
    step: str,
    done_at: datetime,
    note: str | None = None,
    recorded_by: str | None = None,
    source: str | None = None,
) -> int:
    """Record (or correct) the contact of one step for the request with this source id."""
    if step not in STEP_CODES:
        raise LookupError(f"unknown follow-up step '{step}' (one of {', '.join(STEP_CODES)})")
    q = select(IV.c.id).where(IV.c.source_id == source_id)
    if source:
        q = q.where(IV.c.source == source)
    ids = conn.execute(q).scalars().all()
    if len(ids) != 1:
        detail = "no request" if not ids else "several requests (give the source)"
        raise LookupError(f"{detail} with source id '{source_id}'")
    where = (F.c.intervention_id == ids[0]) & (F.c.step == step)
    if conn.execute(select(F.c.id).where(where)).first():
        conn.execute(F.update().where(where).values(done_at=done_at, note=note, recorded_by=recorded_by))
    else:
        conn.execute(
            F.insert().values(
                intervention_id=ids[0], step=step, done_at=done_at, note=note, recorded_by=recorded_by
            )
        )
    return ids[0]


def load_done(conn: Connection) -> pd.DataFrame:
    rows = conn.execute(select(F.c.intervention_id, F.c.step, time_expr(conn, F.c.done_at))).all()
    cols = list(zip(*rows, strict=True)) if rows else [[], [], []]
    return pd.DataFrame(
        {
            "id": pd.Series(cols[0], dtype="int64"),
            "step": pd.Series(cols[1], dtype=object),
            "done_at": to_utc(conn, list(cols[2])),
        }
    )


def record_share(
    conn: Connection, norm: str, quarter: str, period_start: date, value: float, note: str | None = None
) -> date:
    """Record the percentage of a share norm for a quarter and the period holding ``period_start``
    (any date of the period: 30 June counts for the year); returns the period's first day."""
    row = conn.execute(
        select(Norm.__table__.c.kind, Norm.__table__.c.period).where(Norm.__table__.c.code == norm)
    ).first()
    kind = row.kind if row else None
    if kind != "share":
        raise LookupError(f"'{norm}' is not a share norm" if kind else f"unknown norm '{norm}'")
    if row.period:
        day = pd.Timestamp(period_start)
        period_start = period_starts(Period(row.period), day, day)[0].date()
    if not conn.execute(select(Quarter.__table__.c.id).where(Quarter.__table__.c.code == quarter)).first():
        raise LookupError(f"unknown quarter code '{quarter}'")
    if not 0 <= value <= 100:
        raise ValueError(f"a share is a percentage between 0 and 100, not {value}")
    conn.execute(
        ShareMeasure.__table__.insert().values(
            norm_code=norm,
            quarter_code=quarter,
            period_start=period_start,
            value=value,
            note=note,
            recorded_at=datetime.now(UTC),
        )
    )
    return period_start
