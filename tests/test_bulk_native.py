"""geova.store.bulk's vectorised column conversion (native_column on more than FEW_VALUES rows)
must give exactly what its first, per-row version gave (kept below as the reference), value for
value and type for type, on both backends: adversarial columns, and Hypothesis-drawn ones.

arrow_driver_column (the same values as Arrow arrays, for SQLite's staged inserts) is held to the
same reference: its array must list back to those values, type for type, or refuse a column that
mixes types (Arrow would make one type of them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geova.store.bulk import FEW_VALUES, arrow_driver_column, native_column

N = FEW_VALUES * 3


def reference(conn, series: pd.Series) -> list:
    """native_column as first written (per-row Python), for more than FEW_VALUES rows."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        iso = np.datetime_as_string(series.dt.tz_convert("UTC").to_numpy(dtype="datetime64[us]"), unit="us")
        missing = series.isna().to_numpy()
        if conn.dialect.name == "sqlite":
            return [
                None if gap else f"{t[:10]} {t[11:]}" for t, gap in zip(iso.tolist(), missing, strict=True)
            ]
        return [None if gap else f"{t}+00:00" for t, gap in zip(iso.tolist(), missing, strict=True)]
    if series.dtype == bool:
        return series.astype(int if conn.dialect.name == "sqlite" else bool).tolist()
    values = series.astype(object).where(series.notna(), None)
    return [v.item() if isinstance(v, np.generic) else v for v in values.tolist()]


def same(conn, series: pd.Series) -> None:
    fast, ref = native_column(conn, series), reference(conn, series)
    assert len(series) > FEW_VALUES
    assert [(type(v), v) for v in fast] == [(type(v), v) for v in ref]
    same_in_arrow(conn, series, ref)


def same_in_arrow(conn, series: pd.Series, ref: list) -> None:
    if len({type(v) for v in ref} - {type(None)}) > 1:
        with pytest.raises(TypeError, match="mixes"):
            arrow_driver_column(conn, series)
        return
    got = arrow_driver_column(conn, series).to_pylist()
    assert [(type(v), v) for v in got] == [(type(v), v) for v in ref]


@pytest.mark.parametrize("n", [1, FEW_VALUES, FEW_VALUES + 1])
def test_short_columns_in_arrow_too(engine, n):
    """At and below FEW_VALUES rows (the per-value path) too, and a column of gaps only."""
    with engine.connect() as conn:
        for series in (
            pd.Series(pd.date_range("2015-01-01", periods=n, freq="h", tz="UTC")),
            pd.Series([None] * n, dtype=object),
            pd.Series(np.arange(n, dtype=np.int64)),
            pd.Series([True] * n),
        ):
            same_in_arrow(conn, series, native_column(conn, series))


def cycle(values: list, n: int = N) -> list:
    return [values[i % len(values)] for i in range(n)]


def adversarial() -> dict[str, pd.Series]:
    paris = pd.Series(
        pd.to_datetime(
            format="ISO8601",
            arg=cycle(["2015-03-29 01:59:59.999999", "2015-10-25 02:30:00", "1999-12-31 23:59:59.5", None]),
        )
    ).dt.tz_localize("Europe/Paris", ambiguous="NaT", nonexistent="NaT")
    return {
        "utc instants with gaps": pd.Series(
            pd.to_datetime(
                format="ISO8601",
                arg=cycle(["2015-01-01 00:00:00", None, "2262-04-11 23:47:16.854775", "1677-09-22"]),
            )
        ).dt.tz_localize("UTC"),
        "local instants": paris,
        "instants without gap": pd.Series(pd.date_range("2015-01-01", periods=N, freq="37min", tz="UTC")),
        "all gaps": pd.Series([pd.NaT] * N, dtype="datetime64[ns, UTC]"),
        "microsecond instants": pd.Series(
            pd.to_datetime(
                format="ISO8601", arg=cycle(["2015-06-01 12:00:00.000001", "2015-06-01 12:00:00.123456"])
            )
        ).dt.tz_localize("America/New_York"),
        "floats": pd.Series(cycle([0.1, float("nan"), -0.0, float("inf"), -1e308, 5e-324, 72.0])),
        "floats without gap": pd.Series(np.linspace(0, 1, N)),
        "ints": pd.Series(np.arange(N, dtype=np.int64) - 7),
        "nullable ints": pd.Series(pd.array(cycle([1, None, -3, 2**40]), dtype="Int64")),
        "bools": pd.Series(cycle([True, False, False])),
        "texts": pd.Series(cycle(["a", None, "", float("nan"), pd.NA, "é ☃", "NaT"]), dtype=object),
        "texts without gap": pd.Series(cycle(["x", "y"]), dtype=object),
        "numpy scalars in objects": pd.Series(
            cycle([np.int64(4), np.float64(2.5), np.str_("s"), np.bool_(True), None, "t", 3]), dtype=object
        ),
        "python datetimes in objects": pd.Series(
            cycle([datetime(2015, 1, 1, tzinfo=UTC), None, "x"]), dtype=object
        ),
        "categories": pd.Series(pd.Categorical(cycle(["a", "b", None]))),
        "strings": pd.Series(pd.array(cycle(["a", None, "b"]), dtype="string")),
    }


@pytest.mark.parametrize("name", sorted(adversarial()))
def test_the_vectorised_columns_match_the_per_value_path(engine, name):
    with engine.connect() as conn:
        same(conn, adversarial()[name])


def test_instants_are_in_the_stored_format(engine):
    """SQLite: SQLAlchemy's own DateTime storage format; PostgreSQL: ISO 8601 with its offset."""
    series = pd.Series(pd.date_range("2015-01-01 00:00:00.5", periods=N, freq="h", tz="Europe/Paris"))
    with engine.connect() as conn:
        got = native_column(conn, series)
    utc = series.dt.tz_convert("UTC")
    if engine.dialect.name == "postgresql":
        expected = utc.dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    else:
        expected = utc.dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    assert got == expected.tolist()


instants = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1678, 1, 1), max_value=datetime(2262, 1, 1), timezones=st.just(UTC)).map(
        lambda d: d + timedelta(0)
    ),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    times=st.lists(instants, min_size=N, max_size=N),
    floats=st.lists(st.one_of(st.none(), st.floats()), min_size=N, max_size=N),
    texts=st.lists(st.one_of(st.none(), st.text(max_size=5)), min_size=N, max_size=N),
)
def test_drawn_columns_match_the_per_value_path(engine, times, floats, texts):
    with engine.connect() as conn:
        same(conn, pd.Series(pd.to_datetime(times, utc=True)))
        same(conn, pd.Series([np.nan if f is None else f for f in floats], dtype=float))
        same(conn, pd.Series(texts, dtype=object))


FIRST = np.datetime64("0000-01-01T00:00:00", "us").astype(np.int64)
LAST = np.datetime64("9999-12-31T23:59:59.999999", "us").astype(np.int64)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(micros=st.lists(st.integers(FIRST, LAST), min_size=N, max_size=N))
def test_instants_of_every_year_match(engine, micros):
    """The calendar arithmetic over years 0000-9999 (microsecond series, beyond pandas' nanosecond
    range), leap days and centuries included."""
    series = pd.Series(np.array(micros, dtype="datetime64[us]")).dt.tz_localize("UTC")
    with engine.connect() as conn:
        same(conn, series)


def test_calendar_edges_and_years_beyond_9999(engine):
    edges = [
        "0000-01-01T00:00:00",
        "0000-02-29T12:00:00",
        "1600-02-29T00:00:00",
        "1900-02-28T23:59:59.999999",
        "1900-03-01T00:00:00",
        "1969-12-31T23:59:59.999999",
        "1970-01-01T00:00:00",
        "2000-02-29T00:00:00.000001",
        "2100-03-01T00:00:00",
        "9999-12-31T23:59:59.999999",
    ]
    with engine.connect() as conn:
        same(conn, pd.Series(np.array(cycle(edges), dtype="datetime64[us]")).dt.tz_localize("UTC"))
        beyond = pd.Series(np.array(cycle([*edges, "12000-01-01T00:00:00"]), dtype="datetime64[s]"))
        same(conn, beyond.dt.tz_localize("UTC"))
