"""Boston's own verdicts: geova, judging on the due date Boston's 311 gave each request, must agree
with the file's OnTime_Status on every one of the 4,284 graffiti requests of 2015, on both backends.

The export was taken at 2016-01-11 13:29:47 Boston time (its latest CLOSED_DT): OnTime_Status says
ONTIME when the case was closed by TARGET_DT, or is still open and TARGET_DT is not yet passed.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from geova import importing
from geova.cli import cli
from geova.core.norms import Basis
from geova.evaluation import evaluate
from geova.store.status import set_setting

REPO = Path(__file__).resolve().parents[1]
FILE = REPO / "data" / "boston" / "graffiti-removal.csv"
BOSTON = "America/New_York"
AS_OF = "2016-01-11 13:29:47"
ROWS = 4284
VERDICT = {
    "on_time": "ONTIME",
    "open_in_time": "ONTIME",
    "open_at_risk": "ONTIME",
    "late": "OVERDUE",
    "open_overdue": "OVERDUE",
}


@pytest.fixture
def boston(engine: Engine, tmp_path: Path) -> Engine:
    importing.load_extra_referential(engine, REPO / "data" / "boston" / "norms.toml")
    with engine.begin() as conn:
        set_setting(conn, "timezone", BOSTON)
    report = importing.import_interventions(
        engine, FILE, REPO / "data" / "mappings" / "graffiti-removal.toml", rejects_path=tmp_path / "rej.csv"
    )
    assert (report.read, report.inserted, report.rejected) == (ROWS, ROWS, 0)
    return engine


@pytest.fixture(scope="module")
def official() -> pd.DataFrame:
    raw = pd.read_csv(FILE, dtype=str, keep_default_na=False)
    assert len(raw) == ROWS
    fmt = "%m/%d/%Y %I:%M:%S %p"
    return pd.DataFrame(
        {
            "source_id": raw["CASE_ENQUIRY_ID"],
            "official": raw["OnTime_Status"],
            "target": pd.to_datetime(raw["TARGET_DT"], format=fmt),
        }
    )


def agree(per: pd.DataFrame, official: pd.DataFrame) -> pd.DataFrame:
    both = per.merge(official, on="source_id", how="outer", validate="one_to_one", indicator=True)
    assert (both["_merge"] == "both").all(), "every record evaluated, nothing else"
    return both


def test_every_verdict_agrees_with_onTime_status(boston, official):
    result = evaluate(
        boston, as_of=pd.Timestamp(AS_OF, tz=BOSTON), norm_codes=["boston.target"], basis=Basis.SOURCE
    )
    per = result.per_intervention
    assert len(per) == ROWS
    both = agree(per, official)
    disagree = both[both["state"].map(VERDICT) != both["official"]]
    assert disagree.empty, disagree[["source_id", "state", "official", "due_at", "resolved_at"]].head(20)
    # the due date is Boston's TARGET_DT, read in Boston time
    due_local = both["due_at"].dt.tz_convert(BOSTON).dt.tz_localize(None)
    assert (due_local == both["target"]).all()
    assert set(per["applied"]) == {"source due date"}
    assert (both["official"] == "ONTIME").sum() == 3424
    # duplicates and invalid cases keep a verdict, and are left out of the rate
    total = result.aggregates.iloc[0]
    assert total["requests"] == ROWS
    assert total["excluded"] == per["excluded"].sum() > 0
    assert total["rated"] + total["excluded"] + total["no_deadline"] == ROWS
    kept = per[~per["excluded"]]
    judged = kept["state"].isin(["on_time", "late", "open_overdue"])
    assert total["on_time_rate"] == pytest.approx((kept["state"] == "on_time").sum() / judged.sum())


def test_cli_prints_one_row_per_record(boston, db_url, official):
    args = ["--db", db_url, "evaluate", "--as-of", AS_OF.replace(" ", "T"), "--norm", "boston.target"]
    runner = CliRunner()
    out = runner.invoke(cli, [*args, "--deadline", "source", "--per-intervention", "--format", "csv"])
    assert out.exit_code == 0, out.output
    assert out.stdout.startswith("\ufeff")  # French Excel's BOM, as the web's exports
    rows = pd.DataFrame(list(csv.DictReader(io.StringIO(out.stdout.removeprefix("\ufeff")), delimiter=";")))
    assert len(rows) == ROWS
    assert {"source_id", "due_at", "state", "hours_taken", "hours_overdue"} <= set(rows.columns)
    both = agree(rows, official)
    assert (both["state"].map(VERDICT) == both["official"]).all()
    # due dates day-first in Boston time, to the second
    assert (both["due_at"] == both["target"].dt.strftime("%d/%m/%Y %H:%M:%S")).all()
    closed = both[both["state"].isin(["on_time", "late"])]
    assert closed["hours_taken"].str.fullmatch(r"-?\d+(,\d+)?(e[+-]\d+)?").all()
    late = both[both["state"].isin(["late", "open_overdue"])]
    assert (late["hours_overdue"] != "").all()

    table = runner.invoke(cli, [*args, "--deadline", "source", "--per-intervention"])
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert len(lines) == 1 + ROWS  # a header, then one line per record
    first = official.iloc[0]
    line = next(x for x in lines if f" {first['source_id']} " in f" {x} ")
    assert f"{first['target']:%Y-%m-%d %H:%M}" in line
    assert "on_time" in line and first["official"] == "ONTIME"
