"""The audit grid in the store: every change is a new row; the latest per key is the answer."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Connection, select

from geova.core.audit import AUDIT_FIELDS, AuditEntry
from geova.store.schema import AuditEntryRow, Quarter, StandardTask

T = AuditEntryRow.__table__
FIELDS = AUDIT_FIELDS


def _text(value: object) -> str:
    """A stored or imported answer as text; not answered (None, or NaN in a pandas frame) is ""."""
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


class UnknownCode(LookupError):
    """An answer for a quarter or a task the store does not know, with its line in the file."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


def history(conn: Connection, quarter: str | None = None, year: int | None = None) -> pd.DataFrame:
    q = select(T).order_by(T.c.quarter_code, T.c.year, T.c.task_code, T.c.recorded_at, T.c.id)
    if quarter:
        q = q.where(T.c.quarter_code == quarter)
    if year:
        q = q.where(T.c.year == year)
    rows = conn.execute(q).all()
    return pd.DataFrame([r._asdict() for r in rows], columns=[c.name for c in T.columns])


def current_grid(conn: Connection, year: int | None = None, quarter: str | None = None) -> pd.DataFrame:
    """The latest answer per (quarter, year, task), with quarter names and task labels."""
    h = history(conn, quarter, year)
    if h.empty:
        return pd.DataFrame(
            columns=["quarter", "year", "task", *FIELDS, "recorded_at", "quarter_name", "task_label"]
        )
    latest = h.groupby(["quarter_code", "year", "task_code"], sort=True).tail(1)
    grid = latest.rename(columns={"quarter_code": "quarter", "task_code": "task"})
    names = dict(conn.execute(select(Quarter.__table__.c.code, Quarter.__table__.c.name)).all())
    labels = dict(
        conn.execute(select(StandardTask.__table__.c.code, StandardTask.__table__.c.label_fr)).all()
    )
    grid = grid.assign(quarter_name=grid["quarter"].map(names), task_label=grid["task"].map(labels))
    return grid[
        ["quarter", "year", "task", *FIELDS, "recorded_at", "quarter_name", "task_label"]
    ].reset_index(drop=True)


def record(conn: Connection, entries: list[AuditEntry], recorded_by: str | None = None) -> dict[str, int]:
    """Add the entries that change an answer; identical ones are left alone (re-import = no-op).

    Unknown quarters or tasks are refused: a grid line for a quarter geova does not know would be
    invisible everywhere.
    """
    quarters = set(conn.execute(select(Quarter.__table__.c.code)).scalars())
    tasks = set(conn.execute(select(StandardTask.__table__.c.code)).scalars())
    for e in entries:
        if e.quarter not in quarters:
            raise UnknownCode(f"unknown quarter code '{e.quarter}'", e.line)
        if e.task not in tasks:
            raise UnknownCode(f"unknown standard task code '{e.task}'", e.line)
    grid = current_grid(conn)
    current = {(r.quarter, int(r.year), r.task): r for r in grid.itertuples()}
    counts = {"added": 0, "unchanged": 0}
    now = datetime.now(UTC)
    for e in entries:
        old = current.get(e.key())
        values = {f: (v.value if hasattr(v, "value") else v) for f, v in asdict(e).items() if f in FIELDS}
        for f, v in values.items():  # a column the file did not have keeps its stored value
            if v is None and f not in ("commitment", "respected"):
                values[f] = _text(getattr(old, f)) if old is not None else ""
        if old is not None and all(_text(getattr(old, f)) == _text(values[f]) for f in FIELDS):
            counts["unchanged"] += 1
            continue
        conn.execute(
            T.insert().values(
                quarter_code=e.quarter,
                year=e.year,
                task_code=e.task,
                recorded_at=now,
                recorded_by=recorded_by,
                **values,
            )
        )
        counts["added"] += 1
    return counts
