"""Economic figures of the priority commercial zones (``zone_economy``): per zone, month and
indicator, replaced by a later import of the same key (bound parameters only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd
from sqlalchemy import Connection, select

from geova.store.measures import put_figure
from geova.store.schema import Zone, ZoneEconomy

ZE, Z = ZoneEconomy.__table__, Zone.__table__
COMMERCIAL = "commercial"


@dataclass(frozen=True)
class EconomyEntry:
    zone: str
    period: date  # the first day of the month
    indicator: str
    value: float


def zone_kinds(conn: Connection) -> dict[str, str]:
    """The kind of every priority zone, by code."""
    return {r.code: r.kind for r in conn.execute(select(Z.c.code, Z.c.kind))}


def commercial_zones(conn: Connection) -> pd.DataFrame:
    """code, name of the priority commercial zones, by name."""
    rows = conn.execute(
        select(Z.c.code, Z.c.name).where(Z.c.kind == COMMERCIAL).order_by(Z.c.name, Z.c.code)
    ).all()
    return pd.DataFrame(rows, columns=["code", "name"])


def record_economy(conn: Connection, entries: list[EconomyEntry], source: str = "") -> dict[str, int]:
    """Store the figures, each replacing the one held for its zone, month and indicator (the
    caller checked the zones); returns the counts inserted, updated and unchanged."""
    counts = {"inserted": 0, "updated": 0, "unchanged": 0}
    now = datetime.now(UTC)
    for e in entries:
        key = {"zone_code": e.zone, "period": e.period, "indicator": e.indicator}
        counts[put_figure(conn, ZE, key, e.value, {"source": source, "recorded_at": now})] += 1
    return counts


def economy_figures(conn: Connection, until: date | None = None) -> pd.DataFrame:
    """zone, period, indicator, value of every figure held (of the months before ``until``)."""
    query = select(ZE.c.zone_code, ZE.c.period, ZE.c.indicator, ZE.c.value).order_by(
        ZE.c.zone_code, ZE.c.period, ZE.c.indicator
    )
    if until is not None:
        query = query.where(ZE.c.period < until)
    rows = conn.execute(query).all()
    return pd.DataFrame(rows, columns=["zone", "period", "indicator", "value"])
