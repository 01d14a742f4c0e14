"""Deadlines in calendar hours and in working hours ("heures ouvrées"), hand-computed.

Working hours: the clock runs only on working days (Monday to Friday, public holidays excluded),
all day long, on the territory's local wall clock.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geova.core.workcal import (
    add_calendar_hours,
    add_working_hours,
    public_holidays,
    working_hours_between,
)

PARIS = "Europe/Paris"
BOSTON = "America/New_York"


def at(text: str, tz: str = PARIS) -> pd.Timestamp:
    return pd.Timestamp(text, tz=tz)


def series(*texts: str, tz: str = PARIS) -> pd.Series:
    return pd.Series([at(t, tz).tz_convert("UTC") for t in texts])


def due_local(reported: str, hours: float, tz: str = PARIS, country: str = "FR") -> str:
    due = add_working_hours(series(reported, tz=tz), np.array([hours]), tz, country)
    return f"{due.iloc[0].tz_convert(tz):%Y-%m-%d %H:%M}"


def test_public_holidays_of_france_moselle_and_massachusetts():
    fr = set(public_holidays("FR", 2015, 2015).astype(date))
    assert {date(2015, 1, 1), date(2015, 5, 1), date(2015, 7, 14), date(2015, 12, 25)} <= fr
    assert date(2015, 4, 3) not in fr  # Good Friday is a holiday in Moselle only
    moselle = set(public_holidays("FR-57", 2015, 2015).astype(date))
    assert {date(2015, 4, 3), date(2015, 12, 26)} <= moselle
    massachusetts = set(public_holidays("US-MA", 2015, 2015).astype(date))
    assert date(2015, 4, 20) in massachusetts  # Patriots' Day
    assert date(2015, 7, 14) not in massachusetts


@pytest.mark.parametrize(
    ("reported", "hours", "due"),
    [
        # Thursday 23:59 before Christmas (Friday): 1 min Thursday, Monday, 23 h 59 on Tuesday
        ("2015-12-24 23:59", 48, "2015-12-29 23:59"),
        # Monday 23:59 before 14 July (Tuesday): 1 min Monday, Wednesday, 23 h 59 on Thursday
        ("2015-07-13 23:59", 48, "2015-07-16 23:59"),
        # Friday 10:00: 14 h Friday, 24 h Monday, 10 h Tuesday
        ("2015-06-05 10:00", 48, "2015-06-09 10:00"),
        # reported on a Saturday: the clock starts on Monday 00:00 and Monday 24:00 is the deadline
        ("2015-06-06 15:00", 24, "2015-06-09 00:00"),
        # ends exactly at the end of Friday: Friday 24:00, not Monday 00:00 after the weekend
        ("2015-06-04 00:00", 48, "2015-06-06 00:00"),
        # reported on a public holidays (1 May, a Friday): the clock starts on Monday
        ("2015-05-01 10:00", 24, "2015-05-05 00:00"),
        # across New Year: 12 h Thursday 31 December, 1 January off, weekend, Mon, Tue, 12 h Wednesday
        ("2015-12-31 12:00", 72, "2016-01-06 12:00"),
        # half an hour
        ("2015-06-01 08:00", 0.5, "2015-06-01 08:30"),
        # across the DST changes, on the wall clock: Friday noon + 24 working hours = Monday noon
        ("2015-03-27 12:00", 24, "2015-03-30 12:00"),
        ("2015-10-23 12:00", 24, "2015-10-26 12:00"),
    ],
)
def test_working_hours_deadlines_in_paris(reported, hours, due):
    assert due_local(reported, hours) == due


def test_holiday_subdivisions_change_the_deadline():
    # Maundy Thursday noon + 24 working hours: Good Friday is worked in Paris, not in Moselle
    assert due_local("2015-04-02 12:00", 24, country="FR") == "2015-04-03 12:00"
    assert due_local("2015-04-02 12:00", 24, country="FR-57") == "2015-04-07 12:00"  # Easter Monday off
    # Boston: Patriots' Day (Monday 20 April 2015) is off in Massachusetts
    assert due_local("2015-04-17 12:00", 24, BOSTON, "US-MA") == "2015-04-21 12:00"
    assert due_local("2015-04-17 12:00", 24, BOSTON, "US") == "2015-04-20 12:00"


def test_working_hours_are_vectorised_and_keep_the_index():
    reported = series("2015-12-24 23:59", "2015-07-13 23:59", "2015-06-05 10:00")
    reported.index = [10, 20, 30]
    due = add_working_hours(reported, np.array([48.0, 48.0, 24.0]), PARIS)
    assert list(due.index) == [10, 20, 30]
    assert str(due.dt.tz) == "UTC"
    assert [f"{t:%Y-%m-%d %H:%M}" for t in due.dt.tz_convert(PARIS)] == [
        "2015-12-29 23:59",
        "2015-07-16 23:59",
        "2015-06-08 10:00",
    ]
    assert add_working_hours(reported.iloc[:0], np.array([]), PARIS).empty


def test_calendar_hours_are_absolute_across_dst():
    reported = series("2015-03-28 12:00", "2015-10-24 12:00")
    due = add_calendar_hours(reported, np.array([48.0, 48.0])).dt.tz_convert(PARIS)
    # the night of 29 March is one hour short, the night of 25 October one hour long
    assert due.iloc[0] == at("2015-03-30 13:00")
    assert due.iloc[1] == at("2015-10-26 11:00")
    assert (due - reported.dt.tz_convert(PARIS)).dt.total_seconds().tolist() == [48 * 3600.0] * 2


def test_working_hours_between_counts_only_working_days():
    start = series("2015-12-24 23:59", "2015-06-05 10:00", "2015-06-06 15:00", "2015-06-09 10:00")
    end = series("2015-12-29 12:00", "2015-06-09 10:00", "2015-06-07 20:00", "2015-06-05 10:00")
    hours = working_hours_between(start, end, PARIS)
    assert hours[0] == pytest.approx(1 / 60 + 24 + 12)
    assert hours[1] == pytest.approx(48)
    assert hours[2] == 0  # a weekend: no working time at all
    assert hours[3] == pytest.approx(-48)  # end before start: negative


def test_working_hours_between_leaves_missing_ends_as_nan():
    start = series("2015-06-01 08:00", "2015-06-01 08:00")
    end = pd.Series([at("2015-06-01 10:00").tz_convert("UTC"), pd.NaT]).astype("datetime64[us, UTC]")
    hours = working_hours_between(start, end, PARIS)
    assert hours[0] == pytest.approx(2)
    assert np.isnan(hours[1])
    assert np.isnan(working_hours_between(end.iloc[1:], end.iloc[1:], PARIS)).all()


instants = st.datetimes(
    min_value=pd.Timestamp("2014-01-01").to_pydatetime(),
    max_value=pd.Timestamp("2017-12-31").to_pydatetime(),
).map(lambda d: pd.Timestamp(d).floor("min").tz_localize("UTC"))
quarter_hours = st.integers(min_value=0, max_value=4 * 24 * 20).map(lambda q: q / 4)


@settings(max_examples=100, deadline=None)
@given(reported=st.lists(instants, min_size=1, max_size=20), data=st.data())
def test_working_hours_between_is_the_inverse_of_the_deadline(reported, data):
    hours = np.array(data.draw(st.lists(quarter_hours, min_size=len(reported), max_size=len(reported))))
    start = pd.Series(reported).astype("datetime64[us, UTC]")
    due = add_working_hours(start, hours, PARIS)
    assert (due >= start).all()
    np.testing.assert_allclose(working_hours_between(start, due, PARIS), hours, atol=1e-9)
    # one more quarter of an hour never gives an earlier deadline
    later = add_working_hours(start, hours + 0.25, PARIS)
    assert (later > due).all()
