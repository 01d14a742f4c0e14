"""The territory's catalogue as the pages read it: quarters, zones, categories, services, the
referential's fields and tasks, audit years, and the instant of the latest report.

Read models for the web app (and any other presenter): functions taking a ``Connection`` and
returning plain rows or DataFrames, so that no SQL is written outside ``geova.store``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, func, select

from geova.store.schema import (
    AuditEntryRow,
    Category,
    FieldOfAction,
    Intervention,
    Quarter,
    StandardTask,
    Zone,
)

CODE_LENGTH = 64  # quarter.code and zone.code are VARCHAR(64)


def _storable(code: str) -> bool:
    """Whether ``code`` can be a stored code at all: PostgreSQL refuses NUL in text outright (an
    error, not "not found"), and no stored code is longer than its column."""
    return 0 < len(code) <= CODE_LENGTH and "\x00" not in code


Q, Z, C, IV = Quarter.__table__, Zone.__table__, Category.__table__, Intervention.__table__
F, T, A = FieldOfAction.__table__, StandardTask.__table__, AuditEntryRow.__table__


def quarters(conn: Connection, level: int | None = 0) -> pd.DataFrame:
    """(code, name, level) of the quarters of one level (every level with ``None``), by name."""
    query = select(Q.c.code, Q.c.name, Q.c.level).order_by(Q.c.name, Q.c.code)
    if level is not None:
        query = query.where(Q.c.level == level)
    return pd.DataFrame(conn.execute(query).all(), columns=["code", "name", "level"])


def zones(conn: Connection) -> pd.DataFrame:
    """(code, name, kind) of the priority zones, by name."""
    rows = conn.execute(select(Z.c.code, Z.c.name, Z.c.kind).order_by(Z.c.name, Z.c.code)).all()
    return pd.DataFrame(rows, columns=["code", "name", "kind"])


def categories(conn: Connection) -> pd.DataFrame:
    """(code, label_fr, label_en, task) of the referential's categories."""
    rows = conn.execute(select(C.c.code, C.c.label_fr, C.c.label_en, C.c.task_code).order_by(C.c.code)).all()
    return pd.DataFrame(rows, columns=["code", "label_fr", "label_en", "task"])


def categories_in_use(conn: Connection) -> set[str]:
    """Codes of the categories at least one stored request is in: one index probe per category of
    the referential, rather than reading a million requests for a few dozen codes."""
    used = select(IV.c.id).where(IV.c.category_code == C.c.code).exists()
    return set(conn.execute(select(C.c.code).where(used)).scalars())


def services(conn: Connection) -> list[str]:
    """The services named by stored requests, sorted, without blanks: a loose index scan (each
    next name is one probe of the service index), as a million requests name a few dozen."""
    first = select(func.min(IV.c.service).label("name")).cte("names", recursive=True)
    following = select(func.min(IV.c.service)).where(IV.c.service > first.c.name).scalar_subquery()
    names = first.union_all(select(following).where(first.c.name.is_not(None)))
    found = conn.execute(select(names.c.name).where(names.c.name.is_not(None))).scalars()
    return [s for s in found if s]


def latest_report(conn: Connection) -> datetime | None:
    """When the most recent stored request was reported (the data may be older than today)."""
    value: datetime | None = conn.execute(select(func.max(IV.c.reported_at))).scalar()
    return value


@dataclass(frozen=True)
class QuarterRow:
    id: int
    code: str
    name: str
    level: int


def quarter(conn: Connection, code: str) -> QuarterRow | None:
    """One quarter by its code, or None."""
    if not _storable(code):
        return None
    row = conn.execute(select(Q.c.id, Q.c.code, Q.c.name, Q.c.level).where(Q.c.code == code)).first()
    return QuarterRow(row.id, row.code, row.name, row.level) if row is not None else None


def quarter_outline(conn: Connection, code: str) -> tuple[str, str, bytes] | None:
    """(code, name, WKB polygon) of one quarter, or None."""
    if not _storable(code):
        return None
    row = conn.execute(select(Q.c.code, Q.c.name, func.ST_AsBinary(Q.c.geom)).where(Q.c.code == code)).first()
    return (row[0], row[1], bytes(row[2])) if row is not None else None


def zones_in_quarter(conn: Connection, code: str) -> list[str]:
    """Codes of the priority zones that overlap the quarter."""
    if not _storable(code):
        return []
    query = select(Z.c.code).join(Q, func.ST_Intersects(Z.c.geom, Q.c.geom)).where(Q.c.code == code)
    return sorted(conn.execute(query).scalars())


@dataclass(frozen=True)
class TaskRow:
    code: str
    field_code: str
    label_fr: str
    label_en: str

    def label(self, lang: str) -> str:
        return self.label_fr if lang == "fr" else self.label_en


def fields_of_action(conn: Connection) -> list[tuple[str, str, str]]:
    """(code, label_fr, label_en) of the fields of action, in the referential's order."""
    rows = conn.execute(select(F.c.code, F.c.label_fr, F.c.label_en).order_by(F.c.position, F.c.code))
    return [(r[0], r[1], r[2]) for r in rows]


def tasks(conn: Connection) -> list[TaskRow]:
    """The standard tasks in the referential's order: by field of action, then by position."""
    rows = conn.execute(
        select(T.c.code, T.c.field_code, T.c.label_fr, T.c.label_en)
        .join(F, F.c.code == T.c.field_code)
        .order_by(F.c.position, F.c.code, T.c.position, T.c.code)
    )
    return [TaskRow(r.code, r.field_code, r.label_fr, r.label_en) for r in rows]


def audit_years(conn: Connection) -> list[int]:
    """Years the audit grid has answers for, the latest first."""
    return sorted((int(y) for y in conn.execute(select(A.c.year).distinct()).scalars()), reverse=True)


def category_rows(conn: Connection) -> list[dict[str, Any]]:
    """Every category with its standard task and field of action (codes and labels), by code."""
    c, t, f = Category.__table__, StandardTask.__table__, FieldOfAction.__table__
    rows = conn.execute(
        select(
            c.c.code,
            c.c.label_fr,
            c.c.label_en,
            c.c.task_code.label("task"),
            t.c.label_fr.label("task_label_fr"),
            t.c.label_en.label("task_label_en"),
            f.c.code.label("field"),
            f.c.label_fr.label("field_label_fr"),
            f.c.label_en.label("field_label_en"),
        )
        .outerjoin(t, t.c.code == c.c.task_code)
        .outerjoin(f, f.c.code == t.c.field_code)
        .order_by(c.c.code)
    ).all()
    return [dict(r._mapping) for r in rows]
