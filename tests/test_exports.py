"""Downloads of every layer (/exports/{layer}.geojson, .gpkg, .csv) on both backends: read back with
GDAL (the GeoPackage), json (the GeoJSON) and as French Excel reads a CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyogrio
import pytest
from shapely.geometry import Point, shape
from sqlalchemy import Engine

from geova.evaluation import evaluate
from geova.store.records import RecordFilter, load_records
from geova.store.schema import Quarter, Zone
from tests.test_ogc import HEADLINE, TZ, build_store, db_shapes, login, make_app, same_shape, snapshot


@pytest.fixture
def token(engine: Engine) -> str:
    return build_store(engine)


@pytest.fixture
def client(db_url: str, token: str) -> Any:
    return make_app(db_url).test_client()


def read_csv(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")  # the BOM French Excel needs to read UTF-8
    assert "\r\n" in text
    return list(csv.DictReader(io.StringIO(text[1:]), delimiter=";"))


def download(client: Any, url: str, **headers: str) -> Any:
    answer = client.get(url, headers=headers)
    assert answer.status_code == 200, (url, answer.get_data(as_text=True)[:500])
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="geova-')
    return answer


def test_every_public_layer_exports_to_geojson_geopackage_and_csv(
    client: Any, engine: Engine, tmp_path: Path
) -> None:
    for layer, model, where in (
        ("quarters", Quarter, None),
        ("zones", Zone, None),
        ("quarter_results", Quarter, Quarter.__table__.c.level == 0),
    ):
        expected = db_shapes(engine, model, where)

        answer = download(client, f"/exports/{layer}.geojson")
        assert answer.mimetype == "application/geo+json"
        assert answer.headers["Content-Disposition"].endswith('.geojson"')
        doc = json.loads(answer.get_data(as_text=True))
        assert doc["type"] == "FeatureCollection" and len(doc["features"]) == len(expected)
        for f in doc["features"]:
            assert f["properties"]["name"] == expected[f["id"]][0]
            assert same_shape(shape(f["geometry"]), expected[f["id"]][1])

        answer = download(client, f"/exports/{layer}.gpkg")
        assert answer.mimetype == "application/geopackage+sqlite3"
        assert answer.data.startswith(b"SQLite format 3\x00")
        path = tmp_path / f"{layer}.gpkg"
        path.write_bytes(answer.data)
        assert [list(x) for x in pyogrio.list_layers(path)] == [[layer, "MultiPolygon"]]
        frame = pyogrio.read_dataframe(path)
        assert frame.crs.to_epsg() == 4326
        assert sorted(frame["code"]) == sorted(expected)
        for code, name, geom in zip(frame["code"], frame["name"], frame.geometry, strict=True):
            assert name == expected[code][0] and same_shape(geom, expected[code][1])

        answer = download(client, f"/exports/{layer}.csv")
        assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
        rows = read_csv(answer.get_data(as_text=True))
        assert sorted(r["code"] for r in rows) == sorted(expected)
        assert {r["name"] for r in rows} == {name for name, _g in expected.values()}
        for r in rows:  # a point inside each shape, with a decimal comma
            lon, lat = (float(r[k].replace(",", ".")) for k in ("longitude", "latitude"))
            assert "," in r["longitude"] and -71.3 < lon < -70.8 and 42.1 < lat < 42.5
            assert expected[r["code"]][1].distance(Point(lon, lat)) < 1e-5


def test_interventions_export_needs_a_login_or_a_key_and_reads_back(
    client: Any, engine: Engine, token: str, tmp_path: Path
) -> None:
    for fmt in ("geojson", "gpkg", "csv"):
        denied = client.get(f"/exports/interventions.{fmt}")
        assert denied.status_code == 401 and denied.get_json()["code"] == "Unauthorized"
    with engine.connect() as conn:
        recs, _zones = load_records(conn, with_location=True)

    answer = download(client, "/exports/interventions.gpkg", Authorization=f"Bearer {token}")
    path = tmp_path / "interventions.gpkg"
    path.write_bytes(answer.data)
    frame = pyogrio.read_dataframe(path)
    assert [list(x) for x in pyogrio.list_layers(path)] == [["interventions", "Point"]]
    merged = frame.merge(recs, on="id", suffixes=("", "_db"))
    assert len(merged) == len(frame) == len(recs) == 381
    assert (merged["reported_at"] == merged["reported_at_db"]).all()
    assert (merged["source_id"] == merged["source_id_db"]).all()
    assert ((merged.geometry.x - merged["x"]).abs() < 1e-6).all()
    verdicts = evaluate(engine, norm_codes=[HEADLINE]).per_intervention.set_index("id")
    assert (frame.set_index("id")["state"] == verdicts["state"]).all()

    login(client)
    text = download(client, "/exports/interventions.csv").get_data(as_text=True)
    rows = read_csv(text)
    assert len(rows) == 381
    first = next(r for r in rows if r["source_id"] == "101001241477")
    # Boston time, day first: reported 2015-01-02T20:33:48Z, 72 hours to act, resolved 2015-11-10T13:57:27Z
    assert (first["reported_at"], first["due_at"], first["resolved_at"]) == (
        "02/01/2015 15:33:48",
        "05/01/2015 15:33:48",
        "10/11/2015 08:57:27",
    )
    assert first["state"] == "late" and first["quarter"] == "6"
    assert first["longitude"].startswith("-71,") and first["latitude"].startswith("42,")

    march = download(client, "/exports/interventions.geojson?datetime=2015-03-01/2015-03-31&status=closed")
    doc = json.loads(march.get_data(as_text=True))
    local = recs["reported_at"].dt.tz_convert(TZ)
    expected = recs[(local >= "2015-03-01") & (local < "2015-04-01") & (recs["status"] == "closed")]
    assert sorted(f["id"] for f in doc["features"]) == sorted(expected["id"]) and len(expected) > 0
    assert doc["numberMatched"] == len(expected)


def test_results_per_quarter_for_a_norm_and_a_period(client: Any, engine: Engine, tmp_path: Path) -> None:
    url = f"/exports/quarter_results.{{fmt}}?norm={HEADLINE}&from=2015-03-01&to=2015-05-31"
    expected = evaluate(
        engine,
        norm_codes=[HEADLINE],
        by=["quarter"],
        where=RecordFilter(
            reported_from=pd.Timestamp("2015-03-01", tz=TZ), reported_to=pd.Timestamp("2015-06-01", tz=TZ)
        ),
    ).aggregates.set_index("quarter")

    answer = download(client, url.format(fmt="csv"))
    assert f"-{HEADLINE}-20150301-20150531.csv" in answer.headers["Content-Disposition"]
    rows = read_csv(answer.get_data(as_text=True))
    assert len(rows) == 26
    for r in rows:
        assert (r["norm"], r["period_from"], r["period_to"]) == (HEADLINE, "01/03/2015", "31/05/2015")
        n = int(expected.loc[r["code"], "requests"]) if r["code"] in expected.index else 0
        assert int(r["requests"]) == n
        if n and not pd.isna(expected.loc[r["code"], "on_time_rate"]):
            rate = float(r["on_time_rate"].replace(",", "."))
            assert rate == pytest.approx(expected.loc[r["code"], "on_time_rate"], abs=1e-4)
            assert "." not in r["on_time_rate"]
    assert sum(int(r["requests"]) for r in rows) == int(
        expected.drop(index="(none)", errors="ignore")["requests"].sum()
    )

    path = tmp_path / "results.gpkg"
    path.write_bytes(download(client, url.format(fmt="gpkg")).data)
    frame = pyogrio.read_dataframe(path).set_index("code")
    for col in ("requests", "on_time", "late", "open_overdue"):
        got = frame[col].reindex(expected.index.drop("(none)", errors="ignore"))
        assert (got == expected.loc[got.index, col]).all(), col
    doc = json.loads(download(client, url.format(fmt="geojson")).get_data(as_text=True))
    assert doc["norm"] == HEADLINE and len(doc["features"]) == 26


ERRORS = [
    ("/exports/quarter_results.csv?norm=no.such.norm", 400),
    ("/exports/quarter_results.csv?norm=nantes.friches.2an", 400),  # a frequency norm: no deadline
    ("/exports/quarter_results.csv?from=2015-13-01", 400),
    ("/exports/quarter_results.csv?from=2015-06-01&to=2015-03-01", 400),
    ("/exports/quarters.csv?norm=nantes.friches.72h", 400),  # only results have a norm
    ("/exports/quarters.csv?bbox=1,2", 400),
    ("/exports/zones.geojson?datetime=soon", 400),
    ("/exports/quarters.shp", 404),
    ("/exports/streets.csv", 404),
]


def test_bad_export_requests_are_refused_and_change_nothing(client: Any, engine: Engine) -> None:
    before = snapshot(engine)
    for url, status in ERRORS:
        answer = client.get(url)
        assert answer.status_code == status, (url, answer.get_data(as_text=True))
        body = answer.get_json()
        assert set(body) == {"code", "description"} and body["description"], url
    assert snapshot(engine) == before
