"""Turning a source table into canonical intervention records, row by row verdicts included.

Everything is vectorised with pandas (a 1M-row export must not take minutes); each failed check
becomes a ``Reject`` naming the row, the field and the offending value. The first failure of a row
is the one reported, in the order of the fields below.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.typing import NaTType
from pyproj import CRS, Transformer

from geova.core.model import Flag, Status
from geova.core.records import content_hashes
from geova.io.errors import ImportFailure, Reject
from geova.io.limits import DATE_RANGE_TEXT, EARLIEST_DATE, LATEST_DATE, SEVERITY_MAX, SOURCE_ID_MAX
from geova.io.mapping import Mapping
from geova.io.tables import SourceTable


@dataclass
class Records:
    frame: pd.DataFrame  # CANONICAL columns + "row" + "content_hash", valid rows only
    rejects: list[Reject]
    read: int
    # row masks over ``frame`` of what parsing alone can tell (local times a DST change skips or
    # repeats); the other flags need the territory and are computed by the import
    flags: dict[Flag, np.ndarray] = field(default_factory=dict)


class Verdicts:
    """Collects the first failure of each row."""

    def __init__(self, n: int, rows: np.ndarray):
        self.bad = np.zeros(n, dtype=bool)
        self.rows = rows
        self.rejects: list[Reject] = []

    def part(self, a: int, b: int) -> Verdicts:
        """Verdicts of rows ``a`` to ``b``, renumbered from 0, starting from these ones' so far."""
        part = Verdicts(b - a, self.rows[a:b])
        part.bad = self.bad[a:b].copy()
        return part

    def reject(self, mask: np.ndarray, field: str, values: pd.Series, reason: str) -> None:
        new = mask & ~self.bad
        for i in np.flatnonzero(new):
            self.rejects.append(Reject(int(self.rows[i]), field, str(values.iloc[i]), reason))
        self.bad |= new


def text_column(cells: pd.DataFrame, column: str | None) -> pd.Series:
    if column is None:
        return pd.Series([""] * len(cells), index=cells.index, dtype=object)
    return cells[column].astype(str).str.strip()


# A clock time followed by an explicit UTC offset: "2015-07-01T10:00:00+02:00", "10:00Z", "10:00 -0500".
_OFFSET = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"
# The numeric day/month/year (or month/day/year) that starts a date: "31/12/2015", "12-31-15".
_NUMERIC_DATE = r"^(\d{1,2})[/.-](\d{1,2})[/.-]\d{2,4}\b"


# Parsing happens in microseconds, which hold years 1 to 9999 (anything a date string can say), so
# that an absurd year becomes a reject; the result is nanoseconds like every other instant in geova.
_PARSED: Final = "datetime64[us, UTC]"
_INSTANT: Final = "datetime64[ns, UTC]"


# What a local wall-clock time is in its zone: an ordinary time, one the spring change skips, or
# one the autumn change repeats.
ORDINARY, NONEXISTENT, AMBIGUOUS = 0, 1, 2


@dataclass
class ParsedDates:
    """Instants parsed from a column of local date strings, with a mask per kind of problem."""

    instants: pd.Series  # UTC, NaT where blank, unparseable or out of range
    bad: np.ndarray  # not a date
    outside: np.ndarray  # a date outside limits.EARLIEST_DATE..LATEST_DATE
    nonexistent: np.ndarray  # a local time skipped by a DST change (stored moved forward)
    ambiguous: np.ndarray  # a local time a DST change repeats (stored as its first occurrence)


def parse_datetimes(values: pd.Series, fmt: str | None, day_first: bool, tz: str) -> ParsedDates:
    """Parse local date strings into UTC instants. Dates outside ``limits.EARLIEST_DATE``..
    ``LATEST_DATE`` are out of range, and NaT.

    Strings carrying an offset (ISO 8601) keep it, and one file may hold several offsets (summer
    and winter time). Local times that a DST change makes ambiguous are read as the first
    occurrence (summer time); times skipped by the spring change move forward to the first
    instant after the gap; both are reported in the masks so that the rows can be flagged. Without
    a ``date_format``, a numeric date in the other order than ``day_first`` says ("07/13/2015" in a
    day-first file) is not a date: it is rejected rather than silently read month-first.
    """
    blank = values.eq("")
    out = pd.Series(pd.NaT, index=values.index, dtype=_PARSED)
    dst = pd.Series(ORDINARY, index=values.index, dtype=np.int8)
    if fmt and "%z" not in fmt and "%Z" not in fmt:
        # a stated format without an offset: every value is local time (no need to look)
        has_offset = pd.Series(False, index=values.index)
    else:
        has_offset = values.str.contains(_OFFSET, regex=True) & ~blank
    for mask, aware in ((has_offset, True), (~has_offset & ~blank, False)):
        if mask.any():
            out[mask], dst[mask] = _parse(values[mask], fmt, day_first, tz, aware)
    if not fmt:
        parts = values.str.extract(_NUMERIC_DATE).astype(float)
        wrong_order = (parts[1] > 12) if day_first else (parts[0] > 12)
        out[wrong_order.fillna(False).astype(bool)] = pd.NaT
    earliest, latest = pd.Timestamp(EARLIEST_DATE), pd.Timestamp(LATEST_DATE)
    outside = (out.notna() & ((out < earliest) | (out >= latest))).to_numpy()
    out = out.where(~outside).astype(_INSTANT)
    bad = (~blank & out.isna()).to_numpy() & ~outside
    kept = out.notna().to_numpy()
    return ParsedDates(
        out,
        bad,
        outside,
        nonexistent=kept & (dst == NONEXISTENT).to_numpy(),
        ambiguous=kept & (dst == AMBIGUOUS).to_numpy(),
    )


def _parse(
    values: pd.Series, fmt: str | None, day_first: bool, tz: str, aware: bool
) -> tuple[pd.Series, pd.Series]:
    """Parse non-blank strings, all with an offset (``aware``) or all without, into UTC instants,
    with what each local time is (ORDINARY, NONEXISTENT or AMBIGUOUS)."""
    if fmt:
        attempts: list[dict] = [{"format": fmt}]
        if aware:
            attempts.append({"format": "ISO8601"})
    else:
        attempts = [{"format": "ISO8601"}, {"format": "mixed", "dayfirst": day_first}]
    result = pd.Series(pd.NaT, index=values.index, dtype=_PARSED)
    dst = pd.Series(ORDINARY, index=values.index, dtype=np.int8)
    todo = pd.Series(True, index=values.index)
    for kw in attempts:
        if not todo.any():
            break
        batch = values[todo]
        if kw.get("dayfirst"):  # dateutil would read "2015-07-01 10:00 UTC" as 7 January
            year_first = batch.str.match(r"\d{4}\D")
            day, year = (
                _parse_batch(batch[~year_first], tz, aware, kw),
                _parse_batch(batch[year_first], tz, aware, {**kw, "dayfirst": False}),
            )
            parsed, kinds = pd.concat([day[0], year[0]]), pd.concat([day[1], year[1]])
        else:
            parsed, kinds = _parse_batch(batch, tz, aware, kw)
        ok = parsed.notna()
        if parsed.index.equals(batch.index) and parsed.dtype == result.dtype:
            # the batch in its own order: set by position, not by label (1.5 s of index lookups
            # for three columns of a million rows)
            where = np.flatnonzero(todo.to_numpy())[ok.to_numpy()]
            result.iloc[where] = parsed[ok].array
            dst.iloc[where] = kinds[ok].to_numpy()
        else:
            result[ok[ok].index] = parsed[ok]
            dst[ok[ok].index] = kinds[ok]
        todo = result.isna()
    return result, dst


def _parse_batch(batch: pd.Series, tz: str, aware: bool, kw: dict) -> tuple[pd.Series, pd.Series]:
    if batch.empty:
        return pd.Series(pd.NaT, index=batch.index, dtype=_PARSED), pd.Series(
            ORDINARY, index=batch.index, dtype=np.int8
        )
    fast = None if aware or set(kw) != {"format"} else fast_format(kw["format"])
    if fast is not None and not REFERENCE_ONLY:
        return _to_utc(_strptime_fast(batch, kw["format"], *fast), tz)
    return _to_utc(_to_datetime(batch, aware, kw), tz)


def _to_datetime(batch: pd.Series, aware: bool, kw: dict) -> pd.Series:
    """pandas' parsing: the reference for every value."""
    try:
        return pd.to_datetime(batch, errors="coerce", utc=aware, **kw)
    except (ValueError, TypeError, OverflowError):  # naive and aware values in one batch: one by one
        return batch.map(lambda v: _parse_one(v, aware, kw))


# Tests set this to True to run pandas alone, the reference the fast path is compared with.
REFERENCE_ONLY = False

# The directives the fast path knows, each as the zero-padded, fixed-width subset of what pandas'
# own pattern for it accepts (pandas also takes "7" for %m, " 7" for %d, "60" for %S: those go to
# pandas). %Y excludes years 0000-0999, which Arrow and pandas read differently.
_FAST_DIRECTIVES: Final = {
    "Y": (r"[1-9]\d{3}", 4),
    "m": (r"(?:0[1-9]|1[0-2])", 2),
    "d": (r"(?:0[1-9]|[12]\d|3[01])", 2),
    "H": (r"(?:[01]\d|2[0-3])", 2),
    "I": (r"(?:0[1-9]|1[0-2])", 2),
    "M": (r"[0-5]\d", 2),
    "S": (r"[0-5]\d", 2),
    "p": (r"(?i:am|pm)", 2),
}


def fast_format(fmt: str) -> tuple[str, int] | None:
    """For a ``date_format`` the fast path can take, the RE2 pattern a value must fully match to
    be parsed by Arrow (identically to pandas), and the character offset of its day of month; None
    for any other format (unknown directive, a field missing or repeated, %I without %p)."""
    pattern, width, day_at, seen = ["^"], 0, -1, []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%":
            if i + 1 >= len(fmt):
                return None
            d = fmt[i + 1]
            i += 2
            if d == "%":
                pattern.append(r"\x{25}")
                width += 1
                continue
            if d not in _FAST_DIRECTIVES or d in seen:
                return None
            seen.append(d)
            if d == "d":
                day_at = width
            regex, w = _FAST_DIRECTIVES[d]
            pattern.append(regex)
            width += w
            continue
        # a literal must be itself exactly (pandas also takes any run of blanks for a blank, and
        # either case of a letter: those values go to pandas)
        pattern.append(ch if ch.isalnum() and ch.isascii() else f"\\x{{{ord(ch):x}}}")
        width += 1
        i += 1
    if not {"Y", "m", "d"} <= set(seen) or ("I" in seen) != ("p" in seen) or {"H", "I"} <= set(seen):
        return None
    pattern.append("$")
    return "".join(pattern), day_at


def _strptime_fast(batch: pd.Series, fmt: str, pattern: str, day_at: int) -> pd.Series:
    """Naive datetimes parsed by Arrow where the value is provably read as pandas reads it (it
    fully matches ``pattern`` and Arrow kept its day of month: Arrow turns 30 February into 2 March
    where pandas says "not a date"); every other value goes through pandas.

    Arrow's strptime takes 0.04 s for 200,000 values, pandas' to_datetime 1.03 s (measured on the
    Boston file); checking the values with a regex costs about as much as Arrow's parsing, a round
    trip through strftime ten times more.
    """
    if isinstance(batch.array, pd.arrays.ArrowStringArray):
        arr = pa.array(batch.array)  # the Arrow strings themselves, no copy
    else:
        arr = pa.array(batch.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    parsed = pc.strptime(arr, format=fmt, unit="s", error_is_null=True)
    matched = pc.fill_null(pc.match_substring_regex(arr, pattern), False)
    day = pc.if_else(matched, pc.utf8_slice_codeunits(arr, day_at, day_at + 2), "01")
    ok = pc.fill_null(pc.and_(matched, pc.equal(pc.day(parsed), pc.cast(day, pa.int64()))), False)
    ok_np = ok.to_numpy(zero_copy_only=False)
    values = pc.if_else(ok, parsed.cast(pa.timestamp("us")), None)
    result = pd.Series(values.to_numpy(zero_copy_only=False), index=batch.index, dtype="datetime64[us]")
    if ok_np.all():
        return result
    rest = _to_datetime(batch[~ok_np], False, {"format": fmt})
    if not (pd.api.types.is_datetime64_dtype(rest.dtype) and not isinstance(rest.dtype, pd.DatetimeTZDtype)):
        return _to_datetime(batch, False, {"format": fmt})  # not plain local times: pandas for all
    result[~ok_np] = rest.astype("datetime64[us]")
    return result


def _parse_one(value: str, aware: bool, kw: dict) -> pd.Timestamp | NaTType:
    try:
        return pd.to_datetime(value, errors="coerce", utc=aware, **kw)
    except (ValueError, TypeError, OverflowError):
        return pd.NaT


def _to_utc(parsed: pd.Series, tz: str) -> tuple[pd.Series, pd.Series]:
    """Naive values are local time in ``tz``; aware values keep their own offset (and are never
    ambiguous). Returns the instants and what each local time is (ORDINARY, NONEXISTENT, AMBIGUOUS).

    The rule: an ambiguous time is its first occurrence (summer time), a nonexistent one moves
    forward to the end of the gap (29/03/2015 02:30 in Paris is stored as 03:00 CEST)."""
    kinds = pd.Series(ORDINARY, index=parsed.index, dtype=np.int8)
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return parsed.dt.tz_convert("UTC"), kinds
    if pd.api.types.is_datetime64_dtype(parsed.dtype):
        first = np.ones(len(parsed), dtype=bool)
        local = parsed.dt.tz_localize(tz, ambiguous=first, nonexistent="shift_forward")
        present = parsed.notna()
        skipped = present & parsed.dt.tz_localize(tz, ambiguous=first, nonexistent="NaT").isna()
        twice = present & parsed.dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward").isna()
        kinds[skipped] = NONEXISTENT
        kinds[twice] = AMBIGUOUS
        return local.dt.tz_convert("UTC"), kinds

    def one(v: object) -> tuple[pd.Timestamp | NaTType, int]:
        if not isinstance(v, pd.Timestamp) or v is pd.NaT:
            return pd.NaT, ORDINARY
        kind = ORDINARY
        if v.tzinfo is None:
            if v.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward") is pd.NaT:
                kind = AMBIGUOUS
            elif v.tz_localize(tz, ambiguous=True, nonexistent="NaT") is pd.NaT:
                kind = NONEXISTENT
            v = v.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")
        return v.tz_convert("UTC"), kind

    pairs = [one(v) for v in parsed]
    return (
        pd.Series([p[0] for p in pairs], index=parsed.index, dtype=_PARSED),
        pd.Series([p[1] for p in pairs], index=parsed.index, dtype=np.int8),
    )


def map_categories(raw: pd.Series, table: dict[str, str], column: str | None, v: Verdicts) -> pd.Series:
    """Source category labels mapped onto referential codes (``"*"``: the default); unmapped
    labels reject their row."""
    mapped = raw.map(table)
    if "*" in table:
        mapped = mapped.fillna(table["*"])
    v.reject(
        mapped.isna().to_numpy(),
        column or "category",
        raw,
        "category not in the mapping's [categories] table",
    )
    return mapped


def per_distinct(values: pd.Series, func: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``func(values)`` computed once per distinct value: an export repeats a few labels a million
    times, and Python's regexes and ``casefold`` go value by value (3.3 s for the insulting pattern
    over a million Boston titles, about 0.3 s this way). ``func`` must be elementwise."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    result = func(pd.Series(uniques, name=values.name))
    return pd.Series(result.array.take(codes), index=values.index, name=result.name)


_WARNINGS = threading.Lock()


def _matches(text: pd.Series, pattern: str, flags: int = 0) -> pd.Series:
    """Regex test of a column; users' patterns may hold groups, which pandas would warn about."""

    def contains(distinct: pd.Series) -> pd.Series:
        with _WARNINGS, warnings.catch_warnings():  # the filters are the process's: one thread at a time
            warnings.simplefilter("ignore", UserWarning)
            return distinct.str.contains(pattern, regex=True, flags=flags)

    return per_distinct(text, contains)


def parse_numbers(values: pd.Series) -> pd.Series:
    """Numbers as people type them: decimal comma, spaces as thousands separators; what is not a
    number is NaN.

    Texts pandas holds in Arrow are cast by Arrow when every one is a number (or empty): 0.04 s
    for a million coordinates against 0.38 s for ``pd.to_numeric``, which makes a Python string of
    each under the interpreter's lock, and the same doubles bit for bit (its parser rounds
    correctly too; tests/test_records_parts.py holds both to the same answers). A column with a
    single non-number goes to ``pd.to_numeric``, which turns it into NaN, and so does a column of
    whole numbers only, which it reads as integers."""
    cleaned = values.str.replace("\u00a0", "", regex=False).str.replace(" ", "", regex=False)
    cleaned = cleaned.str.replace(",", ".", regex=False)
    if isinstance(cleaned.array, pd.arrays.ArrowStringArray):
        texts = pa.array(cleaned.array)
        empty = pc.equal(texts, "")
        # pandas gives integers when every text is one (and none is missing): left to it
        decimal = (
            texts.null_count or pc.any(pc.or_(empty, pc.match_substring_regex(texts, "[.eEnN]"))).as_py()
        )
        try:
            numbers = pc.cast(pc.if_else(empty, None, texts), pa.float64()) if decimal else None
        except pa.ArrowInvalid:
            numbers = None
        if numbers is not None:
            return pd.Series(numbers.to_numpy(zero_copy_only=False), index=values.index, dtype=float)
    return pd.to_numeric(cleaned.where(cleaned != ""), errors="coerce")


# A large file is checked in parts, one thread each: most of the work is in Arrow, numpy and
# pandas' C code, which release the GIL (a million Boston rows: 8.8-12 s in one thread, 5.4 s in
# two on the 2-core bench machine). Every check but the source ids' uniqueness looks at one row
# at a time, so the parts' verdicts are the whole file's.
PART_ROWS: Final = 250_000  # at least this many rows per part
MAX_PARTS: Final = 4


# A first load streams its parts into the store as they are checked (geova.importing): smaller
# parts start the database sooner, two threads check them ahead of the writer.
STREAM_PART_ROWS: Final = 100_000


@dataclass
class RecordStream:
    """A file's records checked part by part: ``parts`` yields each part's valid rows (canonical
    columns, as Records.frame) and flags, in file order, checked ahead in worker threads. The
    whole-file checks (columns, source ids) are done when the stream is made; ``rejects()`` is
    complete once ``parts`` is exhausted."""

    read: int
    parts: Iterator[tuple[pd.DataFrame, dict[Flag, np.ndarray]]]
    _verdicts: list[Verdicts]

    def rejects(self) -> list[Reject]:
        return sorted((r for v in self._verdicts for r in v.rejects), key=lambda r: r.row)


def stream_records(
    table: SourceTable, mapping: Mapping, file: Path, part_rows: int | None = None
) -> RecordStream:
    """The file's records as a :class:`RecordStream` of parts of ``part_rows`` rows (default: as
    to_records splits them, one part per thread)."""
    cells = table.cells.reset_index(drop=True)
    n = len(cells)
    missing = [f"{use} -> '{col}'" for use, col in mapping.used_columns().items() if col not in cells.columns]
    if missing:
        raise ImportFailure(
            str(file),
            f"columns named in the mapping are absent: {', '.join(missing)}; "
            f"the file has: {', '.join(map(str, cells.columns))}",
        )
    v = Verdicts(n, table.rows)
    sid = _source_ids(cells, mapping, table, v)
    threads = max(1, min(MAX_PARTS, os.cpu_count() or 1, n // PART_ROWS))
    count = threads if part_rows is None else max(1, -(-n // part_rows))
    bounds = [n * k // count for k in range(count + 1)]
    parts = [
        (_rows(table, cells, a, b), sid.iloc[a:b].reset_index(drop=True), v.part(a, b))
        for a, b in itertools.pairwise(bounds)
    ]

    def check(part: tuple[SourceTable, pd.Series, Verdicts]) -> tuple[pd.DataFrame, dict[Flag, np.ndarray]]:
        return _checked(part[0], part[1], part[2], mapping)

    def checked() -> Iterator[tuple[pd.DataFrame, dict[Flag, np.ndarray]]]:
        if count == 1:
            yield check(parts[0])
            return
        # Executor.map submits every part at once and yields them in order; a consumer that stops
        # early (an error in the store) closes it, which cancels the parts not yet begun
        with ThreadPoolExecutor(max(threads, 2), thread_name_prefix="geova-records") as pool:
            yield from pool.map(check, parts)

    return RecordStream(read=n, parts=checked(), _verdicts=[v, *(part for _t, _s, part in parts)])


def to_records(table: SourceTable, mapping: Mapping, file: Path) -> Records:
    stream = stream_records(table, mapping, file)
    done = list(stream.parts)
    # a part whose rows were all rejected has untyped empty columns: left out, it leaves the
    # others' types alone
    frames = [frame for frame, _flags in done if len(frame)] or [done[0][0]]
    return Records(
        frame=pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0],
        rejects=stream.rejects(),
        read=stream.read,
        flags={flag: np.concatenate([f[flag] for _frame, f in done]) for flag in done[0][1]},
    )


def _rows(table: SourceTable, cells: pd.DataFrame, a: int, b: int) -> SourceTable:
    """Rows ``a`` to ``b`` of the table, renumbered from 0."""
    if a == 0 and b == len(cells):
        return SourceTable(cells=cells, rows=table.rows, row_unit=table.row_unit, lonlat=table.lonlat)
    return SourceTable(
        cells=cells.iloc[a:b].reset_index(drop=True),
        rows=table.rows[a:b],
        row_unit=table.row_unit,
        lonlat=None if table.lonlat is None else table.lonlat[a:b],
    )


def _source_ids(cells: pd.DataFrame, mapping: Mapping, table: SourceTable, v: Verdicts) -> pd.Series:
    """The source ids, checked over the whole file: present, unique, not too long."""
    cols = mapping.columns
    unit = table.row_unit
    sid = text_column(cells, cols.source_id)
    v.reject(sid.eq("").to_numpy(), cols.source_id, sid, "missing source id")
    repeated = repeated_values(sid)
    dup = repeated & sid.ne("").to_numpy()
    if dup.any():
        firsts = ~repeated
        first_row = dict(zip(sid[firsts], table.rows[firsts], strict=True))
        for i in np.flatnonzero(dup & ~v.bad):
            v.rejects.append(
                Reject(
                    int(table.rows[i]),
                    cols.source_id,
                    sid.iloc[i],
                    f"duplicate source id (first seen at {unit} {first_row[sid.iloc[i]]})",
                )
            )
        v.bad |= dup
    v.reject(
        sid.str.len().gt(SOURCE_ID_MAX).to_numpy(),
        cols.source_id,
        sid,
        f"longer than {SOURCE_ID_MAX} characters",
    )
    return sid


def repeated_values(values: pd.Series) -> np.ndarray:
    """Whether each value was seen in an earlier row (pandas' ``duplicated(keep="first")``), by
    Arrow's hash table: its dictionary numbers the values in the order they first appear, so a
    row holds a first appearance when its number exceeds every number before it. A million
    source ids: 0.14 s, against 0.36 s for pandas' (a single thread while the other waits)."""
    texts = pa.array(values.array, type=pa.large_string())
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    numbers = pc.dictionary_encode(texts, null_encoding="encode").indices.to_numpy(zero_copy_only=False)
    out = np.zeros(len(numbers), dtype=bool)
    if len(numbers) > 1:
        out[1:] = numbers[1:] <= np.maximum.accumulate(numbers)[:-1]
    return out


def _checked(
    table: SourceTable, sid: pd.Series, v: Verdicts, mapping: Mapping
) -> tuple[pd.DataFrame, dict[Flag, np.ndarray]]:
    """Every other check of a part of the file, and its valid rows in canonical columns (``v``
    holds the part's verdicts so far and collects the rest)."""
    cells = table.cells
    n = len(cells)
    cols = mapping.columns
    src = mapping.source
    out = pd.DataFrame(index=cells.index)
    out["source_id"] = sid

    # category
    if src.category:
        out["category_code"] = src.category
        out["source_category"] = text_column(cells, cols.category) if cols.category else src.category
    else:
        raw = text_column(cells, cols.category)
        out["category_code"] = map_categories(raw, mapping.categories, cols.category, v)
        out["source_category"] = raw

    # dates
    nonexistent, ambiguous = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    for name in ("reported_at", "resolved_at", "due_at"):
        column = getattr(cols, name)
        values = text_column(cells, column)
        dates = parse_datetimes(values, src.date_format, src.day_first, src.timezone)
        expected = src.date_format or ("day-first date" if src.day_first else "month-first date")
        v.reject(dates.bad, column or name, values, f"not a date ({expected})")
        v.reject(dates.outside, column or name, values, f"date outside {DATE_RANGE_TEXT}")
        if name == "reported_at":
            v.reject(dates.instants.isna().to_numpy(), column, values, "missing report date")
        out[name] = dates.instants
        nonexistent |= dates.nonexistent
        ambiguous |= dates.ambiguous

    # status: rules first, then the value table, else derived from the resolution date
    status = pd.Series([None] * n, index=cells.index, dtype=object)
    if cols.status:
        raw_status = text_column(cells, cols.status)
        table_values = {k.casefold(): s.value for k, s in mapping.status.values.items()}
        lookup = table_values or {s.value: s.value for s in Status}
        status = per_distinct(raw_status, lambda distinct: distinct.str.casefold().map(lookup))
    else:
        raw_status = pd.Series([""] * n, index=cells.index)
        status = pd.Series(
            np.where(out["resolved_at"].notna(), Status.CLOSED.value, Status.NEW.value),
            index=cells.index,
            dtype=object,
        )
    for rule in reversed(mapping.status.rules):  # reversed: the first rule listed wins
        text = text_column(cells, rule.column)
        if rule.contains is not None:
            hit = text.str.contains(rule.contains, case=False, regex=False)
        else:
            hit = _matches(text, rule.pattern or "")
        status = status.where(~hit, rule.status.value)
    v.reject(
        status.isna().to_numpy(),
        cols.status or "status",
        raw_status,
        f"unknown status (expected one of: {', '.join(mapping.status.values) or ', '.join(Status)})",
    )
    out["status"] = status.replace({Status.OPEN.value: Status.NEW.value})  # the legacy name of "new"

    # plain text fields
    for name in ("channel", "service", "description", "address", "severity"):
        values = text_column(cells, getattr(cols, name))
        if name == "service" and mapping.services:
            values = values.map(lambda v: mapping.services.get(v, v))
        out[name] = values.where(values != "", None)
    severity = text_column(cells, cols.severity)
    v.reject(
        severity.str.len().gt(SEVERITY_MAX).to_numpy(),
        cols.severity or "severity",
        severity,
        f"longer than {SEVERITY_MAX} characters",
    )

    if mapping.insulting:
        text = text_column(cells, mapping.insulting.column)
        hit = pd.Series(False, index=cells.index)
        if mapping.insulting.pattern:
            hit |= _matches(text, mapping.insulting.pattern, re.IGNORECASE)
        if mapping.insulting.values:
            folded = {x.casefold() for x in mapping.insulting.values}
            hit |= per_distinct(text, lambda distinct: distinct.str.casefold().isin(folded))
        out["insulting"] = hit.to_numpy()
    else:
        out["insulting"] = False

    _locate(cells, mapping, table, v, out)

    keep = ~v.bad
    frame = out[keep].copy()
    frame["row"] = table.rows[keep]
    frame["content_hash"] = content_hashes(frame)
    flags = {Flag.NONEXISTENT_LOCAL_TIME: nonexistent[keep], Flag.AMBIGUOUS_LOCAL_TIME: ambiguous[keep]}
    return frame.reset_index(drop=True), flags


def _locate(
    cells: pd.DataFrame, mapping: Mapping, table: SourceTable, v: Verdicts, out: pd.DataFrame
) -> None:
    cols = mapping.columns
    if cols.latitude and cols.longitude:
        lat_raw, lon_raw = text_column(cells, cols.latitude), text_column(cells, cols.longitude)
        lat, lon = parse_numbers(lat_raw), parse_numbers(lon_raw)
        v.reject(lat.isna().to_numpy(), cols.latitude, lat_raw, "missing or not a number")
        v.reject(lon.isna().to_numpy(), cols.longitude, lon_raw, "missing or not a number")
        v.reject(((lat < -90) | (lat > 90)).to_numpy(), cols.latitude, lat_raw, "latitude outside -90..90")
        v.reject(
            ((lon < -180) | (lon > 180)).to_numpy(), cols.longitude, lon_raw, "longitude outside -180..180"
        )
        out["x"], out["y"] = lon.to_numpy(), lat.to_numpy()
    elif cols.x and cols.y:
        if not mapping.source.crs:
            raise ImportFailure("mapping", 'x/y columns need [source] crs (e.g. "EPSG:2154")')
        x_raw, y_raw = text_column(cells, cols.x), text_column(cells, cols.y)
        x, y = parse_numbers(x_raw), parse_numbers(y_raw)
        v.reject(x.isna().to_numpy(), cols.x, x_raw, "missing or not a number")
        v.reject(y.isna().to_numpy(), cols.y, y_raw, "missing or not a number")
        tr = Transformer.from_crs(CRS.from_user_input(mapping.source.crs), 4326, always_xy=True)
        lons, lats = tr.transform(x.to_numpy(), y.to_numpy())
        bad = ~np.isfinite(lons) | ~np.isfinite(lats) | (np.abs(lats) > 90) | (np.abs(lons) > 180)
        v.reject(
            bad & x.notna().to_numpy() & y.notna().to_numpy(),
            cols.x,
            x_raw,
            f"not a valid position in {mapping.source.crs}",
        )
        out["x"], out["y"] = lons, lats
    elif table.lonlat is not None:
        lons, lats = table.lonlat[:, 0], table.lonlat[:, 1]
        nowhere = pd.Series([""] * len(cells))
        v.reject(~np.isfinite(lons) | ~np.isfinite(lats), "geometry", nowhere, "no point geometry")
        with np.errstate(invalid="ignore"):
            off_earth = (np.abs(lats) > 90) | (np.abs(lons) > 180)
        v.reject(
            off_earth, "geometry", nowhere, "not a position on Earth (longitude -180..180, latitude -90..90)"
        )
        out["x"], out["y"] = lons, lats
    else:
        raise ImportFailure(
            "mapping", "no location: map latitude/longitude or x/y columns, or use a spatial file"
        )
