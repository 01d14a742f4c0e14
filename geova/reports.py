"""The monthly committee's report: the figures of one period for the city or one quarter.

Every figure comes from the evaluation API (geova.evaluation, over the verdicts the store keeps)
and from the indicators (geova.indicators); nothing re-evaluates the city here. The figures are
plain JSON-ready data: the web layer renders them (geova.web.reports) and a published report
stores them frozen (geova.store.reports). Six-month and yearly reports are the same figures over
a longer period.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from geova.core.followups import followups
from geova.core.norms import Norm, NormKind
from geova.core.surveys import ANY
from geova.economy import latest_figures
from geova.evaluation import evaluate, territory_of
from geova.indicators import CITY, indicator_table
from geova.store import catalogue, surveys
from geova.store.audit import current_grid
from geova.store.followups import load_done
from geova.store.records import RecordFilter, load_records
from geova.store.referential import headline_norm, load_norms
from geova.store.status import settings

WORST = 5  # zones (and quarters) listed as the worst of the period
WORST_MIN_REQUESTS = 5  # a zone with fewer judged requests is not ranked
TREND_MONTHS = 12
FIGURES = (
    "requests",
    "on_time",
    "late",
    "open_overdue",
    "backlog",
    "excluded",
    "on_time_rate",
    "median_hours",
    "p90_hours",
)


class ReportError(ValueError):
    """A period or scope the report cannot be made for (said to the user as is)."""


@dataclass(frozen=True)
class ReportPeriod:
    code: str  # 2015-06, 2015-H1, 2015
    kind: str  # month, half, year
    year: int
    first_month: int
    months: int

    @property
    def start(self) -> pd.Timestamp:
        return pd.Timestamp(year=self.year, month=self.first_month, day=1)

    @property
    def end(self) -> pd.Timestamp:
        return self.start + pd.DateOffset(months=self.months)

    def shifted(self, months: int) -> tuple[pd.Timestamp, pd.Timestamp]:
        return self.start + pd.DateOffset(months=months), self.end + pd.DateOffset(months=months)


def parse_period(text: str) -> ReportPeriod:
    """``2015-06`` (a month), ``2015-H1`` / ``2015-H2`` (a half year) or ``2015`` (a year)."""
    text = text.strip()
    found = re.fullmatch(r"(\d{4})-(\d{2})", text)
    if found and 1 <= int(found.group(2)) <= 12:
        return ReportPeriod(text, "month", int(found.group(1)), int(found.group(2)), 1)
    found = re.fullmatch(r"(\d{4})-[Hh]([12])", text)
    if found:
        half = int(found.group(2))
        return ReportPeriod(f"{found.group(1)}-H{half}", "half", int(found.group(1)), 1 + 6 * (half - 1), 6)
    if re.fullmatch(r"\d{4}", text):
        return ReportPeriod(text, "year", int(text), 1, 12)
    raise ReportError(f"not a period: {text!r} (a month 2015-06, a half year 2015-H1 or a year 2015)")


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers, NaN as None: figures must be JSON."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _figures(row: dict[str, Any] | None) -> dict[str, Any]:
    row = row or {}
    out = {k: _plain(row.get(k)) for k in FIGURES}
    for k in ("requests", "on_time", "late", "open_overdue", "backlog", "excluded"):
        out[k] = int(out[k] or 0)
    return out


def _by(frame: pd.DataFrame, key: str) -> dict[str, dict[str, Any]]:
    if frame.empty:
        return {}
    return {str(r[key]): {str(k): v for k, v in r.items()} for r in frame.to_dict("records")}


def _local(ts: pd.Timestamp, tz: str) -> pd.Timestamp:
    return ts.tz_localize(tz)


def _current_target(norm: Norm, at: pd.Timestamp) -> float | None:
    """The city default figure in force at ``at`` (None: judged on the source's due date)."""
    day = at.date()
    figures = [t for t in norm.targets if t.quarter is None and t.zone is None and t.valid_from <= day]
    return figures[-1].value if figures else None


def build_report(
    engine: Engine,
    period: ReportPeriod,
    quarter: str | None = None,
    as_of: pd.Timestamp | None = None,
) -> dict[str, Any]:
    """The figures of the report for ``period`` (the city, or one quarter), judged at the end of
    the period (or now, for a period not yet over, or at ``as_of``)."""
    territory = territory_of(engine)
    tz = territory.timezone
    with engine.connect() as conn:
        names = catalogue.quarters(conn, None).set_index("code")["name"].to_dict()
        if quarter is not None and quarter not in names:
            raise ReportError(f"unknown quarter '{quarter}'")
        norms = [n for n in load_norms(conn, active_only=True)]
        headline = headline_norm(conn)
        territory_name = settings(conn).get("territory_name", "")
        # the demo's entered measures are made up (Boston publishes none): its reports say so
        example = settings(conn).get("example_measures") == "yes"
        example_economy = settings(conn).get("example_economy") == "yes"
        zone_rows = catalogue.zones(conn)
    start, end = _local(period.start, tz), _local(period.end, tz)
    now = pd.Timestamp(datetime.now(UTC)).tz_convert(tz)
    as_of = as_of if as_of is not None else min(end, now)
    if as_of <= start:
        raise ReportError(f"the period {period.code} has not begun")
    scope = (quarter,) if quarter else None
    deadline = [n for n in norms if n.kind is NormKind.DEADLINE]
    periodic_norms = [n for n in norms if n.kind is not NormKind.DEADLINE]

    def judged(
        first: pd.Timestamp | None, last: pd.Timestamp, by: list[str], codes: list[str]
    ) -> pd.DataFrame:
        where = RecordFilter(quarters=scope, reported_from=first, reported_to=last)
        return evaluate(engine, as_of=as_of, norm_codes=codes, by=by, where=where).group(by)

    codes = [n.code for n in deadline]
    prev_start, prev_end = (_local(t, tz) for t in period.shifted(-period.months))
    year_start, year_end = (_local(t, tz) for t in period.shifted(-12))
    now_by = _by(judged(start, end, ["norm"], codes), "norm") if codes else {}
    prev_by = _by(judged(prev_start, prev_end, ["norm"], codes), "norm") if codes else {}
    year_by = _by(judged(year_start, year_end, ["norm"], codes), "norm") if codes else {}
    end_by = _by(judged(None, end, ["norm"], codes), "norm") if codes else {}
    norm_rows = []
    for n in deadline:
        norm_rows.append(
            {
                "code": n.code,
                "label_fr": n.label_fr,
                "label_en": n.label_en,
                "headline": headline is not None and n.code == headline.code,
                "target_hours": _current_target(n, end - pd.Timedelta(seconds=1)),
                "basis": n.basis.value,
                "calendar": n.calendar.value,
                "current": _figures(now_by.get(n.code)),
                "previous": _figures(prev_by.get(n.code)),
                "year_before": _figures(year_by.get(n.code)),
                "at_end": {
                    "backlog": _figures(end_by.get(n.code))["backlog"],
                    "open_overdue": _figures(end_by.get(n.code))["open_overdue"],
                },
            }
        )
    norm_rows.sort(key=lambda r: (not r["headline"], r["code"]))

    periodic = []
    if periodic_norms:
        result = evaluate(
            engine,
            as_of=as_of,
            norm_codes=[n.code for n in periodic_norms],
            period_start=period.start,
            period_end=period.end - pd.Timedelta(days=1),
        )
        frame = result.periodic
        if not frame.empty and quarter is not None and "unit" in frame:
            frame = frame[frame["unit"].isin([quarter, *zone_codes_in(engine, quarter)])]
        for n in periodic_norms:
            part = frame[frame["norm"] == n.code] if not frame.empty else frame
            met = part["met"] if len(part) else pd.Series(dtype=object)
            periodic.append(
                {
                    "code": n.code,
                    "label_fr": n.label_fr,
                    "label_en": n.label_en,
                    "kind": n.kind.value,
                    "period": n.period.value if n.period else None,
                    "target": _current_target(n, end - pd.Timedelta(seconds=1)),
                    "units": len(part),
                    "met": int((met == True).sum()),  # noqa: E712 - met holds True/False/None
                    "missed": int((met == False).sum()),  # noqa: E712
                    "achieved": _plain(part["achieved"].sum()) if len(part) else None,
                }
            )

    main = (
        headline if headline is not None and headline.code in codes else (deadline[0] if deadline else None)
    )
    worst_zones: list[dict[str, Any]] = []
    quarters_rows: list[dict[str, Any]] = []
    worst_quarters: list[dict[str, Any]] = []
    trend: list[dict[str, Any]] = []
    zone_quality: dict[str, dict[str, Any]] = {}
    if main is not None:
        kinds = zone_rows.set_index("code")["kind"].to_dict() if len(zone_rows) else {}
        by_zone = judged(start, end, ["norm", "zone"], [main.code])
        zone_quality = _by(by_zone, "zone")
        ranked = []
        for r in zone_quality.values():
            if r["zone"] == "(none)":
                continue
            f = _figures(r)
            rated = f["on_time"] + f["late"] + f["open_overdue"]
            if rated >= WORST_MIN_REQUESTS and f["on_time_rate"] is not None:
                ranked.append(
                    {"code": r["zone"], "name": r.get("zone_name"), "kind": kinds.get(str(r["zone"])), **f}
                )
        worst_zones = sorted(ranked, key=lambda z: (z["on_time_rate"], -z["requests"], z["code"]))[:WORST]
        by_quarter = _by(judged(start, end, ["norm", "quarter"], [main.code]), "quarter")
        with engine.connect() as conn:
            level0 = catalogue.quarters(conn, 0)
        for q in level0.itertuples():
            quarters_rows.append({"code": q.code, "name": q.name, **_figures(by_quarter.get(str(q.code)))})
        rated_quarters = [
            q for q in quarters_rows if q["on_time_rate"] is not None and q["requests"] >= WORST_MIN_REQUESTS
        ]
        worst_quarters = sorted(rated_quarters, key=lambda q: (q["on_time_rate"], q["code"]))[:WORST]
        trend_start = end - pd.DateOffset(months=max(TREND_MONTHS, period.months))
        monthly = _by(judged(trend_start, end, ["norm", "month"], [main.code]), "month")
        for p in pd.period_range(
            trend_start.tz_localize(None), (end - pd.Timedelta(days=1)).tz_localize(None), freq="M"
        ):
            trend.append({"month": str(p), **_figures(monthly.get(str(p)))})

    # economic effect of quality: each commercial zone's latest figures next to its on-time rate
    economy = [
        {**z, **{k: _figures(zone_quality.get(z["code"]))[k] for k in ("requests", "on_time_rate")}}
        for z in latest_figures(
            engine, period.end.date(), zone_codes_in(engine, quarter) if quarter else None
        )
    ]
    with engine.connect() as conn:
        grid = current_grid(conn, year=period.year, quarter=quarter)
        tasks = catalogue.tasks(conn)
        # steps due in the period come from requests reported in the two months before it (at most)
        earliest = start - pd.DateOffset(months=2) - pd.Timedelta(days=1)
        window = RecordFilter(quarters=scope, reported_from=earliest, reported_to=end)
        recs, _zones = load_records(conn, where=window)
        done = load_done(conn)
    audit = {
        "year": period.year,
        "tasks": [{"code": t.code, "label_fr": t.label_fr, "label_en": t.label_en} for t in tasks],
        "rows": [
            {
                "quarter": r["quarter"],
                "name": names.get(r["quarter"], r["quarter"]),
                "task": r["task"],
                "commitment": _plain(r["commitment"]),
                "respected": _plain(r["respected"]),
                "comment": _plain(r["comment"]) or "",
            }
            for r in (grid.to_dict("records") if len(grid) else [])
        ],
    }
    steps = (
        followups(recs, done, as_of, tz) if len(recs) else pd.DataFrame(columns=["due_at", "state", "step"])
    )
    if len(steps):
        due_in = steps[
            (steps["due_at"] >= start.tz_convert("UTC")) & (steps["due_at"] < end.tz_convert("UTC"))
        ]
    else:
        due_in = steps
    follow: dict[str, Any] = {
        state: int((due_in["state"] == state).sum()) if len(due_in) else 0
        for state in ("done", "done_late", "missed", "due")
    }
    follow["total"] = len(due_in)
    follow["by_step"] = {
        str(step): {s: int(n) for s, n in part["state"].value_counts().items()}
        for step, part in (due_in.groupby("step") if len(due_in) else [])
    }
    survey = survey_section(engine, start, end, quarter)
    table = indicator_table(engine, start, end)
    indicators = table.rows(quarter or CITY)
    return {
        "kind": "geova.report",
        "version": 1,
        "territory": territory_name,
        "timezone": tz,
        "scope": {"quarter": quarter, "name": names.get(quarter) if quarter else None},
        "period": {
            "code": period.code,
            "kind": period.kind,
            "start": str(period.start.date()),
            "end": str(period.end.date()),
            "previous": [str(prev_start.date()), str(prev_end.date())],
            "year_before": [str(year_start.date()), str(year_end.date())],
        },
        "as_of": as_of.isoformat(),
        "headline": main.code if main is not None else None,
        "norms": norm_rows,
        "periodic": periodic,
        "worst_zones": worst_zones,
        "quarters": quarters_rows,
        "worst_quarters": worst_quarters,
        "trend": trend,
        "audit": audit,
        "followups": follow,
        "indicators": [{k: _plain(v) for k, v in row.items()} for row in indicators],
        "measures": {k: _plain(v) for k, v in table.values.get(quarter or CITY, {}).items()},
        "example_measures": example,
        "economy": economy,
        "example_economy": example_economy,
        "survey": survey,
        "made_at": now.isoformat(),
    }


def survey_section(
    engine: Engine, start: pd.Timestamp, end: pd.Timestamp, quarter: str | None
) -> dict[str, Any] | None:
    """The field survey of the period: the latest campaign overlapping it (geova.store.surveys),
    its share of transects below the acceptable grade, any element, with the 95 % interval — the
    city and each quarter, or the quarter and its zones — and its survey norms. None without one."""
    last_day = (end - pd.Timedelta(days=1)).date()
    with engine.connect() as conn:
        found = surveys.latest_results(conn, start.date(), last_day)
        if found is None:
            return None
        campaign, rows = found
        outcomes = surveys.campaign_norms(conn, campaign.code)
        quarter_names = catalogue.quarters(conn, None).set_index("code")["name"].to_dict()
        zone_names = {z["code"]: z["name"] for z in catalogue.zones(conn).to_dict("records")}
    zones = set(zone_codes_in(engine, quarter)) if quarter else set()

    def kept(r: Any) -> bool:
        if r.element != ANY:
            return False
        if quarter is None:
            return r.level in ("city", "quarter")
        return (r.level == "quarter" and r.key == quarter) or (r.level == "zone" and r.key in zones)

    names = {"quarter": quarter_names, "zone": zone_names}
    return {
        "campaign": campaign.code,
        "name": campaign.name,
        "grid": campaign.grid,
        "starts": str(campaign.starts),
        "ends": str(campaign.ends),
        "example": campaign.example,
        "rows": [
            {
                "level": r.level,
                "key": r.key,
                "name": names.get(r.level, {}).get(r.key, r.key),
                "transects": r.transects,
                "below": r.below,
                "share": _plain(r.share),
                "low": _plain(r.low),
                "high": _plain(r.high),
            }
            for r in rows
            if kept(r)
        ],
        "norms": [
            {
                "code": o.norm.code,
                "label_fr": o.norm.label_fr,
                "label_en": o.norm.label_en,
                "max_share": o.norm.max_share,
                "verdict": o.verdict,
                "transects": o.transects,
                "share": _plain(o.share),
            }
            for o in outcomes
        ],
    }


def zone_codes_in(engine: Engine, quarter: str) -> list[str]:
    with engine.connect() as conn:
        return catalogue.zones_in_quarter(conn, quarter)
