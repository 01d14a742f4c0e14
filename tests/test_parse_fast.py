"""The fast paths of parsing and digesting must give exactly what the reference paths give.

Dates: Arrow's strptime reads only the values it can prove pandas reads the same way; these tests
compare ``parse_datetimes`` with and without the fast path on adversarial strings (non-padded
fields, impossible days, two-digit years, garbage, local times a DST change skips or repeats).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import geova.io.records as records
from geova.core.records import HASHED, content_hashes
from geova.io.records import ParsedDates, fast_format, parse_datetimes, per_distinct

FORMATS = [
    "%m/%d/%Y %I:%M:%S %p",
    "%d/%m/%Y %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%d.%m.%Y",
    "%Y%m%d%H%M%S",
    "%I%p %d/%m/%Y",
]
ZONES = ["America/New_York", "Europe/Paris"]


@contextmanager
def reference_only() -> Iterator[None]:
    records.REFERENCE_ONLY = True
    try:
        yield
    finally:
        records.REFERENCE_ONLY = False


def both(values: list[str], fmt: str, tz: str, dtype: str = "str") -> tuple[ParsedDates, ParsedDates]:
    series = pd.Series(values, dtype=dtype)
    fast = parse_datetimes(series, fmt, False, tz)
    with reference_only():
        ref = parse_datetimes(series, fmt, False, tz)
    return fast, ref


def assert_same(fast: ParsedDates, ref: ParsedDates) -> None:
    pd.testing.assert_series_equal(fast.instants, ref.instants, check_exact=True)
    for name in ("bad", "outside", "nonexistent", "ambiguous"):
        assert np.array_equal(getattr(fast, name), getattr(ref, name)), name


def _number(width: int, low: int, high: int) -> st.SearchStrategy[str]:
    """A field, mostly zero-padded, sometimes bare or after a blank, sometimes out of range."""
    style = st.sampled_from(["pad"] * 6 + ["bare", "space"])
    return st.tuples(st.integers(low, high), style).map(
        lambda t: f"{t[0]:0{width}d}" if t[1] == "pad" else (f" {t[0]}" if t[1] == "space" else str(t[0]))
    )


FIELDS = {
    "Y": st.one_of(
        _number(4, 1990, 2030), st.sampled_from(["15", "0015", "0000", "0999", "999", "12345", "2016"])
    ),
    "m": st.one_of(_number(2, 0, 13), st.sampled_from(["02", "04", "06", "09", "11"])),
    "d": st.one_of(_number(2, 0, 32), st.sampled_from(["29", "30", "31"])),
    "H": _number(2, 0, 25),
    "I": _number(2, 0, 13),
    "M": _number(2, 0, 60),
    "S": _number(2, 0, 61),
    "p": st.sampled_from(["AM", "PM", "am", "pm", "Am", "pM", "A.M.", "XM"]),
}


@st.composite
def dated(draw: st.DrawFn, fmt: str) -> str:
    """A value shaped by ``fmt``, each field and literal possibly off."""
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%":
            out.append(draw(FIELDS[fmt[i + 1]]))
            i += 2
        else:
            out.append(draw(st.sampled_from([fmt[i]] * 12 + ["  ", "t", "-", ""])))
            i += 1
    return "".join(out)


IMPOSSIBLE = [
    "2015-02-29",
    "2016-02-30",
    "2015-04-31",
    "2015-06-31",
    "2015-09-31",
    "2015-11-31",
    "2015-02-31",
]


def impossible_days(fmt: str) -> list[str]:
    """Days that do not exist, which Arrow would move into the next month."""
    out = []
    for day in IMPOSSIBLE:
        y, m, d = day.split("-")
        out.append(
            fmt.replace("%Y", y)
            .replace("%m", m)
            .replace("%d", d)
            .replace("%H", "13")
            .replace("%I", "01")
            .replace("%M", "30")
            .replace("%S", "00")
            .replace("%p", "PM")
        )
    return out


def dst_edges(fmt: str) -> list[str]:
    """Local times around the 2015 changes in New York and Paris, every 10 minutes."""
    days = ["2015-03-08", "2015-11-01", "2015-03-29", "2015-10-25", "2015-02-28", "2016-02-29"]
    stamps = [pd.Timestamp(d) + pd.Timedelta(minutes=10 * k) for d in days for k in range(6 * 5)]
    return [t.strftime(fmt) for t in stamps]


def test_the_formats_take_the_fast_path() -> None:
    for fmt in FORMATS:
        assert fast_format(fmt) is not None, fmt
    for fmt in ("%y-%m-%d", "%d/%m/%Y %I:%M", "%m/%d/%Y %H:%M %p", "%Y-%m-%d %z", "%d/%m/%Y %d", "%m/%Y"):
        assert fast_format(fmt) is None, fmt


def test_dst_edges_and_leap_days() -> None:
    for fmt in FORMATS:
        for tz in ZONES:
            values = dst_edges(fmt) + impossible_days(fmt)
            assert_same(*both(values, fmt, tz))


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(FORMATS),
    st.sampled_from(ZONES),
    st.data(),
)
def test_fast_path_equals_pandas(fmt: str, tz: str, data: st.DataObject) -> None:
    valid = st.builds(
        lambda t: t.strftime(fmt), st.datetimes(pd.Timestamp("1000-01-01"), pd.Timestamp("9999-12-31"))
    )
    value = st.one_of(dated(fmt), valid, st.sampled_from(dst_edges(fmt)), st.text(max_size=25), st.just(""))
    values = data.draw(st.lists(value, min_size=1, max_size=40))
    assert_same(*both(values, fmt, tz, data.draw(st.sampled_from(["str", "object"]))))


# Digests: the implementation every stored content_hash was computed with, kept as the oracle.
def reference_hashes(frame: pd.DataFrame, columns: list[str] = HASHED) -> list[str]:
    parts = pd.DataFrame(
        {name: (frame[name].round(7) if name in ("x", "y") else frame[name]) for name in columns}
    )
    for name in parts.columns:
        if parts[name].dtype == object or str(parts[name].dtype).startswith(("str", "string")):
            values = parts[name].astype(object)
            if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
                parts[name] = values.where(values.notna(), None)
            else:
                parts[name] = values.map(lambda v: None if v is None or v != v else str(v)).astype(object)
    digest = pd.util.hash_pandas_object(parts, index=False).to_numpy()
    return [f"{v:016x}" for v in digest.tolist()]


TEXTS = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from(
        ["Closed", "Open", "graffiti", "École", "l’Église", "日本", "a\x00b", " ", "None", "nan"]
    ),
    st.text(max_size=12),
)
INSTANTS = st.one_of(
    st.none(), st.datetimes(pd.Timestamp("1990-01-01"), pd.Timestamp("2030-12-31")).map(pd.Timestamp)
)
COORDS = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.just(-0.0),
    st.floats(-180, 180, allow_nan=False, allow_infinity=False),
)
TEXT_COLUMNS = [
    "source_id",
    "category_code",
    "source_category",
    "status",
    "channel",
    "severity",
    "service",
    "description",
    "address",
]


@st.composite
def record_frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 30))
    data: dict[str, object] = {}
    for name in TEXT_COLUMNS:
        values = draw(st.lists(TEXTS, min_size=n, max_size=n))
        kind = draw(st.sampled_from(["str", "object", "mixed"]))
        if kind == "str":
            data[name] = pd.Series(values, dtype="str")
        elif kind == "object":
            data[name] = pd.Series(values, dtype=object)
        else:  # not only texts: numbers too (the slow branch)
            data[name] = pd.Series([v if i % 3 else i for i, v in enumerate(values)], dtype=object)
    for name in ("reported_at", "resolved_at", "due_at"):
        data[name] = pd.Series(
            draw(st.lists(INSTANTS, min_size=n, max_size=n)), dtype="datetime64[ns]"
        ).dt.tz_localize("UTC")
    data["insulting"] = pd.Series(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    for name in ("x", "y"):
        data[name] = pd.Series(draw(st.lists(COORDS, min_size=n, max_size=n)), dtype=float)
    return pd.DataFrame(data, index=pd.RangeIndex(n) + draw(st.integers(0, 5)))


@settings(max_examples=200, deadline=None)
@given(record_frames())
def test_content_hashes_equal_the_reference(frame: pd.DataFrame) -> None:
    assert content_hashes(frame) == reference_hashes(frame)
    assert content_hashes(frame, ["description", "x"]) == reference_hashes(frame, ["description", "x"])


def test_content_hashes_of_a_known_row() -> None:
    """A digest stored by earlier versions, so that a change of pandas' hashing shows too."""
    frame = pd.DataFrame(
        {
            **{name: pd.Series(["été"], dtype="str") for name in TEXT_COLUMNS},
            **{
                name: pd.Series([pd.Timestamp("2015-07-01T08:00Z")])
                for name in ("reported_at", "resolved_at", "due_at")
            },
            "insulting": [False],
            "x": [2.3522219],
            "y": [48.856614],
        }
    )
    assert content_hashes(frame) == reference_hashes(frame) == ["697b67ee59c3b304"]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(TEXTS.filter(lambda v: v is not None), st.just("Racial slur"), st.just("ÉCOLE")),
        max_size=30,
    ),
    st.sampled_from(["str", "object"]),
)
def test_per_distinct_equals_the_whole_column(values: list[str], dtype: str) -> None:
    column = pd.Series(values, dtype=dtype, name="CASE_TITLE", index=pd.RangeIndex(len(values)) + 3)
    pattern = r"\b(racial|profan\w*|obscen\w*)\b"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = column.str.contains(pattern, regex=True, flags=re.IGNORECASE)
    pd.testing.assert_series_equal(records._matches(column, pattern, re.IGNORECASE), expected)
    lookup = {"closed": "closed", "école": "new"}
    pd.testing.assert_series_equal(
        per_distinct(column, lambda d: d.str.casefold().map(lookup)), column.str.casefold().map(lookup)
    )
    folded = {"école", ""}
    pd.testing.assert_series_equal(
        per_distinct(column, lambda d: d.str.casefold().isin(folded)), column.str.casefold().isin(folded)
    )
