"""The `geova` command line, driven as a user would, on both backends."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from geova.cli import cli

REPO = Path(__file__).resolve().parents[1]

MAPPING = """
[source]
name = "paris-dmr"
timezone = "Europe/Paris"

[columns]
source_id = "id"
category = "type"
reported_at = "signale"
resolved_at = "resolu"
status = "etat"
latitude = "lat"
longitude = "lon"

[categories]
Tag = "graffiti"
"Dépôt" = "depot_sauvage"

[status]
values = { Ouvert = "open", "Fermé" = "closed" }
"""
HEADER = "id;type;signale;resolu;etat;lat;lon"
GOOD = [
    "P1;Tag;01/07/2015 10:00;;Ouvert;48,8530;2,3499",
    "P2;Dépôt;31/12/2015 23:59;02/01/2016 08:30;Fermé;48,8566;2,3522",
    "P3;Tag;15/03/2015 09:15;02/03/2015 09:15;Fermé;48,8600;2,3400",  # resolved before reported
]
BAD = [
    "B1;Affichage;01/07/2015 10:00;;Ouvert;48,85;2,35",  # unknown category, line 5
    "B2;Tag;32/07/2015 10:00;;Ouvert;48,85;2,35",  # not a date, line 6
]

DEMO_FILES = {  # file -> rows, all stored
    "graffiti-removal.csv": 4284,
    "pwd-graffiti.csv": 1404,
    "empty-litter-basket.csv": 2973,
    "needle-pickup.csv": 622,
    "trash-on-vacant-lot.csv": 381,
}


def geova(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--db", db_url, *map(str, args)], catch_exceptions=False)


def write(path: Path, lines: list[str], encoding: str = "cp1252") -> Path:
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


@pytest.fixture
def mapping(tmp_path: Path) -> Path:
    path = tmp_path / "dmr.toml"
    path.write_text(MAPPING, encoding="utf-8")
    return path


def test_import_prints_the_summary_and_the_rejects_path(db_url, tmp_path, mapping, _instance):
    data = write(tmp_path / "dmr.csv", [HEADER, *GOOD, *BAD])

    result = geova(db_url, "import-interventions", data, "--mapping", mapping, "--max-rejects", "2")

    assert result.exit_code == 0, result.output
    out = result.stdout
    header = (
        "dmr.csv -> source 'paris-dmr' (encoding cp1252 (guessed: the file is not UTF-8), "
        "delimiter semicolon)"
    )
    assert header in out
    assert "read 5 · inserted 3 · updated 0 · unchanged 0 · rejected 2" in out
    assert "flagged: resolved_before_report 1" in out
    rejects = _instance / "rejects" / "dmr.rejects.csv"
    assert f"rejects (row, field, reason): {rejects}" in out
    text = rejects.read_text(encoding="utf-8-sig")
    assert "5;type;Affichage;" in text
    assert "6;signale;32/07/2015 10:00;" in text

    again = geova(db_url, "import-interventions", data, "--mapping", mapping, "--max-rejects", "2")

    assert again.exit_code == 0, again.output
    assert "read 5 · inserted 0 · updated 0 · unchanged 3 · rejected 2" in again.stdout


def test_import_with_a_rejects_option_and_a_clean_file(db_url, tmp_path, mapping):
    rejects = tmp_path / "out" / "r.csv"
    data = write(tmp_path / "dmr.csv", [HEADER, *GOOD, *BAD])
    result = geova(
        db_url, "import-interventions", data, "--mapping", mapping, "--rejects", rejects, "--max-rejects", "2"
    )
    assert result.exit_code == 0, result.output
    assert f"rejects (row, field, reason): {rejects}" in result.stdout
    assert rejects.exists()

    clean = write(tmp_path / "clean.csv", [HEADER, *GOOD])
    result = geova(db_url, "import-interventions", clean, "--mapping", mapping)
    assert result.exit_code == 0, result.output
    assert "rejected 0" in result.stdout
    assert "rejects (row, field, reason)" not in result.stdout  # nothing to look at


def _total(db_url: str) -> int:
    result = geova(db_url, "status", "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["interventions"]["total"]


@pytest.mark.parametrize(
    ("lines", "options", "expected"),
    [
        ([HEADER, *GOOD[:2], "P9;Tag;01/07/2015 10:00;;Ouvert;48,85;2,35;extra", GOOD[2]], [], "line 4"),
        ([HEADER, *GOOD, *BAD], ["--max-rejects", "0"], "2 rows rejected"),
    ],
    ids=["corrupt-record", "too-many-rejects"],
)
def test_fatal_error_exits_non_zero_and_stores_nothing(db_url, tmp_path, mapping, lines, options, expected):
    data = write(tmp_path / "dmr.csv", lines)

    result = geova(db_url, "import-interventions", data, "--mapping", mapping, *options)

    assert result.exit_code != 0
    assert "error:" in result.stderr
    assert "dmr.csv" in result.stderr
    assert expected in result.stderr
    assert "Nothing was stored." in result.stderr
    assert "inserted" not in result.stdout
    assert _total(db_url) == 0


def test_mapping_error_exits_non_zero(db_url, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(MAPPING.replace('timezone = "Europe/Paris"', 'timezone = "Paris"'), encoding="utf-8")
    data = write(tmp_path / "dmr.csv", [HEADER, *GOOD])

    result = geova(db_url, "import-interventions", data, "--mapping", bad)

    assert result.exit_code != 0
    assert "error:" in result.stderr
    assert "bad.toml" in result.stderr
    assert "'Paris'" in result.stderr
    assert "Nothing was stored." in result.stderr


def test_status_json(db_url, tmp_path, mapping):
    data = write(tmp_path / "dmr.csv", [HEADER, *GOOD, *BAD])
    assert (
        geova(db_url, "import-interventions", data, "--mapping", mapping, "--max-rejects", "2").exit_code == 0
    )
    layer = geova(
        db_url,
        "import-layer",
        REPO / "layers" / "boston_neighborhoods.geojson",
        "--as",
        "quarters",
        "--code-field",
        "Neighborhood_ID",
        "--name-field",
        "Name",
    )
    assert layer.exit_code == 0, layer.output

    result = geova(db_url, "status", "--format", "json")

    assert result.exit_code == 0, result.output
    st = json.loads(result.stdout)
    assert {"quarters", "zones", "interventions", "flags", "last_imports"} <= set(st)
    assert st["quarters"] == {"0": 26}
    assert st["zones"] == {}
    assert st["interventions"]["total"] == 3
    assert st["interventions"]["outside_territory"] == 3  # Paris points, Boston quarters
    assert st["interventions"]["by_category"] == {
        "graffiti": {"new": 1, "closed": 1},
        "depot_sauvage": {"closed": 1},
    }
    assert st["flags"] == {"outside_extent": 3, "resolved_before_report": 1}
    kinds = [(i["kind"], i["file"]) for i in st["last_imports"]]
    assert kinds == [("quarters", "boston_neighborhoods.geojson"), ("interventions", "dmr.csv")]
    counts = st["last_imports"][1]["counts"]
    assert (counts["read"], counts["inserted"], counts["rejected"]) == (5, 3, 2)


def test_status_text(db_url, tmp_path, mapping):
    data = write(tmp_path / "dmr.csv", [HEADER, *GOOD])
    assert geova(db_url, "import-interventions", data, "--mapping", mapping).exit_code == 0
    result = geova(db_url, "status")
    assert result.exit_code == 0, result.output
    assert "Interventions: 3 (outside the territory: 3)" in result.stdout
    assert "graffiti: 2 (closed 1, new 1)" in result.stdout
    assert "interventions dmr.csv (read 3, inserted 3, rejected 0)" in result.stdout


def test_demo_prints_counts_for_each_file(db_url):
    result = geova(db_url, "demo")

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "boston_neighborhoods.geojson -> quarters layer 'boston_neighborhoods': 26 features" in out
    assert "boston_priority_zones.geojson -> zones layer 'boston_priority_zones': 12 features" in out
    for name, rows in DEMO_FILES.items():
        n = f"{rows:,}"
        block = re.search(rf"^{re.escape(name)} -> source 'boston-311' .*\n(.*)\n", out, re.MULTILINE)
        assert block, f"no report for {name}:\n{out}"
        assert block.group(1).strip() == (
            f"read {n} · inserted {n} · updated 0 · unchanged 0 · rejected 0"
        ), name
    assert "Demo territory ready" in out
    assert _total(db_url) == sum(DEMO_FILES.values())
    # the monthly committee: June 2015 published for the city and Dorchester, example indicators
    assert "published: Monthly report — Boston (demo) — June 2015" in out
    assert "published: Monthly report — Dorchester — June 2015" in out
    listed = geova(db_url, "reports").stdout
    assert re.search(r"2015-06\s+\(city\)\s+v1", listed) and re.search(r"2015-06\s+6\s+v1", listed)
    rows = json.loads(geova(db_url, "indicators", "--month", "2015-06", "--format", "json").stdout)
    city = {r["indicator"]: r["value"] for r in rows if r["quarter"] == "(city)"}
    assert city["resource.fte"] > 0 and city["impact.reported_per_1000"] > 0
    # economic effect: the example figures of the commercial zones, the June ones in the report
    example = pd.read_csv(REPO / "data/boston/example-economy.csv", sep=";", encoding="utf-8-sig", dtype=str)
    june = example[example["period"] == "2015-06"].set_index("zone")
    report = json.loads(geova(db_url, "report", "--month", "2015-06", "--format", "json").stdout)
    economy = {z["code"]: z for z in report["economy"]}
    assert report["example_economy"] is True  # the report says the figures are made up
    assert set(economy) == set(june.index)
    for code, row in june.iterrows():
        assert economy[code]["vacancy_rate"] == pytest.approx(float(row["vacancy_rate"].replace(",", ".")))
        assert economy[code]["footfall"] == float(row["footfall"].replace(" ", ""))
    # the service account works the service Boston's file routes graffiti to
    boston = tomllib.loads((REPO / "data/boston/norms.toml").read_text(encoding="utf-8"))
    graffiti = next(r["service"] for r in boston["route"] if r.get("category") == "graffiti")
    assert geova(db_url, "user", "services", "agent").stdout.strip() == f"agent: {graffiti}"


def _timezone(db_url: str) -> str | None:
    result = geova(db_url, "status", "--format", "json")
    return json.loads(result.stdout)["settings"].get("timezone")


def test_first_import_sets_the_territory_time_zone_later_ones_warn(db_url, tmp_path, mapping):
    data = write(tmp_path / "dmr.csv", [HEADER, *GOOD])
    assert _timezone(db_url) is None  # a new store: no zone chosen yet
    first = geova(db_url, "import-interventions", data, "--mapping", mapping)
    assert first.exit_code == 0, first.output
    assert "territory time zone set to Europe/Paris (from dmr.toml" in first.stdout
    assert _timezone(db_url) == "Europe/Paris"
    again = geova(db_url, "import-interventions", data, "--mapping", mapping)
    assert "time zone" not in again.stdout  # same zone: nothing to say
    boston = tmp_path / "boston.toml"
    boston.write_text(
        MAPPING.replace('timezone = "Europe/Paris"', 'timezone = "America/New_York"').replace(
            'name = "paris-dmr"', 'name = "other"'
        ),
        encoding="utf-8",
    )
    other = geova(db_url, "import-interventions", data, "--mapping", boston)
    assert other.exit_code == 0, other.output
    assert (
        "warning: boston.toml reads dates in America/New_York, the territory shows them in Europe/Paris"
        in other.stdout
    )
    assert _timezone(db_url) == "Europe/Paris"  # a warning, not a change


def test_category_set_in_two_places_is_refused(db_url, tmp_path):
    both = tmp_path / "both.toml"
    both.write_text(
        MAPPING.replace('timezone = "Europe/Paris"', 'timezone = "Europe/Paris"\ncategory = "graffiti"')
    )
    data = write(tmp_path / "dmr.csv", [HEADER, *GOOD])
    result = geova(db_url, "import-interventions", data, "--mapping", both)
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert "both.toml: invalid mapping:" in message
    assert "[source] category gives every row its code, so the [categories] table would be ignored" in message
    assert _total(db_url) == 0


def test_source_category_wins_and_the_column_is_kept_as_the_label(db_url, tmp_path):
    fixed = tmp_path / "fixed.toml"
    text = MAPPING.replace('timezone = "Europe/Paris"', 'timezone = "Europe/Paris"\ncategory = "graffiti"')
    fixed.write_text(
        text.split("[categories]")[0] + '[status]\nvalues = { Ouvert = "open", "Fermé" = "closed" }\n'
    )
    data = write(tmp_path / "dmr.csv", [HEADER, *GOOD])
    result = geova(db_url, "import-interventions", data, "--mapping", fixed)
    assert result.exit_code == 0, result.output
    status = json.loads(geova(db_url, "status", "--format", "json").stdout)
    # P2's "Dépôt" would have been depot_sauvage through a table: [source] category gives graffiti
    assert set(status["interventions"]["by_category"]) == {"graffiti"}
    assert sum(status["interventions"]["by_category"]["graffiti"].values()) == 3
