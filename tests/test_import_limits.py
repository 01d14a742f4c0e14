"""Files that are wrong in ways a city's export can be: a stray non-UTF-8 byte, absurd dates, a
polygon with a million vertices, values too long or unstorable. Each gives a row-numbered reject or
a one-line error naming the file, and a refused import leaves the store exactly as it was.

Store tests run on SpatiaLite and on PostGIS (fixture ``engine``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from click.testing import CliRunner
from sqlalchemy import Engine, String, func, select

from geova.cli import cli
from geova.importing import import_activities, import_layer
from geova.io import limits
from geova.io.errors import ImportFailure
from geova.store.schema import Activity, ImportRun, Intervention, Quarter, Zone
from tests.test_import_interventions import (
    COLUMNS,
    EGLISE,
    GUESSED_CP1252,
    HEADER,
    LATLON,
    ROWS,
    paris_mapping,
    read_rejects,
    run,
    snapshot,
    stored,
    write_csv,
)

HINT = 'set encoding = "cp1252" in the mapping\'s [source] if the file is Windows-encoded'
BOSTON = Path(__file__).resolve().parents[1] / "layers" / "boston_neighborhoods.geojson"
NORMS = Path(__file__).parent / "fixtures" / "norms"


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buf.getvalue().encode(encoding)


def row(sid: str, reported: str = "01/07/2015 10:00", resolved: str = "", text: str = "") -> list[str]:
    return [sid, "Tag", reported, resolved, "Ouvert" if not resolved else "Fermé", text, "48.85", "2.35"]


# --------------------------------------------------------------------------------------------------
# Encodings


@pytest.mark.parametrize("bom", [False, True], ids=["utf8", "utf8-bom"])
def test_one_invalid_byte_in_a_utf8_file_is_refused_naming_line_and_byte(engine, tmp_path, bom):
    mapping = paris_mapping(tmp_path)
    run(engine, write_csv(tmp_path / "earlier.csv", ROWS), mapping)  # P2 holds "l'Église"
    before = snapshot(engine)
    # lines 2-3 are UTF-8 ("Église"), line 4 has one "é" saved by a Windows program (byte 0xE9)
    data = csv_bytes([row("P2", text=EGLISE), row("N1", text="façade")])
    data += b"N2,Tag,03/07/2015 10:00,,Ouvert,caf\xe9,48.85,2.35\r\n"
    path = tmp_path / "demandes.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)

    with pytest.raises(ImportFailure) as err:
        run(engine, path, mapping)

    message = str(err.value)
    assert message.startswith(f"{path}, line 4: byte 0xE9 is not valid UTF-8 (")
    assert message.endswith(f"{HINT})")
    assert snapshot(engine) == before  # nothing overwritten, no journal entry
    assert stored(engine)["P2"]["description"] == EGLISE


def test_a_stated_utf8_encoding_is_strict_too(engine, tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(csv_bytes([row("L1"), row("L2", text="café")], encoding="cp1252"))
    with pytest.raises(ImportFailure) as err:
        run(engine, path, paris_mapping(tmp_path, 'encoding = "UTF-8"\n'))
    assert str(err.value) == f"{path}, line 3: byte 0xE9 is not valid UTF-8 ({HINT})"
    assert snapshot(engine)[0]["intervention"] == 0


def test_a_file_without_any_utf8_sequence_is_read_as_cp1252_and_says_so(engine, tmp_path):
    path = tmp_path / "windows.csv"
    path.write_bytes(csv_bytes([row("W1", text="Œuvre « street art » – 5 €")], encoding="cp1252"))
    report = run(engine, path, paris_mapping(tmp_path))
    assert report.notes[0] == GUESSED_CP1252
    assert stored(engine)["W1"]["description"] == "Œuvre « street art » – 5 €"


# "Ã©" in cp1252 is the bytes C3 A9, a valid UTF-8 sequence: this Windows file looks like UTF-8.
WINDOWS_MOJIBAKE = "Ã© dans le texte, et rue de l'Église"


def test_a_windows_file_that_looks_like_utf8_needs_its_encoding_stated(engine, tmp_path):
    path = tmp_path / "windows.csv"
    path.write_bytes(csv_bytes([row("W1", text=WINDOWS_MOJIBAKE)], encoding="cp1252"))

    with pytest.raises(ImportFailure) as err:
        run(engine, path, paris_mapping(tmp_path))
    assert "line 2: byte 0xC9 is not valid UTF-8 (the file has UTF-8 text on line 2;" in str(err.value)
    assert snapshot(engine)[0]["intervention"] == 0

    for stated in ("cp1252", "windows-1252"):
        report = run(engine, path, paris_mapping(tmp_path, f'encoding = "{stated}"\n'))
        assert report.notes[0] == "encoding cp1252"
        assert stored(engine)["W1"]["description"] == WINDOWS_MOJIBAKE


def test_a_stated_latin1_encoding_still_works(engine, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(csv_bytes([row("L1", text=EGLISE)], encoding="latin-1"))
    report = run(engine, path, paris_mapping(tmp_path, 'encoding = "latin-1"\n'))
    assert report.notes[0] == "encoding iso8859-1"
    assert stored(engine)["L1"]["description"] == EGLISE


def test_an_unknown_encoding_is_a_mapping_error(engine, tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(csv_bytes([row("L1")]))
    with pytest.raises(ImportFailure) as err:
        run(engine, path, paris_mapping(tmp_path, 'encoding = "klingon"\n'))
    assert "paris.toml" in str(err.value)
    assert "source.encoding: Value error, unknown encoding 'klingon'" in str(err.value)


def test_a_nul_byte_is_refused_naming_its_line(engine, tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(csv_bytes([row("B1"), row("B2", text="a\x00b")]))
    with pytest.raises(ImportFailure) as err:
        run(engine, path, paris_mapping(tmp_path))
    assert str(err.value).startswith(f"{path}, line 3: byte 0x00 (NUL): not a CSV text file")
    assert snapshot(engine)[0]["intervention"] == 0


def test_an_unclosed_quote_in_the_header_is_a_clear_failure(engine, tmp_path):
    """Found by tests/test_import_fuzz.py: the csv module's own error escaped."""
    path = tmp_path / "header.csv"
    path.write_bytes(b'id,"type,signale\r\n')
    with pytest.raises(ImportFailure) as err:
        run(engine, path, paris_mapping(tmp_path))
    assert (
        str(err.value)
        == f"{path}, line 1: malformed header: unexpected end of data (a stray or unclosed quote?)"
    )
    assert snapshot(engine)[0]["import_run"] == 0


def test_cli_prints_one_line_and_exits_non_zero_on_an_invalid_byte(db_url, tmp_path, engine):
    mapping = paris_mapping(tmp_path)
    run(engine, write_csv(tmp_path / "earlier.csv", ROWS), mapping)
    before = snapshot(engine)
    path = tmp_path / "demandes.csv"
    path.write_bytes(csv_bytes([row("P2", text=EGLISE)]) + b"N2,Tag,03/07/2015 10:00,,Ouvert,\xe9,1,2\r\n")

    result = CliRunner().invoke(
        cli, ["--db", db_url, "import-interventions", str(path), "--mapping", str(mapping)]
    )

    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {path}, line 3: byte 0xE9 is not valid UTF-8 (the file has UTF-8 text on line 2; {HINT}) "
        "Nothing was stored."
    ]
    assert snapshot(engine) == before


# --------------------------------------------------------------------------------------------------
# Dates


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("signale", "01/07/9999 10:00"),
        ("signale", "01/07/1677 10:00"),
        ("signale", "31/12/1969 10:00"),
        ("signale", "01/01/2101 12:00"),
        ("signale", "9999-07-01T10:00:00+02:00"),
        ("signale", "0001-01-01"),
        ("resolu", "01/07/9999 10:00"),
        ("resolu", "01/07/1500 10:00"),
    ],
)
def test_dates_outside_1970_to_2100_are_rejected_with_their_row_and_field(engine, tmp_path, column, value):
    bad = row("D2", resolved="02/07/2015 10:00")
    bad[2 if column == "signale" else 3] = value
    rows = [row("D1"), bad, row("D3", "31/12/2100 12:00", text="last day"), row("D4", "01/01/1970 02:00")]
    path = write_csv(tmp_path / "dates.csv", rows)

    report = run(engine, path, paris_mapping(tmp_path))

    assert (report.read, report.inserted, report.rejected) == (4, 3, 1)
    assert read_rejects(path.with_suffix(".rejects.csv")) == [
        ["3", column, value, "date outside 1970-01-01..2100-12-31"]
    ]
    assert set(stored(engine)) == {"D1", "D3", "D4"}


def test_activity_dates_outside_the_range_are_rejected(engine, tmp_path):
    lines = (NORMS / "activities.csv").read_text(encoding="utf-8").splitlines()[:3]
    lines[2] = lines[2].replace("2015-06-03 06:00", "9999-06-03 06:00")
    path = tmp_path / "activities.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    report = import_activities(engine, path, NORMS / "activities.toml", rejects_path=tmp_path / "r.csv")

    assert (report.read, report.inserted, report.rejected) == (2, 1, 1)
    rejects = (tmp_path / "r.csv").read_text(encoding="utf-8-sig").splitlines()
    assert rejects[1:] == ["3;date;9999-06-03 06:00;date outside 1970-01-01..2100-12-31"]


# --------------------------------------------------------------------------------------------------
# Layers


def circle(n: int, lon: float = -71.06, lat: float = 42.35, r: float = 0.01) -> shapely.Polygon:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return shapely.Polygon(np.column_stack([lon + r * np.cos(t), lat + r * np.sin(t)]))


def zones_file(path: Path, features: list[tuple[dict, shapely.Geometry]]) -> Path:
    doc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(geom)}
            for props, geom in features
        ],
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model.__table__)).scalar_one()


def layer_state(engine: Engine) -> tuple[int, int, int]:
    return count(engine, Quarter), count(engine, Zone), count(engine, ImportRun)


@pytest.fixture
def with_zones(engine: Engine, tmp_path: Path) -> Engine:
    zones = zones_file(tmp_path / "zones.geojson", [({"code": "Z1", "name": "Downtown"}, circle(50))])
    import_layer(engine, zones, as_="zones", code_field="code", name_field="name", kind="commercial")
    import_layer(engine, BOSTON, as_="quarters", code_field="Neighborhood_ID", name_field="Name")
    return engine


def test_a_polygon_over_the_vertex_limit_is_refused_naming_the_feature(with_zones, tmp_path):
    engine = with_zones
    before = layer_state(engine)
    too_many = limits.MAX_VERTICES_PER_FEATURE + 1
    # the ring's closing vertex repeats the first: n points give n + 1 vertices
    heavy = zones_file(
        tmp_path / "zones.geojson",
        [
            ({"code": "Z1", "name": "Downtown"}, circle(20)),
            ({"code": "Z2", "name": "Dense"}, circle(too_many - 1)),
        ],
    )

    with pytest.raises(ImportFailure) as err:
        import_layer(engine, heavy, as_="zones", code_field="code", name_field="name", kind="commercial")

    assert str(err.value) == (
        f"{heavy}, feature 2 'Dense': 100,001 vertices, more than the 100,000 a feature may have "
        "(simplify the layer first, e.g. ogr2ogr -simplify)"
    )
    assert layer_state(engine) == before


def test_a_polygon_at_the_vertex_limit_is_stored(engine, tmp_path):
    path = zones_file(
        tmp_path / "zones.geojson",
        [({"code": "Z1", "name": "Detailed"}, circle(limits.MAX_VERTICES_PER_FEATURE - 1))],
    )
    report = import_layer(engine, path, as_="zones", code_field="code", name_field="name", kind="commercial")
    assert report.inserted == 1
    with engine.connect() as conn:
        wkb = conn.execute(select(func.ST_AsBinary(Zone.__table__.c.geom))).scalar_one()
    assert shapely.get_num_coordinates(shapely.from_wkb(bytes(wkb))) == limits.MAX_VERTICES_PER_FEATURE


@pytest.mark.parametrize(
    ("props", "options", "expected"),
    [
        ({"code": "Z" * 65, "name": "Long"}, {}, "feature 2 'Long', field 'code': longer than 64 characters"),
        (
            {"code": "Z2", "name": "N", "k": "k" * 65},
            {"kind_field": "k"},
            "field 'k': longer than 64 characters",
        ),
        ({"code": "Z2", "name": "N"}, {"kind": "k" * 65}, "--kind must have 1 to 64 characters"),
        ({"code": "Z2", "name": "N"}, {"layer_name": "n" * 129}, "layer name longer than 128 characters"),
        (
            {"code": "Z2", "name": "N"},
            {"crs": "EPSG:999999"},
            "--crs 'EPSG:999999' is not a CRS pyproj knows",
        ),
    ],
    ids=["long-code", "long-kind-field", "long-kind", "long-layer-name", "unknown-crs"],
)
def test_bad_layer_values_are_one_line_errors(with_zones, tmp_path, props, options, expected):
    engine = with_zones
    before = layer_state(engine)
    path = zones_file(
        tmp_path / "bad.geojson", [({"code": "Z1", "name": "Downtown"}, circle(20)), (props, circle(30))]
    )
    options = {"kind": "commercial", **options} if "kind_field" not in options else options

    with pytest.raises(ImportFailure) as err:
        import_layer(engine, path, as_="zones", code_field="code", name_field="name", **options)

    assert str(err.value).startswith(str(path))
    assert expected in str(err.value)
    assert "\n" not in str(err.value)
    assert layer_state(engine) == before


@pytest.mark.parametrize("template", ["{name}", "{0}", "{code", "{code.upper}"])
def test_a_parent_name_template_with_another_placeholder_is_refused(with_zones, template):
    before = layer_state(with_zones)
    with pytest.raises(ImportFailure) as err:
        import_layer(
            with_zones,
            BOSTON,
            as_="quarters",
            code_field="Neighborhood_ID",
            name_field="Name",
            parent_field="Name",
            parent_name=template,
        )
    assert f"--parent-name {template!r}" in str(err.value)
    assert layer_state(with_zones) == before


def test_coordinates_that_cannot_be_reprojected_are_refused(with_zones, tmp_path):
    before = layer_state(with_zones)
    far = shapely.box(1e9, 1e9, 2e9, 2e9)  # UTM metres a million km away: no longitude/latitude
    path = zones_file(tmp_path / "far.geojson", [({"code": "F1", "name": "Far"}, far)])
    with pytest.raises(ImportFailure) as err:
        import_layer(
            with_zones, path, as_="zones", code_field="code", name_field="name", kind="x", crs="EPSG:32631"
        )
    assert str(err.value) == (
        f"{path}, feature 1 'Far': coordinates that its CRS cannot place on Earth (is the CRS right?)"
    )
    assert layer_state(with_zones) == before


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # GEOS, on reading NaN
def test_nan_coordinates_are_refused(with_zones, tmp_path):
    before = layer_state(with_zones)
    gdf = gpd.GeoDataFrame(
        {"code": ["N1", "N2"], "name": ["Fine", "Broken"]},
        geometry=[circle(20), shapely.Polygon([(-71.0, 42.3), (math.nan, 42.4), (-71.1, 42.4)])],
        crs="EPSG:4326",
    )
    path = tmp_path / "nan.gpkg"
    gdf.to_file(path, driver="GPKG", engine="pyogrio")
    with pytest.raises(ImportFailure) as err:
        import_layer(with_zones, path, as_="zones", code_field="code", name_field="name", kind="x")
    assert str(err.value) == f"{path}, feature 2 'Broken': coordinates that are not numbers (NaN or infinite)"
    assert layer_state(with_zones) == before


def test_non_finite_attributes_are_stored_as_null(engine, tmp_path):
    gdf = gpd.GeoDataFrame(
        {"code": ["Z1", "Z2"], "name": ["A", "B"], "surface": [math.inf, math.nan]},
        geometry=[circle(20), circle(20, lon=-71.0)],
        crs="EPSG:4326",
    )
    path = tmp_path / "zones.gpkg"
    gdf.to_file(path, driver="GPKG", engine="pyogrio")
    report = import_layer(engine, path, as_="zones", code_field="code", name_field="name", kind="commercial")
    assert report.inserted == 2
    with engine.connect() as conn:
        props = [
            p for (p,) in conn.execute(select(Zone.__table__.c.properties).order_by(Zone.__table__.c.code))
        ]
    assert [p["surface"] for p in props] == [None, None]


def test_cli_refuses_an_oversized_polygon_in_one_line(db_url, tmp_path, engine):
    path = zones_file(
        tmp_path / "zones.geojson",
        [({"code": "Z1", "name": "Dense"}, circle(limits.MAX_VERTICES_PER_FEATURE))],
    )
    result = CliRunner().invoke(
        cli,
        ["--db", db_url, "import-layer", str(path), "--as", "zones", "--code-field", "code", "--kind", "x"],
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {path}, feature 1: 100,001 vertices, more than the 100,000 a feature may have "
        "(simplify the layer first, e.g. ogr2ogr -simplify) Nothing was stored."
    ]
    assert count(engine, Zone) == 0


# --------------------------------------------------------------------------------------------------
# Text widths


def test_long_source_ids_and_severities_are_rejected(engine, tmp_path):
    rows = [[*row("S" * 129), ""], [*row("S" * 128), "urgent"], [*row("S1"), "x" * 33]]
    path = write_csv(tmp_path / "long.csv", rows, header=[*HEADER, "gravite"])
    mapping = paris_mapping(tmp_path, columns=COLUMNS + LATLON + 'severity = "gravite"\n')

    report = run(engine, path, mapping)

    assert (report.inserted, report.rejected) == (1, 2)
    assert read_rejects(path.with_suffix(".rejects.csv")) == [
        ["2", "id", "S" * 129, "longer than 128 characters"],
        ["4", "gravite", "x" * 33, "longer than 32 characters"],
    ]
    assert stored(engine)["S" * 128]["severity"] == "urgent"


@pytest.mark.parametrize(
    ("limit", "columns"),
    [
        (limits.SOURCE_MAX, [Intervention.__table__.c.source, Activity.__table__.c.source]),
        (limits.SOURCE_ID_MAX, [Intervention.__table__.c.source_id, Activity.__table__.c.source_id]),
        (limits.SEVERITY_MAX, [Intervention.__table__.c.severity]),
        (
            limits.AREA_CODE_MAX,
            [Quarter.__table__.c.code, Zone.__table__.c.code],
        ),
        (limits.ZONE_KIND_MAX, [Zone.__table__.c.kind]),
        (limits.LAYER_NAME_MAX, [Quarter.__table__.c.layer, Zone.__table__.c.layer]),
    ],
)
def test_import_limits_match_the_schema(limit, columns):
    for column in columns:
        assert isinstance(column.type, String)
        assert column.type.length == limit, column
