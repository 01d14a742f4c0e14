"""Importing intervention records: formats, encodings, dates, broken files, rejects, idempotence, flags.

Every test taking ``engine`` runs on SpatiaLite and on PostGIS. Input files are written into the
test's own folder from Python, with the exact bytes (encoding, BOM, delimiter) a city's export has.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pytest
from pyproj import Transformer
from sqlalchemy import Engine, func, select

from geova.importing import InterventionReport, import_interventions, import_layer
from geova.io.errors import ImportFailure
from geova.store.schema import ImportRun, Intervention, InterventionFlag, InterventionZone, Quarter

REPO = Path(__file__).resolve().parents[1]
BOSTON_CSV = REPO / "data" / "boston" / "graffiti-removal.csv"
BOSTON_MAPPING = REPO / "data" / "mappings" / "graffiti-removal.toml"
NEIGHBORHOODS = REPO / "layers" / "boston_neighborhoods.geojson"

EGLISE = "Dépôt sauvage rue de l'Église"
CP1252_TEXT = "Œuvre « street art » – 5 € ’"  # characters Latin-1 lacks but cp1252 has
BOM = b"\xef\xbb\xbf"
GUESSED_CP1252 = "encoding cp1252 (guessed: the file is not UTF-8)"

IV = Intervention.__table__
FL = InterventionFlag.__table__


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --------------------------------------------------------------------------------------------------
# Input files


HEADER = ["id", "type", "signale", "resolu", "etat", "libelle", "lat", "lon"]
ROWS = [
    ["P1", "Tag", "01/07/2015 10:00", "", "Ouvert", "Tag sur la façade", "48.8530", "2.3499"],
    ["P2", "Dépôt", "31/12/2015 23:59", "02/01/2016 08:30", "Fermé", EGLISE, "48.8566", "2.3522"],
    ["P3", "Tag", "15/03/2015 09:15", "", "Ouvert", CP1252_TEXT, "48.8600", "2.3400"],
]

SOURCE = """
[source]
name = "paris-dmr"
timezone = "Europe/Paris"
"""
COLUMNS = """
[columns]
source_id = "id"
category = "type"
reported_at = "signale"
resolved_at = "resolu"
status = "etat"
description = "libelle"
"""
LATLON = """latitude = "lat"
longitude = "lon"
"""
TABLES = """
[categories]
Tag = "graffiti"
"Dépôt" = "depot_sauvage"

[status]
values = { Ouvert = "open", "Fermé" = "closed" }
"""


def write_csv(
    path: Path,
    rows: list[list[str]],
    *,
    header: list[str] = HEADER,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> Path:
    """A CSV file as a spreadsheet would save it (CRLF line ends), in the given encoding."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def write_mapping(
    path: Path,
    *,
    source: str = SOURCE,
    columns: str = COLUMNS + LATLON,
    tables: str = TABLES,
    extra: str = "",
) -> Path:
    path.write_text(source + columns + tables + extra, encoding="utf-8")
    return path


def paris_mapping(tmp_path: Path, source_extra: str = "", **kw: str) -> Path:
    return write_mapping(tmp_path / "paris.toml", source=SOURCE + source_extra, **kw)


def run(engine: Engine, path: Path, mapping: Path, **kw) -> InterventionReport:
    kw.setdefault("rejects_path", path.with_suffix(".rejects.csv"))
    return import_interventions(engine, path, mapping, **kw)


# --------------------------------------------------------------------------------------------------
# Reading the store back


def stored(engine: Engine) -> dict[str, dict]:
    """Every stored intervention by source id, with its point as lon/lat."""
    cols = [c for c in IV.c if c.name != "geom"]
    q = select(*cols, func.ST_X(IV.c.geom).label("lon"), func.ST_Y(IV.c.geom).label("lat"))
    with engine.connect() as conn:
        return {r["source_id"]: dict(r) for r in conn.execute(q).mappings()}


def flags(engine: Engine) -> dict[str, set[str]]:
    q = select(IV.c.source_id, FL.c.code).join(FL, FL.c.intervention_id == IV.c.id)
    out: dict[str, set[str]] = {}
    with engine.connect() as conn:
        for sid, code in conn.execute(q):
            out.setdefault(sid, set()).add(code)
    return out


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            m.__tablename__: conn.execute(select(func.count()).select_from(m.__table__)).scalar_one()
            for m in (Intervention, InterventionFlag, InterventionZone, ImportRun)
        }


def snapshot(engine: Engine) -> tuple:
    return counts(engine), stored(engine), flags(engine)


@pytest.fixture
def boston_quarters(engine: Engine) -> dict[str, int]:
    """Load Boston's neighbourhoods as quarters; returns quarter id by name."""
    import_layer(engine, NEIGHBORHOODS, as_="quarters", code_field="Neighborhood_ID", name_field="Name")
    with engine.connect() as conn:
        return {name: qid for name, qid in conn.execute(select(Quarter.name, Quarter.id))}


# --------------------------------------------------------------------------------------------------
# 1. Formats, encodings, dates, coordinates


@pytest.mark.parametrize(
    ("delimiter", "encoding", "notes"),
    [
        (",", "utf-8", ["encoding utf-8", "delimiter comma"]),
        (";", "utf-8", ["encoding utf-8", "delimiter semicolon"]),
        (",", "utf-8-sig", ["encoding utf-8-sig", "delimiter comma"]),
        (";", "utf-8-sig", ["encoding utf-8-sig", "delimiter semicolon"]),
        (";", "cp1252", [GUESSED_CP1252, "delimiter semicolon"]),
        (",", "cp1252", [GUESSED_CP1252, "delimiter comma"]),
    ],
    ids=["comma-utf8", "semicolon-utf8", "comma-bom", "semicolon-bom", "semicolon-cp1252", "comma-cp1252"],
)
def test_csv_delimiters_and_encodings_round_trip(engine, tmp_path, delimiter, encoding, notes):
    path = write_csv(tmp_path / "dmr.csv", ROWS, delimiter=delimiter, encoding=encoding)
    if encoding == "utf-8-sig":
        assert path.read_bytes().startswith(BOM)

    report = run(engine, path, paris_mapping(tmp_path))

    assert (report.read, report.inserted, report.rejected) == (3, 3, 0)
    assert report.notes == notes
    rows = stored(engine)
    assert set(rows) == {"P1", "P2", "P3"}  # the BOM did not end up in the first column's name
    assert rows["P2"]["description"] == EGLISE
    assert rows["P2"]["source_category"] == "Dépôt"
    assert rows["P2"]["category_code"] == "depot_sauvage"
    assert rows["P2"]["status"] == "closed"  # "Fermé" matched the status table
    assert rows["P1"]["description"] == "Tag sur la façade"
    assert rows["P3"]["description"] == CP1252_TEXT
    assert rows["P1"]["source"] == "paris-dmr"


def test_latin1_file_is_told_apart_from_utf8(engine, tmp_path):
    """A file with only Latin-1 accents (no cp1252-only characters) decodes the same way."""
    rows = [[*r[:5], EGLISE, *r[6:]] for r in ROWS]
    path = write_csv(tmp_path / "latin1.csv", rows, delimiter=";", encoding="latin-1")
    run(engine, path, paris_mapping(tmp_path))
    assert {r["description"] for r in stored(engine).values()} == {EGLISE}


def test_day_first_24h_dates_in_the_stated_time_zone(engine, tmp_path):
    path = write_csv(tmp_path / "dmr.csv", ROWS)
    run(engine, path, paris_mapping(tmp_path))
    rows = stored(engine)
    assert rows["P1"]["reported_at"] == utc(2015, 7, 1, 8, 0)  # Paris summer time, UTC+2
    assert rows["P2"]["reported_at"] == utc(2015, 12, 31, 22, 59)  # Paris winter time, UTC+1
    assert rows["P2"]["resolved_at"] == utc(2016, 1, 2, 7, 30)
    assert rows["P3"]["reported_at"] == utc(2015, 3, 15, 8, 15)
    assert rows["P1"]["resolved_at"] is None
    for r in rows.values():
        assert r["reported_at"].utcoffset().total_seconds() == 0


def test_local_times_around_the_dst_changes(engine, tmp_path):
    """02:30 happens twice on 25 Oct 2015 in Paris (read as summer time) and not at all on 29 Mar
    2015 (moved forward to 03:00)."""
    rows = [
        ["A1", "Tag", "25/10/2015 02:30", "", "Ouvert", "", "48.85", "2.35"],
        ["A2", "Tag", "29/03/2015 02:30", "", "Ouvert", "", "48.85", "2.35"],
    ]
    report = run(engine, write_csv(tmp_path / "dst.csv", rows), paris_mapping(tmp_path))
    assert report.rejected == 0
    got = {sid: r["reported_at"] for sid, r in stored(engine).items()}
    assert got == {"A1": utc(2015, 10, 25, 0, 30), "A2": utc(2015, 3, 29, 1, 0)}


NEW_YORK_ROWS = [
    ["N1", "Tag", "12/31/2015 11:59:00 PM", "01/01/2016 12:05:00 AM", "Fermé", "", "42.3345", "-71.0398"],
    ["N2", "Tag", "07/01/2015 10:00:00 AM", "", "Ouvert", "", "42.3345", "-71.0398"],
    ["N3", "Tag", "07/01/2015 12:30:00 PM", "", "Ouvert", "", "42.3345", "-71.0398"],
]


@pytest.mark.parametrize(
    "source_extra",
    ['date_format = "%m/%d/%Y %I:%M:%S %p"\n', "day_first = false\n"],
    ids=["date_format", "day_first-false"],
)
def test_month_first_12h_clock_in_new_york(engine, tmp_path, source_extra):
    source = SOURCE.replace("Europe/Paris", "America/New_York") + source_extra
    mapping = write_mapping(tmp_path / "ny.toml", source=source)
    report = run(engine, write_csv(tmp_path / "ny.csv", NEW_YORK_ROWS), mapping)
    assert report.rejected == 0
    rows = stored(engine)
    assert rows["N1"]["reported_at"] == utc(2016, 1, 1, 4, 59)  # EST, UTC-5
    assert rows["N1"]["resolved_at"] == utc(2016, 1, 1, 5, 5)  # 12:05 AM is just after midnight
    assert rows["N2"]["reported_at"] == utc(2015, 7, 1, 14, 0)  # EDT, UTC-4
    assert rows["N3"]["reported_at"] == utc(2015, 7, 1, 16, 30)  # 12:30 PM is just after noon


def test_same_local_time_differs_by_time_zone(engine, tmp_path):
    """'01/07/2015 10:00' is 08:00 UTC in Paris and 14:00 UTC in New York."""
    row = [["T1", "Tag", "01/07/2015 10:00", "", "Ouvert", "", "48.85", "2.35"]]
    run(engine, write_csv(tmp_path / "paris.csv", row), paris_mapping(tmp_path))
    assert stored(engine)["T1"]["reported_at"] == utc(2015, 7, 1, 8, 0)

    ny = SOURCE.replace("Europe/Paris", "America/New_York").replace("paris-dmr", "ny")
    run(engine, write_csv(tmp_path / "ny.csv", row), write_mapping(tmp_path / "ny.toml", source=ny))
    by_source = {r["source"]: r["reported_at"] for r in stored_all(engine)}
    assert by_source == {"paris-dmr": utc(2015, 7, 1, 8, 0), "ny": utc(2015, 7, 1, 14, 0)}


def stored_all(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(IV.c.source, IV.c.reported_at)).mappings()]


def test_iso_8601_with_offsets_keeps_each_offset(engine, tmp_path):
    """ISO strings carry their own offset (summer and winter in one file, Z, other zones); strings
    without one are local time in the mapping's time zone."""
    rows = [
        ["I1", "Tag", "2015-07-01T10:00:00+02:00", "2015-07-02T09:30:00-04:00", "Fermé", "", "48.85", "2.35"],
        ["I2", "Tag", "2015-12-31T23:59:00+01:00", "", "Ouvert", "", "48.85", "2.35"],
        ["I3", "Tag", "2015-07-01T08:00:00Z", "", "Ouvert", "", "48.85", "2.35"],
        ["I4", "Tag", "2015-07-01 10:00", "", "Ouvert", "", "48.85", "2.35"],
    ]
    report = run(engine, write_csv(tmp_path / "iso.csv", rows), paris_mapping(tmp_path))
    assert (report.inserted, report.rejected) == (4, 0)
    got = {sid: r["reported_at"] for sid, r in stored(engine).items()}
    assert got == {
        "I1": utc(2015, 7, 1, 8, 0),
        "I2": utc(2015, 12, 31, 22, 59),
        "I3": utc(2015, 7, 1, 8, 0),
        "I4": utc(2015, 7, 1, 8, 0),
    }
    assert stored(engine)["I1"]["resolved_at"] == utc(2015, 7, 2, 13, 30)


def test_iso_8601_with_one_offset_throughout(engine, tmp_path):
    rows = [
        ["J1", "Tag", "2015-07-01T10:00:00+02:00", "", "Ouvert", "", "48.85", "2.35"],
        ["J2", "Tag", "2015-07-03T18:45:00+02:00", "", "Ouvert", "", "48.85", "2.35"],
    ]
    run(engine, write_csv(tmp_path / "iso.csv", rows), paris_mapping(tmp_path))
    got = {sid: r["reported_at"] for sid, r in stored(engine).items()}
    assert got == {"J1": utc(2015, 7, 1, 8, 0), "J2": utc(2015, 7, 3, 16, 45)}


def test_day_first_file_rejects_a_month_first_date(engine, tmp_path):
    """In a day-first file, '07/13/2015' is no date: it must not silently become 13 July while
    '01/07/2015' on the next line means 1 July."""
    rows = [
        ["D1", "Tag", "01/07/2015 10:00", "", "Ouvert", "", "48.85", "2.35"],
        ["D2", "Tag", "07/13/2015 10:00", "", "Ouvert", "", "48.85", "2.35"],
    ]
    path = write_csv(tmp_path / "dates.csv", rows)
    report = run(engine, path, paris_mapping(tmp_path))
    assert (report.inserted, report.rejected) == (1, 1)
    assert set(stored(engine)) == {"D1"}
    assert read_rejects(Path(report.rejects_file))[0][:3] == ["3", "signale", "07/13/2015 10:00"]


def test_decimal_comma_coordinates(engine, tmp_path):
    rows = [["C1", "Tag", "01/07/2015 10:00", "", "Ouvert", "", "48,853012", "2,349901"]]
    for delimiter in (";", ","):  # quoted in a comma-separated file
        path = write_csv(tmp_path / f"c{delimiter == ','}.csv", rows, delimiter=delimiter)
        report = run(engine, path, paris_mapping(tmp_path))
        assert report.rejected == 0
        row = stored(engine)["C1"]
        assert row["lon"] == pytest.approx(2.349901, abs=1e-9)
        assert row["lat"] == pytest.approx(48.853012, abs=1e-9)


def test_lambert93_xy_columns_are_reprojected(engine, tmp_path):
    to_l93 = Transformer.from_crs(4326, 2154, always_xy=True)
    points = {"L1": (2.3499, 48.8530), "L2": (5.3698, 43.2965)}  # Notre-Dame de Paris, Marseille
    rows = []
    for sid, (lon, lat) in points.items():
        x, y = to_l93.transform(lon, lat)
        rows.append(
            [sid, "Tag", "01/07/2015 10:00", "", "Ouvert", "", f"{x:.2f}".replace(".", ","), f"{y:.2f}"]
        )
    header = ["id", "type", "signale", "resolu", "etat", "libelle", "X_L93", "Y_L93"]
    path = write_csv(tmp_path / "l93.csv", rows, header=header, delimiter=";")
    columns = COLUMNS + 'x = "X_L93"\ny = "Y_L93"\n'
    mapping = paris_mapping(tmp_path, 'crs = "EPSG:2154"\n', columns=columns)

    report = run(engine, path, mapping)

    assert (report.inserted, report.rejected) == (2, 0)
    got = stored(engine)
    for sid, (lon, lat) in points.items():
        assert got[sid]["lon"] == pytest.approx(lon, abs=1e-6)
        assert got[sid]["lat"] == pytest.approx(lat, abs=1e-6)


def _point_frame(crs: str) -> gpd.GeoDataFrame:
    lonlat = {"G1": (2.3499, 48.8530), "G2": (2.3522, 48.8566)}
    gdf = gpd.GeoDataFrame(
        {
            "id": list(lonlat),
            "type": ["Tag", "Dépôt"],
            "signale": ["01/07/2015 10:00", "31/12/2015 23:59"],
            "resolu": ["", "02/01/2016 08:30"],
            "etat": ["Ouvert", "Fermé"],
            "libelle": ["Tag", EGLISE],
        },
        geometry=gpd.points_from_xy([p[0] for p in lonlat.values()], [p[1] for p in lonlat.values()]),
        crs="EPSG:4326",
    )
    return gdf.to_crs(crs)


@pytest.mark.parametrize(
    ("suffix", "driver", "crs"),
    [
        (".geojson", "GeoJSON", "EPSG:4326"),
        (".gpkg", "GPKG", "EPSG:4326"),
        (".gpkg", "GPKG", "EPSG:2154"),
        (".geojson", "GeoJSON", "EPSG:2154"),
    ],
    ids=["geojson-4326", "gpkg-4326", "gpkg-2154", "geojson-2154"],
)
def test_point_files(engine, tmp_path, suffix, driver, crs):
    path = tmp_path / f"points{suffix}"
    _point_frame(crs).to_file(path, driver=driver, engine="pyogrio")
    mapping = paris_mapping(tmp_path, columns=COLUMNS)  # no coordinate columns: the geometry is used

    report = run(engine, path, mapping)

    assert (report.read, report.inserted, report.rejected) == (2, 2, 0)
    got = stored(engine)
    assert got["G1"]["lon"] == pytest.approx(2.3499, abs=1e-7)
    assert got["G1"]["lat"] == pytest.approx(48.8530, abs=1e-7)
    assert got["G2"]["lon"] == pytest.approx(2.3522, abs=1e-7)
    assert got["G2"]["description"] == EGLISE
    assert got["G2"]["category_code"] == "depot_sauvage"
    assert got["G1"]["reported_at"] == utc(2015, 7, 1, 8, 0)
    assert got["G2"]["resolved_at"] == utc(2016, 1, 2, 7, 30)
    assert got["G1"]["resolved_at"] is None
    if crs != "EPSG:4326":
        assert any("reprojected" in n for n in report.notes)


def test_geopackage_numeric_ids_and_iso_dates(engine, tmp_path):
    """Integer id fields keep their text form ('101', not '101.0'); date-time fields are read."""
    gdf = gpd.GeoDataFrame(
        {
            "id": [101, 102],
            "type": ["Tag", "Tag"],
            "signale": ["2015-07-01T10:00:00", "2015-12-31T23:59:00"],
            "resolu": ["", ""],
            "etat": ["Ouvert", "Ouvert"],
            "libelle": ["", ""],
        },
        geometry=gpd.points_from_xy([2.35, 2.36], [48.85, 48.86]),
        crs="EPSG:4326",
    )
    path = tmp_path / "ids.gpkg"
    gdf.to_file(path, driver="GPKG", engine="pyogrio")
    report = run(engine, path, paris_mapping(tmp_path, columns=COLUMNS))
    assert report.rejected == 0
    got = stored(engine)
    assert set(got) == {"101", "102"}
    assert got["101"]["reported_at"] == utc(2015, 7, 1, 8, 0)
    assert got["102"]["reported_at"] == utc(2015, 12, 31, 22, 59)


# --------------------------------------------------------------------------------------------------
# 2. A corrupt record in the middle of a file stops the import; nothing is written

GOOD_LINES = [
    "id,type,signale,resolu,etat,libelle,lat,lon",
    'E1,Tag,01/07/2015 10:00,,Ouvert,"Tag sur deux\nlignes",48.85,2.35',  # lines 2-3
    "E2,Tag,02/07/2015 10:00,,Ouvert,,48.85,2.35",  # line 4
]
CORRUPT = {
    "extra-field": "E3,Tag,03/07/2015 10:00,,Ouvert,Tag, rue X,48.85,2.35",  # unquoted comma
    "truncated": "E3,Tag,03/07/2015 10:00,,Ouv",
    "unclosed-quote": 'E3,Tag,03/07/2015 10:00,,Ouvert,"Tag rue X,48.85,2.35',
}


@pytest.mark.parametrize("prefilled", [False, True], ids=["empty-store", "store-with-records"])
@pytest.mark.parametrize("case", list(CORRUPT))
def test_corrupt_record_mid_file_stops_and_stores_nothing(engine, tmp_path, case, prefilled):
    mapping = paris_mapping(tmp_path)
    if prefilled:
        run(engine, write_csv(tmp_path / "earlier.csv", ROWS), mapping)
    before = snapshot(engine)

    lines = [
        *GOOD_LINES,
        "E1X,Tag,02/07/2015 10:00,,Ouvert,,48.85,2.35",  # line 5
        CORRUPT[case],  # line 6
        "P1,Tag,01/07/2015 10:00,02/07/2015 10:00,Fermé,changed,48.8530,2.3499",  # would update P1
        "E4,Tag,04/07/2015 10:00,,Ouvert,,48.85,2.35",
    ]
    path = tmp_path / "broken.csv"
    path.write_bytes("\r\n".join(lines).encode("utf-8") + b"\r\n")

    with pytest.raises(ImportFailure) as err:
        run(engine, path, mapping)

    message = str(err.value)
    assert "broken.csv" in message
    assert "line 6" in message, message
    assert err.value.row == "line 6"
    assert snapshot(engine) == before
    if prefilled:
        assert stored(engine)["P1"]["status"] == "new"


def test_undecodable_bytes_with_a_stated_encoding(engine, tmp_path):
    path = write_csv(tmp_path / "latin.csv", ROWS, encoding="cp1252")
    mapping = paris_mapping(tmp_path, 'encoding = "utf-8"\n')
    with pytest.raises(ImportFailure) as err:
        run(engine, path, mapping)
    assert "latin.csv" in str(err.value)
    assert "line 2" in str(err.value)  # the first non-UTF-8 byte: "façade" on P1's line
    assert counts(engine)["intervention"] == 0


# --------------------------------------------------------------------------------------------------
# 3. Bad values are rejected row by row, and listed in a rejects file

BAD_ROWS = [
    ["B1", "Tag", "01/07/2015 10:00", "", "Ouvert", "first", "48.85", "2.35"],  # line 2
    ["B2", "Tag", "32/01/2015 10:00", "", "Ouvert", "", "48.85", "2.35"],  # line 3
    ["B3", "Affichage « sauvage »; vitrine", "01/07/2015 10:00", "", "Ouvert", "", "48.85", "2.35"],
    ["B4", "Tag", "01/07/2015 10:00", "", "En cours", "", "48.85", "2.35"],  # line 5
    ["B5", "Tag", "01/07/2015 10:00", "", "Ouvert", "", "", "2.35"],  # line 6
    ["B1", "Tag", "02/07/2015 10:00", "", "Ouvert", "second", "48.85", "2.35"],  # line 7
    ["B6", "Dépôt", "03/07/2015 10:00", "", "Fermé", "", "48.86", "2.36"],  # line 8
]


def read_rejects(path: Path) -> list[list[str]]:
    data = path.read_bytes()
    assert data.startswith(BOM), "rejects file must open in Excel: UTF-8 with BOM"
    rows = list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline=""), delimiter=";"))
    assert rows[0] == ["line", "field", "value", "reason"]
    return rows[1:]


def test_bad_values_are_rejected_and_listed(engine, tmp_path):
    path = write_csv(tmp_path / "bad.csv", BAD_ROWS)
    rejects_path = tmp_path / "out" / "bad.rejects.csv"

    report = run(engine, path, paris_mapping(tmp_path), rejects_path=rejects_path)

    assert (report.read, report.inserted, report.rejected) == (7, 2, 5)
    assert report.rejects_file == str(rejects_path)
    got = stored(engine)
    assert set(got) == {"B1", "B6"}
    assert got["B1"]["description"] == "first"  # the first occurrence is kept

    rejects = read_rejects(rejects_path)
    assert [r[:3] for r in rejects] == [
        ["3", "signale", "32/01/2015 10:00"],
        ["4", "type", "Affichage « sauvage »; vitrine"],
        ["5", "etat", "En cours"],
        ["6", "lat", ""],
        ["7", "id", "B1"],
    ]
    reasons = [r[3] for r in rejects]
    assert "not a date" in reasons[0]
    assert "category" in reasons[1]
    assert "unknown status" in reasons[2]
    assert "missing" in reasons[3]
    assert "duplicate source id" in reasons[4]
    assert "line 2" in reasons[4]


def test_rejects_file_defaults_to_the_instance_folder(engine, tmp_path, _instance):
    path = write_csv(tmp_path / "bad.csv", BAD_ROWS)
    report = import_interventions(engine, path, paris_mapping(tmp_path))
    expected = _instance / "rejects" / "bad.rejects.csv"
    assert report.rejects_file == str(expected)
    assert len(read_rejects(expected)) == 5


def test_good_file_writes_an_empty_rejects_file(engine, tmp_path):
    """A stale rejects file from an earlier run must not survive a clean re-import."""
    rejects_path = tmp_path / "dmr.rejects.csv"
    run(engine, write_csv(tmp_path / "dmr.csv", BAD_ROWS), paris_mapping(tmp_path), rejects_path=rejects_path)
    assert len(read_rejects(rejects_path)) == 5
    run(engine, write_csv(tmp_path / "dmr.csv", ROWS), paris_mapping(tmp_path), rejects_path=rejects_path)
    assert read_rejects(rejects_path) == []


@pytest.mark.parametrize("prefilled", [False, True], ids=["empty-store", "store-with-records"])
def test_max_rejects_zero_stores_nothing(engine, tmp_path, prefilled):
    mapping = paris_mapping(tmp_path)
    if prefilled:
        run(engine, write_csv(tmp_path / "earlier.csv", ROWS), mapping)
    before = snapshot(engine)
    path = write_csv(tmp_path / "bad.csv", BAD_ROWS)

    with pytest.raises(ImportFailure) as err:
        run(engine, path, mapping, max_rejects=0)

    assert "bad.csv" in str(err.value)
    assert "5 rows rejected" in str(err.value)
    assert snapshot(engine) == before
    assert len(read_rejects(path.with_suffix(".rejects.csv"))) == 5  # the user can see why


def test_max_rejects_is_an_inclusive_limit(engine, tmp_path):
    report = run(engine, write_csv(tmp_path / "bad.csv", BAD_ROWS), paris_mapping(tmp_path), max_rejects=5)
    assert (report.inserted, report.rejected) == (2, 5)
    assert counts(engine)["intervention"] == 2


# --------------------------------------------------------------------------------------------------
# 4. Mapping errors are reported before anything is read or written


def _mapping_failure(engine: Engine, tmp_path: Path, mapping: Path) -> ImportFailure:
    good = tmp_path / "good"
    good.mkdir()
    run(engine, write_csv(good / "earlier.csv", ROWS[:1]), paris_mapping(good))
    before = snapshot(engine)
    path = write_csv(tmp_path / "dmr.csv", ROWS[1:])
    with pytest.raises(ImportFailure) as err:
        run(engine, path, mapping)
    assert snapshot(engine) == before
    assert before[0]["intervention"] == 1
    return err.value


def test_mapping_with_an_unknown_key(engine, tmp_path):
    mapping = paris_mapping(tmp_path, 'timezon = "Europe/Paris"\n')
    message = str(_mapping_failure(engine, tmp_path, mapping))
    assert "paris.toml" in message
    assert "source.timezon" in message


def test_mapping_naming_a_column_the_file_lacks(engine, tmp_path):
    mapping = paris_mapping(tmp_path, columns=COLUMNS.replace('"signale"', '"date_signalement"') + LATLON)
    message = str(_mapping_failure(engine, tmp_path, mapping))
    assert "dmr.csv" in message
    assert "date_signalement" in message
    assert "id, type, signale, resolu, etat, libelle, lat, lon" in message  # the file's own columns


def test_mapping_with_an_unknown_time_zone(engine, tmp_path):
    mapping = write_mapping(tmp_path / "paris.toml", source=SOURCE.replace("Europe/Paris", "Europe/Pariss"))
    message = str(_mapping_failure(engine, tmp_path, mapping))
    assert "paris.toml" in message
    assert "Europe/Pariss" in message
    assert "time zone" in message


def test_mapping_with_a_category_code_not_in_the_referential(engine, tmp_path):
    mapping = paris_mapping(tmp_path, tables=TABLES.replace('"depot_sauvage"', '"depots_sauvages"'))
    message = str(_mapping_failure(engine, tmp_path, mapping))
    assert "paris.toml" in message
    assert "depots_sauvages" in message
    assert "referential" in message


def test_mapping_with_xy_columns_but_no_crs(engine, tmp_path):
    mapping = paris_mapping(tmp_path, columns=COLUMNS + 'x = "lon"\ny = "lat"\n')
    message = str(_mapping_failure(engine, tmp_path, mapping))
    assert "paris.toml" in message
    assert "crs" in message


def test_mapping_with_an_unknown_crs(engine, tmp_path):
    mapping = paris_mapping(tmp_path, 'crs = "EPSG:999999"\n', columns=COLUMNS + 'x = "lon"\ny = "lat"\n')
    message = str(_mapping_failure(engine, tmp_path, mapping))
    assert "paris.toml" in message
    assert "EPSG:999999" in message


def test_mapping_with_an_invalid_insulting_pattern(engine, tmp_path):
    mapping = paris_mapping(tmp_path, extra='\n[insulting]\ncolumn = "libelle"\npattern = "(racial"\n')
    message = str(_mapping_failure(engine, tmp_path, mapping))
    assert "paris.toml" in message
    assert "insulting" in message


def test_mapping_with_an_invalid_status_rule_pattern(engine, tmp_path):
    rule = '\n[[status.rules]]\ncolumn = "libelle"\npattern = "doublon[" \nstatus = "duplicate"\n'
    mapping = paris_mapping(tmp_path, extra=rule)
    message = str(_mapping_failure(engine, tmp_path, mapping))
    assert "paris.toml" in message
    assert "status.rules.0" in message


def test_mapping_that_is_not_toml(engine, tmp_path):
    mapping = tmp_path / "broken.toml"
    mapping.write_text("[source\nname = 'x'\n", encoding="utf-8")
    message = str(_mapping_failure(engine, tmp_path, mapping))
    assert "broken.toml" in message
    assert "TOML" in message


# --------------------------------------------------------------------------------------------------
# 5. Re-importing is idempotent; changed rows are updated in place


def test_same_file_twice_changes_nothing(engine, tmp_path):
    path = write_csv(tmp_path / "dmr.csv", ROWS)
    mapping = paris_mapping(tmp_path)
    first = run(engine, path, mapping)
    before_counts, before_rows, before_flags = snapshot(engine)

    second = run(engine, path, mapping)

    assert (first.inserted, first.updated, first.unchanged) == (3, 0, 0)
    assert (second.read, second.inserted, second.updated, second.unchanged) == (3, 0, 0, 3)
    after_counts, after_rows, after_flags = snapshot(engine)
    assert after_counts == {**before_counts, "import_run": before_counts["import_run"] + 1}
    # not even rewritten: the rows still point at the import that wrote them
    assert after_rows == before_rows
    assert after_flags == before_flags


def test_changed_row_is_updated_and_the_rest_unchanged(engine, tmp_path):
    mapping = paris_mapping(tmp_path)
    run(engine, write_csv(tmp_path / "dmr.csv", ROWS), mapping)
    before = stored(engine)
    assert before["P1"]["status"] == "new"

    closed = [list(r) for r in ROWS]
    closed[0][3:5] = ["03/07/2015 16:00", "Fermé"]  # P1 is now closed
    report = run(engine, write_csv(tmp_path / "dmr.csv", closed), mapping)

    assert (report.read, report.inserted, report.updated, report.unchanged) == (3, 0, 1, 2)
    after = stored(engine)
    assert after["P1"]["status"] == "closed"
    assert after["P1"]["resolved_at"] == utc(2015, 7, 3, 14, 0)
    assert after["P1"]["id"] == before["P1"]["id"]  # updated in place, not re-created
    assert after["P2"] == before["P2"]
    assert after["P3"] == before["P3"]
    assert counts(engine)["intervention"] == 3


def test_moved_row_is_updated(engine, tmp_path):
    mapping = paris_mapping(tmp_path)
    run(engine, write_csv(tmp_path / "dmr.csv", ROWS), mapping)
    moved = [list(r) for r in ROWS]
    moved[2][6:8] = ["48.8700", "2.3300"]
    report = run(engine, write_csv(tmp_path / "dmr.csv", moved), mapping)
    assert (report.updated, report.unchanged) == (1, 2)
    p3 = stored(engine)["P3"]
    assert (p3["lon"], p3["lat"]) == pytest.approx((2.33, 48.87))


def test_flags_follow_a_corrected_row(engine, tmp_path):
    mapping = paris_mapping(tmp_path)
    wrong = [list(r) for r in ROWS]
    wrong[0][3:5] = ["30/06/2015 10:00", "Fermé"]  # resolved the day before it was reported
    report = run(engine, write_csv(tmp_path / "dmr.csv", wrong), mapping)
    assert report.flagged == {"resolved_before_report": 1}
    assert flags(engine) == {"P1": {"resolved_before_report"}}

    right = [list(r) for r in ROWS]
    right[0][3:5] = ["02/07/2015 10:00", "Fermé"]
    report = run(engine, write_csv(tmp_path / "dmr.csv", right), mapping)
    assert report.updated == 1
    assert flags(engine) == {}


# --------------------------------------------------------------------------------------------------
# 6. Flags and territory

BOSTON_SOURCE = """
[source]
name = "boston-test"
timezone = "America/New_York"
date_format = "%m/%d/%Y %I:%M:%S %p"
"""
SOUTH_BOSTON = ("42.3345", "-71.0398")
BROOKLINE = ("42.3318", "-71.1212")  # inside Boston's bounding box, but not a Boston neighbourhood
PARIS = ("48.8530", "2.3499")
CITY_HALL = ("42.3594", "-71.0587")


def boston_row(sid: str, where: tuple[str, str], reported: str = "07/01/2015 10:00:00 AM", **kw) -> list[str]:
    resolved = kw.get("resolved", "")
    status = "Fermé" if resolved else "Ouvert"
    return [sid, "Tag", reported, resolved, status, kw.get("text", ""), *where]


def boston_mapping(tmp_path: Path, extra: str = "") -> Path:
    return write_mapping(tmp_path / "boston.toml", source=BOSTON_SOURCE, extra=extra)


def test_points_outside_the_territory(engine, tmp_path, boston_quarters):
    rows = [
        boston_row("S1", SOUTH_BOSTON),
        boston_row("BR", BROOKLINE),
        boston_row("PA", PARIS),
    ]
    report = run(engine, write_csv(tmp_path / "b.csv", rows), boston_mapping(tmp_path))

    assert (report.inserted, report.rejected) == (3, 0)  # flagged rows are kept
    assert report.outside_territory == 2
    assert report.flagged == {"outside_extent": 1}
    assert flags(engine) == {"PA": {"outside_extent"}}
    got = stored(engine)
    assert got["S1"]["quarter_id"] == boston_quarters["South Boston"]
    assert got["BR"]["quarter_id"] is None
    assert got["PA"]["quarter_id"] is None


def test_without_quarters_nothing_is_outside_the_extent(engine, tmp_path):
    rows = [boston_row("S1", SOUTH_BOSTON), boston_row("PA", PARIS)]
    report = run(engine, write_csv(tmp_path / "b.csv", rows), boston_mapping(tmp_path))
    assert report.flagged == {}
    assert report.outside_territory == 2


def test_resolved_before_reported_is_flagged_and_kept(engine, tmp_path, boston_quarters):
    rows = [
        boston_row("R1", SOUTH_BOSTON, "07/01/2015 10:00:00 AM", resolved="07/01/2015 09:59:00 AM"),
        boston_row("R2", SOUTH_BOSTON, "07/01/2015 10:00:00 AM", resolved="07/01/2015 10:00:00 AM"),
        boston_row("R3", SOUTH_BOSTON, "07/01/2015 10:00:00 AM", resolved="07/02/2015 10:00:00 AM"),
    ]
    report = run(engine, write_csv(tmp_path / "b.csv", rows), boston_mapping(tmp_path))
    assert report.inserted == 3
    assert report.flagged == {"resolved_before_report": 1}
    assert flags(engine) == {"R1": {"resolved_before_report"}}


def test_repeated_location_reaches_the_threshold(engine, tmp_path, boston_quarters):
    spot = ("42.350001", "-71.060001")  # the same place to 5 decimals (about 1 m)
    rows = [
        boston_row("H1", ("42.35", "-71.06")),
        boston_row("H2", spot),
        boston_row("H3", ("42.350004", "-71.059996")),
        boston_row("T1", SOUTH_BOSTON),
        boston_row("T2", SOUTH_BOSTON),
    ]
    mapping = boston_mapping(tmp_path, "\n[checks]\nrepeated_location_threshold = 3\n")
    report = run(engine, write_csv(tmp_path / "b.csv", rows), mapping)
    assert report.flagged == {"repeated_location": 3}
    assert flags(engine) == {sid: {"repeated_location"} for sid in ("H1", "H2", "H3")}


def test_repeated_location_counts_rows_already_stored(engine, tmp_path, boston_quarters):
    """A geocoder default is a default whichever file the rows came from."""
    mapping = boston_mapping(tmp_path, "\n[checks]\nrepeated_location_threshold = 3\n")
    first = run(
        engine, write_csv(tmp_path / "a.csv", [boston_row(f"A{i}", SOUTH_BOSTON) for i in (1, 2)]), mapping
    )
    assert first.flagged == {}
    second = run(engine, write_csv(tmp_path / "b.csv", [boston_row("B1", SOUTH_BOSTON)]), mapping)
    assert second.flagged == {"repeated_location": 1}
    assert flags(engine) == {sid: {"repeated_location"} for sid in ("A1", "A2", "B1")}


def test_geocoder_default_is_flagged_below_the_threshold(engine, tmp_path, boston_quarters):
    mapping = boston_mapping(tmp_path, "\n[checks]\ngeocoder_defaults = [[42.3594, -71.0587]]\n")
    rows = [boston_row("CH", CITY_HALL), boston_row("S1", SOUTH_BOSTON)]
    report = run(engine, write_csv(tmp_path / "b.csv", rows), mapping)
    assert report.flagged == {"repeated_location": 1}
    assert flags(engine) == {"CH": {"repeated_location"}}


def test_changed_row_at_a_geocoder_default_is_updated(engine, tmp_path, boston_quarters):
    """A request placed at City Hall that gets closed is updated like any other, and keeps its
    single repeated_location flag."""
    mapping = boston_mapping(tmp_path, "\n[checks]\ngeocoder_defaults = [[42.3594, -71.0587]]\n")
    rows = [boston_row("CH", CITY_HALL), boston_row("S1", SOUTH_BOSTON)]
    run(engine, write_csv(tmp_path / "b.csv", rows), mapping)

    rows[0] = boston_row("CH", CITY_HALL, resolved="07/02/2015 10:00:00 AM")
    report = run(engine, write_csv(tmp_path / "b.csv", rows), mapping)

    assert (report.updated, report.unchanged) == (1, 1)
    assert stored(engine)["CH"]["status"] == "closed"
    assert flags(engine) == {"CH": {"repeated_location"}}
    assert report.flagged == {"repeated_location": 1}


def test_row_moved_away_from_a_geocoder_default_loses_the_flag(engine, tmp_path, boston_quarters):
    mapping = boston_mapping(tmp_path, "\n[checks]\ngeocoder_defaults = [[42.3594, -71.0587]]\n")
    run(engine, write_csv(tmp_path / "b.csv", [boston_row("CH", CITY_HALL)]), mapping)
    assert flags(engine) == {"CH": {"repeated_location"}}

    report = run(engine, write_csv(tmp_path / "b.csv", [boston_row("CH", SOUTH_BOSTON)]), mapping)

    assert report.updated == 1
    assert stored(engine)["CH"]["quarter_id"] == boston_quarters["South Boston"]
    assert flags(engine) == {}


def test_loading_quarters_after_the_records_reassigns_them(engine, tmp_path):
    rows = [boston_row("S1", SOUTH_BOSTON), boston_row("PA", PARIS)]
    run(engine, write_csv(tmp_path / "b.csv", rows), boston_mapping(tmp_path))
    assert {r["quarter_id"] for r in stored(engine).values()} == {None}

    layer = import_layer(
        engine, NEIGHBORHOODS, as_="quarters", code_field="Neighborhood_ID", name_field="Name"
    )

    assert layer.reassigned == 1
    with engine.connect() as conn:
        south_boston = conn.execute(select(Quarter.id).where(Quarter.name == "South Boston")).scalar_one()
    assert stored(engine)["S1"]["quarter_id"] == south_boston
    assert flags(engine) == {"PA": {"outside_extent"}}


# --------------------------------------------------------------------------------------------------
# 7. The real Boston file


def test_real_boston_graffiti_file(engine, tmp_path):
    rejects = tmp_path / "graffiti.rejects.csv"
    first = import_interventions(engine, BOSTON_CSV, BOSTON_MAPPING, rejects_path=rejects)

    assert (first.read, first.inserted, first.updated, first.unchanged, first.rejected) == (
        4284,
        4284,
        0,
        0,
        0,
    )
    assert first.flagged == {"repeated_location": 198}
    assert read_rejects(rejects) == []
    q = (
        select(func.ST_X(IV.c.geom), func.ST_Y(IV.c.geom))
        .join(FL, FL.c.intervention_id == IV.c.id)
        .where(FL.c.code == "repeated_location")
    )
    with engine.connect() as conn:
        spots = {(round(x, 4), round(y, 4)) for x, y in conn.execute(q)}
    assert spots == {(-71.0587, 42.3594)}  # City Hall Plaza, the geocoder's default
    assert counts(engine)["intervention"] == 4284

    second = import_interventions(engine, BOSTON_CSV, BOSTON_MAPPING, rejects_path=rejects)

    assert (second.read, second.inserted, second.updated, second.unchanged, second.rejected) == (
        4284,
        0,
        0,
        4284,
        0,
    )
    assert counts(engine)["intervention"] == 4284
    assert counts(engine)["intervention_flag"] == 198


# --------------------------------------------------------------------------------------------------
# Edge cases of the input files


def test_header_only_file_stores_nothing_and_succeeds(engine, tmp_path):
    report = run(engine, write_csv(tmp_path / "empty.csv", []), paris_mapping(tmp_path))
    assert (report.read, report.inserted, report.rejected) == (0, 0, 0)
    assert counts(engine)["intervention"] == 0


def test_empty_file_is_a_clear_failure(engine, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(ImportFailure) as err:
        run(engine, path, paris_mapping(tmp_path))
    assert "empty.csv" in str(err.value)
    assert "empty" in err.value.message


def test_missing_data_file_is_a_clear_failure(engine, tmp_path):
    with pytest.raises(ImportFailure) as err:
        run(engine, tmp_path / "nowhere.csv", paris_mapping(tmp_path))
    assert "nowhere.csv" in str(err.value)
    assert "not found" in str(err.value)


def test_feature_without_geometry_is_rejected(engine, tmp_path):
    gdf = _point_frame("EPSG:4326")
    gdf.loc[1, "geometry"] = None
    path = tmp_path / "points.gpkg"
    gdf.to_file(path, driver="GPKG", engine="pyogrio")
    report = run(engine, path, paris_mapping(tmp_path, columns=COLUMNS))
    assert (report.inserted, report.rejected) == (1, 1)
    data = Path(report.rejects_file).read_bytes()
    assert data.startswith(BOM)
    rows = list(csv.reader(io.StringIO(data[3:].decode("utf-8")), delimiter=";"))
    assert rows[0] == ["feature", "field", "value", "reason"]
    assert rows[1][:2] == ["2", "geometry"]
    assert set(stored(engine)) == {"G1"}


def test_polygons_are_refused_naming_the_feature(engine, tmp_path):
    gdf = _point_frame("EPSG:4326")
    gdf.loc[1, "geometry"] = gdf.geometry[1].buffer(0.001)
    path = tmp_path / "shapes.geojson"
    gdf.to_file(path, driver="GeoJSON", engine="pyogrio")
    with pytest.raises(ImportFailure) as err:
        run(engine, path, paris_mapping(tmp_path, columns=COLUMNS))
    assert "shapes.geojson" in str(err.value)
    assert "feature 2" in str(err.value)
    assert counts(engine)["intervention"] == 0
