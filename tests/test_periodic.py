"""Frequency, count and share norms (geova.core.periodic) on small hand-made inputs."""

from __future__ import annotations

import itertools
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from geova.core.norms import Period, norm_from_dict
from geova.core.periodic import (
    Units,
    evaluate_periodic,
    period_end,
    period_label,
    period_starts,
    summarise,
)
from tests.fixtures.norms.frames import PARIS, local, zones

UNITS = Units(
    quarters=pd.DataFrame(
        {
            "code": ["Q1", "Q2", "Q1a"],
            "name": ["Centre", "Nord", "Centre – îlot A"],
            "level": [0, 0, 1],
            "parent": [None, None, "Q1"],
        }
    ),
    zones=pd.DataFrame(
        {
            "code": ["Z1", "Z2", "S1"],
            "name": ["Rue du Commerce", "Place du Marché", "Cité des Fleurs"],
            "kind": ["commercial", "commercial", "sensitive"],
        }
    ),
)


def entries(rows: list[tuple], tz: str = PARIS) -> pd.DataFrame:
    """(id, category, local time, quarter, subquarter) rows."""
    return pd.DataFrame(
        {
            "id": pd.Series([r[0] for r in rows], dtype=np.int64),
            "category": pd.Series([r[1] for r in rows], dtype=object),
            "at": pd.Series([local(r[2], tz) for r in rows], dtype="datetime64[us, UTC]"),
            "quarter": pd.Series([r[3] for r in rows], dtype=object),
            "subquarter": pd.Series([r[4] if len(r) > 4 else None for r in rows], dtype=object),
        }
    )


def norm(kind="frequency", period="week", value=1, scope=None, **extra):
    raw = {
        "code": f"{kind}.{period}",
        "kind": kind,
        "period": period,
        "from": "2008-01-01",
        **extra,
    }
    if value is not None:
        raw["value"] = value
    if scope is not None:
        raw["scope"] = scope
    return norm_from_dict(raw)


def run(n, ents, ent_zones, start, end, as_of, shares=None):
    return evaluate_periodic(
        n,
        ents,
        ent_zones,
        UNITS,
        pd.Timestamp(start),
        pd.Timestamp(end),
        local(as_of),
        PARIS,
        shares,
    )


def table(result: pd.DataFrame, *columns: str) -> dict[tuple[str, str], tuple]:
    return {(r["unit"], r["period"]): tuple(r[c] for c in columns) for r in result.to_dict("records")}


# ---------------------------------------------------------------------------------------------
# Frequency
# ---------------------------------------------------------------------------------------------

SWEEPING = entries(
    [
        (1, "balayage", "2015-06-01 06:00", "Q1"),  # Monday, week 23, in Z1
        (2, "balayage", "2015-06-03 06:00", "Q1"),  # week 23, in Z1 and S1
        (3, "balayage", "2015-06-08 06:00", "Q2"),  # week 24, in S1
        (4, "balayage", "2015-06-09 06:00", "Q2"),  # week 24, in no zone
        (5, "collecte_encombrants", "2015-06-02 06:00", "Q1"),  # another category, in Z2
        (6, "balayage", "2015-06-17 06:00", "Q1", "Q1a"),  # week 25, after as_of: not yet counted
    ]
)
SWEEPING_ZONES = zones(
    [
        (1, "Z1", "commercial"),
        (2, "Z1", "commercial"),
        (2, "S1", "sensitive"),
        (3, "S1", "sensitive"),
        (5, "Z2", "commercial"),
        (6, "Z2", "commercial"),
    ]
)


def test_frequency_per_zone_lists_zones_without_passages():
    n = norm(scope=[{"categories": ["balayage"], "zone_kinds": ["commercial"]}])
    out = run(n, SWEEPING, SWEEPING_ZONES, "2015-06-01", "2015-06-30", "2015-06-12 12:00")
    assert set(out["unit_type"]) == {"zone"}
    assert table(out, "achieved", "target", "met", "complete") == {
        ("Z1", "2015-W23"): (2, 1, True, True),
        ("Z2", "2015-W23"): (0, 1, False, True),  # nobody swept it: shown, and missed
        ("Z1", "2015-W24"): (0, 1, False, False),  # the running week
        ("Z2", "2015-W24"): (0, 1, False, False),
    }
    z2 = out[(out["unit"] == "Z2")].iloc[0]
    assert z2["unit_name"] == "Place du Marché"
    assert (z2["period_start"], z2["period_end"]) == (date(2015, 6, 1), date(2015, 6, 7))
    assert z2["applied"] == "city default from 2008-01-01"


def test_frequency_in_named_zones_and_a_zone_override():
    n = norm(
        scope=[{"categories": ["balayage"], "zones": ["S1"]}],
        target=[{"from": "2015-01-01", "zone": "S1", "value": 3}],
    )
    out = run(n, SWEEPING, SWEEPING_ZONES, "2015-06-01", "2015-06-14", "2015-06-20 12:00")
    assert table(out, "achieved", "target", "met", "applied") == {
        ("S1", "2015-W23"): (1, 3, False, "zone S1 from 2015-01-01"),
        ("S1", "2015-W24"): (1, 3, False, "zone S1 from 2015-01-01"),
    }


def test_frequency_per_quarter_outside_priority_zones():
    """Nantes: sweeping N times a week, outside priority zones: passages inside them do not count."""
    n = norm(scope=[{"categories": ["balayage"], "exclude_zone_kinds": ["commercial"]}], value=1)
    out = run(n, SWEEPING, SWEEPING_ZONES, "2015-06-01", "2015-06-14", "2015-06-20 12:00")
    assert set(out["unit_type"]) == {"quarter"}
    assert table(out, "achieved", "met") == {
        ("Q1", "2015-W23"): (0, False),  # both passages were in the commercial zone Z1
        ("Q2", "2015-W23"): (0, False),
        ("Q1", "2015-W24"): (0, False),
        ("Q2", "2015-W24"): (2, True),  # one in the sensitive zone S1 (not excluded), one outside
    }


def test_frequency_per_named_quarter_and_sub_quarter():
    n = norm(scope=[{"categories": ["balayage"], "quarters": ["Q1", "Q1a"]}], value=1)
    out = run(n, SWEEPING, SWEEPING_ZONES, "2015-06-15", "2015-06-21", "2015-06-30 12:00")
    assert table(out, "unit_name", "achieved", "met") == {
        ("Q1", "2015-W25"): ("Centre", 1, True),
        ("Q1a", "2015-W25"): ("Centre – îlot A", 1, True),
    }


def test_a_target_without_a_value_is_reported_as_not_set():
    n = norm(scope=[{"categories": ["balayage"]}], value=None)  # "N times a week", N not given
    out = run(n, SWEEPING, SWEEPING_ZONES, "2015-06-01", "2015-06-07", "2015-06-20 12:00")
    assert len(out) == 2
    assert out["target"].isna().all()
    assert out["met"].isna().all() and list(out["met"]) == [None, None]
    assert list(out["achieved"]) == [2, 0]
    s = summarise(out).iloc[0]
    assert (s["units"], s["periods"], s["met"], s["missed"], s["no_target"], s["running"]) == (
        2,
        1,
        0,
        0,
        2,
        0,
    )


# ---------------------------------------------------------------------------------------------
# Count
# ---------------------------------------------------------------------------------------------

MEETINGS = entries(
    [
        (1, "reunion_participation", "2015-03-10 18:00", "Q1"),
        (2, "reunion_participation", "2015-11-11 18:00", "Q1", "Q1a"),  # in a sub-quarter of Q1
        (3, "reunion_participation", "2015-06-10 18:00", "Q2"),
        (4, "reunion_participation", "2014-12-31 23:30", "Q2"),  # 2014 in Paris (22:30 UTC)
        (5, "reunion_participation", "2016-01-01 00:30", "Q2"),  # 2016 in Paris, 2015 in UTC
        (6, "animation", "2015-04-01 18:00", "Q2"),
    ]
)
NO_ENTRY_ZONES = zones([])


def test_count_per_quarter_and_year():
    n = norm("count", "year", 2, scope=[{"categories": ["reunion_participation"]}])
    out = run(n, MEETINGS, NO_ENTRY_ZONES, "2014-01-01", "2016-12-31", "2016-02-01 12:00")
    assert table(out, "achieved", "target", "met", "complete") == {
        ("Q1", "2014"): (0, 2, False, True),
        ("Q2", "2014"): (1, 2, False, True),
        ("Q1", "2015"): (2, 2, True, True),  # a sub-quarter's meeting counts for its quarter
        ("Q2", "2015"): (1, 2, False, True),
        ("Q1", "2016"): (0, 2, False, False),
        ("Q2", "2016"): (1, 2, False, False),
    }
    s = summarise(out).iloc[0]
    assert (s["met"], s["missed"], s["running"], s["no_target"]) == (1, 3, 2, 0)


def test_count_with_a_quarter_override_and_a_revision():
    n = norm(
        "count",
        "year",
        2,
        scope=[{"categories": ["reunion_participation"]}],
        target=[
            {"from": "2015-01-01", "quarter": "Q2", "value": 1},
            {"from": "2016-01-01", "value": 3},
        ],
    )
    out = run(n, MEETINGS, NO_ENTRY_ZONES, "2015-01-01", "2016-12-31", "2016-02-01 12:00")
    assert table(out, "target", "met", "applied") == {
        ("Q1", "2015"): (2, True, "city default from 2008-01-01"),
        ("Q2", "2015"): (1, True, "quarter Q2 from 2015-01-01"),
        ("Q1", "2016"): (3, False, "city default from 2016-01-01"),
        ("Q2", "2016"): (1, True, "quarter Q2 from 2015-01-01"),
    }


def test_entries_after_as_of_are_not_counted_and_later_periods_are_not_listed():
    n = norm("count", "month", 1, scope=[{"categories": ["reunion_participation"]}])
    out = run(n, MEETINGS, NO_ENTRY_ZONES, "2015-11-01", "2016-12-31", "2015-11-11 12:00")
    assert table(out, "achieved", "complete") == {
        ("Q1", "2015-11"): (0, False),
        ("Q2", "2015-11"): (0, False),
    }


# ---------------------------------------------------------------------------------------------
# Share
# ---------------------------------------------------------------------------------------------


def test_share_entries_latest_wins():
    n = norm("share", "year", 60)
    shares = pd.DataFrame(
        {  # in the order they were recorded
            "norm": ["share.year", "share.year", "share.year", "other", "share.year"],
            "quarter": ["Q1", "Q1", "Q2", "Q2", "Q2"],
            "period_start": [
                date(2015, 1, 1),
                date(2015, 1, 1),
                date(2015, 1, 1),
                date(2015, 1, 1),
                date(2016, 1, 1),
            ],
            "value": [50.0, 65.0, 40.0, 90.0, 70.0],
        }
    )
    out = run(n, MEETINGS.iloc[:0], NO_ENTRY_ZONES, "2015-01-01", "2016-12-31", "2016-03-01 12:00", shares)
    got = table(out, "achieved", "target", "met", "complete")
    assert got.keys() == {("Q1", "2015"), ("Q2", "2015"), ("Q1", "2016"), ("Q2", "2016")}
    assert got[("Q1", "2015")] == (65, 60, True, True)  # corrected from 50 to 65
    assert got[("Q2", "2015")] == (40, 60, False, True)  # another norm's 90 % is not this one's
    assert got[("Q2", "2016")] == (70, 60, True, False)
    achieved, target, met, complete = got[("Q1", "2016")]  # nothing entered yet
    assert math.isnan(achieved) and target == 60 and met is None and complete is False
    assert summarise(out).iloc[0]["met"] == 1 and summarise(out).iloc[0]["missed"] == 1
    nothing = run(n, MEETINGS.iloc[:0], NO_ENTRY_ZONES, "2015-01-01", "2015-12-31", "2016-03-01 12:00", None)
    assert nothing["achieved"].isna().all() and nothing["met"].isna().all()


# ---------------------------------------------------------------------------------------------
# Periods
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "start", "end", "labels", "first_start", "last_end"),
    [
        # ISO weeks: 29 December 2014 starts week 1 of 2015
        (
            Period.WEEK,
            "2014-12-31",
            "2015-01-12",
            ["2015-W01", "2015-W02", "2015-W03"],
            "2014-12-29",
            "2015-01-18",
        ),
        # fortnights counted from Monday 3 January 2000
        (
            Period.FORTNIGHT,
            "2015-06-10",
            "2015-06-30",
            ["2015-06-01 (2 weeks)", "2015-06-15 (2 weeks)", "2015-06-29 (2 weeks)"],
            "2015-06-01",
            "2015-07-12",
        ),
        (
            Period.MONTH,
            "2015-01-31",
            "2015-03-01",
            ["2015-01", "2015-02", "2015-03"],
            "2015-01-01",
            "2015-03-31",
        ),
        (
            Period.QUARTER_YEAR,
            "2015-02-15",
            "2015-12-31",
            ["2015-T1", "2015-T2", "2015-T3", "2015-T4"],
            "2015-01-01",
            "2015-12-31",
        ),
        (Period.YEAR, "2015-06-01", "2016-01-01", ["2015", "2016"], "2015-01-01", "2016-12-31"),
    ],
)
def test_period_labels_and_boundaries(period, start, end, labels, first_start, last_end):
    starts = period_starts(period, pd.Timestamp(start), pd.Timestamp(end))
    assert [period_label(period, s) for s in starts] == labels
    assert starts[0] == pd.Timestamp(first_start)
    assert period_end(period, starts[-1]) - pd.Timedelta(days=1) == pd.Timestamp(last_end)
    # consecutive periods tile the time line
    for a, b in itertools.pairwise(starts):
        assert period_end(period, a) == b


@pytest.mark.parametrize(
    ("period", "label_before", "label_after", "before", "after"),
    [
        # Sunday 29 March 23:30 (21:30 UTC) is week 13; Monday 00:30 (still Sunday in UTC) week 14
        ("week", "2015-W13", "2015-W14", "2015-03-29 23:30", "2015-03-30 00:30"),
        ("fortnight", "2015-06-01 (2 weeks)", "2015-06-15 (2 weeks)", "2015-06-14 23:30", "2015-06-15 00:30"),
        ("month", "2015-03", "2015-04", "2015-03-31 23:30", "2015-04-01 00:30"),
        ("quarter_year", "2015-T1", "2015-T2", "2015-03-31 23:30", "2015-04-01 00:30"),
        ("year", "2015", "2016", "2015-12-31 23:30", "2016-01-01 00:30"),
    ],
)
def test_periods_are_cut_at_local_midnight(period, label_before, label_after, before, after):
    ents = entries([(1, "animation", before, "Q1"), (2, "animation", after, "Q1")])
    n = norm("count", period, 1, scope=[{"categories": ["animation"]}])
    out = run(n, ents, NO_ENTRY_ZONES, before[:10], after[:10], "2016-06-30 12:00")
    q1 = {r["period"]: r["achieved"] for r in out[out["unit"] == "Q1"].to_dict("records")}
    assert q1 == {label_before: 1, label_after: 1}
    # in UTC both would fall in the first period
    assert local(after).tz_convert("UTC").strftime("%Y-%m-%d") == before[:10]


def test_the_running_period_is_not_complete():
    n = norm("count", "month", 1, scope=[{"categories": ["animation"]}])
    ents = entries([(1, "animation", "2015-04-01 10:00", "Q2")])
    # as of 30 April 23:59 the month is still running; at 1 May 00:00 it is complete
    running = run(n, ents, NO_ENTRY_ZONES, "2015-04-01", "2015-04-30", "2015-04-30 23:59")
    done = run(n, ents, NO_ENTRY_ZONES, "2015-04-01", "2015-04-30", "2015-05-01 00:00")
    assert list(running["complete"]) == [False, False]
    assert list(done["complete"]) == [True, True]
    assert table(done, "achieved", "met") == {("Q1", "2015-04"): (0, False), ("Q2", "2015-04"): (1, True)}


def test_a_deadline_norm_is_not_periodic():
    n = norm_from_dict(
        {"code": "d", "kind": "deadline", "value": 48, "scope": [{"categories": ["graffiti"]}]}
    )
    with pytest.raises(ValueError, match="not a periodic norm"):
        run(n, MEETINGS, NO_ENTRY_ZONES, "2015-01-01", "2015-12-31", "2015-12-31 12:00")


def test_periodic_norms_need_a_period():
    with pytest.raises(ValueError, match="needs a period"):
        norm_from_dict({"code": "c", "kind": "count", "value": 2, "scope": [{"categories": ["animation"]}]})
