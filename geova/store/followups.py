"""Requester follow-ups and share measures recorded by people (not imported from a source system)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
from sqlalchemy import Connection, delete, insert, select, update

from geova.core.followups import STEP_CODES
from geova.core.norms import Period
from geova.core.periodic import period_starts
from geova.store.records import time_expr, to_utc
from geova.store.schema import FollowUp, Intervention, InterventionEvent, Norm, Quarter, ShareMeasure

F = FollowUp.__table__
IV = Intervention.__table__


class FollowupRefused(ValueError):
    """A contact that cannot be right (before the report, in the future) or that would silently
    replace an earlier one."""


def _request_id(conn: Connection, source_id: str, source: str | None) -> tuple[int, datetime]:
    q = select(IV.c.id, IV.c.reported_at).where(IV.c.source_id == source_id)
    if source:
        q = q.where(IV.c.source == source)
    rows = conn.execute(q).all()
    if len(rows) != 1:
        detail = "no request" if not rows else "several requests (give the source)"
        raise LookupError(f"{detail} with source id '{source_id}'")
    return rows[0].id, rows[0].reported_at


def _trace(
    conn: Connection, intervention_id: int, kind: str, recorded_by: str | None, note: str | None, detail: dict
) -> None:
    """The request's history keeps every contact recorded, corrected or undone (who, when, what).
    Notes go in the event's ``note`` only, which the API hides from callers without personal
    access; ``detail`` (shown to all of them) holds steps and instants."""
    conn.execute(
        insert(InterventionEvent).values(
            intervention_id=intervention_id,
            kind=kind,
            at=datetime.now(UTC),
            username=recorded_by,
            note=note,
            detail=detail,
        )
    )


def record_followup(
    conn: Connection,
    source_id: str,
    step: str,
    done_at: datetime,
    note: str | None = None,
    recorded_by: str | None = None,
    source: str | None = None,
    *,
    replace: bool = False,
) -> int:
    """Record the contact of one step for the request with this source id.

    A contact before the report or in the future is refused (it would show the step as done when it
    cannot be); so is a second contact for the same step unless ``replace`` says it corrects the
    first. Each write leaves an ``intervention_event`` (kind ``followup``) with what it replaced.
    """
    if step not in STEP_CODES:
        raise LookupError(f"unknown follow-up step '{step}' (one of {', '.join(STEP_CODES)})")
    iv_id, reported_at = _request_id(conn, source_id, source)
    if done_at < reported_at:
        raise FollowupRefused(
            f"a contact at {done_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC comes before the request "
            f"'{source_id}' was reported ({reported_at:%Y-%m-%d %H:%M} UTC)"
        )
    if done_at > datetime.now(UTC):
        raise FollowupRefused(f"a contact at {done_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC is in the future")
    where = (F.c.intervention_id == iv_id) & (F.c.step == step)
    old = conn.execute(select(F.c.done_at, F.c.note).where(where)).first()
    detail: dict = {"step": step, "done_at": done_at.astimezone(UTC).isoformat()}
    if old is not None:
        if not replace:
            raise FollowupRefused(
                f"'{source_id}' already has a {step} contact at {old.done_at:%Y-%m-%d %H:%M} UTC "
                "(replace it explicitly, or undo it first)"
            )
        detail["replaced"] = {"done_at": old.done_at.isoformat()}  # its note: in its own event
        conn.execute(
            update(FollowUp).where(where).values(done_at=done_at, note=note, recorded_by=recorded_by)
        )
    else:
        conn.execute(
            insert(FollowUp).values(
                intervention_id=iv_id, step=step, done_at=done_at, note=note, recorded_by=recorded_by
            )
        )
    _trace(conn, iv_id, "followup", recorded_by, note, detail)
    return iv_id


def undo_followup(
    conn: Connection,
    source_id: str,
    step: str,
    recorded_by: str | None = None,
    source: str | None = None,
) -> datetime:
    """Remove the contact of one step (recorded by mistake); the request's history keeps it
    (``intervention_event`` of kind ``followup_undo``). Returns the contact's instant."""
    if step not in STEP_CODES:
        raise LookupError(f"unknown follow-up step '{step}' (one of {', '.join(STEP_CODES)})")
    iv_id, _ = _request_id(conn, source_id, source)
    where = (F.c.intervention_id == iv_id) & (F.c.step == step)
    old = conn.execute(select(F.c.done_at).where(where)).first()
    if old is None:
        raise LookupError(f"'{source_id}' has no {step} contact to undo")
    conn.execute(delete(FollowUp).where(where))
    _trace(
        conn,
        iv_id,
        "followup_undo",
        recorded_by,
        None,
        {"step": step, "undone": {"done_at": old.done_at.isoformat()}},
    )
    return old.done_at


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
