"""Checks that catch a wrong mapping before anything is stored.

A mapping can be wrong in ways that reject nothing: ``%H`` where ``%I`` is meant reads every PM
time as AM, a day-first reading of a month-first file swaps day and month wherever both are 12 or
less, a wrong CRS puts every point in the sea. The rows still parse, so only their distribution
tells. Each check looks at what a dry run read and returns a structured warning (code, message,
count, examples with their row numbers) that the CLI prints and a web page can show as a table.
Pure functions over arrays: no file, no store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

MAX_EXAMPLES = 5
# "resolved before it was reported" above this share of the rows is a date mistake, not noise
# (Boston's 311 exports: well under 1 %).
RESOLVED_BEFORE_REPORT_SHARE = 0.02
# Above this share of located rows outside every quarter, the coordinates are read wrong.
OUTSIDE_SHARE = 0.5
# A clock time with its AM/PM marker: "11:59:00 PM", "12:05 am", "1:30 p.m."
_CLOCK_12H = r"(\d{1,2}):\d{2}(?::\d{2})?\s*([AaPp])\.?\s?[Mm]\b"
# The numeric day/month (or month/day) that starts a date: "31/12/2015", "12-31-15 10:00".
NUMERIC_DATE = r"^(\d{1,2})[/.-](\d{1,2})[/.-]\d{2,4}\b"


@dataclass(frozen=True)
class Example:
    row: int  # the file's line (CSV) or feature number
    value: str


@dataclass(frozen=True)
class CheckWarning:
    """A probable mistake in the mapping or the file, with the rows that show it."""

    code: str
    message: str
    count: int  # rows concerned
    examples: list[Example] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _examples(mask: NDArray[np.bool_], rows: NDArray[np.int64], values: Sequence[str]) -> list[Example]:
    return [Example(int(rows[i]), str(values[i])) for i in np.flatnonzero(mask)[:MAX_EXAMPLES]]


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "0 %"


def ampm_without_12h_clock(
    date_format: str | None, dates: dict[str, pd.Series], rows: NDArray[np.int64]
) -> CheckWarning | None:
    """``%p`` without ``%I``: strptime ignores the AM/PM marker unless the hour is ``%I``, so a PM
    time is read as AM (1:30 PM as 01:30) and 12:xx AM as noon. Counts the rows with such a time
    in any date column."""
    if not date_format or "%p" not in date_format or "%I" in date_format:
        return None
    wrong = np.zeros(len(rows), dtype=bool)
    shown = [""] * len(rows)
    for values in dates.values():
        parts = values.str.extract(_CLOCK_12H)
        hour, pm = parts[0].astype(float), parts[1].str.upper().eq("P")
        misread = parts[0].notna() & ((pm & (hour != 12)) | (~pm & (hour == 12)))
        hit = misread.fillna(False).to_numpy(dtype=bool)
        for i in np.flatnonzero(hit & ~wrong):
            shown[i] = str(values.iloc[i])
        wrong |= hit
    fixed = date_format.replace("%H", "%I")
    k = int(wrong.sum())
    return CheckWarning(
        "ampm_without_12h_clock",
        f"date_format {date_format!r} has %p (AM/PM) but no %I (12-hour clock): PM times are "
        f"read as AM, 12 hours early, and 12:xx AM as noon ({k} rows); use {fixed!r}",
        k,
        _examples(wrong, rows, shown),
    )


def month_position(date_format: str | None, day_first: bool) -> int | None:
    """Which of the first two numbers of a numeric date the mapping reads as the month (1 or 2);
    None when the format does not start with a numeric day and month."""
    if not date_format:
        return 2 if day_first else 1
    d, m = date_format.find("%d"), date_format.find("%m")
    if d < 0 or m < 0 or min(d, m) > 0:
        return None
    return 1 if m < d else 2


def month_above_12(
    date_format: str | None, day_first: bool, dates: dict[str, pd.Series], rows: NDArray[np.int64]
) -> CheckWarning | None:
    """Numbers above 12 where the mapping reads the month (and 12 or less where it reads the day):
    the file has the other order."""
    position = month_position(date_format, day_first)
    if position is None:
        return None
    hit = np.zeros(len(rows), dtype=bool)
    shown = [""] * len(rows)
    for values in dates.values():
        parts = values.str.extract(NUMERIC_DATE).astype(float)
        month, day = parts[position - 1], parts[2 - position]
        mine = ((month > 12) & (day <= 12)).fillna(False).to_numpy(dtype=bool)
        for i in np.flatnonzero(mine & ~hit):
            shown[i] = str(values.iloc[i])
        hit |= mine
    if not hit.any():
        return None
    order, other = ("day-first", "month-first") if position == 2 else ("month-first", "day-first")
    if date_format:
        a, b = ("%d", "%m") if position == 2 else ("%m", "%d")
        swapped = date_format.replace(a, "\0").replace(b, a).replace("\0", b)
        advice = f"set date_format = {swapped!r}"
    else:
        advice = f"set day_first = {'false' if position == 2 else 'true'} (or a date_format)"
    return CheckWarning(
        "month_above_12",
        f"{int(hit.sum())} rows have a date with a number above 12 where the mapping reads the "
        f"month ({order}): the file looks {other}; {advice}",
        int(hit.sum()),
        _examples(hit, rows, shown),
    )


def _before(reported: pd.Series, resolved: pd.Series) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    both = (reported.notna() & resolved.notna()).to_numpy(dtype=bool)
    before = both & (resolved < reported).fillna(False).to_numpy(dtype=bool)
    return both, before


def day_month_contradicted(
    reported: pd.Series,
    resolved: pd.Series,
    reported_swapped: pd.Series,
    resolved_swapped: pd.Series,
    rows: NDArray[np.int64],
    raw_reported: Sequence[str],
) -> CheckWarning | None:
    """Most resolutions before their reports under the mapping's day/month order, and far fewer
    with the other order: the order is wrong. The series are the file's rows read both ways."""
    both, before = _before(reported, resolved)
    both_s, before_s = _before(reported_swapped, resolved_swapped)
    n, k = int(both.sum()), int(before.sum())
    if not n or k * 2 <= n or int(before_s.sum()) * 2 >= k or not both_s.any():
        return None
    return CheckWarning(
        "day_month_order",
        f"{k} of {n} rows with both dates ({_pct(k, n)}) would be resolved before they were "
        f"reported, against {int(before_s.sum())} with day and month the other way round: "
        "the mapping's day/month order is probably wrong",
        k,
        _examples(before, rows, raw_reported),
    )


def resolved_before_report_share(
    before: NDArray[np.bool_],
    rows: NDArray[np.int64],
    raw_reported: Sequence[str],
    threshold: float = RESOLVED_BEFORE_REPORT_SHARE,
) -> CheckWarning | None:
    """More rows "resolved before reported" than a request tool's clock errors explain."""
    k, n = int(before.sum()), len(before)
    if not n or k <= threshold * n:
        return None
    return CheckWarning(
        "resolved_before_report_share",
        f"{k} of {n} rows ({_pct(k, n)}, more than {threshold:.0%}) are resolved before they were "
        "reported: a date mistake (%H with %p, day and month swapped, a wrong column)?",
        k,
        _examples(before, rows, raw_reported),
    )


def timezone_mismatch(mapping_tz: str, territory_tz: str | None, rows: int) -> CheckWarning | None:
    """The mapping reads local times in another zone than the territory's (which as-of dates,
    pages and exports use)."""
    if territory_tz is None or territory_tz == mapping_tz:
        return None
    return CheckWarning(
        "timezone_differs",
        f"the mapping reads times in {mapping_tz} but the territory's time zone is {territory_tz} "
        f"(`geova territory --timezone {mapping_tz}` if the territory is wrong)",
        rows,
    )


def unknown_categories(
    codes: pd.Series, known: set[str], rows: NDArray[np.int64], raw: Sequence[str] | None = None
) -> CheckWarning | None:
    """Category codes the mapping produces that the referential does not define."""
    unknown = (~codes.isin(list(known)) & codes.notna()).to_numpy(dtype=bool)
    if not unknown.any():
        return None
    names = sorted(set(codes[unknown].astype(str)))
    return CheckWarning(
        "unknown_categories",
        f"categories not in the referential: {', '.join(names)} ({int(unknown.sum())} rows); "
        "add them to the referential (`geova referential load`) or fix the mapping",
        int(unknown.sum()),
        _examples(unknown, rows, raw if raw is not None else codes.astype(str).tolist()),
    )


def mostly_outside(
    inside: NDArray[np.bool_],
    inside_if_swapped: NDArray[np.bool_],
    xs: NDArray[np.float64],
    ys: NDArray[np.float64],
    rows: NDArray[np.int64],
    threshold: float = OUTSIDE_SHARE,
) -> CheckWarning | None:
    """Most points outside every quarter of the territory: latitude and longitude swapped (then
    the swapped points mostly fall inside) or the wrong CRS."""
    located = np.isfinite(xs) & np.isfinite(ys)
    n = int(located.sum())
    outside = located & ~inside
    k = int(outside.sum())
    if not n or k <= threshold * n:
        return None
    if int((located & inside_if_swapped).sum()) > threshold * n:
        why = "latitude and longitude look swapped (swapped, they fall inside): check the mapping's columns"
    else:
        why = "a wrong CRS or the wrong columns? (coordinates are shown as longitude, latitude)"
    shown = [f"{x:.6f}, {y:.6f}" for x, y in zip(xs, ys, strict=True)]
    return CheckWarning(
        "mostly_outside",
        f"{k} of {n} located rows ({_pct(k, n)}) fall outside every quarter of the territory: {why}",
        k,
        _examples(outside, rows, shown),
    )
