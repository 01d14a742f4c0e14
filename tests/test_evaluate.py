"""The deadline norm engine (geova.core.evaluate) on small hand-computed inputs, then properties.

Every expected figure below was computed by hand from the local times written in the fixture.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geova.core.evaluate import (
    RATED_STATES,
    State,
    Territory,
    aggregate,
    applicable_targets,
    evaluate_deadline,
)
from geova.core.norms import Basis, NormKind, norm_from_dict
from tests.fixtures.norms.frames import NO_ZONES, PARIS, local, records, zones

BOSTON = "America/New_York"
STATE_COLUMNS = [s.value for s in State]


def deadline_norm(value=48, **extra):
    raw = {
        "code": "graffiti.48h",
        "kind": "deadline",
        "value": value,
        "from": "2008-01-01",
        "scope": [{"categories": ["graffiti"]}],
        **extra,
    }
    if value is None:
        raw.pop("value")
    return norm_from_dict(raw)


def by_source(frame: pd.DataFrame) -> dict[str, dict]:
    return {r["source_id"]: r for r in frame.to_dict(orient="records")}


def local_text(ts) -> str:
    return "" if pd.isna(ts) else f"{pd.Timestamp(ts).tz_convert(PARIS):%Y-%m-%d %H:%M}"


# ---------------------------------------------------------------------------------------------
# Every state, on a 48 h calendar norm, as of Wednesday 10 June 2015 12:00 in Paris
# ---------------------------------------------------------------------------------------------

AS_OF = local("2015-06-10 12:00")
ROWS = [
    # on time, resolved exactly at the deadline
    {"source_id": "exact", "reported_at": "2015-06-01 08:00", "resolved_at": "2015-06-03 08:00"},
    # on time, 12 h
    {"source_id": "quick", "reported_at": "2015-06-02 10:00", "resolved_at": "2015-06-02 22:00"},
    # late by 1 h 30
    {"source_id": "late", "reported_at": "2015-06-03 09:00", "resolved_at": "2015-06-05 10:30"},
    # open, due 7 June 12:00: overdue by 72 h at as_of
    {"source_id": "overdue", "reported_at": "2015-06-05 12:00"},
    # open, due 11 June 00:00: 12 h left, inside the 24 h risk window
    {"source_id": "risk", "reported_at": "2015-06-09 00:00"},
    # open, due 12 June 06:00: 42 h left
    {"source_id": "in_time", "reported_at": "2015-06-10 06:00"},
    # resolved after as_of: still open at as_of, due 11 June 18:00 (30 h left)
    {"source_id": "later", "reported_at": "2015-06-09 18:00", "resolved_at": "2015-06-10 13:00"},
    # reported one second after as_of: does not exist yet
    {"source_id": "future", "reported_at": "2015-06-10 12:00:01"},
    # a duplicate resolved late, a cancelled request open past its deadline: verdicts, but excluded
    {
        "source_id": "dup",
        "reported_at": "2015-06-01 09:00",
        "resolved_at": "2015-06-04 09:00",
        "status": "duplicate",
    },
    {"source_id": "cancel", "reported_at": "2015-06-08 10:00", "status": "cancelled"},
    # another category: outside the norm
    {"source_id": "dump", "category": "depot_sauvage", "reported_at": "2015-06-01 08:00"},
]
EXPECTED = {  # source id -> state, due (local), hours taken, hours overdue, excluded
    "exact": ("on_time", "2015-06-03 08:00", 48.0, None, False),
    "quick": ("on_time", "2015-06-04 10:00", 12.0, None, False),
    "late": ("late", "2015-06-05 09:00", 49.5, 1.5, False),
    "overdue": ("open_overdue", "2015-06-07 12:00", None, 72.0, False),
    "risk": ("open_at_risk", "2015-06-11 00:00", None, None, False),
    "in_time": ("open_in_time", "2015-06-12 06:00", None, None, False),
    "later": ("open_in_time", "2015-06-11 18:00", None, None, False),
    "dup": ("late", "2015-06-03 09:00", 72.0, 24.0, True),
    "cancel": ("open_overdue", "2015-06-10 10:00", None, 2.0, True),
}


@pytest.fixture
def every_state() -> tuple[pd.DataFrame, pd.DataFrame]:
    recs = records(ROWS)
    return recs, evaluate_deadline(deadline_norm(), recs, NO_ZONES, AS_OF, Territory(PARIS))


def test_every_state_per_request(every_state):
    _, out = every_state
    rows = by_source(out)
    assert set(rows) == set(EXPECTED)  # "future" and "dump" are absent
    for sid, (state, due, taken, over, excluded) in EXPECTED.items():
        r = rows[sid]
        assert r["state"] == state, sid
        assert local_text(r["due_at"]) == due, sid
        assert bool(r["excluded"]) is excluded, sid
        assert r["target_hours"] == 48.0
        assert r["applied"] == "city default from 2008-01-01"
        for got, want in ((r["hours_taken"], taken), (r["hours_overdue"], over)):
            if want is None:
                assert math.isnan(got), sid
            else:
                assert got == pytest.approx(want), sid
    assert pd.isna(rows["later"]["resolved_at"])  # resolved after as_of: not resolved yet
    assert rows["late"]["resolved_at"] == local("2015-06-05 10:30")


def test_output_columns_keep_utc_instants(every_state):
    _, out = every_state
    assert list(out.columns) == [
        "norm",
        "id",
        "source_id",
        "applied",
        "target_hours",
        "reported_at",
        "due_at",
        "resolved_at",
        "state",
        "excluded",
        "hours_taken",
        "hours_overdue",
    ]
    for col in ("reported_at", "due_at", "resolved_at"):
        assert isinstance(out[col].dtype, pd.DatetimeTZDtype), col
        assert str(out[col].dt.tz) == "UTC"


def test_instant_columns_stay_utc_even_when_nothing_is_resolved_or_due():
    """A norm whose requests are all open (or have no due date) must not lose the time zone of
    its columns: concatenated with another norm's results they would become plain objects."""
    recs = records([{"reported_at": "2015-06-09 00:00"}])
    rule = evaluate_deadline(deadline_norm(), recs, NO_ZONES, AS_OF, Territory(PARIS))
    source = evaluate_deadline(deadline_norm(), recs, NO_ZONES, AS_OF, Territory(PARIS), basis=Basis.SOURCE)
    for out in (rule, source):
        for col in ("reported_at", "due_at", "resolved_at"):
            assert isinstance(out[col].dtype, pd.DatetimeTZDtype), col


def test_every_state_aggregated(every_state):
    recs, out = every_state
    agg = aggregate(out, recs, NO_ZONES, by=["norm"], tz=PARIS)
    assert len(agg) == 1
    row = agg.iloc[0].to_dict()
    expected = {
        "norm": "graffiti.48h",
        "requests": 9,
        "on_time": 2,
        "late": 1,  # the late duplicate is only in "excluded"
        "open_overdue": 1,  # the overdue cancelled request too
        "open_at_risk": 1,
        "open_in_time": 2,
        "no_deadline": 0,
        "excluded": 2,
        "rated": 7,
        "backlog": 4,
    }
    assert {k: row[k] for k in expected} == expected
    assert row["on_time_rate"] == pytest.approx(2 / 4)  # on time / (on time + late + open overdue)
    # resolution times of the rated closed requests: 12, 48, 49.5 h
    assert row["median_hours"] == pytest.approx(48.0)
    assert row["p90_hours"] == pytest.approx(48.0 + 0.8 * 1.5)
    assert list(agg.columns) == [
        "norm",
        "requests",
        *STATE_COLUMNS,
        "excluded",
        "rated",
        "backlog",
        "on_time_rate",
        "median_hours",
        "p90_hours",
    ]


def test_risk_window_boundaries():
    recs = records(
        [
            {"source_id": "due_now", "reported_at": "2015-06-08 12:00"},  # due exactly at as_of
            {"source_id": "24h_left", "reported_at": "2015-06-09 12:00"},  # due in exactly 24 h
            {"source_id": "24h01_left", "reported_at": "2015-06-09 12:01"},
            {"source_id": "just_over", "reported_at": "2015-06-08 11:59"},
        ]
    )
    out = by_source(evaluate_deadline(deadline_norm(), recs, NO_ZONES, AS_OF, Territory(PARIS)))
    assert out["due_now"]["state"] == "open_at_risk"  # not yet overdue at its due instant
    assert out["24h_left"]["state"] == "open_at_risk"
    assert out["24h01_left"]["state"] == "open_in_time"
    assert out["just_over"]["state"] == "open_overdue"
    assert out["just_over"]["hours_overdue"] == pytest.approx(1 / 60)
    wider = by_source(
        evaluate_deadline(deadline_norm(), recs, NO_ZONES, AS_OF, Territory(PARIS), risk_hours=48)
    )
    assert wider["24h01_left"]["state"] == "open_at_risk"


def test_rate_is_empty_when_nothing_is_judged_yet():
    recs = records([{"reported_at": "2015-06-10 06:00"}])
    out = evaluate_deadline(deadline_norm(), recs, NO_ZONES, AS_OF, Territory(PARIS))
    agg = aggregate(out, recs, NO_ZONES, tz=PARIS).iloc[0]
    assert agg["open_in_time"] == 1
    assert math.isnan(agg["on_time_rate"])
    assert math.isnan(agg["median_hours"]) and math.isnan(agg["p90_hours"])


def test_a_periodic_norm_is_not_a_deadline():
    norm = norm_from_dict(
        {
            "code": "weekly",
            "kind": "frequency",
            "value": 1,
            "period": "week",
            "scope": [{"categories": ["balayage"]}],
        }
    )
    assert norm.kind is NormKind.FREQUENCY
    with pytest.raises(ValueError, match="not a deadline"):
        evaluate_deadline(norm, records([]), NO_ZONES, AS_OF)


# ---------------------------------------------------------------------------------------------
# Judged on the source's own due date
# ---------------------------------------------------------------------------------------------


def test_source_basis_uses_the_due_date_and_says_when_there_is_none():
    recs = records(
        [
            {
                "source_id": "kept",
                "reported_at": "2015-06-01 08:00",
                "due_at": "2015-06-08 08:00",
                "resolved_at": "2015-06-08 08:00",
            },
            {
                "source_id": "missed",
                "reported_at": "2015-06-01 08:00",
                "due_at": "2015-06-02 08:00",
                "resolved_at": "2015-06-05 08:00",
            },
            {"source_id": "open", "reported_at": "2015-06-01 08:00", "due_at": "2015-06-20 08:00"},
            {"source_id": "none", "reported_at": "2015-06-01 08:00", "resolved_at": "2015-06-02 08:00"},
            {"source_id": "none_dup", "reported_at": "2015-06-01 08:00", "status": "duplicate"},
        ]
    )
    norm = deadline_norm(value=None, deadline="source")
    assert norm.basis is Basis.SOURCE
    out = evaluate_deadline(norm, recs, NO_ZONES, AS_OF, Territory(PARIS))
    rows = by_source(out)
    assert {k: v["state"] for k, v in rows.items()} == {
        "kept": "on_time",
        "missed": "late",
        "open": "open_in_time",
        "none": "no_deadline",
        "none_dup": "no_deadline",
    }
    assert rows["kept"]["applied"] == "source due date"
    assert rows["none"]["applied"] == ""
    assert math.isnan(rows["kept"]["target_hours"])
    assert rows["missed"]["hours_overdue"] == pytest.approx(72)
    assert rows["none"]["hours_taken"] == pytest.approx(24)  # still measured
    agg = aggregate(out, recs, NO_ZONES, tz=PARIS).iloc[0]
    assert (agg["requests"], agg["rated"], agg["no_deadline"], agg["excluded"]) == (5, 3, 1, 1)
    assert agg["on_time_rate"] == pytest.approx(0.5)

    # the same norm judged on its rule instead: no figure set, so nothing to judge
    rule = evaluate_deadline(norm, recs, NO_ZONES, AS_OF, Territory(PARIS), basis=Basis.RULE)
    assert rule.empty
    # and a rule norm judged on the source's dates when asked
    asked = evaluate_deadline(deadline_norm(), recs, NO_ZONES, AS_OF, Territory(PARIS), basis=Basis.SOURCE)
    assert by_source(asked)["missed"]["state"] == "late"
    assert by_source(asked)["none"]["state"] == "no_deadline"


# ---------------------------------------------------------------------------------------------
# Daylight saving time and working hours
# ---------------------------------------------------------------------------------------------


def test_calendar_hours_across_dst_are_absolute():
    recs = records(
        [
            # 48 h from noon on Saturday 28 March: one hour of the night is missing
            {"source_id": "spring", "reported_at": "2015-03-28 12:00", "resolved_at": "2015-03-30 12:30"},
            {"source_id": "autumn", "reported_at": "2015-10-24 12:00", "resolved_at": "2015-10-26 11:30"},
            # 22:00 to 22:00 local across the change is 23 h, then 25 h
            {"source_id": "short", "reported_at": "2015-03-28 22:00", "resolved_at": "2015-03-29 22:00"},
            {"source_id": "long", "reported_at": "2015-10-24 22:00", "resolved_at": "2015-10-25 22:00"},
            # 01:30 and 03:30 local on 29 March are one hour apart
            {"source_id": "night", "reported_at": "2015-03-29 01:30", "resolved_at": "2015-03-29 03:30"},
        ]
    )
    assert recs.loc[recs["source_id"] == "short", "reported_at"].iloc[0] == pd.Timestamp(
        "2015-03-28 21:00", tz="UTC"
    )
    assert recs.loc[recs["source_id"] == "short", "resolved_at"].iloc[0] == pd.Timestamp(
        "2015-03-29 20:00", tz="UTC"
    )
    out = by_source(
        evaluate_deadline(deadline_norm(), recs, NO_ZONES, local("2015-12-31 00:00"), Territory(PARIS))
    )
    assert local_text(out["spring"]["due_at"]) == "2015-03-30 13:00"
    assert out["spring"]["state"] == "on_time"
    assert out["spring"]["hours_taken"] == pytest.approx(47.5)
    assert local_text(out["autumn"]["due_at"]) == "2015-10-26 11:00"
    assert out["autumn"]["state"] == "late"
    assert out["autumn"]["hours_taken"] == pytest.approx(48.5)
    assert out["autumn"]["hours_overdue"] == pytest.approx(0.5)
    assert out["short"]["hours_taken"] == pytest.approx(23)
    assert out["long"]["hours_taken"] == pytest.approx(25)
    assert out["night"]["hours_taken"] == pytest.approx(1)


def working_norm(value=48):
    return deadline_norm(value, calendar="working")


def test_working_hours_before_public_holidays():
    recs = records(
        [
            # Thursday 24 December 23:59: due Tuesday 29 December 23:59
            {"source_id": "xmas_ok", "reported_at": "2015-12-24 23:59", "resolved_at": "2015-12-29 12:00"},
            {"source_id": "xmas_late", "reported_at": "2015-12-24 23:59", "resolved_at": "2015-12-30 00:30"},
            # Monday 13 July 23:59: due Thursday 16 July 23:59
            {"source_id": "july", "reported_at": "2015-07-13 23:59", "resolved_at": "2015-07-16 23:59"},
            # Thursday 2 July 00:00, open: due Friday 24:00; as_of the Sunday after
            {"source_id": "weekend", "reported_at": "2015-07-02 00:00"},
        ]
    )
    out = by_source(
        evaluate_deadline(working_norm(), recs, NO_ZONES, local("2016-01-03 10:00"), Territory(PARIS))
    )
    assert local_text(out["xmas_ok"]["due_at"]) == "2015-12-29 23:59"
    assert out["xmas_ok"]["state"] == "on_time"
    assert out["xmas_ok"]["hours_taken"] == pytest.approx(1 / 60 + 24 + 12)
    assert out["xmas_late"]["state"] == "late"
    assert out["xmas_late"]["hours_taken"] == pytest.approx(48 + 31 / 60)
    assert out["xmas_late"]["hours_overdue"] == pytest.approx(31 / 60)
    assert local_text(out["july"]["due_at"]) == "2015-07-16 23:59"
    assert out["july"]["state"] == "on_time"  # resolved exactly at the deadline
    assert out["july"]["hours_taken"] == pytest.approx(48)
    assert local_text(out["weekend"]["due_at"]) == "2015-07-04 00:00"
    assert out["weekend"]["state"] == "open_overdue"
    # overdue in working hours, from Saturday 4 July 00:00 to Sunday 3 January 10:00 2016:
    # 127 working days in the second half of 2015 after 3 July (14 July, 15 August (Saturday),
    # 1 and 11 November (Sunday, Wednesday), 25 December off) plus nothing on the weekend
    workdays = np.busday_count(
        "2015-07-04",
        "2016-01-03",
        holidays=["2015-07-14", "2015-11-11", "2015-12-25", "2016-01-01"],
    )
    assert out["weekend"]["hours_overdue"] == pytest.approx(24 * workdays)


def test_calendar_and_working_hours_give_different_deadlines_for_the_same_report():
    recs = records([{"reported_at": "2015-12-24 23:59"}])
    as_of = local("2015-12-28 12:00")
    cal = evaluate_deadline(deadline_norm(), recs, NO_ZONES, as_of, Territory(PARIS)).iloc[0]
    work = evaluate_deadline(working_norm(), recs, NO_ZONES, as_of, Territory(PARIS)).iloc[0]
    assert local_text(cal["due_at"]) == "2015-12-26 23:59"
    assert cal["state"] == "open_overdue"
    assert local_text(work["due_at"]) == "2015-12-29 23:59"
    assert work["state"] == "open_in_time"


def test_the_territory_holidays_and_time_zone_are_used():
    # Friday 17 April 2015 noon in Boston; Monday 20 April is Patriots' Day in Massachusetts
    recs = records([{"reported_at": "2015-04-17 12:00"}], tz=BOSTON)
    out = evaluate_deadline(
        working_norm(24), recs, NO_ZONES, local("2015-05-01 00:00"), Territory(BOSTON, "US-MA")
    ).iloc[0]
    assert out["due_at"].tz_convert(BOSTON) == pd.Timestamp("2015-04-21 12:00", tz=BOSTON)


# ---------------------------------------------------------------------------------------------
# Targets: revisions over time and overrides by quarter, sub-quarter and zone
# ---------------------------------------------------------------------------------------------


def test_a_norm_revised_mid_period_keeps_the_old_figure_for_older_reports():
    norm = deadline_norm(target=[{"from": "2015-06-01", "value": 24}])
    recs = records(
        [
            # the local date decides: 31 May 23:30 in Paris is 21:30 UTC
            {"source_id": "before", "reported_at": "2015-05-31 23:30", "resolved_at": "2015-06-02 11:30"},
            # 1 June 00:30 in Paris is still 31 May in UTC, but it is June in the territory
            {"source_id": "after", "reported_at": "2015-06-01 00:30", "resolved_at": "2015-06-02 11:30"},
        ]
    )
    out = by_source(evaluate_deadline(norm, recs, NO_ZONES, AS_OF, Territory(PARIS)))
    assert out["before"]["target_hours"] == 48
    assert out["before"]["applied"] == "city default from 2008-01-01"
    assert out["before"]["state"] == "on_time"
    assert local_text(out["before"]["due_at"]) == "2015-06-02 23:30"
    assert out["after"]["target_hours"] == 24
    assert out["after"]["applied"] == "city default from 2015-06-01"
    assert out["after"]["state"] == "late"
    assert out["after"]["hours_overdue"] == pytest.approx(11)


OVERRIDES = [
    {"from": "2008-01-01", "quarter": "Q1", "value": 36},
    {"from": "2008-01-01", "quarter": "Q1a", "value": 30},  # a sub-quarter of Q1
    {"from": "2008-01-01", "zone": "Z1", "value": 12},
    {"from": "2008-01-01", "zone": "Z2", "value": 6},
    {"from": "2015-01-01", "zone": "Z3", "value": 24},  # a zone figure set later than Z1's
    {"from": "2015-06-01", "quarter": "Q1", "value": 40},  # the quarter revised; zones still win
    {"from": "2015-06-05", "zone": "Z4", "value": 20},  # not yet in force on 1 June
]


@pytest.mark.parametrize(
    ("quarter", "subquarter", "in_zones", "reported", "figure", "applied"),
    [
        ("Q2", None, [], "2015-06-01 10:00", 48, "city default from 2008-01-01"),
        ("Q1", None, [], "2015-05-01 10:00", 36, "quarter Q1 from 2008-01-01"),
        ("Q1", None, [], "2015-06-01 10:00", 40, "quarter Q1 from 2015-06-01"),
        ("Q1", "Q1a", [], "2015-06-01 10:00", 30, "quarter Q1a from 2008-01-01"),
        ("Q1", "Q1a", ["Z1"], "2015-06-01 10:00", 12, "zone Z1 from 2008-01-01"),
        ("Q2", None, ["Z1"], "2015-06-01 10:00", 12, "zone Z1 from 2008-01-01"),
        # in two zones with their own figure: the strictest
        ("Q1", None, ["Z1", "Z2"], "2015-06-01 10:00", 6, "zone Z2 from 2008-01-01"),
        ("Q1", None, ["Z2", "Z1"], "2015-06-01 10:00", 6, "zone Z2 from 2008-01-01"),
        # ... even when the laxer zone's figure was set later
        ("Q1", None, ["Z1", "Z3"], "2015-06-01 10:00", 12, "zone Z1 from 2008-01-01"),
        ("Q1", None, ["Z3"], "2015-06-01 10:00", 24, "zone Z3 from 2015-01-01"),
        # a zone override not yet in force: the quarter's figure
        ("Q1", None, ["Z4"], "2015-06-01 10:00", 40, "quarter Q1 from 2015-06-01"),
        ("Q1", None, ["Z4"], "2015-06-05 10:00", 20, "zone Z4 from 2015-06-05"),
        # a zone without a figure of its own
        ("Q2", None, ["Z9"], "2015-06-01 10:00", 48, "city default from 2008-01-01"),
        # outside every quarter
        (None, None, [], "2015-06-01 10:00", 48, "city default from 2008-01-01"),
    ],
)
def test_the_most_specific_target_applies(quarter, subquarter, in_zones, reported, figure, applied):
    norm = deadline_norm(target=OVERRIDES)
    recs = records([{"reported_at": reported, "quarter": quarter, "subquarter": subquarter}])
    memb = zones([(1, z, "commercial") for z in in_zones])
    hours, described = applicable_targets(
        norm, recs, memb, recs["reported_at"].dt.tz_convert(PARIS).dt.tz_localize(None).dt.normalize()
    )
    assert (hours[0], described[0]) == (figure, applied)
    out = evaluate_deadline(norm, recs, memb, AS_OF, Territory(PARIS)).iloc[0]
    assert (out["target_hours"], out["applied"]) == (figure, applied)
    assert out["due_at"] == recs["reported_at"].iloc[0] + pd.Timedelta(hours=figure)


def test_a_zone_figure_revised_later_replaces_that_zone_figure_only():
    norm = deadline_norm(
        target=[
            {"from": "2008-01-01", "zone": "Z1", "value": 12},
            {"from": "2015-06-01", "zone": "Z1", "value": 18},  # Z1 relaxed in June
            {"from": "2008-01-01", "zone": "Z2", "value": 15},
        ]
    )
    recs = records(
        [
            {"source_id": "may_z1", "reported_at": "2015-05-31 10:00"},
            {"source_id": "june_z1", "reported_at": "2015-06-01 10:00"},
            {"source_id": "may_both", "reported_at": "2015-05-31 10:00"},
            {"source_id": "june_both", "reported_at": "2015-06-01 10:00"},
        ]
    )
    memb = zones([(1, "Z1", "commercial"), (2, "Z1", "commercial"), (3, "Z1", "x"), (3, "Z2", "x")])
    memb = pd.concat([memb, zones([(4, "Z2", "x"), (4, "Z1", "x")])], ignore_index=True)
    out = by_source(evaluate_deadline(norm, recs, memb, AS_OF, Territory(PARIS)))
    assert {k: (v["target_hours"], v["applied"]) for k, v in out.items()} == {
        "may_z1": (12, "zone Z1 from 2008-01-01"),
        "june_z1": (18, "zone Z1 from 2015-06-01"),
        "may_both": (12, "zone Z1 from 2008-01-01"),
        "june_both": (15, "zone Z2 from 2008-01-01"),
    }


def test_a_zone_or_quarter_without_a_figure_leaves_its_requests_unjudged():
    norm = deadline_norm(target=[{"from": "2008-01-01", "quarter": "Q9", "value": None}])
    recs = records(
        [
            {"source_id": "q9", "quarter": "Q9", "reported_at": "2015-06-01 10:00"},
            {"source_id": "q1", "quarter": "Q1", "reported_at": "2015-06-01 10:00"},
        ]
    )
    out = evaluate_deadline(norm, recs, NO_ZONES, AS_OF, Territory(PARIS))
    assert list(out["source_id"]) == ["q1"]


def test_before_the_first_target_nothing_is_judged():
    norm = deadline_norm(**{"from": "2015-06-01"})
    recs = records(
        [
            {"source_id": "old", "reported_at": "2015-05-31 23:59"},
            {"source_id": "new", "reported_at": "2015-06-01 00:00"},
        ]
    )
    out = evaluate_deadline(norm, recs, NO_ZONES, AS_OF, Territory(PARIS))
    assert list(out["source_id"]) == ["new"]


# ---------------------------------------------------------------------------------------------
# Scopes
# ---------------------------------------------------------------------------------------------


def test_scopes_insulting_or_in_a_priority_zone():
    """Nantes: 48 h for insulting graffiti anywhere, and for any graffiti in a priority zone."""
    norm = deadline_norm(
        scope=[
            {"categories": ["graffiti"], "insulting": True},
            {"categories": ["graffiti"], "zone_kinds": ["commercial", "sensitive"]},
        ]
    )
    recs = records(
        [
            {"source_id": "insult", "insulting": True, "reported_at": "2015-06-01 10:00"},
            {"source_id": "plain", "reported_at": "2015-06-01 10:00"},
            {"source_id": "in_zone", "reported_at": "2015-06-01 10:00"},
            {"source_id": "black_spot", "reported_at": "2015-06-01 10:00"},
            {"source_id": "dump_zone", "category": "depot_sauvage", "reported_at": "2015-06-01 10:00"},
        ]
    )
    memb = zones([(3, "Z1", "commercial"), (4, "B1", "black_spot"), (5, "Z1", "commercial")])
    out = evaluate_deadline(norm, recs, memb, AS_OF, Territory(PARIS))
    assert sorted(out["source_id"]) == ["in_zone", "insult"]


def test_scopes_severity_quarters_named_zones_and_excluded_kinds():
    norm = deadline_norm(
        scope=[
            {"categories": ["epave"], "severities": ["P1", "P2"]},
            {"categories": ["graffiti"], "quarters": ["Q1a"], "exclude_zone_kinds": ["sensitive"]},
            {"categories": ["graffiti"], "zones": ["Z7"]},
        ]
    )
    recs = records(
        [
            {"source_id": "p1", "category": "epave", "severity": "P1", "reported_at": "2015-06-01 10:00"},
            {"source_id": "p3", "category": "epave", "severity": "P3", "reported_at": "2015-06-01 10:00"},
            {"source_id": "nosev", "category": "epave", "reported_at": "2015-06-01 10:00"},
            {"source_id": "subq", "subquarter": "Q1a", "reported_at": "2015-06-01 10:00"},
            {"source_id": "subq_sens", "subquarter": "Q1a", "reported_at": "2015-06-01 10:00"},
            {"source_id": "other_q", "quarter": "Q2", "reported_at": "2015-06-01 10:00"},
            {"source_id": "z7", "quarter": "Q2", "reported_at": "2015-06-01 10:00"},
        ]
    )
    memb = zones([(5, "S1", "sensitive"), (7, "Z7", "commercial")])
    out = evaluate_deadline(norm, recs, memb, AS_OF, Territory(PARIS))
    assert sorted(out["source_id"]) == ["p1", "subq", "z7"]


# ---------------------------------------------------------------------------------------------
# Grouping
# ---------------------------------------------------------------------------------------------

GROUP_ROWS = [
    # id 1: in Z1 and Z2 (both commercial) and in S1 (sensitive), Q1, on time
    {"reported_at": "2015-01-31 23:30", "resolved_at": "2015-02-01 10:00", "channel": "app"},
    # id 2: in Z1 only, Q1, late; reported on 1 February 00:30 in Paris, 31 January in UTC
    {"reported_at": "2015-02-01 00:30", "resolved_at": "2015-02-05 00:30", "service": "voirie"},
    # id 3: outside every zone, Q2, open overdue
    {"quarter": "Q2", "reported_at": "2015-02-10 09:00"},
    # id 4: outside every quarter, category facade, on time
    {
        "quarter": None,
        "category": "facade",
        "reported_at": "2015-03-02 09:00",
        "resolved_at": "2015-03-02 10:00",
    },
    # id 5: duplicate in Z2, Q2, open overdue
    {"quarter": "Q2", "reported_at": "2015-03-01 09:00", "status": "duplicate"},
]
GROUP_ZONES = [
    (1, "Z1", "commercial"),
    (1, "Z2", "commercial"),
    (1, "S1", "sensitive"),
    (2, "Z1", "commercial"),
    (5, "Z2", "commercial"),
]


@pytest.fixture
def grouped() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    norm = deadline_norm(scope=[{"categories": ["graffiti", "facade"]}])
    recs = records(GROUP_ROWS)
    memb = zones(GROUP_ZONES)
    out = evaluate_deadline(norm, recs, memb, local("2015-03-03 12:00"), Territory(PARIS))
    return out, recs, memb


def counts(agg: pd.DataFrame, by: str, columns=("requests", "on_time", "late", "open_overdue", "excluded")):
    return {row[by]: tuple(int(row[c]) for c in columns) for row in agg.to_dict(orient="records")}


def test_states_of_the_grouping_fixture(grouped):
    out, _, _ = grouped
    assert list(out["state"]) == ["on_time", "late", "open_overdue", "on_time", "open_overdue"]
    assert list(out["excluded"]) == [False, False, False, False, True]


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("quarter", {"Q1": (2, 1, 1, 0, 0), "Q2": (2, 0, 0, 1, 1), "(none)": (1, 1, 0, 0, 0)}),
        # a request in two zones counts in each; outside every zone under "(none)"
        (
            "zone",
            {"Z1": (2, 1, 1, 0, 0), "Z2": (2, 1, 0, 0, 1), "S1": (1, 1, 0, 0, 0), "(none)": (2, 1, 0, 1, 0)},
        ),
        # ... but once per kind
        (
            "zone_kind",
            {"commercial": (3, 1, 1, 0, 1), "sensitive": (1, 1, 0, 0, 0), "(none)": (2, 1, 0, 1, 0)},
        ),
        ("category", {"graffiti": (4, 1, 1, 1, 1), "facade": (1, 1, 0, 0, 0)}),
        ("service", {"propreté": (4, 2, 0, 1, 1), "voirie": (1, 0, 1, 0, 0)}),
        ("channel", {"phone": (4, 1, 1, 1, 1), "app": (1, 1, 0, 0, 0)}),
        # months in the territory's time zone: 1 February 00:30 in Paris is February
        ("month", {"2015-01": (1, 1, 0, 0, 0), "2015-02": (2, 0, 1, 1, 0), "2015-03": (2, 1, 0, 0, 1)}),
    ],
)
def test_grouping(grouped, by, expected):
    out, recs, memb = grouped
    agg = aggregate(out, recs, memb, by=[by], tz=PARIS)
    assert counts(agg, by) == expected
    assert list(agg.columns[:2]) == [by, "requests"]


def test_month_follows_the_territory_time_zone():
    recs = records(
        [
            {"reported_at": "2015-01-31 23:30", "resolved_at": "2015-02-01 10:00"},  # 04:30 UTC on 1 Feb
        ],
        tz=BOSTON,
    )
    out = evaluate_deadline(deadline_norm(), recs, NO_ZONES, local("2015-03-01 00:00"), Territory(BOSTON))
    assert list(aggregate(out, recs, NO_ZONES, by=["month"], tz=BOSTON)["month"]) == ["2015-01"]
    assert list(aggregate(out, recs, NO_ZONES, by=["month"], tz="UTC")["month"]) == ["2015-02"]


def test_grouping_by_two_dimensions_and_rates_per_group(grouped):
    out, recs, memb = grouped
    agg = aggregate(out, recs, memb, by=["quarter", "zone_kind"], tz=PARIS)
    got = {(r["quarter"], r["zone_kind"]): (r["requests"], r["on_time_rate"]) for r in agg.to_dict("records")}
    assert got.keys() == {
        ("Q1", "commercial"),
        ("Q1", "sensitive"),
        ("Q2", "(none)"),
        ("Q2", "commercial"),
        ("(none)", "(none)"),
    }
    assert got[("Q1", "commercial")] == (2, 0.5)
    assert got[("Q1", "sensitive")] == (1, 1.0)
    assert got[("Q2", "(none)")] == (1, 0.0)
    assert got[("Q2", "commercial")][0] == 1 and math.isnan(got[("Q2", "commercial")][1])


def test_grouping_by_sub_quarter():
    recs = records(
        [
            {"subquarter": "Q1a", "reported_at": "2015-06-01 10:00", "resolved_at": "2015-06-01 12:00"},
            {"subquarter": "Q1a", "reported_at": "2015-06-01 10:00"},
            {"reported_at": "2015-06-01 10:00", "resolved_at": "2015-06-04 10:00"},
        ]
    )
    out = evaluate_deadline(deadline_norm(), recs, NO_ZONES, AS_OF, Territory(PARIS))
    agg = aggregate(out, recs, NO_ZONES, by=["quarter", "subquarter"], tz=PARIS)
    got = {
        (r["quarter"], r["subquarter"]): (r["requests"], r["on_time_rate"]) for r in agg.to_dict("records")
    }
    assert got == {("Q1", "Q1a"): (2, 0.5), ("Q1", "(none)"): (1, 0.0)}


def test_grouping_by_an_unknown_dimension_is_refused(grouped):
    out, recs, memb = grouped
    with pytest.raises(ValueError, match="cannot group by street"):
        aggregate(out, recs, memb, by=["street"], tz=PARIS)


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

T0 = pd.Timestamp("2015-03-20", tz="UTC")
ZONE_POOL = [("Z1", "commercial"), ("Z2", "commercial"), ("S1", "sensitive")]


@st.composite
def request_sets(draw):
    n = draw(st.integers(min_value=0, max_value=25))
    rows, pairs = [], []
    for i in range(1, n + 1):
        reported = T0 + pd.Timedelta(minutes=draw(st.integers(0, 60 * 24 * 300)))
        resolved = (
            reported + pd.Timedelta(minutes=draw(st.integers(-60, 60 * 24 * 15)))
            if draw(st.booleans())
            else None
        )
        due = reported + pd.Timedelta(hours=draw(st.integers(1, 24 * 10))) if draw(st.booleans()) else None
        status = draw(st.sampled_from(["open", "closed", "duplicate", "cancelled"]))
        rows.append(
            {
                "id": i,
                "reported_at": reported.tz_convert(PARIS).tz_localize(None).isoformat(),
                "resolved_at": None
                if resolved is None
                else resolved.tz_convert(PARIS).tz_localize(None).isoformat(),
                "due_at": None if due is None else due.tz_convert(PARIS).tz_localize(None).isoformat(),
                "status": status,
                "category": draw(st.sampled_from(["graffiti", "facade"])),
                "quarter": draw(st.sampled_from(["Q1", "Q2", None])),
                "channel": draw(st.sampled_from(["phone", "app"])),
                "service": draw(st.sampled_from(["propreté", "voirie"])),
            }
        )
        for zone, kind in ZONE_POOL:
            if draw(st.integers(0, 3)) == 0:
                pairs.append((i, zone, kind))
    return rows, pairs


norms_strategy = st.sampled_from(
    [
        deadline_norm(scope=[{"categories": ["graffiti", "facade"]}]),
        deadline_norm(scope=[{"categories": ["graffiti", "facade"]}], calendar="working"),
        deadline_norm(
            scope=[{"categories": ["graffiti", "facade"]}],
            target=[{"from": "2015-06-01", "value": 24}, {"from": "2008-01-01", "zone": "Z1", "value": 12}],
        ),
        deadline_norm(value=None, deadline="source", scope=[{"categories": ["graffiti", "facade"]}]),
    ]
)
as_of_strategy = st.integers(0, 60 * 24 * 330).map(lambda m: T0 + pd.Timedelta(minutes=m))
PROPERTY_SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


DISJOINT = ("quarter", "category", "service", "channel", "month")  # one group per request
OVERLAPPING = ("zone", "zone_kind")  # a request in several zones counts in each


@PROPERTY_SETTINGS
@given(
    data=request_sets(),
    norm=norms_strategy,
    as_of=as_of_strategy,
    by=st.sampled_from(DISJOINT + OVERLAPPING),
    second=st.sampled_from(DISJOINT + OVERLAPPING),
)
def test_counts_add_up(data, norm, as_of, by, second):
    rows, pairs = data
    recs, memb = records(rows), zones(pairs)
    out = evaluate_deadline(norm, recs, memb, as_of, Territory(PARIS))
    total = aggregate(out, recs, memb, by=["norm"], tz=PARIS)
    if out.empty:
        assert total.empty
        return
    t = total.iloc[0]
    assert t["requests"] == len(out)
    assert t["on_time"] + t["late"] + t["open_overdue"] + t["open_at_risk"] + t["open_in_time"] == t["rated"]
    assert t["rated"] + t["excluded"] + t["no_deadline"] == t["requests"]
    assert t["backlog"] == t["open_overdue"] + t["open_at_risk"] + t["open_in_time"]
    assert t["excluded"] == int(out["excluded"].sum())
    columns = ["requests", *STATE_COLUMNS, "excluded", "rated", "backlog"]
    groups = aggregate(out, recs, memb, by=[by], tz=PARIS)
    if by in DISJOINT:
        assert groups[columns].sum().to_dict() == t[columns].to_dict(), by
    else:  # at least once each; exactly once when counted outside zones or in a single one
        assert (groups[columns].sum() >= t[columns]).all()
        in_zones = memb[memb["id"].isin(out["id"])]
        if by == "zone_kind":
            in_zones = in_zones.drop_duplicates(["id", "kind"])
        assert groups["requests"].sum() == len(in_zones) + (~out["id"].isin(memb["id"])).sum()
    for g in (total, groups, aggregate(out, recs, memb, by=sorted({by, second}), tz=PARIS)):
        rates = g["on_time_rate"].dropna()
        assert ((rates >= 0) & (rates <= 1)).all()
        judged = g["on_time"] + g["late"] + g["open_overdue"]
        assert g["on_time_rate"].isna().tolist() == (judged == 0).tolist()
        assert (g["rated"] + g["excluded"] + g["no_deadline"] == g["requests"]).all()


@PROPERTY_SETTINGS
@given(data=request_sets(), norm=norms_strategy, as_of=as_of_strategy, later=st.integers(0, 60 * 24 * 60))
def test_later_evaluations_never_change_a_closed_verdict(data, norm, as_of, later):
    rows, pairs = data
    recs, memb = records(rows), zones(pairs)
    first = evaluate_deadline(norm, recs, memb, as_of, Territory(PARIS))
    second = evaluate_deadline(norm, recs, memb, as_of + pd.Timedelta(minutes=later), Territory(PARIS))
    # every request present earlier is still there, with the same due date
    merged = first.merge(second, on="id", how="left", suffixes=("_1", "_2"), validate="one_to_one")
    assert merged["state_2"].notna().all()
    assert (merged["due_at_1"].isna() == merged["due_at_2"].isna()).all()
    assert (merged["due_at_1"].dropna() == merged.loc[merged["due_at_1"].notna(), "due_at_2"]).all()
    closed = merged[merged["state_1"].isin(["on_time", "late"])]
    assert (closed["state_1"] == closed["state_2"]).all()
    assert np.allclose(closed["hours_taken_1"], closed["hours_taken_2"])
    # an open overdue request can only end late or stay overdue
    overdue = merged[merged["state_1"] == "open_overdue"]
    assert overdue["state_2"].isin(["late", "open_overdue"]).all()


@PROPERTY_SETTINGS
@given(data=request_sets(), norm=norms_strategy, as_of=as_of_strategy)
def test_only_requests_reported_by_as_of_are_evaluated(data, norm, as_of):
    rows, pairs = data
    recs, memb = records(rows), zones(pairs)
    out = evaluate_deadline(norm, recs, memb, as_of, Territory(PARIS))
    reported = recs.set_index("id")["reported_at"]
    assert (reported.loc[out["id"]] <= as_of).all()
    assert (out["reported_at"] <= as_of).all()
    # nothing is resolved after as_of, and states are consistent with the dates
    assert (out["resolved_at"].dropna() <= as_of).all()
    assert out["state"].isin([s.value for s in State]).all()
    rated = out[out["state"].isin([s.value for s in RATED_STATES])]
    assert rated["due_at"].notna().all()
    on_time = rated[rated["state"] == "on_time"]
    assert (on_time["resolved_at"] <= on_time["due_at"]).all()
    late = rated[rated["state"] == "late"]
    assert (late["resolved_at"] > late["due_at"]).all()
    open_ = rated[rated["state"].str.startswith("open")]
    assert open_["resolved_at"].isna().all()
    # hours taken agree with the verdict: exactly on the calendar, at least on working hours
    # (resolved on a weekend after a Friday 24:00 deadline is late with 48 working hours taken)
    if norm.basis is Basis.RULE:
        taken, target = on_time["hours_taken"], on_time["target_hours"]
        assert (taken <= target + 1e-9).all()
        if norm.calendar.value == "calendar":
            assert (late["hours_taken"] > late["target_hours"]).all()
            assert np.allclose(late["hours_overdue"], late["hours_taken"] - late["target_hours"])
        else:
            assert (late["hours_taken"] >= late["target_hours"] - 1e-9).all()
        assert (rated.loc[rated["state"].isin(["late", "open_overdue"]), "hours_overdue"] >= 0).all()
    # every request reported by as_of is there when judged on the source's dates
    if norm.basis is Basis.SOURCE:
        assert set(out["id"]) == set(recs.loc[recs["reported_at"] <= as_of, "id"])
