"""The evaluation API: the one entry point the CLI and the web app call.

It loads what the store holds, hands plain tables to the pure engine (geova.core.evaluate and
geova.core.periodic) and returns tables, so that every audience sees the same figures.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Connection, Engine

from geova.config import DEFAULT_TIMEZONE
from geova.core import validity
from geova.core.evaluate import (
    DEFAULT_RISK_HOURS,
    DIMENSIONS,
    PER_REQUEST_COLUMNS,
    Territory,
    aggregate,
    evaluate_deadline,
    judge,
)
from geova.core.norms import Basis, Norm, NormKind
from geova.core.periodic import evaluate_periodic
from geova.store import records as store_records
from geova.store import verdict_reads, verdicts
from geova.store.db import write
from geova.store.referential import load_norms
from geova.store.status import settings

log = logging.getLogger(__name__)
OUTSIDE = {
    "quarter": "(outside every quarter)",
    "subquarter": "(no sub-quarter)",
    "zone": "(outside every zone)",
}


class Evaluation:
    """One evaluation: the norms, the instant, and the verdicts, read when first asked for.

    With the store's maintained verdicts (geova.store.verdicts), aggregates are counted by the
    database at each :meth:`group` call and the per-request verdicts are read only by a caller that
    uses them, for the requests it selected; nothing re-evaluates the city. Judged on another basis
    than the norms' own (``basis=``), or on a store from before revision 0006, the verdicts are
    computed in memory by the engine instead (the same engine that computed the stored facts).
    """

    def __init__(
        self,
        engine: Engine | None,
        as_of: pd.Timestamp,
        territory: Territory,
        norms: list[Norm],
        *,
        where: store_records.RecordFilter | None = None,
        with_location: bool = False,
        risk_hours: float = DEFAULT_RISK_HOURS,
        periodic: pd.DataFrame | None = None,
        display_names: dict[str, dict[str, str]] | None = None,
        computed: pd.DataFrame | None = None,
        records: pd.DataFrame | None = None,
        zones: pd.DataFrame | None = None,
    ) -> None:
        self.as_of = as_of
        self.territory = territory
        self.norms = norms
        self.periodic = periodic if periodic is not None else pd.DataFrame()
        self.display_names = display_names or {"quarter": {}, "zone": {}}
        self.by: Sequence[str] = ("norm",)
        self._aggregates: pd.DataFrame | None = None
        self.deadline_norms = [n for n in norms if n.kind is NormKind.DEADLINE]
        self._engine = engine
        self._where = where
        self._with_location = with_location
        self._risk_hours = risk_hours
        self._per = computed  # None: read from the stored verdicts when first asked for
        self._records = records
        self._zones = zones

    @property
    def aggregates(self) -> pd.DataFrame:
        """The verdicts grouped as the evaluation was asked (``by``), counted when first read: a
        caller that only lists requests does not pay for them."""
        if self._aggregates is None:
            self._aggregates = self.group(self.by)
        return self._aggregates

    @aggregates.setter
    def aggregates(self, value: pd.DataFrame) -> None:
        self._aggregates = value

    @property
    def stored(self) -> bool:
        """Whether the verdicts come from the store's maintained table."""
        return self._engine is not None and self._per is None

    @property
    def per_intervention(self) -> pd.DataFrame:
        """One row per (deadline norm, request in scope reported by ``as_of``): due, state, hours."""
        if self._per is None:
            self._per = self._read_verdicts()
        return self._per

    @property
    def records(self) -> pd.DataFrame:
        if self._records is None:
            self._load_records()
        assert self._records is not None
        return self._records

    @property
    def zones(self) -> pd.DataFrame:
        if self._zones is None:
            self._load_records()
        assert self._zones is not None
        return self._zones

    def _load_records(self) -> None:
        assert self._engine is not None
        categories = (
            set().union(*(n.categories for n in self.deadline_norms)) if self.deadline_norms else set()
        )
        with self._engine.connect() as conn:
            self._records, self._zones = store_records.load_records(
                conn, categories, where=self._where, with_location=self._with_location
            )

    def _read_verdicts(self) -> pd.DataFrame:
        assert self._engine is not None
        if not self.deadline_norms:
            return pd.DataFrame(columns=list(PER_REQUEST_COLUMNS))
        with self._engine.connect() as conn:
            facts = verdict_reads.facts(conn, self.as_of, [n.code for n in self.deadline_norms], self._where)
        present = set(facts["norm"])
        frames = [
            judge(
                facts.loc[facts["norm"] == n.code].reset_index(drop=True),
                self.as_of,
                n.calendar,
                self.territory,
                self._risk_hours,
            )
            for n in self.deadline_norms
            if n.code in present
        ]
        if not frames:
            return pd.DataFrame(columns=list(PER_REQUEST_COLUMNS))
        return pd.concat(frames, ignore_index=True)

    def requests_by(self, columns: Sequence[str]) -> pd.DataFrame:
        """How many of the evaluated requests per value of ``columns`` (category, service, channel,
        quarter, subquarter, month), each request once."""
        if not self.deadline_norms:
            return pd.DataFrame(columns=[*columns, "requests"])
        if self.stored:
            assert self._engine is not None
            with self._engine.connect() as conn:
                return verdict_reads.requests_by(
                    conn, self.as_of, [n.code for n in self.deadline_norms], columns, self._where
                )
        per = self.per_intervention.drop_duplicates("id")[["id"]]
        judged = per.merge(self.records, on="id")
        counted = judged.groupby(list(columns), dropna=False).size().rename("requests").reset_index()
        return counted.sort_values(["requests", *columns], ascending=[False, *[True] * len(columns)])

    def group(self, by: Sequence[str]) -> pd.DataFrame:
        """The verdicts aggregated by ``by`` (counts, rates, backlog, median and p90 hours)."""
        if not self.deadline_norms:
            return pd.DataFrame()
        if self.stored:
            assert self._engine is not None
            with self._engine.connect() as conn:
                out = verdict_reads.aggregate(
                    conn,
                    self.as_of,
                    [n.code for n in self.deadline_norms],
                    by=by,
                    where=self._where,
                    risk_hours=self._risk_hours,
                )
            if out.empty:
                return pd.DataFrame()
        else:
            if self.per_intervention.empty:
                return pd.DataFrame()
            out = aggregate(
                self.per_intervention, self.records, self.zones, by=by, tz=self.territory.timezone
            )
        for dim in ("quarter", "subquarter", "zone"):
            if dim in out:
                lookup = self.display_names.get("zone" if dim == "zone" else "quarter", {})
                names = out[dim].map(lookup).where(out[dim] != "(none)", OUTSIDE[dim])
                out.insert(out.columns.get_loc(dim) + 1, f"{dim}_name", names)
        return out


def ensure_current(engine: Engine, conn: Connection | None = None) -> None:
    """Settle the stored verdicts if a change reached the store around geova.store.db.write (a
    maintenance script, a raw transaction): every reader of verdicts calls this first, so none is
    ever read stale. One cheap check when, as always through geova, they are current."""
    if conn is None:
        with engine.connect() as own:
            stale = verdicts.maintained(own) and not verdicts.current(own)
    else:
        stale = verdicts.maintained(conn) and not verdicts.current(conn)
    if stale:
        with write(engine):
            pass  # a write settles the verdicts before it commits


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
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown:  # said now, although the grouping is counted only when first read
        raise ValueError(f"cannot group by {', '.join(unknown)}; choose among {', '.join(DIMENSIONS)}")
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
        # the stored verdicts are judged on each norm's own basis; another basis is computed here
        from_store = verdicts.maintained(conn) and all(basis in (None, n.basis) for n in deadline_norms)
        if from_store and deadline_norms:
            ensure_current(engine, conn)
        display = store_records.names(conn)
        recs = zones = None
        if not from_store and deadline_norms:
            categories = set().union(*(n.categories for n in deadline_norms))
            recs, zones = store_records.load_records(
                conn, categories, where=where, with_location=with_location
            )
        if periodic_norms:
            entries, entry_zones = store_records.load_activities(conn)
            units = store_records.load_units(conn)
            shares = store_records.load_shares(conn)
    computed = None
    if recs is not None or periodic_norms:
        # judged here in Python at ``as_of``: known to hold at that instant only (geova.core.validity)
        validity.moment(int(as_of.value // 1000))
    if recs is not None and zones is not None:
        per = [
            evaluate_deadline(n, recs, zones, as_of, territory, risk_hours=risk_hours, basis=basis)
            for n in deadline_norms
        ]
        computed = (
            pd.concat(per, ignore_index=True) if per else pd.DataFrame(columns=list(PER_REQUEST_COLUMNS))
        )
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
        engine,
        as_of,
        territory,
        norms,
        where=where,
        with_location=with_location,
        risk_hours=risk_hours,
        periodic=periodic,
        display_names=display,
        computed=computed,
        records=recs,
        zones=zones,
    )
    result.by = tuple(by)
    ms = round((time.perf_counter() - began) * 1000)
    log.info(
        "evaluated %d norms in %d ms (%s)",
        len(norms),
        ms,
        "stored verdicts" if from_store else "computed in memory",
        extra={"norms": len(norms), "duration_ms": ms, "as_of": as_of.isoformat(), "stored": from_store},
    )
    return result
