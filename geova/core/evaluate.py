"""Deadline norms evaluated per request, at any instant, then aggregated.

Inputs are columnar (pandas) so that a million requests evaluate in well under a second:

- ``records``: one row per request, columns ``id, source_id, category, reported_at, resolved_at,
  due_at`` (UTC datetimes), ``status, insulting, severity, quarter, subquarter, service, channel``
  (quarter codes, None outside the territory);
- ``zones``: one row per (request, zone) membership, columns ``id, zone, kind``.

Verdicts depend only on dates and ``as_of``: a request resolved after ``as_of`` is open at
``as_of``; one reported after it does not exist yet. Duplicates and cancelled requests are kept in
the output with their verdict and ``excluded = True``: rates leave them out and say how many.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from geova.core.model import EXCLUDED_STATUSES
from geova.core.norms import Basis, Calendar, Norm, NormKind, Scope
from geova.core.ordering import natural_sort
from geova.core.workcal import add_calendar_hours, add_working_hours, working_hours_between

DEFAULT_RISK_HOURS = 24.0


class State(StrEnum):
    ON_TIME = "on_time"  # resolved by the deadline
    LATE = "late"  # resolved after the deadline
    OPEN_OVERDUE = "open_overdue"  # still open, deadline passed
    OPEN_AT_RISK = "open_at_risk"  # still open, deadline within the risk window
    OPEN_IN_TIME = "open_in_time"  # still open, deadline further away
    NO_DEADLINE = "no_deadline"  # judged on the source's due date, and the source gave none


# The columns of deadline_facts' table: what a verdict depends on apart from the instant
FACT_COLUMNS = (
    "norm",
    "id",
    "source_id",
    "applied",
    "target_hours",
    "reported_at",
    "due_at",
    "resolved_at",
    "excluded",
    "hours_taken",
)
# The columns of evaluate_deadline's per-request table (judge's), in order
PER_REQUEST_COLUMNS = (*FACT_COLUMNS[:8], "state", *FACT_COLUMNS[8:], "hours_overdue")
OPEN_STATES = (State.OPEN_OVERDUE, State.OPEN_AT_RISK, State.OPEN_IN_TIME)
RATED_STATES = (State.ON_TIME, State.LATE, *OPEN_STATES)


@dataclass(frozen=True)
class Territory:
    timezone: str = "Europe/Paris"
    holidays: str = "FR"  # country[-subdivision] for working-hours calendars


def _in_set(values: pd.Series, allowed: frozenset[str]) -> np.ndarray:
    return values.isin(list(allowed)).to_numpy()


def scope_mask(scope: Scope, records: pd.DataFrame, zones: pd.DataFrame) -> np.ndarray:
    """Requests matching every condition of one scope."""
    ids = records["id"].to_numpy()
    m = np.ones(len(records), dtype=bool)
    if scope.categories:
        m &= _in_set(records["category"], scope.categories)
    if scope.insulting is not None:
        m &= records["insulting"].to_numpy(dtype=bool) == scope.insulting
    if scope.severities:
        m &= _in_set(records["severity"].fillna(""), scope.severities)
    if scope.quarters:
        m &= _in_set(records["quarter"], scope.quarters) | _in_set(records["subquarter"], scope.quarters)
    if scope.zone_kinds:
        m &= np.isin(ids, zones.loc[_in_set(zones["kind"], scope.zone_kinds), "id"].to_numpy())
    if scope.zones:
        m &= np.isin(ids, zones.loc[_in_set(zones["zone"], scope.zones), "id"].to_numpy())
    if scope.exclude_zone_kinds:
        m &= ~np.isin(ids, zones.loc[_in_set(zones["kind"], scope.exclude_zone_kinds), "id"].to_numpy())
    return m


def norm_mask(norm: Norm, records: pd.DataFrame, zones: pd.DataFrame) -> np.ndarray:
    mask = np.zeros(len(records), dtype=bool)
    for scope in norm.scopes:
        mask |= scope_mask(scope, records, zones)
    return mask


def applicable_targets(
    norm: Norm, records: pd.DataFrame, zones: pd.DataFrame, on: pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    """(figure, description) of the target that applies to each request, judged on the local date
    ``on``. NaN figure: no target in force at that date (or the city has not set the figure).

    Per request, the most specific target in force wins (zone 3 > sub-quarter 2 > quarter 1 > city
    0); then the latest ``valid_from``; then, between two zones, the strictest figure: each zone's
    own latest figure first, so a laxer zone revised later does not override a stricter one.
    """
    n = len(records)
    value = np.full(n, np.nan)
    applied = np.full(n, "", dtype=object)
    best_level = np.full(n, -1)
    best_from = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    days = on.to_numpy(dtype="datetime64[D]")
    ids = records["id"].to_numpy()
    for t in norm.targets:
        start = np.datetime64(t.valid_from, "D")
        if t.zone:
            continue  # zones below, each zone on its own
        if t.quarter:
            level = np.select(
                [
                    (records["subquarter"] == t.quarter).to_numpy(),
                    (records["quarter"] == t.quarter).to_numpy(),
                ],
                [2, 1],
                default=-1,
            )
        else:
            level = np.zeros(n, dtype=int)
        figure = np.nan if t.value is None else float(t.value)
        in_force = (level >= 0) & (days >= start)
        same = in_force & (level == best_level)
        wins = in_force & (
            (level > best_level)
            | (same & (start > best_from))
            | (same & (start == best_from) & (figure < value))
        )
        value[wins] = figure
        applied[wins] = t.describe()
        best_level[wins] = level[wins]
        best_from[wins] = start
    zone_codes = list(dict.fromkeys(t.zone for t in norm.targets if t.zone))
    for code in zone_codes:
        inside = np.isin(ids, zones.loc[zones["zone"] == code, "id"].to_numpy())
        z_value = np.full(n, np.nan)
        z_applied = np.full(n, "", dtype=object)
        z_from = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
        for t in (t for t in norm.targets if t.zone == code):
            start = np.datetime64(t.valid_from, "D")
            figure = np.nan if t.value is None else float(t.value)
            in_force = inside & (days >= start)
            wins = in_force & (np.isnat(z_from) | (start > z_from) | ((start == z_from) & (figure < z_value)))
            z_value[wins] = figure
            z_applied[wins] = t.describe()
            z_from[wins] = start
        has = ~np.isnat(z_from)
        # the strictest zone wins; a zone whose figure is not set gives way to one that has a figure
        stricter = (z_value < value) | (np.isnan(value) & ~np.isnan(z_value))
        wins = has & ((best_level < 3) | stricter)
        value[wins] = z_value[wins]
        applied[wins] = z_applied[wins]
        best_level[wins] = 3
        best_from[wins] = z_from[wins]
    return value, applied


def deadline_facts(
    norm: Norm,
    records: pd.DataFrame,
    zones: pd.DataFrame,
    territory: Territory = Territory(),
    basis: Basis | None = None,
) -> pd.DataFrame:
    """What a deadline verdict depends on, apart from the instant it is judged at.

    One row per request in the norm's scope that has a deadline under it (or, judged on the source's
    due date, every request in scope): the applied target, the due date, and the hours from report
    to resolution. Known as soon as the request, the norm or the territory changes, so the store
    keeps these rows (geova.store.verdicts) and any instant's state is an expression over them
    (:func:`judge`)."""
    if norm.kind is not NormKind.DEADLINE:
        raise ValueError(f"norm {norm.code} is a {norm.kind} norm, not a deadline")
    basis = basis or norm.basis
    recs = records.loc[norm_mask(norm, records, zones)].reset_index(drop=True)
    reported = recs["reported_at"]
    local_day = reported.dt.tz_convert(territory.timezone).dt.tz_localize(None).dt.normalize()
    hours, applied = applicable_targets(norm, recs, zones, local_day)
    if basis is Basis.SOURCE:
        due = recs["due_at"]
        applied = np.where(due.notna().to_numpy(), "source due date", "")
        hours = np.full(len(recs), np.nan)
        keep = np.ones(len(recs), dtype=bool)
    else:
        keep = ~np.isnan(hours)
        safe_hours = np.where(keep, hours, 0.0)
        if norm.calendar is Calendar.WORKING:
            due = add_working_hours(reported, safe_hours, territory.timezone, territory.holidays)
        else:
            due = add_calendar_hours(reported, safe_hours)
        due = due.where(keep)
    resolved = recs["resolved_at"]
    if norm.calendar is Calendar.WORKING:
        taken = working_hours_between(reported, resolved, territory.timezone, territory.holidays)
    else:
        taken = ((resolved - reported).dt.total_seconds() / 3600).to_numpy()
    out = pd.DataFrame(
        {
            "norm": norm.code,
            "id": recs["id"].to_numpy(),
            "source_id": recs["source_id"].to_numpy(),
            "applied": applied,
            "target_hours": hours,
            "reported_at": reported.reset_index(drop=True),
            "due_at": due.reset_index(drop=True),
            "resolved_at": resolved.reset_index(drop=True),
            "excluded": recs["status"].isin(list(EXCLUDED_STATUSES)).to_numpy(),
            "hours_taken": np.asarray(taken, dtype=float),
        }
    )
    return out.loc[keep].reset_index(drop=True)


def judge(
    facts: pd.DataFrame,
    as_of: pd.Timestamp,
    calendar: Calendar = Calendar.CALENDAR,
    territory: Territory = Territory(),
    risk_hours: float = DEFAULT_RISK_HOURS,
) -> pd.DataFrame:
    """The verdicts at ``as_of`` of one norm's facts (:func:`deadline_facts`): requests reported by
    then, with their state and hours, as the columns :data:`PER_REQUEST_COLUMNS`.

    A request resolved after ``as_of`` is open at ``as_of``. The same rules as the SQL expression
    in geova.store.verdict_reads, which the tests hold to this function."""
    as_of = pd.Timestamp(as_of).tz_convert("UTC")
    recs = facts.loc[(facts["reported_at"] <= as_of).to_numpy()].reset_index(drop=True)
    due = recs["due_at"]
    resolved = recs["resolved_at"].where(recs["resolved_at"] <= as_of)
    closed = resolved.notna().to_numpy()
    due_ok = due.notna().to_numpy()
    with np.errstate(invalid="ignore"):
        on_time = closed & due_ok & (resolved <= due).to_numpy()
        overdue = ~closed & due_ok & (due < as_of).to_numpy()
        at_risk = ~closed & due_ok & ~overdue & ((due - as_of) <= pd.Timedelta(hours=risk_hours)).to_numpy()
    state = np.select(
        [~due_ok, closed & on_time, closed, overdue, at_risk],
        [
            State.NO_DEADLINE.value,
            State.ON_TIME.value,
            State.LATE.value,
            State.OPEN_OVERDUE.value,
            State.OPEN_AT_RISK.value,
        ],
        default=State.OPEN_IN_TIME.value,
    ).astype(object)
    end = resolved.where(closed, as_of)
    taken = np.where(closed, recs["hours_taken"].to_numpy(dtype=float), np.nan)
    late = (state == State.LATE.value) | (state == State.OPEN_OVERDUE.value)
    over = np.full(len(recs), np.nan)
    if late.any():
        if calendar is Calendar.WORKING:
            over[late] = working_hours_between(
                due[late].reset_index(drop=True),
                end[late].reset_index(drop=True),
                territory.timezone,
                territory.holidays,
            )
        else:
            over[late] = ((end[late] - due[late]).dt.total_seconds() / 3600).to_numpy()
    return pd.DataFrame(
        {
            "norm": recs["norm"].to_numpy(dtype=object),
            "id": recs["id"].to_numpy(),
            "source_id": recs["source_id"].to_numpy(),
            "applied": recs["applied"].to_numpy(),
            "target_hours": recs["target_hours"].to_numpy(dtype=float),
            "reported_at": recs["reported_at"],
            "due_at": due,
            "resolved_at": resolved,
            "state": state,
            "excluded": recs["excluded"].to_numpy(dtype=bool),
            "hours_taken": taken,
            "hours_overdue": over,
        }
    )


def evaluate_deadline(
    norm: Norm,
    records: pd.DataFrame,
    zones: pd.DataFrame,
    as_of: pd.Timestamp,
    territory: Territory = Territory(),
    risk_hours: float = DEFAULT_RISK_HOURS,
    basis: Basis | None = None,
) -> pd.DataFrame:
    """One row per request in the norm's scope and reported by ``as_of``: due, state, hours."""
    facts = deadline_facts(norm, records, zones, territory, basis)
    return judge(facts, as_of, norm.calendar, territory, risk_hours)


DIMENSIONS = ("norm", "quarter", "subquarter", "zone", "zone_kind", "category", "service", "channel", "month")


def _with_dimensions(
    results: pd.DataFrame, records: pd.DataFrame, zones: pd.DataFrame, by: Sequence[str], tz: str
) -> pd.DataFrame:
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown:
        raise ValueError(f"cannot group by {', '.join(unknown)}; choose among {', '.join(DIMENSIONS)}")
    cols = [d for d in ("quarter", "subquarter", "category", "service", "channel") if d in by]
    frame = results
    if cols:
        frame = frame.merge(records[["id", *cols]], on="id", how="left")
    if "month" in by:
        frame = frame.assign(
            month=frame["reported_at"].dt.tz_convert(tz).dt.tz_localize(None).dt.to_period("M").astype(str)
        )
    if "zone" in by or "zone_kind" in by:
        # a request in two zones counts in each; outside every zone under "(none)"
        z = zones.rename(columns={"kind": "zone_kind"})[["id", "zone", "zone_kind"]]
        if "zone" not in by:
            z = z.drop(columns="zone").drop_duplicates()
        elif "zone_kind" not in by:
            z = z.drop(columns="zone_kind")
        frame = frame.merge(z, on="id", how="left")
        for d in ("zone", "zone_kind"):
            if d in frame:
                frame[d] = frame[d].fillna("(none)")
    for d in by:
        if d in frame and d != "norm":
            frame[d] = frame[d].fillna("(none)")
    return frame


def aggregate(
    results: pd.DataFrame,
    records: pd.DataFrame,
    zones: pd.DataFrame,
    by: Sequence[str] = ("norm",),
    tz: str = "Europe/Paris",
) -> pd.DataFrame:
    """Counts, on-time rate and resolution times per group.

    ``on_time_rate`` = on time / (on time + late + open overdue): the share of requests whose fate
    is known that kept the promise; open requests still in time are not yet judged.
    """
    by = list(by) or ["norm"]
    frame = _with_dimensions(results, records, zones, by, tz)
    excluded = frame["excluded"].to_numpy(dtype=bool)
    state = frame["state"].where(~excluded, "excluded")
    counts = pd.DataFrame({s.value: (state == s.value).astype(np.int64) for s in State})
    counts["excluded"] = excluded.astype(np.int64)
    counts[by] = frame[by]
    columns = [*(s.value for s in State), "excluded"]
    out = counts.groupby(by, sort=True, dropna=False)[columns].sum()
    out.insert(0, "requests", out[columns].sum(axis=1))
    out["rated"] = out[[s.value for s in RATED_STATES]].sum(axis=1)
    out["backlog"] = out[[s.value for s in OPEN_STATES]].sum(axis=1)
    judged = out["on_time"] + out["late"] + out["open_overdue"]
    out["on_time_rate"] = (out["on_time"] / judged.where(judged > 0)).astype(float)
    closed = frame.loc[state.isin([State.ON_TIME.value, State.LATE.value]), [*by, "hours_taken"]]
    closed = closed.astype({"hours_taken": float})
    hours = closed.groupby(by, sort=True, dropna=False)["hours_taken"]
    out["median_hours"] = hours.median()
    out["p90_hours"] = hours.quantile(0.9)
    return natural_sort(out.reset_index(), by)
