"""The evaluation API and `geova evaluate` on a stored territory, on SpatiaLite and on PostGIS.

The territory: Boston's neighbourhoods (quarters, code = Neighborhood_ID) and priority zones, a
small hand-made request file (tests/fixtures/norms/requests.csv, Boston local time) and the norms of
tests/fixtures/norms/norms.toml. Every expected figure is computed by hand, so both backends are
checked against the same truth, not merely against each other.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from geova import importing
from geova.cli import cli
from geova.core.norms import Basis
from geova.evaluation import evaluate
from geova.store.followups import record_share
from geova.store.status import set_setting
from tests.boston import load_quarters, load_zones

REPO = Path(__file__).resolve().parents[1]
FIX = Path(__file__).parent / "fixtures" / "norms"
BOSTON = "America/New_York"
AS_OF = pd.Timestamp("2015-06-10 12:00", tz=BOSTON)
NORM = "test.graffiti.48h"

# source id -> state, target hours, applied, due (Boston time), hours taken, hours overdue, excluded
EXPECTED = {
    # Downtown Crossing (zone ZPC-01: 24 h), resolved exactly at the deadline
    "G1": ("on_time", 24, "zone ZPC-01 from 2008-01-01", "2015-06-02 08:00", 24.0, None, False),
    # in ZPC-01 (24 h) and ZPC-02 (36 h, set later): the strictest applies
    "G2": ("late", 24, "zone ZPC-01 from 2008-01-01", "2015-06-03 09:00", 25.0, 1.0, False),
    # Chinatown, outside the zones: the city's 48 h
    "G3": ("open_overdue", 48, "city default from 2008-01-01", "2015-06-07 12:00", None, 72.0, False),
    # Dorchester, 31 May 23:30 in Boston (1 June in UTC): before Dorchester's 72 h
    "G4": ("on_time", 48, "city default from 2008-01-01", "2015-06-02 23:30", 36.5, None, False),
    # Dorchester from 1 June: 72 h; due in exactly 24 h, so at risk
    "G5": ("open_at_risk", 72, "quarter 6 from 2015-06-01", "2015-06-11 12:00", None, None, False),
    # Fields Corner (zone ZPC-08, no figure of its own) in Dorchester: the quarter's 72 h
    "G6": ("open_in_time", 72, "quarter 6 from 2015-06-01", "2015-06-12 12:00", None, None, False),
    # outside Boston: the city's default
    "G7": ("on_time", 48, "city default from 2008-01-01", "2015-06-03 10:00", 2.0, None, False),
    # a duplicate, late: a verdict, but excluded from the rates
    "G8": ("late", 24, "zone ZPC-01 from 2008-01-01", "2015-06-02 09:00", 96.0, 72.0, True),
    # resolved after as_of: open at as_of
    "G11": ("open_in_time", 48, "city default from 2008-01-01", "2015-06-12 08:00", None, None, False),
    # cancelled and open past its deadline
    "G12": ("open_overdue", 48, "city default from 2008-01-01", "2015-06-05 10:00", None, 122.0, True),
}
# G9 is reported after as_of, G10 is a needle: neither is in the norm's results.

COUNTS = ("requests", "on_time", "late", "open_overdue", "open_at_risk", "open_in_time", "excluded")
BY_QUARTER = {  # quarter -> (name, counts..., on-time rate, median hours)
    "6": ("Dorchester", (3, 1, 0, 0, 1, 1, 0), 1.0, 36.5),
    "7": ("Downtown", (2, 1, 0, 0, 0, 0, 1), 1.0, 24.0),
    "17": ("South Boston", (2, 0, 0, 0, 0, 1, 1), None, None),
    "26": ("Chinatown", (2, 0, 1, 1, 0, 0, 0), 0.0, 25.0),
    "(none)": ("(outside every quarter)", (1, 1, 0, 0, 0, 0, 0), 1.0, 2.0),
}


def build_territory(engine: Engine) -> None:
    load_quarters(engine)
    load_zones(engine)
    importing.load_extra_referential(engine, FIX / "norms.toml")
    with engine.begin() as conn:
        set_setting(conn, "timezone", BOSTON)


@pytest.fixture
def territory(engine: Engine, tmp_path: Path) -> Engine:
    build_territory(engine)
    report = importing.import_interventions(
        engine, FIX / "requests.csv", FIX / "requests.toml", rejects_path=tmp_path / "rejects.csv"
    )
    assert (report.read, report.inserted, report.rejected, report.outside_territory) == (14, 14, 0, 1)
    return engine


def local_text(ts) -> str:
    return "" if pd.isna(ts) else f"{pd.Timestamp(ts).tz_convert(BOSTON):%Y-%m-%d %H:%M}"


def check_per_intervention(per: pd.DataFrame) -> None:
    assert set(per["norm"]) == {NORM}
    rows = {r["source_id"]: r for r in per.to_dict("records")}
    assert set(rows) == set(EXPECTED)
    for sid, (state, target, applied, due, taken, over, excluded) in EXPECTED.items():
        r = rows[sid]
        got = (r["state"], r["target_hours"], r["applied"], local_text(r["due_at"]), bool(r["excluded"]))
        assert got == (state, target, applied, due, excluded), sid
        for value, want in ((r["hours_taken"], taken), (r["hours_overdue"], over)):
            assert math.isnan(value) if want is None else value == pytest.approx(want), sid
    assert pd.isna(rows["G11"]["resolved_at"])
    assert rows["G4"]["reported_at"] == pd.Timestamp("2015-06-01 03:30", tz="UTC")


def check_by_quarter(agg: pd.DataFrame) -> None:
    assert list(agg.columns[:3]) == ["quarter", "quarter_name", "requests"]
    got = {}
    for r in agg.to_dict("records"):
        name = None if pd.isna(r["quarter_name"]) else r["quarter_name"]
        rate = None if pd.isna(r["on_time_rate"]) else r["on_time_rate"]
        median = None if pd.isna(r["median_hours"]) else r["median_hours"]
        got[r["quarter"]] = (name, tuple(int(r[c]) for c in COUNTS), rate, median)
    assert got == BY_QUARTER


def test_evaluation_of_a_deadline_norm_per_request(territory):
    result = evaluate(territory, as_of=AS_OF, norm_codes=[NORM])
    assert result.territory.timezone == BOSTON
    assert result.as_of == AS_OF
    check_per_intervention(result.per_intervention)
    total = result.aggregates.iloc[0]
    assert tuple(int(total[c]) for c in COUNTS) == (10, 3, 1, 1, 1, 2, 2)
    assert (total["rated"], total["backlog"], total["no_deadline"]) == (8, 4, 0)
    assert total["on_time_rate"] == pytest.approx(3 / 5)
    assert total["median_hours"] == pytest.approx(24.5)  # of 2, 24, 25, 36.5


def test_evaluation_grouped_by_quarter_zone_and_zone_kind(territory):
    check_by_quarter(evaluate(territory, as_of=AS_OF, norm_codes=[NORM], by=["quarter"]).aggregates)
    by_zone = evaluate(territory, as_of=AS_OF, norm_codes=[NORM], by=["zone"]).aggregates
    zones = {
        r["zone"]: (r["zone_name"], int(r["requests"]), int(r["excluded"]))
        for r in by_zone.to_dict("records")
    }
    assert zones == {
        "ZPC-01": ("Downtown Crossing", 3, 1),  # G1, G2, G8
        "ZPC-02": ("Chinatown", 1, 0),  # G2, also in ZPC-01
        "ZPC-08": ("Fields Corner", 1, 0),
        "(none)": (zones["(none)"][0], 6, 1),
    }
    by_kind = evaluate(territory, as_of=AS_OF, norm_codes=[NORM], by=["zone_kind"]).aggregates
    assert {r["zone_kind"]: int(r["requests"]) for r in by_kind.to_dict("records")} == {
        "commercial": 4,  # G2 once
        "(none)": 6,
    }
    by_month = evaluate(territory, as_of=AS_OF, norm_codes=[NORM], by=["month", "channel"]).aggregates
    assert {(r["month"], r["channel"]): int(r["requests"]) for r in by_month.to_dict("records")} == {
        ("2015-05", "Phone"): 1,  # G4, 31 May in Boston
        ("2015-06", "App"): 4,  # G2, G3, G6, G8
        ("2015-06", "Phone"): 5,  # G1, G5, G7, G11, G12
    }


def test_evaluation_on_the_source_due_dates(territory):
    result = evaluate(territory, as_of=AS_OF, norm_codes=[NORM], basis=Basis.SOURCE)
    states = dict(zip(result.per_intervention["source_id"], result.per_intervention["state"], strict=True))
    assert states.pop("G1") == "late"  # the source said 20:00 the same day
    assert set(states.values()) == {"no_deadline"}
    g1 = result.per_intervention[result.per_intervention["source_id"] == "G1"].iloc[0]
    assert local_text(g1["due_at"]) == "2015-06-01 20:00"
    assert g1["hours_overdue"] == pytest.approx(12)
    total = result.aggregates.iloc[0]
    assert (total["requests"], total["late"], total["no_deadline"], total["excluded"]) == (10, 1, 7, 2)


def test_local_times_are_read_across_dst(territory):
    """Boston's clocks went forward on 8 March 2015 and back on 1 November: 22:00 to 22:00 the
    next day is 23 h, then 25 h, on a 24 h norm."""
    result = evaluate(territory, as_of=AS_OF + pd.Timedelta(days=200), norm_codes=["test.needle.24h"])
    rows = {r["source_id"]: r for r in result.per_intervention.to_dict("records")}
    assert set(rows) == {"G10", "G13", "G14"}
    assert rows["G13"]["reported_at"] == pd.Timestamp("2015-03-08 03:00", tz="UTC")  # EST, UTC-5
    assert rows["G13"]["resolved_at"] == pd.Timestamp("2015-03-09 02:00", tz="UTC")  # EDT, UTC-4
    assert (rows["G13"]["state"], rows["G13"]["hours_taken"]) == ("on_time", 23)
    assert local_text(rows["G13"]["due_at"]) == "2015-03-08 23:00"
    assert (rows["G14"]["state"], rows["G14"]["hours_taken"], rows["G14"]["hours_overdue"]) == ("late", 25, 1)
    assert local_text(rows["G14"]["due_at"]) == "2015-11-01 21:00"


def test_evaluation_of_unknown_norms_is_refused(territory):
    with pytest.raises(LookupError, match="nope"):
        evaluate(territory, as_of=AS_OF, norm_codes=[NORM, "nope"])


def test_an_earlier_as_of_sees_an_earlier_state(territory):
    result = evaluate(territory, as_of=pd.Timestamp("2015-06-02 08:30", tz=BOSTON), norm_codes=[NORM])
    states = dict(zip(result.per_intervention["source_id"], result.per_intervention["state"], strict=True))
    assert states == {
        "G1": "on_time",
        "G4": "open_at_risk",  # resolved at noon, due at 23:30
        "G7": "on_time",
        "G8": "open_at_risk",  # resolved on 5 June, due at 09:00
    }


# ---------------------------------------------------------------------------------------------
# Periodic norms from imported activities
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def with_activities(territory: Engine, tmp_path: Path) -> Engine:
    report = importing.import_activities(
        territory, FIX / "activities.csv", FIX / "activities.toml", rejects_path=tmp_path / "act.csv"
    )
    assert (report.read, report.inserted, report.rejected) == (9, 8, 1)
    rejects = (tmp_path / "act.csv").read_text(encoding="utf-8-sig").splitlines()
    assert rejects[1:] == ["10;quarter;99;unknown quarter code"]
    again = importing.import_activities(
        territory, FIX / "activities.csv", FIX / "activities.toml", rejects_path=tmp_path / "act.csv"
    )
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 8)
    return territory


def test_frequency_norm_per_commercial_zone(with_activities):
    result = evaluate(
        with_activities,
        as_of=AS_OF,
        norm_codes=["test.sweeping.weekly"],
        period_start=pd.Timestamp("2015-06-01"),
        period_end=pd.Timestamp("2015-06-14"),
    )
    assert result.per_intervention.empty and result.aggregates.empty
    p = result.periodic
    assert len(p) == 12 * 2  # every commercial zone, every week, swept or not
    assert set(p["unit_type"]) == {"zone"}
    achieved = {(r["unit"], r["period"]): r["achieved"] for r in p.to_dict("records") if r["achieved"]}
    assert achieved == {
        ("ZPC-01", "2015-W23"): 2,  # A1, and A2 in both ZPC-01 and ZPC-02
        ("ZPC-02", "2015-W23"): 1,
        ("ZPC-08", "2015-W24"): 1,  # A4 in Dorchester outside every zone does not count
    }
    assert p.loc[p["achieved"] == 0, "met"].eq(False).all()
    assert p.loc[p["achieved"] > 0, "met"].eq(True).all()
    assert dict(zip(p["period"], p["complete"], strict=True)) == {"2015-W23": True, "2015-W24": False}
    names = dict(zip(p["unit"], p["unit_name"], strict=True))
    assert names["ZPC-08"] == "Fields Corner"


def test_count_norm_per_named_quarter(with_activities):
    result = evaluate(with_activities, as_of=AS_OF, norm_codes=["test.meetings.quarterly"])
    got = {
        (r["unit"], r["period"]): (r["achieved"], r["met"], r["complete"])
        for r in result.periodic.to_dict("records")
    }
    assert got == {
        ("7", "2015-T1"): (0, False, True),
        ("26", "2015-T1"): (1, False, True),  # 31 March 23:30 in Boston, 1 April in UTC
        ("7", "2015-T2"): (2, True, False),
        ("26", "2015-T2"): (1, False, False),
    }


def test_deadline_and_periodic_norms_together(with_activities):
    result = evaluate(with_activities, as_of=AS_OF, norm_codes=[NORM, "test.meetings.quarterly"])
    check_per_intervention(result.per_intervention)
    assert list(result.aggregates["norm"]) == [NORM]
    assert set(result.periodic["norm"]) == {"test.meetings.quarterly"}


def test_a_periodic_norm_with_no_unit_in_the_territory_gives_an_empty_table(territory, db_url):
    """Boston has no waste-land zone: the Nantes waste-land cleaning norm has nothing to measure.
    That is an empty result, not an error (nor a "No objects to concatenate" usage error)."""
    result = evaluate(territory, as_of=AS_OF, norm_codes=["nantes.friches.2an"])
    assert result.periodic.empty
    assert result.per_intervention.empty
    # a period entirely after as_of: nothing to list either
    later = evaluate(
        territory,
        as_of=AS_OF,
        norm_codes=["test.meetings.quarterly"],
        period_start=pd.Timestamp("2016-01-01"),
    )
    assert later.periodic.empty
    out = CliRunner().invoke(
        cli, ["--db", db_url, "evaluate", "--as-of", "2015-06-10T12:00", "--norm", "nantes.friches.2an"]
    )
    assert out.exit_code == 0, out.output


def test_every_active_norm_by_default(with_activities):
    result = evaluate(with_activities, as_of=AS_OF)
    assert {NORM, "test.needle.24h"} <= set(result.per_intervention["norm"])
    assert {"test.sweeping.weekly", "test.meetings.quarterly", "nantes.participation.2an"} <= set(
        result.periodic["norm"]
    )
    assert "nn.graffiti.24h" not in set(result.per_intervention["norm"])  # inactive (Nantes Nord proposals)
    check_per_intervention(result.per_intervention[result.per_intervention["norm"] == NORM])


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------


def geova(db_url: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--db", db_url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_cli_evaluate_json_by_quarter(territory, db_url):
    out = geova(
        db_url,
        "evaluate",
        "--as-of",
        "2015-06-10T12:00",
        "--norm",
        NORM,
        "--by",
        "quarter",
        "--format",
        "json",
    )
    check_by_quarter(pd.DataFrame(json.loads(out)))
    # the same instant given in UTC
    same = geova(
        db_url,
        "evaluate",
        "--as-of",
        "2015-06-10T16:00Z",
        "--norm",
        NORM,
        "--by",
        "quarter",
        "--format",
        "json",
    )
    assert json.loads(same) == json.loads(out)


def test_cli_evaluate_csv_for_french_excel(territory, db_url):
    out = geova(
        db_url,
        "evaluate",
        "--as-of",
        "2015-06-10T12:00",
        "--norm",
        NORM,
        "--by",
        "quarter",
        "--format",
        "csv",
    )
    assert out.startswith("\ufeff")  # the BOM French Excel needs to read accents
    rows = list(csv.DictReader(io.StringIO(out.removeprefix("\ufeff")), delimiter=";"))
    assert list(rows[0])[:3] == ["quarter", "quarter_name", "requests"]
    by_q = {r["quarter"]: r for r in rows}
    assert set(by_q) == set(BY_QUARTER)
    assert by_q["6"]["quarter_name"] == "Dorchester"
    assert by_q["6"]["median_hours"] == "36,5"  # decimal comma
    assert by_q["26"]["on_time_rate"] == "0,0"
    assert by_q["17"]["on_time_rate"] == ""  # nothing judged yet
    assert by_q["7"]["excluded"] == "1"

    per = geova(
        db_url,
        "evaluate",
        "--as-of",
        "2015-06-10T12:00",
        "--norm",
        NORM,
        "--per-intervention",
        "--format",
        "csv",
    )
    lines = {
        r["source_id"]: r for r in csv.DictReader(io.StringIO(per.removeprefix("\ufeff")), delimiter=";")
    }
    assert set(lines) == set(EXPECTED)
    # day-first dates in the territory's time zone, with seconds
    assert (lines["G4"]["reported_at"], lines["G4"]["due_at"], lines["G4"]["resolved_at"]) == (
        "31/05/2015 23:30:00",
        "02/06/2015 23:30:00",
        "02/06/2015 12:00:00",
    )
    assert (lines["G4"]["state"], lines["G4"]["hours_taken"]) == ("on_time", "36,5")
    assert (lines["G12"]["state"], lines["G12"]["hours_overdue"], lines["G12"]["resolved_at"]) == (
        "open_overdue",
        "122,0",
        "",
    )


def test_cli_evaluate_table(territory, db_url):
    out = geova(db_url, "evaluate", "--as-of", "2015-06-10T12:00", "--norm", NORM)
    assert out.splitlines()[0] == "As of 2015-06-10 12:00 EDT (America/New_York)"
    assert "60.0%" in out  # 3 on time of 5 judged


def test_cli_evaluate_refuses_unknown_norms_and_dimensions(territory, db_url):
    bad = CliRunner().invoke(cli, ["--db", db_url, "evaluate", "--norm", "nope"])
    assert bad.exit_code == 2 and "nope" in bad.output
    bad = CliRunner().invoke(cli, ["--db", db_url, "evaluate", "--norm", NORM, "--by", "street"])
    assert bad.exit_code == 2 and "street" in bad.output


def test_share_norm_latest_entry_wins(territory, db_url):
    with territory.begin() as conn:
        record_share(conn, "test.label.60pc", "7", pd.Timestamp("2015-01-01").date(), 50)
        record_share(conn, "test.label.60pc", "7", pd.Timestamp("2015-01-01").date(), 65, note="corrigé")
        with pytest.raises(ValueError, match="between 0 and 100"):
            record_share(conn, "test.label.60pc", "26", pd.Timestamp("2015-01-01").date(), 120)
        with pytest.raises(LookupError, match="not a share norm"):
            record_share(conn, NORM, "26", pd.Timestamp("2015-01-01").date(), 20)
        with pytest.raises(LookupError, match="unknown quarter"):
            record_share(conn, "test.label.60pc", "999", pd.Timestamp("2015-01-01").date(), 20)
    # entered on the command line with the date of the count, not the first day of the year
    geova(db_url, "share", "test.label.60pc", "26", "2015-06-30", "55", "--note", "comptage de juin")
    result = evaluate(territory, as_of=AS_OF, norm_codes=["test.label.60pc"])
    p = result.periodic
    assert len(p) == 26  # every Boston neighbourhood, 2015
    assert set(p["period"]) == {"2015"} and not p["complete"].any()
    got = {r["unit"]: (r["achieved"], r["met"]) for r in p.to_dict("records") if not pd.isna(r["achieved"])}
    assert got == {"7": (65, True), "26": (55, False)}
    assert p.loc[p["achieved"].isna(), "met"].isna().all()


def test_cli_csv_keeps_long_durations_readable(territory, db_url):
    """A request open for a year and a half: Excel must get 13765 hours, not "1,376e+04"."""
    per = geova(
        db_url,
        "evaluate",
        "--as-of",
        "2017-01-01T00:00",
        "--norm",
        NORM,
        "--per-intervention",
        "--format",
        "csv",
    )
    lines = {
        r["source_id"]: r for r in csv.DictReader(io.StringIO(per.removeprefix("\ufeff")), delimiter=";")
    }
    g3 = lines["G3"]["hours_overdue"]  # due 7 June 2015 12:00 EDT, still open on 1 January 2017 00:00 EST
    assert "e" not in g3.lower()
    assert float(g3.replace(",", ".")) == pytest.approx(13765.0, abs=0.05)
