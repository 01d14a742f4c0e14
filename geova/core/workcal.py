"""Deadlines in calendar hours or in working hours ("48 h ouvrées").

Working hours follow the French administrative reading of "heures ouvrées": the clock runs only on
working days (Monday to Friday, public holidays excluded), all day long, on the territory's local
wall clock. So 48 working hours from Thursday 23:59, before a public holiday on Friday, end on
Tuesday 23:59 (1 minute on Thursday, Monday, then 23 h 59 on Tuesday).

Vectorised with numpy's business-day functions (``np.busday_offset``) so that a million deadlines
take milliseconds; public holidays come from the ``holidays`` package.
"""

from __future__ import annotations

from functools import lru_cache

import holidays as holidays_lib
import numpy as np
import pandas as pd

DAY_S = 86_400


@lru_cache(maxsize=16)
def public_holidays(country: str, first_year: int, last_year: int) -> np.ndarray:
    """Public holidays as datetime64[D], for a country code with optional subdivision: "FR",
    "FR-57" (Moselle), "US-MA"."""
    code, _, subdiv = country.partition("-")
    days = holidays_lib.country_holidays(code, subdiv=subdiv or None, years=range(first_year, last_year + 1))
    return np.array(sorted(days), dtype="datetime64[D]")


def add_calendar_hours(reported_utc: pd.Series, hours: np.ndarray) -> pd.Series:
    """Absolute elapsed time: 48 h is 48 h even across a DST change."""
    return reported_utc + pd.to_timedelta(np.asarray(hours, dtype=float), unit="h")


def add_working_hours(reported_utc: pd.Series, hours: np.ndarray, tz: str, country: str = "FR") -> pd.Series:
    """The instant when ``hours`` of working time have elapsed since each report."""
    if reported_utc.empty:
        return reported_utc.copy()
    local = reported_utc.dt.tz_convert(tz).dt.tz_localize(None)
    values = local.to_numpy(dtype="datetime64[s]")
    day = values.astype("datetime64[D]")
    years = pd.DatetimeIndex(local).year
    hol = public_holidays(country, int(years.min()) - 1, int(years.max()) + 2)
    working = np.is_busday(day, holidays=hol)
    frac = np.where(working, (values - day.astype("datetime64[s]")).astype(np.int64), 0)
    start = np.busday_offset(day, 0, roll="forward", holidays=hol)
    total = frac + np.round(np.asarray(hours, dtype=float) * 3600).astype(np.int64)
    k, rem = np.divmod(total, DAY_S)
    # A deadline falling exactly at the end of a working day is that day's 24:00, not the next
    # working day's 00:00 (which may be days later, after a weekend).
    at_midnight = (rem == 0) & (k > 0)
    k = np.where(at_midnight, k - 1, k)
    rem = np.where(at_midnight, DAY_S, rem)
    due_day = np.busday_offset(start, k, roll="forward", holidays=hol)
    due_local = due_day.astype("datetime64[s]") + rem.astype("timedelta64[s]")
    due = pd.Series(due_local, index=reported_utc.index).dt.tz_localize(
        tz, ambiguous=np.ones(len(due_local), dtype=bool), nonexistent="shift_forward"
    )
    return due.dt.tz_convert("UTC")


def working_hours_between(
    start_utc: pd.Series, end_utc: pd.Series, tz: str, country: str = "FR"
) -> np.ndarray:
    """Working hours elapsed from start to end (negative when end is before start)."""

    def seconds_since_epoch_working(ts: pd.Series, hol: np.ndarray) -> np.ndarray:
        local = ts.dt.tz_convert(tz).dt.tz_localize(None).to_numpy(dtype="datetime64[s]")
        day = local.astype("datetime64[D]")
        epoch = np.datetime64("1970-01-05", "D")  # a Monday
        # working days strictly before `day`, counted from a fixed origin
        before = np.busday_count(epoch, day, holidays=hol)
        since_midnight = (local - day.astype("datetime64[s]")).astype(np.int64)
        within = np.where(np.is_busday(day, holidays=hol), since_midnight, 0)
        return before.astype(np.int64) * DAY_S + within

    mask = start_utc.notna() & end_utc.notna()
    out = np.full(len(start_utc), np.nan)
    if not mask.any():
        return out
    years = pd.DatetimeIndex(pd.concat([start_utc[mask], end_utc[mask]])).year
    hol = public_holidays(country, min(int(years.min()), 1970), int(years.max()) + 1)
    a = seconds_since_epoch_working(start_utc[mask], hol)
    b = seconds_since_epoch_working(end_utc[mask], hol)
    out[mask.to_numpy()] = (b - a) / 3600.0
    return out
