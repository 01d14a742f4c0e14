"""Dry runs of the imports, the warnings that catch a wrong mapping, rejects and exit codes, and the
local times a DST change skips or repeats.

Each mistake of the data officer's first tries is re-made on a small file written here, and the
warning's count is worked out in the test from the file's own values. Every test taking ``engine``
or ``db_url`` runs on SpatiaLite and on PostGIS.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, select

from geova.cli import cli
from geova.importing import import_interventions, import_layer
from geova.io.errors import TooManyRejects
from geova.preview import Preview, preview_interventions
from geova.store.db import write
from geova.store.schema import Intervention
from geova.store.status import set_setting
from tests.test_import_interventions import (
    NEIGHBORHOODS,
    ROWS,
    SOURCE,
    flags,
    paris_mapping,
    snapshot,
    stored,
    write_csv,
    write_mapping,
)

IV = Intervention.__table__
BOSTON_POINT = ("42.3345", "-71.0398")  # South Boston
PARIS_POINT = ("48.8530", "2.3499")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def warnings_of(p: Preview) -> dict[str, int]:
    return {w.code: w.count for w in p.warnings}


def warning(p: Preview, code: str):
    [found] = [w for w in p.warnings if w.code == code]
    return found


def row(sid: str, reported: str, resolved: str = "", where: tuple[str, str] = PARIS_POINT, kind: str = "Tag"):
    status = "Fermé" if resolved else "Ouvert"
    return [sid, kind, reported, resolved, status, "", *where]


def geova(db_url: str, *args: object) -> Result:
    return CliRunner().invoke(cli, ["--db", db_url, *map(str, args)], catch_exceptions=False)


def content(engine: Engine) -> set[tuple]:
    """Every stored request's source id and content hash: what a dry run must leave alone."""
    with engine.connect() as conn:
        return set(conn.execute(select(IV.c.source, IV.c.source_id, IV.c.content_hash)).all())


@pytest.fixture
def boston(engine: Engine) -> Engine:
    import_layer(engine, NEIGHBORHOODS, as_="quarters", code_field="Neighborhood_ID", name_field="Name")
    return engine


# --------------------------------------------------------------------------------------------------
# The preview itself


def test_preview_shows_what_geova_reads_and_stores_nothing(engine, tmp_path):
    mapping = paris_mapping(tmp_path)
    import_interventions(
        engine, write_csv(tmp_path / "first.csv", ROWS), mapping, rejects_path=tmp_path / "r"
    )
    before, hashes = snapshot(engine), content(engine)
    changed = [[*ROWS[0][:5], "Tag effacé", *ROWS[0][6:]], ROWS[1], row("P9", "01/08/2015 09:00")]
    rows = [*changed, row("B1", "32/07/2015 10:00"), row("B2", "01/07/2015 10:00", kind="Affichage")]
    path = write_csv(tmp_path / "second.csv", rows, delimiter=";", encoding="cp1252")

    p = preview_interventions(engine, path, mapping, max_rejects=0)

    assert snapshot(engine) == before
    assert content(engine) == hashes
    assert (p.encoding, p.delimiter) == ("cp1252 (guessed: the file is not UTF-8)", "semicolon")
    assert (p.read, p.accepted, p.rejected) == (5, 3, 2)
    assert (p.new, p.changed, p.unchanged) == (1, 1, 1)
    assert {(r.column, r.reason, r.count) for r in p.rejects} == {
        ("signale", "not a date (day-first date)", 1),
        ("type", "category not in the mapping's [categories] table", 1),
    }
    assert [e.row for r in p.rejects for e in r.examples] in ([5, 6], [6, 5])
    first = p.rows[0]
    assert first["row"] == 2
    assert first["source_id"] == "P1"
    assert first["reported_local"] == "2015-07-01 10:00:00 CEST"
    assert first["reported_utc"] == "2015-07-01 08:00:00 UTC"
    assert (first["longitude"], first["latitude"]) == (2.3499, 48.853)
    assert (first["category"], first["status"]) == ("graffiti", "new")
    assert p.rows[1]["resolved_local"] == "2016-01-02 08:30:00 CET"
    assert p.rows[1]["resolved_utc"] == "2016-01-02 07:30:00 UTC"
    assert p.failure == "2 rows rejected, more than the 0 allowed: nothing would be stored"
    json.dumps(p.to_dict())  # a web page can take it as it is


def test_preview_names_the_quarter_each_row_falls_in(boston, tmp_path):
    rows = [row("S1", "01/07/2015 10:00", where=BOSTON_POINT), row("X1", "01/07/2015 10:00")]
    p = preview_interventions(boston, write_csv(tmp_path / "b.csv", rows), paris_mapping(tmp_path))
    with boston.connect() as conn:
        south_boston = conn.execute(
            select(Intervention.metadata.tables["quarter"].c.code).where(
                Intervention.metadata.tables["quarter"].c.name == "South Boston"
            )
        ).scalar_one()
    assert [r["quarter"] for r in p.rows] == [south_boston, None]
    assert p.outside_territory == 1


def test_a_clean_file_has_no_warnings(boston, tmp_path):
    rows = [row(f"S{i}", f"0{i}/07/2015 10:00", f"0{i}/07/2015 12:00", BOSTON_POINT) for i in range(1, 10)]
    mapping = write_mapping(tmp_path / "m.toml", source=SOURCE.replace("Europe/Paris", "America/New_York"))
    p = preview_interventions(boston, write_csv(tmp_path / "b.csv", rows), mapping)
    assert p.warnings == []
    assert p.failure is None


# --------------------------------------------------------------------------------------------------
# One check per mistake


def test_pm_marker_without_a_12_hour_clock(engine, tmp_path):
    times = ["10:37:47 AM", "02:05:11 PM", "12:30:00 PM", "12:05:00 AM", "11:59:00 PM", "09:00:00 AM"]
    rows = [row(f"N{i}", f"07/0{i + 1}/2015 {t}") for i, t in enumerate(times)]
    source = SOURCE + 'date_format = "%m/%d/%Y %H:%M:%S %p"\n'
    mapping = write_mapping(tmp_path / "m.toml", source=source)
    # misread: a PM hour other than 12 (taken as morning), and 12:xx AM (taken as noon)
    expected = sum(
        1
        for t in times
        if (t.endswith("PM") and not t.startswith("12")) or (t.endswith("AM") and t.startswith("12"))
    )

    p = preview_interventions(engine, write_csv(tmp_path / "ny.csv", rows), mapping)

    w = warning(p, "ampm_without_12h_clock")
    assert w.count == expected == 3
    assert [e.row for e in w.examples] == [3, 5, 6]
    assert "%m/%d/%Y %I:%M:%S %p" in w.message
    assert p.rejected == 0  # nothing else would have told


def test_month_first_dates_in_a_day_first_mapping(engine, tmp_path):
    reported = ["07/13/2015 10:00", "07/01/2015 10:00", "12/31/2015 23:00", "01/02/2015 08:00"]
    resolved = ["07/14/2015 10:00", "07/02/2015 10:00", "", "01/20/2015 08:00"]
    rows = [row(f"M{i}", a, b) for i, (a, b) in enumerate(zip(reported, resolved, strict=True))]
    expected = sum(
        1
        for a, b in zip(reported, resolved, strict=True)
        if any(v and int(v[3:5]) > 12 for v in (a, b))  # the second number, read as the month
    )

    p = preview_interventions(engine, write_csv(tmp_path / "m.csv", rows), paris_mapping(tmp_path))

    w = warning(p, "month_above_12")
    assert w.count == expected == 3
    assert "day_first = false" in w.message
    assert p.rejected == 3


def test_month_first_file_read_day_first_resolves_before_reporting(engine, tmp_path):
    """All numbers 12 or less: nothing is rejected, but read day-first most resolutions come first."""
    pairs = [
        ("03/10/2015 10:00", "04/02/2015 10:00"),
        ("05/11/2015 10:00", "06/01/2015 10:00"),
        ("08/12/2015 10:00", "09/03/2015 10:00"),
        ("10/09/2015 10:00", "11/02/2015 10:00"),
        ("02/05/2015 10:00", "02/06/2015 10:00"),
    ]
    rows = [row(f"D{i}", a, b) for i, (a, b) in enumerate(pairs)]

    def before(fmt: str) -> int:
        return sum(1 for a, b in pairs if datetime.strptime(b, fmt) < datetime.strptime(a, fmt))

    p = preview_interventions(engine, write_csv(tmp_path / "d.csv", rows), paris_mapping(tmp_path))

    w = warning(p, "day_month_order")
    assert w.count == before("%d/%m/%Y %H:%M") == 4
    assert before("%m/%d/%Y %H:%M") == 0
    assert p.rejected == 0


@pytest.mark.parametrize(("early", "total", "warned"), [(3, 50, True), (1, 60, False)])
def test_share_resolved_before_report(engine, tmp_path, early, total, warned):
    rows = [
        row(f"R{i}", "10/07/2015 10:00", "09/07/2015 10:00" if i < early else "11/07/2015 10:00")
        for i in range(total)
    ]
    p = preview_interventions(engine, write_csv(tmp_path / "r.csv", rows), paris_mapping(tmp_path))
    assert p.flags["resolved_before_report"] == early
    if warned:
        assert warning(p, "resolved_before_report_share").count == early
        assert f"{early} of {total} rows" in warning(p, "resolved_before_report_share").message
    else:
        assert "resolved_before_report_share" not in warnings_of(p)


def test_time_zone_other_than_the_territory(engine, tmp_path):
    with write(engine) as conn:
        set_setting(conn, "timezone", "America/New_York")
    p = preview_interventions(engine, write_csv(tmp_path / "t.csv", ROWS), paris_mapping(tmp_path))
    w = warning(p, "timezone_differs")
    assert w.count == len(ROWS)
    assert "Europe/Paris" in w.message and "America/New_York" in w.message


def test_no_time_zone_warning_when_they_agree(engine, tmp_path):
    with write(engine) as conn:
        set_setting(conn, "timezone", "Europe/Paris")
    p = preview_interventions(engine, write_csv(tmp_path / "t.csv", ROWS), paris_mapping(tmp_path))
    assert "timezone_differs" not in warnings_of(p)


def test_categories_the_referential_does_not_know(engine, tmp_path):
    tables = '[categories]\nTag = "graffiti"\n"Dépôt" = "encombrants_inconnus"\n'
    tables += '[status]\nvalues = { Ouvert = "open", "Fermé" = "closed" }\n'
    mapping = write_mapping(tmp_path / "m.toml", tables=tables)
    expected = sum(1 for r in ROWS if r[1] == "Dépôt")

    p = preview_interventions(engine, write_csv(tmp_path / "c.csv", ROWS), mapping)

    w = warning(p, "unknown_categories")
    assert w.count == expected == 1
    assert "encombrants_inconnus" in w.message
    assert p.failure == "categories not in the referential: encombrants_inconnus"


def test_swapped_coordinates(boston, tmp_path):
    swapped = (BOSTON_POINT[1], BOSTON_POINT[0])  # longitude in the latitude column
    rows = [row(f"W{i}", "01/07/2015 10:00", where=swapped) for i in range(4)]
    rows.append(row("OK", "01/07/2015 10:00", where=BOSTON_POINT))
    p = preview_interventions(boston, write_csv(tmp_path / "w.csv", rows), paris_mapping(tmp_path))
    w = warning(p, "mostly_outside")
    assert w.count == 4
    assert "swapped" in w.message


def test_points_of_another_place(boston, tmp_path):
    rows = [row(f"P{i}", "01/07/2015 10:00") for i in range(3)]  # Paris points, Boston quarters
    p = preview_interventions(boston, write_csv(tmp_path / "p.csv", rows), paris_mapping(tmp_path))
    w = warning(p, "mostly_outside")
    assert w.count == 3
    assert "CRS" in w.message and "swapped" not in w.message


def test_no_territory_no_outside_warning(engine, tmp_path):
    p = preview_interventions(engine, write_csv(tmp_path / "p.csv", ROWS), paris_mapping(tmp_path))
    assert "mostly_outside" not in warnings_of(p)


# --------------------------------------------------------------------------------------------------
# Local times a DST change skips or repeats


DST_ROWS = [
    row("GAP", "29/03/2015 02:30"),  # clocks jump from 02:00 to 03:00: 02:30 never happens
    row("TWICE", "25/10/2015 02:30"),  # clocks go back from 03:00 to 02:00: 02:30 happens twice
    row("GAP2", "28/03/2015 09:00", "29/03/2015 02:15"),  # the resolution is in the gap
    row("PLAIN", "01/07/2015 10:00"),
]


def test_nonexistent_and_ambiguous_local_times_are_flagged(engine, tmp_path):
    report = import_interventions(
        engine,
        write_csv(tmp_path / "dst.csv", DST_ROWS),
        paris_mapping(tmp_path),
        rejects_path=tmp_path / "r",
    )
    assert report.rejected == 0
    assert report.flagged == {"nonexistent_local_time": 2, "ambiguous_local_time": 1}
    assert flags(engine) == {
        "GAP": {"nonexistent_local_time"},
        "GAP2": {"nonexistent_local_time"},
        "TWICE": {"ambiguous_local_time"},
    }
    rows = stored(engine)
    # the rule: a skipped time is moved to the end of the gap (03:00 CEST = 01:00 UTC); a repeated
    # one is its first occurrence, still in summer time (02:30 CEST = 00:30 UTC)
    assert rows["GAP"]["reported_at"] == utc(2015, 3, 29, 1, 0)
    assert rows["GAP2"]["resolved_at"] == utc(2015, 3, 29, 1, 0)
    assert rows["TWICE"]["reported_at"] == utc(2015, 10, 25, 0, 30)
    assert rows["PLAIN"]["reported_at"] == utc(2015, 7, 1, 8, 0)


def test_dst_flags_are_counted_in_the_preview_and_the_cli_summary(db_url, tmp_path):
    path, mapping = write_csv(tmp_path / "dst.csv", DST_ROWS), paris_mapping(tmp_path)
    dry = geova(db_url, "import-interventions", path, "--mapping", mapping, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "ambiguous_local_time 1, nonexistent_local_time 2" in dry.stdout
    assert "2015-03-29 03:00:00 CEST" in dry.stdout  # the rule, shown before storing

    result = geova(db_url, "import-interventions", path, "--mapping", mapping)
    assert result.exit_code == 0, result.output
    assert "flagged: ambiguous_local_time 1, nonexistent_local_time 2" in result.stdout


def test_iso_times_with_an_offset_are_never_flagged(engine, tmp_path):
    rows = [row("ISO", "2015-03-29T02:30:00+01:00"), row("ISO2", "2015-10-25T02:30:00+01:00")]
    report = import_interventions(
        engine, write_csv(tmp_path / "iso.csv", rows), paris_mapping(tmp_path), rejects_path=tmp_path / "r"
    )
    assert report.flagged == {}
    assert stored(engine)["ISO2"]["reported_at"] == utc(2015, 10, 25, 1, 30)


# --------------------------------------------------------------------------------------------------
# Exit codes and the rejects limit, through the command line


BAD = [row("B1", "32/07/2015 10:00"), row("B2", "01/07/2015 10:00", kind="Affichage")]


def test_rejected_rows_fail_the_import_unless_allowed(db_url, engine, tmp_path, _instance):
    path, mapping = write_csv(tmp_path / "dmr.csv", [*ROWS, *BAD]), paris_mapping(tmp_path)

    refused = geova(db_url, "import-interventions", path, "--mapping", mapping)

    assert refused.exit_code == 1
    rejects = _instance / "rejects" / "dmr.rejects.csv"
    assert str(rejects) in refused.stderr
    assert "--max-rejects 2" in refused.stderr
    assert "Nothing was stored." in refused.stderr
    assert stored(engine) == {}
    assert len(rejects.read_text(encoding="utf-8-sig").splitlines()) == 1 + len(BAD)

    too_few = geova(db_url, "import-interventions", path, "--mapping", mapping, "--max-rejects", 1)
    assert too_few.exit_code == 1
    assert stored(engine) == {}

    allowed = geova(db_url, "import-interventions", path, "--mapping", mapping, "--max-rejects", 2)
    assert allowed.exit_code == 0, allowed.output
    assert f"rejects (row, field, reason): {rejects}" in allowed.stdout
    assert set(stored(engine)) == {r[0] for r in ROWS}


def test_library_default_stores_the_good_rows(engine, tmp_path):
    """The Python function keeps its old default (no limit); the command line's is 0."""
    path, mapping = write_csv(tmp_path / "dmr.csv", [*ROWS, *BAD]), paris_mapping(tmp_path)
    assert import_interventions(engine, path, mapping, rejects_path=tmp_path / "r").inserted == len(ROWS)
    with pytest.raises(TooManyRejects) as err:
        import_interventions(engine, path, mapping, rejects_path=tmp_path / "r", max_rejects=0)
    assert (err.value.rejected, err.value.allowed) == (2, 0)


def test_dry_run_exit_code_says_whether_the_import_would_store(db_url, engine, tmp_path):
    mapping = paris_mapping(tmp_path)
    clean = geova(
        db_url,
        "import-interventions",
        write_csv(tmp_path / "ok.csv", ROWS),
        "--mapping",
        mapping,
        "--dry-run",
    )
    assert clean.exit_code == 0, clean.output
    assert "dry run: nothing was stored" in clean.stdout
    assert "read 3 · would store 3 (new 3, changed 0, unchanged 0) · rejected 0" in clean.stdout
    assert "encoding utf-8 · delimiter comma" in clean.stdout

    path = write_csv(tmp_path / "bad.csv", [*ROWS, *BAD])
    bad = geova(db_url, "import-interventions", path, "--mapping", mapping, "--dry-run")
    assert bad.exit_code == 1
    assert "the import would fail: 2 rows rejected, more than the 0 allowed" in bad.stdout
    assert "not a date (day-first date)" in bad.stdout

    ok = geova(db_url, "import-interventions", path, "--mapping", mapping, "--dry-run", "--max-rejects", 2)
    assert ok.exit_code == 0, ok.output
    assert stored(engine) == {}
    assert not (tmp_path / "instance" / "rejects").exists()  # a dry run writes no file either


def test_dry_run_prints_the_warnings(db_url, tmp_path):
    source = SOURCE + 'date_format = "%d/%m/%Y %H:%M:%S %p"\n'
    rows = [row("N1", "01/07/2015 02:00:00 PM")]
    result = geova(
        db_url,
        "import-interventions",
        write_csv(tmp_path / "pm.csv", rows),
        "--mapping",
        write_mapping(tmp_path / "m.toml", source=source),
        "--dry-run",
    )
    assert result.exit_code == 0, result.output
    assert "! ampm_without_12h_clock:" in result.stdout
    assert "e.g. 2: 01/07/2015 02:00:00 PM" in result.stdout


ACTIVITY_MAPPING = """
[source]
name = "balayage"
timezone = "Europe/Paris"
date_format = "%d/%m/%Y %H:%M"
category = "graffiti"

[columns]
source_id = "id"
at = "date"
latitude = "lat"
longitude = "lon"
"""


def test_activities_dry_run_and_rejects_limit(db_url, engine, tmp_path, _instance):
    mapping = tmp_path / "act.toml"
    mapping.write_text(ACTIVITY_MAPPING, encoding="utf-8")
    lines = [
        "id;date;lat;lon",
        "A1;29/03/2015 02:30;48,85;2,35",
        "A2;01/07/2015 06:00;48,85;2,35",
        "A3;jamais;48,85;2,35",
    ]
    path = tmp_path / "act.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    dry = geova(db_url, "import-activities", path, "--mapping", mapping, "--dry-run")
    assert dry.exit_code == 1  # one reject, none allowed
    assert "read 3 · would store 2" in dry.stdout
    assert "flagged: nonexistent_local_time 1" in dry.stdout
    assert "2015-07-01 06:00:00 CEST" in dry.stdout

    refused = geova(db_url, "import-activities", path, "--mapping", mapping)
    assert refused.exit_code == 1
    assert "--max-rejects 1" in refused.stderr
    status = json.loads(geova(db_url, "status", "--format", "json").stdout)
    assert [i["kind"] for i in status["last_imports"]] == []

    allowed = geova(db_url, "import-activities", path, "--mapping", mapping, "--max-rejects", 1)
    assert allowed.exit_code == 0, allowed.output
    assert "inserted 2" in allowed.stdout


def test_layer_dry_run_stores_nothing(db_url, engine):
    result = geova(
        db_url,
        "import-layer",
        NEIGHBORHOODS,
        "--as",
        "quarters",
        "--code-field",
        "Neighborhood_ID",
        "--name-field",
        "Name",
        "--dry-run",
    )
    assert result.exit_code == 0, result.output
    assert "boston_neighborhoods.geojson -> quarters 'boston_neighborhoods' (dry run" in result.stdout
    assert "read 26 · would store 26" in result.stdout
    assert "first features as geova reads them" in result.stdout
    status = json.loads(geova(db_url, "status", "--format", "json").stdout)
    assert status["quarters"] == {}
    assert status["last_imports"] == []
