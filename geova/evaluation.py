"""The evaluation API: the one entry point the CLI and the web app call.

It loads what the store holds, hands plain tables to the pure engine (geova.core.evaluate and
geova.core.periodic) and returns tables, so that every audience sees the same figures.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Engine

from geova.config import DEFAULT_TIMEZONE
from geova.core.evaluate import (
    DEFAULT_RISK_HOURS,
    PER_REQUEST_COLUMNS,
    Territory,
    aggregate,
    evaluate_deadline,
)
from geova.core.norms import Basis, Norm, NormKind
from geova.core.periodic import evaluate_periodic
from geova.store import records as store_records
from geova.store.referential import load_norms
from geova.store.status import settings

log = logging.getLogger(__name__)
OUTSIDE = {
    "quarter": "(outside every quarter)",
    "subquarter": "(no sub-quarter)",
    "zone": "(outside every zone)",
}


@dataclass
class Evaluation:
    as_of: pd.Timestamp
    territory: Territory
    norms: list[Norm]
    per_intervention: pd.DataFrame  # one row per (deadline norm, request in scope)
    aggregates: pd.DataFrame  # grouped as asked
    periodic: pd.DataFrame  # frequency / count / share norms, per unit and period
    records: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    zones: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    display_names: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    def group(self, by: Sequence[str]) -> pd.DataFrame:
        """Another aggregation of the same verdicts, without reading the store again."""
        if self.per_intervention.empty:
            return pd.DataFrame()
        out = aggregate(self.per_intervention, self.records, self.zones, by=by, tz=self.territory.timezone)
        for dim in ("quarter", "subquarter", "zone"):
            if dim in out:
                lookup = self.display_names.get("zone" if dim == "zone" else "quarter", {})
                names = out[dim].map(lookup).where(out[dim] != "(none)", OUTSIDE[dim])
                out.insert(out.columns.get_loc(dim) + 1, f"{dim}_name", names)
        return out


def territory_of(engine: Engine) -> Territory:
    with engine.connect() as conn:
        s = settings(conn)
    return Territory(timezone=s.get("timezone", DEFAULT_TIMEZONE), holidays=s.get("holidays", "FR"))


def parse_as_of(text: str | None, tz: str) -> pd.Timestamp:
    """An instant from ISO 8601; a local time without offset is read in the territory's zone."""
    if not text:
        return pd.Timestamp(datetime.now(UTC))
    ts = pd.Timestamp(text)
    return ts.tz_localize(tz) if ts.tzinfo is None else ts


def evaluate(
    engine: Engine,
    *,
    as_of: pd.Timestamp | None = None,
    norm_codes: Sequence[str] | None = None,
    by: Sequence[str] = ("norm",),
    basis: Basis | None = None,
    risk_hours: float = DEFAULT_RISK_HOURS,
    period_start: pd.Timestamp | None = None,
    period_end: pd.Timestamp | None = None,
    where: store_records.RecordFilter | None = None,
    with_location: bool = False,
) -> Evaluation:
    """Evaluate the given norms (default: every active norm) at ``as_of`` (default: now), over the
    requests ``where`` selects (default: all)."""
    began = time.perf_counter()
    territory = territory_of(engine)
    as_of = pd.Timestamp(as_of if as_of is not None else datetime.now(UTC))
    if as_of.tzinfo is None:
        as_of = as_of.tz_localize(territory.timezone)
    with engine.connect() as conn:
        norms = load_norms(conn, codes=list(norm_codes) if norm_codes else None, active_only=not norm_codes)
        if norm_codes:
            unknown = sorted(set(norm_codes) - {n.code for n in norms})
            if unknown:
                raise LookupError(f"unknown norm codes: {', '.join(unknown)}")
        deadline_norms = [n for n in norms if n.kind is NormKind.DEADLINE]
        periodic_norms = [n for n in norms if n.kind is not NormKind.DEADLINE]
        categories = set().union(*(n.categories for n in deadline_norms)) if deadline_norms else set()
        recs, zones = store_records.load_records(conn, categories, where=where, with_location=with_location)
        display = store_records.names(conn)
        if periodic_norms:
            entries, entry_zones = store_records.load_activities(conn)
            units = store_records.load_units(conn)
            shares = store_records.load_shares(conn)
    per = [
        evaluate_deadline(n, recs, zones, as_of, territory, risk_hours=risk_hours, basis=basis)
        for n in deadline_norms
    ]
    per_intervention = (
        pd.concat(per, ignore_index=True) if per else pd.DataFrame(columns=list(PER_REQUEST_COLUMNS))
    )
    aggregates = (
        aggregate(per_intervention, recs, zones, by=by, tz=territory.timezone) if per else pd.DataFrame()
    )
    for dim in ("quarter", "subquarter", "zone"):
        if dim in aggregates:
            lookup = display["zone" if dim == "zone" else "quarter"]
            aggregates.insert(aggregates.columns.get_loc(dim) + 1, f"{dim}_name", aggregates[dim].map(lookup))
    periodic = pd.DataFrame()
    if periodic_norms:
        local_now = as_of.tz_convert(territory.timezone).tz_localize(None)
        start = (
            period_start if period_start is not None else pd.Timestamp(year=local_now.year, month=1, day=1)
        )
        end = period_end if period_end is not None else local_now
        frames = [
            evaluate_periodic(n, entries, entry_zones, units, start, end, as_of, territory.timezone, shares)
            for n in periodic_norms
        ]
        filled = [f for f in frames if not f.empty]
        periodic = pd.concat(filled, ignore_index=True) if filled else periodic
    result = Evaluation(
        as_of, territory, norms, per_intervention, pd.DataFrame(), periodic, recs, zones, display
    )
    result.aggregates = result.group(by)
    ms = round((time.perf_counter() - began) * 1000)
    log.info(
        "evaluated %d norms over %d requests in %d ms",
        len(norms),
        len(recs),
        ms,
        extra={"norms": len(norms), "rows": len(recs), "duration_ms": ms, "as_of": as_of.isoformat()},
    )
    return result
