"""The README's walk-throughs, run command by command as a data officer would type them.

The commands are read from the README itself (the ``sh`` block after each ``<!-- walkthrough:NAME -->``
marker), so the documentation cannot drift from what geova does. The Paris evaluation is checked
against figures computed here from the example files with pandas and shapely, independently of
geova's readers, assignment and norm engine.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner, Result

from geova.cli import cli

REPO = Path(__file__).resolve().parents[1]
PARIS = REPO / "data" / "examples" / "paris"
AS_OF = pd.Timestamp("2025-07-01 00:00", tz="Europe/Paris")


def walkthrough(name: str) -> list[list[str]]:
    """The commands of one README walk-through, continuation lines joined, comments dropped."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- walkthrough:{name} -->\s*```sh\n(.*?)```", readme, re.S)
    assert match, f"README has no walk-through {name!r}"
    text = match.group(1).replace("\\\n", " ")
    return [shlex.split(line) for line in text.splitlines() if line.strip() and not line.startswith("#")]


def run(commands: list[list[str]], db_url: str) -> list[tuple[list[str], Result]]:
    results = []
    for argv in commands:
        if argv[0] == "export":
            assert argv[1].startswith("GEOVA_DATABASE_URL="), argv  # the test's own store replaces it
            continue
        assert argv[0] == "geova", f"the walk-through runs geova only: {argv}"
        result = CliRunner().invoke(cli, argv[1:], env={"GEOVA_DATABASE_URL": db_url}, catch_exceptions=False)
        assert result.exit_code == 0, f"{shlex.join(argv)} failed:\n{result.output}"
        results.append((argv, result))
    return results


def _expected_paris() -> pd.DataFrame:
    """The 48 h graffiti norm per arrondissement at AS_OF, straight from the example files.

    In scope: graffiti marked insulting, and any graffiti inside a priority zone. Due 48 calendar
    hours after the report. Resolved by AS_OF: on time if within the 48 h, else late; still open at
    AS_OF: overdue once the 48 h have passed. Local times follow the README's rule: a time the
    spring change skips moves forward, an ambiguous one is read in summer time.
    """
    rows = pd.read_csv(PARIS / "demandes-paris-2025.csv", sep=";", encoding="cp1252", dtype=str)
    x = rows["x_l93"].str.replace(",", ".").astype(float)
    y = rows["y_l93"].str.replace(",", ".").astype(float)
    points = gpd.GeoSeries(shapely.points(x, y), crs="EPSG:2154")
    arr = gpd.read_file(PARIS / "arrondissements-paris-l93.gpkg")
    zones = gpd.read_file(PARIS / "zones-paris-l93.gpkg")
    in_zone = points.apply(lambda p: bool(zones.contains(p).any()))
    arrondissement = points.apply(lambda p: str(arr.loc[arr.contains(p), "c_ar"].iloc[0]))

    def local(column: str) -> pd.Series:
        naive = pd.to_datetime(rows[column], format="%d/%m/%Y %H:%M")
        return naive.dt.tz_localize("Europe/Paris", nonexistent="shift_forward", ambiguous=True)

    reported, resolved = local("date_signalement"), local("date_resolution")
    graffiti = rows["type"].isin(["Graffiti", "Tag injurieux"])
    scoped = graffiti & ((rows["injurieux"] == "oui") | in_zone) & (reported <= AS_OF)
    due = reported + pd.Timedelta(hours=48)
    done = resolved.notna() & (resolved <= AS_OF)
    frame = pd.DataFrame(
        {
            "quarter": arrondissement,
            "on_time": done & (resolved <= due),
            "late": done & (resolved > due),
            "open_overdue": ~done & (due < AS_OF),
        }
    )[scoped]
    counted = frame.groupby("quarter").sum().astype(int)
    counted["requests"] = frame.groupby("quarter").size()
    return counted.sort_index()


def test_paris_walkthrough(db_url: str) -> None:
    results = run(walkthrough("paris"), db_url)
    outputs = {
        shlex.join(argv[1:3]) + (" dry" if "--dry-run" in argv else ""): r.output for argv, r in results
    }

    layer_dry = outputs["import-layer data/examples/paris/quartiers-paris-l93.gpkg dry"]
    assert "nothing was stored" in layer_dry and "read 80 · would store 80" in layer_dry
    assert "Place-Vendôme" in layer_dry
    quarters = outputs["import-layer data/examples/paris/quartiers-paris-l93.gpkg"]
    assert "inserted 80" in quarters and "CRS EPSG:2154" in quarters

    dry = outputs["import-interventions data/examples/paris/demandes-paris-2025.csv dry"]
    assert "encoding cp1252" in dry and "delimiter semicolon" in dry
    assert "nonexistent_local_time 1" in dry and "would store 400" in dry
    imported = outputs["import-interventions data/examples/paris/demandes-paris-2025.csv"]
    assert "inserted 400" in imported and "rejected 0" in imported

    status = outputs["status"]
    assert "Quarters: 20 at level 0, 80 at level 1" in status
    assert "Interventions: 400 (outside the territory: 0)" in status

    table = outputs["evaluate --norm"]
    assert "1er arrondissement" in table
    assert table.index("1er arrondissement") < table.index("4e arrondissement")

    got = CliRunner().invoke(
        cli,
        [
            "evaluate",
            "--norm",
            "nantes.graffiti.48h",
            "--by",
            "quarter",
            "--as-of",
            "2025-07-01",
            "--format",
            "json",
        ],
        env={"GEOVA_DATABASE_URL": db_url},
        catch_exceptions=False,
    )
    rows = json.loads(got.output)
    # arrondissements in number order (1, 2, ... 10), not text order (1, 10, 11, ... 2)
    assert [int(r["quarter"]) for r in rows] == sorted(int(r["quarter"]) for r in rows)
    frame = pd.DataFrame(rows).set_index("quarter").sort_index()
    expected = _expected_paris()
    columns = ["requests", "on_time", "late", "open_overdue"]
    assert expected["requests"].sum() > 20  # the example exercises the norm
    pd.testing.assert_frame_equal(frame[columns], expected[columns], check_names=False, check_dtype=False)


@pytest.mark.parametrize("db_url", ["spatialite"], indirect=True)
def test_boston_without_the_demo(db_url: str) -> None:
    results = run(walkthrough("boston"), db_url)
    out = "\n".join(r.output for _, r in results)
    assert "inserted 26" in out  # Boston's 26 neighbourhoods
    assert "inserted 12" in out  # the twelve priority zones
    assert "read 4,284 · inserted 4,284" in out
    assert "territory time zone set to America/New_York" in out
