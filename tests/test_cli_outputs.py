"""What `geova evaluate` and `geova share` print, as a user reads it, on both backends: JSON that
parses whatever the norms, the web's French-Excel CSV, comma lists, decimal commas, periods echoed as
stored, and a hint when a norm's scope matches nothing."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from geova import importing
from geova.cli import cli
from tests.test_evaluation_store import FIX, NORM, build_territory

AS_OF = "2015-06-10T12:00"
SHARE = "test.label.60pc"  # yearly, target 60 %


@pytest.fixture
def territory(engine: Engine, tmp_path: Path) -> Engine:
    build_territory(engine)
    importing.import_interventions(
        engine, FIX / "requests.csv", FIX / "requests.toml", rejects_path=tmp_path / "rejects.csv"
    )
    return engine


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--db", db_url, *args])


def ok(db_url: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--db", db_url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def excel_rows(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff"), "no BOM: French Excel would garble accents"
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))


def test_share_with_a_decimal_comma_is_echoed_under_the_period_stored(territory, db_url):
    out = ok(db_url, "share", SHARE, "26", "2015-03-15", "55,5", "--note", "comptage de mars")
    # a yearly norm: 15 March counts for the year, stored under its first day, and said so
    assert (
        out.strip() == f"{SHARE}: quarter 26, period from 2015-01-01 (the period holding 2015-03-15) = 55.5 %"
    )
    same_day = ok(db_url, "share", SHARE, "7", "2015-01-01", "65")
    assert same_day.strip() == f"{SHARE}: quarter 7, period from 2015-01-01 = 65 %"
    rows = json.loads(ok(db_url, "evaluate", "--as-of", AS_OF, "--norm", SHARE, "--format", "json"))
    entered = {
        r["unit"]: (r["period_start"], r["achieved"], r["met"]) for r in rows if r["achieved"] is not None
    }
    assert entered == {"26": ("2015-01-01", 55.5, False), "7": ("2015-01-01", 65.0, True)}


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["26", "2015-13-01", "50"], "'2015-13-01' is not a date (YYYY-MM-DD)"),
        (["26", "15/03/2015", "50"], "'15/03/2015' is not a date (YYYY-MM-DD)"),
        (["26", "2015-03-15", "cinquante"], "'cinquante' is not a number (e.g. 55.5 or 55,5)"),
        (["26", "2015-03-15", "1,5,5"], "'1,5,5' is not a number"),
        (["26", "2015-03-15", "120"], "between 0 and 100"),
    ],
)
def test_share_refuses_what_is_not_a_date_or_a_percentage(territory, db_url, args, said):
    result = run(db_url, "share", SHARE, *args)
    assert result.exit_code == 2
    assert said in " ".join(result.output.split())
    rows = json.loads(ok(db_url, "evaluate", "--as-of", AS_OF, "--norm", SHARE, "--format", "json"))
    assert all(r["achieved"] is None for r in rows)


def test_evaluate_json_parses_with_every_kind_of_norm(territory, db_url):
    ok(db_url, "share", SHARE, "26", "2015-06-30", "55")
    out = ok(db_url, "evaluate", "--as-of", AS_OF, "--format", "json")  # every active norm
    rows = json.loads(out)
    deadline = [r for r in rows if "on_time_rate" in r]
    periodic = [r for r in rows if "period" in r]
    assert {NORM, "test.needle.24h", "nantes.graffiti.48h"} <= {r["norm"] for r in deadline}
    assert {"test.sweeping.weekly", "test.meetings.quarterly", SHARE} <= {r["norm"] for r in periodic}
    share = next(r for r in periodic if r["norm"] == SHARE and r["unit"] == "26")
    assert (share["period_start"], share["period_end"], share["achieved"]) == (
        "2015-01-01",
        "2015-12-31",
        55.0,
    )
    graffiti = next(r for r in deadline if r["norm"] == NORM)
    # by quarter in tests/test_evaluation_store.py: on time 1 + 1 + 1 (outside), late 1, overdue 1
    assert (graffiti["on_time"], graffiti["late"], graffiti["open_overdue"]) == (3, 1, 1)


def test_evaluate_norm_takes_a_comma_list_like_by(territory, db_url):
    listed = json.loads(
        ok(
            db_url,
            "evaluate",
            "--as-of",
            AS_OF,
            "--norm",
            f"{NORM},{SHARE}",
            "--by",
            "norm",
            "--format",
            "json",
        )
    )
    repeated = json.loads(
        ok(db_url, "evaluate", "--as-of", AS_OF, "--norm", NORM, "--norm", SHARE, "--format", "json")
    )
    assert listed == repeated
    assert {r["norm"] for r in listed} == {NORM, SHARE}
    bad = run(db_url, "evaluate", "--norm", f"{NORM},nope")
    assert bad.exit_code == 2 and "unknown norm codes: nope" in bad.output


def test_evaluate_csv_is_the_webs_french_excel_csv_with_seconds(territory, db_url):
    per = excel_rows(
        ok(db_url, "evaluate", "--as-of", AS_OF, "--norm", NORM, "--per-intervention", "--format", "csv")
    )
    g2 = next(r for r in per if r["source_id"] == "G2")
    # reported 2 June 09:00, due 24 h later (zone ZPC-01), resolved 3 June 10:00: one hour late
    assert (g2["reported_at"], g2["due_at"], g2["resolved_at"]) == (
        "02/06/2015 09:00:00",
        "03/06/2015 09:00:00",
        "03/06/2015 10:00:00",
    )
    assert (g2["state"], g2["hours_overdue"]) == ("late", "1,0")
    ok(db_url, "share", SHARE, "26", "2015-06-30", "55,5")
    text = ok(db_url, "evaluate", "--as-of", AS_OF, "--norm", f"{NORM},{SHARE}", "--format", "csv")
    assert text.count("\ufeff") == 1  # one BOM for the whole output
    deadline_part, periodic_part = text.replace("\r\n", "\n").split("\n\n")  # two tables, one gap
    assert excel_rows(deadline_part)[0]["norm"] == NORM
    periodic = list(csv.DictReader(io.StringIO(periodic_part), delimiter=";"))
    row = next(r for r in periodic if r["unit"] == "26")
    assert (row["period_start"], row["period_end"], row["achieved"]) == ("01/01/2015", "31/12/2015", "55,5")


def test_a_norm_whose_scope_matches_nothing_says_why(territory, db_url, tmp_path):
    extra = tmp_path / "empty.toml"
    extra.write_text(
        '[[norm]]\ncode = "test.baskets.12h"\nkind = "deadline"\nvalue = 12\n'
        '  [[norm.scope]]\n  categories = ["corbeille"]\n  zone_kinds = ["commercial"]\n',
        encoding="utf-8",
    )
    assert run(db_url, "referential", "load", str(extra)).exit_code == 0
    result = run(db_url, "evaluate", "--as-of", AS_OF, "--norm", "test.baskets.12h")
    assert result.exit_code == 0
    assert result.stderr.strip() == (
        "hint: norm 'test.baskets.12h' has no result: its scope (categories corbeille, zone kinds "
        "commercial) matches no request stored and reported by then"
    )
    assert "(nothing)" in result.stdout
    # a norm with results gives no hint
    assert run(db_url, "evaluate", "--as-of", AS_OF, "--norm", NORM).stderr == ""
