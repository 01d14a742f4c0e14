"""Activity, impact and resource indicators per quarter and period (geova.core.indicators).

The measures of a period are gathered from the store: counts of requests reported and resolved in
the period (per category too), the figures entered for its months (summed over months and services),
and the quarter attributes (population, street length: not summed over months). The city's
measures are the sums over its quarters (requests outside every quarter count for the city only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from geova.core.indicators import ATTRIBUTES, DERIVED, IndicatorDef, MeasureDef, compute
from geova.store import catalogue
from geova.store.measures import attributes, entered, indicator_defs, measure_defs, request_counts

CITY = ""  # the key of the whole territory


@dataclass(frozen=True)
class IndicatorTable:
    indicators: list[IndicatorDef]
    measures: list[MeasureDef]
    values: dict[str, dict[str, float | None]]  # scope (quarter code, "" city) -> measure -> value
    results: dict[str, list[dict[str, Any]]]  # scope -> one dict per indicator

    def rows(self, scope: str) -> list[dict[str, Any]]:
        return self.results.get(scope, [])


def _months(start: pd.Timestamp) -> date:
    return date(start.year, start.month, 1)


def measures_of_period(
    engine: Engine, start: pd.Timestamp, end: pd.Timestamp, service: str | None = None
) -> dict[str, dict[str, float | None]]:
    """Measure name -> value per scope (each quarter code, and "" for the city), for the local
    period [start, end) whose bounds are first days of months; with ``service``, only that
    service's requests and the figures entered for it (the quarter attributes stay the quarter's)."""
    with engine.connect() as conn:
        quarters = catalogue.quarters(conn, 0)["code"].tolist()
        counts = request_counts(conn, start, end, service)
        figures = entered(conn, _months(start), _months(end))
        if service is not None:
            figures = figures[figures["service"] == service]
        attrs = attributes(conn)
        defs = measure_defs(conn)
    values: dict[str, dict[str, float | None]] = {q: {} for q in [*quarters, CITY]}
    for q in [*quarters, CITY]:
        part = counts if q == CITY else counts[counts["quarter"] == q]
        for what in DERIVED:
            values[q][what] = float(part[what].sum()) if len(part) else 0.0
            for cat, n in part.groupby("category")[what].sum().items() if len(part) else []:
                values[q][f"{what}_{cat}"] = float(n)
    for m in defs:
        for q in quarters:
            mine = figures[(figures["measure"] == m.code) & (figures["quarter"] == q)]
            values[q][m.code] = float(mine["value"].sum()) if len(mine) else None
        held = [values[q][m.code] for q in quarters if values[q][m.code] is not None]
        values[CITY][m.code] = float(sum(v for v in held if v is not None)) if held else None
    for name in ATTRIBUTES:
        mine = attrs[attrs["name"] == name].set_index("quarter")["value"] if len(attrs) else pd.Series()
        for q in quarters:
            values[q][name] = float(mine[q]) if q in mine.index else None
        # the city's population is the sum of its quarters' only when every quarter has one
        values[CITY][name] = (
            float(mine.reindex(quarters).sum()) if mine.reindex(quarters).notna().all() else None
        )
    return values


def indicator_table(
    engine: Engine, start: pd.Timestamp, end: pd.Timestamp, service: str | None = None
) -> IndicatorTable:
    """Every indicator of the referential for the period, per quarter and for the city (of one
    service's work when ``service`` is given: Nanterre's indicators by service and quarter)."""
    with engine.connect() as conn:
        indicators = indicator_defs(conn)
        defs = measure_defs(conn)
    values = measures_of_period(engine, start, end, service)
    results: dict[str, list[dict[str, Any]]] = {}
    for scope, vals in values.items():
        rows = []
        for ind in indicators:
            outcome = compute(ind.formula, vals)
            rows.append(
                {
                    "code": ind.code,
                    "kind": ind.kind.value,
                    "label_fr": ind.label_fr,
                    "label_en": ind.label_en,
                    "formula": ind.formula,
                    "unit": ind.unit,
                    "value": outcome.value,
                    "reason": outcome.reason,
                }
            )
        results[scope] = rows
    return IndicatorTable(indicators, defs, values, results)
