"""Economic effect of quality (issue 12, point 5): the economic figures of each priority
commercial zone (vacancy rate of shop premises, businesses, footfall) month by month, next to the
zone's quality figures: the requests reported in the zone that month and their on-time rate under
the headline norm, from the evaluation API (the same figures as ``/api/v1/evaluations?by=zone,month``).

The import checks every row before writing anything, and writes in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from geova.evaluation import evaluate
from geova.io.economy import INDICATORS, read_economy
from geova.io.errors import ImportFailure
from geova.store.db import write
from geova.store.economy import (
    COMMERCIAL,
    EconomyEntry,
    commercial_zones,
    economy_figures,
    record_economy,
    zone_kinds,
)
from geova.store.referential import headline_norm


def import_economy(engine: Engine, path: Path, source: str | None = None) -> dict[str, int]:
    """Load the file (geova.io.economy); ImportFailure names the file, line and column of the first
    bad cell, unknown zone or zone that is not commercial, and nothing is stored."""
    rows = read_economy(path)
    with write(engine) as conn:
        kinds = zone_kinds(conn)
        for r in rows:
            if r.zone not in kinds:
                raise ImportFailure(str(path), f"unknown zone '{r.zone}'", f"line {r.line}", "zone")
            if kinds[r.zone] != COMMERCIAL:
                raise ImportFailure(
                    str(path),
                    f"zone '{r.zone}' is of kind '{kinds[r.zone]}', not a priority commercial zone",
                    f"line {r.line}",
                    "zone",
                )
        entries = [EconomyEntry(r.zone, r.period, r.indicator, r.value) for r in rows]
        counts = record_economy(conn, entries, source=source or path.name)
    counts["figures"] = len(entries)
    return counts


@dataclass
class ZoneEconomy:
    code: str
    name: str
    months: list[dict[str, Any]] = field(default_factory=list)  # oldest first

    def latest(self) -> dict[str, Any] | None:
        """The last month with an economic figure."""
        given = [m for m in self.months if any(m[i] is not None for i in INDICATORS)]
        return given[-1] if given else None


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def quality_by_zone_month(
    engine: Engine, zones: list[str], as_of: pd.Timestamp | None = None
) -> tuple[str | None, dict[tuple[str, str], dict[str, Any]]]:
    """The headline norm's code and, per (zone, month ``2015-06``), its requests and on-time rate."""
    with engine.connect() as conn:
        norm = headline_norm(conn)
    if norm is None or not zones:
        return (norm.code if norm else None), {}
    frame = evaluate(engine, as_of=as_of, norm_codes=[norm.code], by=["norm", "zone", "month"]).group(
        ["norm", "zone", "month"]
    )
    out: dict[tuple[str, str], dict[str, Any]] = {}
    if not frame.empty:
        for r in frame[frame["zone"].isin(zones)].to_dict("records"):
            out[(str(r["zone"]), str(r["month"]))] = {
                "requests": int(r["requests"] or 0),
                "on_time_rate": _plain(r["on_time_rate"]),
            }
    return norm.code, out


def economy_table(
    engine: Engine, as_of: pd.Timestamp | None = None, until: date | None = None
) -> tuple[str | None, list[ZoneEconomy]]:
    """The headline norm's code and, per commercial zone (by name), the months with an economic
    figure (before ``until``), each with its figures, requests and on-time rate."""
    with engine.connect() as conn:
        zones = commercial_zones(conn)
        figures = economy_figures(conn, until)
    codes = [str(c) for c in zones["code"]]
    norm, quality = quality_by_zone_month(engine, codes, as_of)
    out = []
    for z in zones.itertuples():
        mine = figures[figures["zone"] == z.code]
        zone = ZoneEconomy(str(z.code), str(z.name))
        for period in sorted(set(mine["period"])):
            month = f"{period:%Y-%m}"
            values = mine[mine["period"] == period].set_index("indicator")["value"].to_dict()
            q = quality.get((zone.code, month), {"requests": 0, "on_time_rate": None})
            zone.months.append({"month": month, **{i: _plain(values.get(i)) for i in INDICATORS}, **q})
        out.append(zone)
    return norm, out


def latest_figures(engine: Engine, until: date, zones: list[str] | None = None) -> list[dict[str, Any]]:
    """Per commercial zone (of ``zones``, default all) with a figure before ``until``: its code,
    name and the figures of its last month with one (the report's "economic effect" section)."""
    with engine.connect() as conn:
        listed = commercial_zones(conn)
        figures = economy_figures(conn, until)
    out = []
    for z in listed.itertuples():
        if zones is not None and z.code not in zones:
            continue
        mine = figures[figures["zone"] == z.code]
        if mine.empty:
            continue
        last = max(mine["period"])
        values = mine[mine["period"] == last].set_index("indicator")["value"].to_dict()
        out.append(
            {"code": str(z.code), "name": str(z.name), "month": f"{last:%Y-%m}"}
            | {i: _plain(values.get(i)) for i in INDICATORS}
        )
    return out
