"""Measures for the indicators: figures entered per month and quarter, quarter attributes, and the
counts of requests reported and resolved in a period (bound parameters only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, and_, delete, func, insert, select, update

from geova.core.indicators import ATTRIBUTES, IndicatorDef, IndicatorKind, MeasureDef
from geova.core.model import EXCLUDED_STATUSES
from geova.store.records import instant
from geova.store.schema import IndicatorDef as IndicatorRow
from geova.store.schema import Intervention, MeasureValue, Quarter, QuarterAttribute
from geova.store.schema import MeasureDef as MeasureRow

IV, Q = Intervention.__table__, Quarter.__table__
MV, QA = MeasureValue.__table__, QuarterAttribute.__table__
EXCLUDED = EXCLUDED_STATUSES  # duplicates, cancellations and rejections count nowhere


class UnknownName(LookupError):
    """A measure, quarter or attribute the store does not know."""


@dataclass(frozen=True)
class MeasureEntry:
    measure: str
    month: date  # the first day of the month
    quarter: str
    value: float
    service: str = ""


def measure_defs(conn: Connection) -> list[MeasureDef]:
    rows = conn.execute(select(MeasureRow.__table__).order_by(MeasureRow.__table__.c.code))
    return [MeasureDef(r.code, r.label_fr, r.label_en, r.unit) for r in rows]


def indicator_defs(conn: Connection) -> list[IndicatorDef]:
    t = IndicatorRow.__table__
    rows = conn.execute(select(t).order_by(t.c.position, t.c.code))
    return [
        IndicatorDef(r.code, IndicatorKind(r.kind), r.label_fr, r.label_en, r.formula, r.unit, r.position)
        for r in rows
    ]


def _quarter_codes(conn: Connection) -> set[str]:
    return set(conn.execute(select(Q.c.code)).scalars())


def check_entries(conn: Connection, entries: list[MeasureEntry]) -> list[tuple[int, str, str]]:
    """(index, field, message) of every entry naming an unknown measure or quarter."""
    measures = {m.code for m in measure_defs(conn)}
    quarters = _quarter_codes(conn)
    problems = []
    for i, e in enumerate(entries):
        if e.measure not in measures:
            problems.append((i, "measure", f"unknown measure '{e.measure}'"))
        if e.quarter not in quarters:
            problems.append((i, "quarter", f"unknown quarter '{e.quarter}'"))
    return problems


def record_measures(
    conn: Connection, entries: list[MeasureEntry], source: str = "", by: str | None = None
) -> dict[str, int]:
    """Store the figures (checked first: UnknownName lists every problem); an entry for a key
    already held replaces its figure."""
    problems = check_entries(conn, entries)
    if problems:
        raise UnknownName("; ".join(f"entry {i + 1}, {field}: {msg}" for i, field, msg in problems))
    counts = {"inserted": 0, "updated": 0, "unchanged": 0}
    now = datetime.now(UTC)
    for e in entries:
        key = {"measure_code": e.measure, "month": e.month, "quarter_code": e.quarter, "service": e.service}
        done = put_figure(conn, MV, key, e.value, {"source": source, "recorded_at": now, "recorded_by": by})
        counts[done] += 1
    return counts


def put_figure(conn: Connection, table: Any, key: dict[str, Any], value: float, extra: dict[str, Any]) -> str:
    """One entered figure (a measure, an economic indicator) held once per ``key``: inserted,
    updated when its value changed (with ``extra``: source, when), or left unchanged; which one."""
    where = and_(*(table.c[name] == v for name, v in key.items()))
    held = conn.execute(select(table.c.value).where(where)).first()
    if held is None:
        conn.execute(insert(table).values(**key, value=value, **extra))
        return "inserted"
    if held.value == value:
        return "unchanged"
    conn.execute(update(table).where(where).values(value=value, **extra))
    return "updated"


def entered(conn: Connection, first_month: date, end_month: date) -> pd.DataFrame:
    """The entered figures of the months in [first_month, end_month): measure, quarter, service,
    month, value."""
    rows = conn.execute(
        select(MV.c.measure_code, MV.c.quarter_code, MV.c.service, MV.c.month, MV.c.value)
        .where(MV.c.month >= first_month, MV.c.month < end_month)
        .order_by(MV.c.measure_code, MV.c.quarter_code, MV.c.month)
    ).all()
    return pd.DataFrame(rows, columns=["measure", "quarter", "service", "month", "value"])


def set_attribute(conn: Connection, quarter: str, name: str, value: float | None) -> None:
    """A quarter's population or street length; None removes it."""
    if name not in ATTRIBUTES:
        raise UnknownName(f"unknown attribute '{name}' (choose among {', '.join(ATTRIBUTES)})")
    if quarter not in _quarter_codes(conn):
        raise UnknownName(f"unknown quarter '{quarter}'")
    key = and_(QA.c.quarter_code == quarter, QA.c.name == name)
    conn.execute(delete(QuarterAttribute).where(key))
    if value is not None:
        conn.execute(insert(QuarterAttribute).values(quarter_code=quarter, name=name, value=value))


def attributes(conn: Connection) -> pd.DataFrame:
    """quarter, name, value of every attribute held."""
    rows = conn.execute(select(QA.c.quarter_code, QA.c.name, QA.c.value).order_by(QA.c.quarter_code)).all()
    return pd.DataFrame(rows, columns=["quarter", "name", "value"])


def request_counts(
    conn: Connection, start: pd.Timestamp, end: pd.Timestamp, service: str | None = None
) -> pd.DataFrame:
    """Per quarter (top level; None outside) and category: requests reported in [start, end) and
    requests resolved in [start, end), duplicates, cancelled and rejected requests left out; only
    those of ``service`` when one is given."""
    frames = []
    for what, column in (("reported", IV.c.reported_at), ("resolved", IV.c.resolved_at)):
        query = (
            select(Q.c.code, IV.c.category_code, func.count())
            .select_from(IV.outerjoin(Q, Q.c.id == IV.c.quarter_id))
            .where(
                column.is_not(None),
                column >= instant(start),
                column < instant(end),
                IV.c.status.not_in(EXCLUDED),
                *([IV.c.service == service] if service is not None else []),
            )
            .group_by(Q.c.code, IV.c.category_code)
        )
        rows = conn.execute(query).all()
        frames.append(
            pd.DataFrame(rows, columns=["quarter", "category", what]).set_index(["quarter", "category"])
        )
    both = pd.concat(frames, axis=1).fillna(0).astype(int).reset_index()
    if both.empty:
        return pd.DataFrame(columns=["quarter", "category", "reported", "resolved"])
    return both
