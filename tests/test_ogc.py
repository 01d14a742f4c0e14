"""OGC API – Features under /ogc, on both backends: the documents, paging, filters, errors, access to
the interventions collection, and a real client (GDAL's OAPIF driver through pyogrio) reading every
collection from a live server.

The live server runs in a child process, not in a thread as the browser tests do: pyogrio keeps
Python's GIL while GDAL waits for an HTTP answer, so a server thread in the same interpreter would
never get to answer it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyogrio
import pytest
import shapely
from sqlalchemy import Engine, func, select

from app import create_app
from geova.evaluation import evaluate
from geova.importing import import_interventions
from geova.store import apikeys
from geova.store.records import RecordFilter, load_records
from geova.store.schema import Intervention, Quarter, Setting, Zone
from geova.store.status import set_setting
from geova.store.users import add_user
from tests.boston import load_quarters, load_zones

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "ogc-test-password"
SECRET = "ogc-tests"
HEADLINE = "nantes.friches.72h"
TZ = "America/New_York"
OGC_CONF = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"


def build_store(engine: Engine) -> str:
    """The Boston quarters and zones and one real request file; an account and an API key. Returns
    the key's token."""
    load_quarters(engine)
    load_zones(engine)
    import_interventions(
        engine, REPO / "data/boston/trash-on-vacant-lot.csv", REPO / "data/mappings/trash-on-vacant-lot.toml"
    )
    with engine.begin() as conn:
        set_setting(conn, "timezone", TZ)
        set_setting(conn, "headline_norm", HEADLINE)
        add_user(conn, "agent", PASSWORD, "correspondent", None)
        _key, token = apikeys.add_key(conn, "partner-gis", "correspondent")
    return token


def make_app(db_url: str) -> Any:
    return create_app(
        {"GEOVA_DATABASE_URL": db_url, "TESTING": True, "SECRET_KEY": SECRET, "WTF_CSRF_ENABLED": False}
    )


def login(client: Any) -> None:
    page = client.post("/login", data={"username": "agent", "password": PASSWORD})
    assert page.status_code == 302


@pytest.fixture
def store(db_url: str, engine: Engine) -> str:
    return build_store(engine)


@pytest.fixture
def client(db_url: str, store: str) -> Any:
    return make_app(db_url).test_client()


def db_shapes(engine: Engine, model: Any, where: Any = None) -> dict[str, tuple[str, shapely.Geometry]]:
    t = model.__table__
    query = select(t.c.code, t.c.name, func.ST_AsBinary(t.c.geom))
    if where is not None:
        query = query.where(where)
    with engine.connect() as conn:
        return {code: (name, shapely.from_wkb(bytes(wkb))) for code, name, wkb in conn.execute(query)}


def same_shape(a: shapely.Geometry, b: shapely.Geometry) -> bool:
    return bool(shapely.equals_exact(shapely.normalize(a), shapely.normalize(b), tolerance=1e-6))


def snapshot(engine: Engine) -> list[Any]:
    """Everything a read could have changed by mistake."""
    iv = Intervention.__table__
    with engine.connect() as conn:
        return [
            conn.execute(
                select(iv.c.id, iv.c.status, iv.c.reported_at, iv.c.resolved_at, iv.c.due_at).order_by(
                    iv.c.id
                )
            ).all(),
            conn.execute(select(Quarter.__table__.c.code, Quarter.__table__.c.name)).all(),
            conn.execute(select(Zone.__table__.c.code, Zone.__table__.c.kind)).all(),
            sorted(conn.execute(select(Setting.__table__)).all()),
        ]


def all_pages(client: Any, url: str, **headers: str) -> list[dict[str, Any]]:
    """Every feature, following the next links as a client would."""
    features: list[dict[str, Any]] = []
    while url:
        page = client.get(url, headers=headers)
        assert page.status_code == 200, page.get_data(as_text=True)
        assert page.mimetype == "application/geo+json"
        doc = page.get_json(force=True)
        assert doc["numberReturned"] == len(doc["features"])
        features += doc["features"]
        nxt = [link["href"] for link in doc["links"] if link["rel"] == "next"]
        url = nxt[0].replace("http://localhost", "") if nxt else ""
    return features


# -- documents ---------------------------------------------------------------------------------


def test_landing_page_conformance_and_collections(client: Any) -> None:
    landing = client.get("/ogc")
    assert landing.status_code == 200 and landing.mimetype == "application/json"
    rels = {link["rel"]: link for link in landing.get_json()["links"]}
    assert {"self", "conformance", "data"} <= set(rels)
    assert rels["data"]["href"].endswith("/ogc/collections")
    assert rels["service-desc"]["href"].endswith("/ogc/api")
    assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert client.get("/ogc?f=json").status_code == 200

    conf = client.get("/ogc/conformance").get_json()["conformsTo"]
    assert OGC_CONF + "core" in conf and OGC_CONF + "geojson" in conf
    assert OGC_CONF + "oas30" in conf and not any(c.endswith("html") for c in conf)

    listing = client.get("/ogc/collections")
    assert listing.mimetype == "application/json"
    collections = {c["id"]: c for c in listing.get_json()["collections"]}
    assert list(collections) == ["quarters", "zones", "quarter_results"]  # interventions: not public
    for cid, doc in collections.items():
        assert doc["itemType"] == "feature" and doc["title"] and doc["description"]
        minx, miny, maxx, maxy = doc["extent"]["spatial"]["bbox"][0]
        assert -71.3 < minx < maxx < -70.8 and 42.1 < miny < maxy < 42.5  # Boston, lon/lat (CRS84)
        assert doc["extent"]["spatial"]["crs"].endswith("/OGC/1.3/CRS84")
        items = next(link for link in doc["links"] if link["rel"] == "items")
        assert items["type"] == "application/geo+json" and items["href"].endswith(
            f"/ogc/collections/{cid}/items"
        )
        assert client.get(f"/ogc/collections/{cid}").get_json()["id"] == cid
    assert "temporal" not in collections["quarters"]["extent"]
    start, end = collections["quarter_results"]["extent"]["temporal"]["interval"][0]
    # the 12 months up to the month of the latest request (December 2015), in Boston time
    assert (start, end) == ("2015-01-01T05:00:00Z", "2016-01-01T05:00:00Z")
    assert HEADLINE in collections["quarter_results"]["description"]


def test_interventions_need_a_login_or_an_api_key(client: Any, store: str) -> None:
    for url in (
        "/ogc/collections/interventions",
        "/ogc/collections/interventions/items",
        "/ogc/collections/interventions/items/1",
        "/ogc/collections/interventions/items?api_key=geova_not-a-key",
    ):
        denied = client.get(url)
        assert denied.status_code == 401, url
        assert denied.mimetype == "application/json"
        assert denied.get_json()["code"] == "Unauthorized" and denied.get_json()["description"]
        assert denied.headers["WWW-Authenticate"].startswith("Bearer")
    assert (
        client.get(
            "/ogc/collections/interventions/items", headers={"Authorization": "Bearer nope"}
        ).status_code
        == 401
    )

    bearer = client.get(
        "/ogc/collections/interventions/items?limit=5", headers={"Authorization": f"Bearer {store}"}
    )
    assert bearer.status_code == 200 and bearer.get_json()["numberMatched"] == 381
    by_param = client.get(f"/ogc/collections/interventions/items?limit=5&api_key={store}")
    assert by_param.status_code == 200
    assert store not in by_param.get_data(as_text=True)  # the links do not repeat the key
    assert any(link["rel"] == "next" for link in by_param.get_json()["links"])
    listing = client.get("/ogc/collections", headers={"Authorization": f"Bearer {store}"}).get_json()
    assert "interventions" in [c["id"] for c in listing["collections"]]

    login(client)
    listing = client.get("/ogc/collections").get_json()
    iv = next(c for c in listing["collections"] if c["id"] == "interventions")
    assert iv["extent"]["temporal"]["interval"] == [["2015-01-02T20:33:48Z", "2015-12-18T15:29:00Z"]]
    assert HEADLINE in iv["description"]


def test_items_page_through_the_layers_as_the_database_holds_them(client: Any, engine: Engine) -> None:
    quarters = db_shapes(engine, Quarter)
    first = client.get("/ogc/collections/quarters/items?limit=10")
    doc = first.get_json(force=True)
    assert first.mimetype == "application/geo+json"
    assert doc["type"] == "FeatureCollection"
    assert (doc["numberMatched"], doc["numberReturned"]) == (26, 10)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["timeStamp"])
    rels = [link["rel"] for link in doc["links"]]
    assert "self" in rels and "next" in rels and "prev" not in rels
    second = client.get("/ogc/collections/quarters/items?limit=10&offset=10").get_json(force=True)
    prev = next(link["href"] for link in second["links"] if link["rel"] == "prev")
    assert "offset=0" in prev and "limit=10" in prev
    last = client.get("/ogc/collections/quarters/items?limit=10&offset=20").get_json(force=True)
    assert last["numberReturned"] == 6 and "next" not in [link["rel"] for link in last["links"]]
    beyond = client.get("/ogc/collections/quarters/items?offset=500").get_json(force=True)
    assert beyond["numberReturned"] == 0 and beyond["numberMatched"] == 26

    features = all_pages(client, "/ogc/collections/quarters/items?limit=7")
    assert len(features) == 26 == len(quarters)
    for f in features:
        name, geom = quarters[f["id"]]
        assert f["properties"]["code"] == f["id"] and f["properties"]["name"] == name
        assert f["properties"]["level"] == 0 and f["properties"]["parent"] is None
        assert same_shape(shapely.geometry.shape(f["geometry"]), geom)  # not simplified

    zones = db_shapes(engine, Zone)
    features = all_pages(client, "/ogc/collections/zones/items?limit=5")
    assert sorted(f["id"] for f in features) == sorted(zones)
    for f in features:
        assert f["properties"]["name"] == zones[f["id"]][0] and f["properties"]["kind"] == "commercial"
        assert same_shape(shapely.geometry.shape(f["geometry"]), zones[f["id"]][1])
    only = client.get("/ogc/collections/zones/items?kind=sensitive").get_json(force=True)
    assert only["numberMatched"] == 0

    one = client.get("/ogc/collections/quarters/items/6")
    assert one.status_code == 200 and one.mimetype == "application/geo+json"
    assert one.get_json(force=True)["properties"]["name"] == quarters["6"][0]
    assert {link["rel"] for link in one.get_json(force=True)["links"]} >= {"self", "collection"}


def test_items_bbox_and_datetime_filters_match_the_store(client: Any, engine: Engine, store: str) -> None:
    auth = {"Authorization": f"Bearer {store}"}
    with engine.connect() as conn:
        recs, _zones = load_records(conn, with_location=True)
    box = (-71.08, 42.30, -71.05, 42.33)
    inside = recs[recs["x"].between(box[0], box[2]) & recs["y"].between(box[1], box[3])]
    assert 0 < len(inside) < len(recs)
    url = "/ogc/collections/interventions/items?limit=13&bbox=" + ",".join(map(str, box))
    got = all_pages(client, url, **auth)
    assert sorted(f["id"] for f in got) == sorted(inside["id"].tolist())
    assert client.get(url, headers=auth).get_json()["numberMatched"] == len(inside)
    with_heights = "/ogc/collections/interventions/items?bbox=-71.08,42.30,-5,-71.05,42.33,100"
    assert client.get(with_heights, headers=auth).get_json()["numberMatched"] == len(inside)
    west = recs[recs["x"].le(-71.05) & recs["y"].between(42.30, 42.33)]
    across = "/ogc/collections/interventions/items?bbox=179,42.30,-71.05,42.33"  # over the antimeridian
    assert client.get(across, headers=auth).get_json()["numberMatched"] == len(west) > len(inside)

    def ids(datetime: str) -> list[int]:
        return sorted(
            f["id"]
            for f in all_pages(client, f"/ogc/collections/interventions/items?datetime={datetime}", **auth)
        )

    reported = recs.set_index("id")["reported_at"]
    march = reported[(reported >= "2015-03-01T05:00Z") & (reported <= "2015-04-01T04:00Z")]
    assert ids("2015-03-01T05:00:00Z/2015-04-01T04:00:00Z") == sorted(march.index)
    assert ids("2015-03-01T00:00:00-05:00/2015-04-01T00:00:00-04:00") == sorted(march.index)
    assert ids("2015-03-01/2015-03-31") == sorted(march.index)  # local days, both included
    assert ids("../2015-02-01T00:00:00Z") == sorted(reported[reported <= "2015-02-01T00:00Z"].index)
    assert ids("2015-12-01T00:00:00Z/..") == sorted(reported[reported >= "2015-12-01T00:00Z"].index)
    assert len(ids("../..")) == len(recs)
    first = reported.sort_values().index[0]
    assert ids("2015-01-02T20:33:48Z") == [first]  # an instant: the requests reported then
    assert ids("2016-01-01T00:00:00Z/..") == []

    # quarters have no time: datetime is checked, then ignored; quarter_results have their period
    assert (
        client.get("/ogc/collections/quarters/items?datetime=2000-01-01T00:00:00Z").get_json(force=True)[
            "numberMatched"
        ]
        == 26
    )
    results = "/ogc/collections/quarter_results/items?datetime="
    assert client.get(results + "2015-06-01T00:00:00Z").get_json(force=True)["numberMatched"] == 26
    assert (
        client.get(results + "2014-01-01T00:00:00Z/2014-12-31T00:00:00Z").get_json(force=True)[
            "numberMatched"
        ]
        == 0
    )

    # polygons: the quarters a box touches
    small = client.get("/ogc/collections/quarters/items?bbox=-71.06,42.35,-71.055,42.355").get_json(
        force=True
    )
    assert 1 <= small["numberMatched"] <= 3
    assert "Downtown" in [f["properties"]["name"] for f in small["features"]]
    far = client.get("/ogc/collections/quarters/items?bbox=2.2,48.8,2.4,48.9").get_json(force=True)
    assert far["numberMatched"] == 0


def test_interventions_carry_the_headline_verdict_as_plain_text(client: Any, engine: Engine) -> None:
    iv = Intervention.__table__
    with engine.begin() as conn:  # a description someone typed with markup in it
        conn.execute(iv.update().where(iv.c.id == 1).values(description="<b>dumped</b> <script>x()</script>"))
    login(client)
    feature = client.get("/ogc/collections/interventions/items/1")
    assert feature.mimetype == "application/geo+json"
    props = feature.get_json(force=True)["properties"]
    assert props["description"] == "<b>dumped</b> <script>x()</script>"  # a JSON string, never rendered
    assert set(props) == {
        "id", "source", "source_id", "category", "reported_at", "due_at", "resolved_at",
        "status", "state", "quarter", "address", "description",
    }  # fmt: skip
    assert all(v is None or isinstance(v, str | int) for v in props.values())
    # 72 calendar hours after the report, under nantes.friches.72h
    assert props["reported_at"] == "2015-01-02T20:33:48Z" and props["due_at"] == "2015-01-05T20:33:48Z"
    assert props["resolved_at"] == "2015-11-10T13:57:27Z" and props["state"] == "late"
    assert props["quarter"] == "6" and props["source_id"] == "101001241477"
    geom = feature.get_json(force=True)["geometry"]
    assert geom["type"] == "Point" and -71.2 < geom["coordinates"][0] < -70.9 < 42 < geom["coordinates"][1]

    page = client.get("/ogc/collections/interventions/items?limit=10000").get_json(force=True)
    assert page["numberReturned"] == 381
    states = pd.Series([f["properties"]["state"] for f in page["features"]]).value_counts()
    verdict = evaluate(engine, norm_codes=[HEADLINE], by=["norm"]).per_intervention
    assert states.to_dict() == verdict["state"].value_counts().to_dict()
    with engine.connect() as conn:
        closed = conn.execute(select(func.count()).select_from(iv).where(iv.c.status == "closed")).scalar()
    filtered = client.get("/ogc/collections/interventions/items?category=friche&status=closed")
    assert filtered.get_json(force=True)["numberMatched"] == closed > 0


def test_quarter_results_are_the_evaluation_of_the_headline_norm(client: Any, engine: Engine) -> None:
    features = all_pages(client, "/ogc/collections/quarter_results/items?limit=4")
    assert len(features) == 26
    tz_start = pd.Timestamp("2015-01-01", tz=TZ)
    expected = evaluate(
        engine,
        norm_codes=[HEADLINE],
        by=["quarter"],
        where=RecordFilter(reported_from=tz_start, reported_to=pd.Timestamp("2016-01-01", tz=TZ)),
    ).aggregates.set_index("quarter")
    shapes = db_shapes(engine, Quarter)
    total = 0
    for f in features:
        p = f["properties"]
        assert (p["norm"], p["period_from"], p["period_to"]) == (HEADLINE, "2015-01-01", "2015-12-31")
        assert p["name"] == shapes[f["id"]][0] and same_shape(
            shapely.geometry.shape(f["geometry"]), shapes[f["id"]][1]
        )
        if f["id"] in expected.index:
            row = expected.loc[f["id"]]
            for col in ("requests", "on_time", "late", "open_overdue"):
                assert p[col] == int(row[col]), (f["id"], col)
            assert p["on_time_rate"] == pytest.approx(row["on_time_rate"], nan_ok=True) or (
                p["on_time_rate"] is None and pd.isna(row["on_time_rate"])
            )
            assert p["median_hours"] == pytest.approx(row["median_hours"]) or p["median_hours"] is None
        else:
            assert p["requests"] == 0 and p["on_time_rate"] is None
        total += p["requests"]
    assert total == int(expected.drop(index="(none)", errors="ignore")["requests"].sum()) > 0
    one = client.get("/ogc/collections/quarter_results/items/6").get_json(force=True)
    assert one["properties"]["requests"] == int(expected.loc["6", "requests"])


MALFORMED = [
    ("/ogc/collections/quarters/items?bbox=1,2,3", 400),
    ("/ogc/collections/quarters/items?bbox=a,b,c,d", 400),
    ("/ogc/collections/quarters/items?bbox=-71,42.4,-70,42.3", 400),
    ("/ogc/collections/quarters/items?bbox=-200,0,0,10", 400),
    ("/ogc/collections/quarters/items?bbox=1,2,3,nan", 400),
    ("/ogc/collections/quarters/items?bbox=", 400),
    ("/ogc/collections/quarters/items?datetime=yesterday", 400),
    ("/ogc/collections/quarters/items?datetime=2015-13-01T00:00:00Z", 400),
    ("/ogc/collections/quarters/items?datetime=2015-03-01T00:00:00", 400),
    ("/ogc/collections/quarters/items?datetime=2015-06-01T00:00:00Z/2015-01-01T00:00:00Z", 400),
    ("/ogc/collections/quarters/items?datetime=2015-01-01/2015-02-01/2015-03-01", 400),
    ("/ogc/collections/quarters/items?datetime=..", 400),
    ("/ogc/collections/quarter_results/items?datetime=2015-02-30", 400),
    ("/ogc/collections/quarters/items?limit=0", 400),
    ("/ogc/collections/quarters/items?limit=20000", 400),
    ("/ogc/collections/quarters/items?limit=ten", 400),
    ("/ogc/collections/quarters/items?offset=-1", 400),
    ("/ogc/collections/quarters/items?level=first", 400),
    ("/ogc/collections/quarters/items?colour=red", 400),
    ("/ogc/collections/quarters/items?f=html", 400),
    ("/ogc/collections/nope", 404),
    ("/ogc/collections/nope/items", 404),
    ("/ogc/collections/quarters/items/nope", 404),
    ("/ogc/collections/zones/items/ZPC-99", 404),
    ("/ogc/collections/interventions/items/999999", 404),
    ("/ogc/collections/interventions/items/abc", 404),
]


def test_malformed_requests_get_the_documented_error_and_change_nothing(client: Any, engine: Engine) -> None:
    login(client)
    before = snapshot(engine)
    for url, status in MALFORMED:
        answer = client.get(url)
        assert answer.status_code == status, (url, answer.get_data(as_text=True))
        assert answer.mimetype == "application/json", url
        body = answer.get_json()
        assert set(body) == {"code", "description"} and body["description"], url
        assert body["code"] == ("InvalidParameterValue" if status == 400 else "NotFound"), url
    assert client.get("/ogc/collections/quarters/items?limit=10000").status_code == 200
    assert client.get("/ogc/collections/quarters/items?limit=1&f=json").status_code == 200
    assert snapshot(engine) == before


# -- a real client: GDAL's OGC API Features driver ---------------------------------------------

SERVER = """
import sys
from werkzeug.serving import make_server
from app import create_app
url, port, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3]
app = create_app({"GEOVA_DATABASE_URL": url, "SECRET_KEY": secret})
make_server("127.0.0.1", port, app, threaded=True).serve_forever()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_ogc(db_url: str, store: str, tmp_path: Path) -> Iterator[str]:
    """A geova server on a free loopback port, in a child process (see the module's docstring)."""
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, db_url, str(port), SECRET], cwd=REPO, env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}/ogc"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/conformance", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise RuntimeError((tmp_path / "server.log").read_text()) from None
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture
def gdal_options() -> Iterator[dict[str, str | None]]:
    """GDAL's configuration for the test; every option set is reset afterwards."""
    options: dict[str, str | None] = {}
    yield options
    pyogrio.set_gdal_config_options(dict.fromkeys(options))


def test_gdal_reads_every_collection_with_paging(
    live_ogc: str, engine: Engine, db_url: str, store: str, gdal_options: dict[str, str | None]
) -> None:
    url = "OAPIF:" + live_ogc
    layers = [name for name, _geom in pyogrio.list_layers(url)]
    assert layers == ["quarters", "zones", "quarter_results"]

    for layer, model, where in (
        ("quarters", Quarter, None),
        ("zones", Zone, None),
        ("quarter_results", Quarter, Quarter.__table__.c.level == 0),
    ):
        expected = db_shapes(engine, model, where)
        # pages of 7 features: GDAL follows the next links to the end
        frame = pyogrio.read_dataframe(url, layer=layer, PAGE_SIZE=7)
        assert len(frame) == len(expected), layer
        assert sorted(frame["code"]) == sorted(expected), layer
        for code, name, geom in zip(frame["code"], frame["name"], frame.geometry, strict=True):
            assert name == expected[code][0]
            assert same_shape(geom, expected[code][1]), (layer, code)
        if layer == "quarter_results":
            assert frame["requests"].sum() > 0 and frame["norm"].eq(HEADLINE).all()
            assert str(frame["on_time_rate"].dtype) == "float64"  # typed by the collection's schema

    # a spatial filter is sent to the server as bbox
    box = (-71.08, 42.30, -71.05, 42.33)
    near = pyogrio.read_dataframe(url, layer="quarters", bbox=box)
    assert 0 < len(near) < 26

    # the interventions collection, with the session cookie of a logged-in user
    client = make_app(db_url).test_client()
    login(client)
    gdal_options["GDAL_HTTP_COOKIE"] = f"session={client.get_cookie('session').value}"
    pyogrio.set_gdal_config_options(gdal_options)
    assert "interventions" in [name for name, _geom in pyogrio.list_layers(url)]
    frame = pyogrio.read_dataframe(url, layer="interventions", PAGE_SIZE=50)
    with engine.connect() as conn:
        recs, _zones = load_records(conn, with_location=True)
    assert sorted(frame["id"]) == sorted(recs["id"])
    merged = frame.merge(recs, on="id", suffixes=("", "_db"))
    assert (merged["source_id"] == merged["source_id_db"]).all()
    assert (merged["reported_at"] == merged["reported_at_db"]).all()
    assert ((merged.geometry.x - merged["x"]).abs() < 1e-6).all()
    assert ((merged.geometry.y - merged["y"]).abs() < 1e-6).all()
    assert frame["due_at"].notna().all() and set(frame["state"]) <= {"on_time", "late", "open_overdue"}

    # ... with an API key sent as a bearer token (GDAL >= 3.9)
    gdal_options.update(GDAL_HTTP_COOKIE=None, GDAL_HTTP_AUTH="BEARER", GDAL_HTTP_BEARER=store)
    pyogrio.set_gdal_config_options(gdal_options)
    inside = pyogrio.read_dataframe(url, layer="interventions", bbox=box)
    expected_ids = recs[recs["x"].between(box[0], box[2]) & recs["y"].between(box[1], box[3])]["id"]
    assert sorted(inside["id"]) == sorted(expected_ids) and len(inside) > 0

    # ... or in the URL: GDAL repeats its query on every request, next pages included
    gdal_options.update(GDAL_HTTP_AUTH=None, GDAL_HTTP_BEARER=None)
    pyogrio.set_gdal_config_options(gdal_options)
    frame = pyogrio.read_dataframe(f"{url}?api_key={store}", layer="interventions", PAGE_SIZE=100)
    assert len(frame) == len(recs)

    # without either, the collection is not there
    assert "interventions" not in [name for name, _geom in pyogrio.list_layers(url)]
    with pytest.raises(pyogrio.errors.DataLayerError):
        pyogrio.read_dataframe(url, layer="interventions")


def test_items_json_is_valid_geojson_text(client: Any) -> None:
    raw = client.get("/ogc/collections/quarter_results/items?limit=26").get_data(as_text=True)
    assert "NaN" not in raw and "Infinity" not in raw
    doc = json.loads(raw)
    assert all(f["type"] == "Feature" and f["geometry"]["type"] == "MultiPolygon" for f in doc["features"])


def test_an_empty_store_answers_with_empty_collections(db_url: str) -> None:
    client = make_app(db_url).test_client()
    docs = client.get("/ogc/collections").get_json()["collections"]
    assert [d["id"] for d in docs] == ["quarters", "zones", "quarter_results"]
    assert all("spatial" not in d.get("extent", {}) for d in docs)
    for cid in ("quarters", "zones", "quarter_results"):
        page = client.get(f"/ogc/collections/{cid}/items").get_json(force=True)
        assert (page["numberMatched"], page["features"]) == (0, [])
        for fmt in ("csv", "geojson", "gpkg"):
            assert client.get(f"/exports/{cid}.{fmt}").status_code == 200, (cid, fmt)


# -- the OpenAPI document ------------------------------------------------------------------------


def test_the_openapi_document_describes_every_path_and_validates(client: Any) -> None:
    from openapi_spec_validator import validate

    landing = client.get("/ogc").get_json()
    desc = next(link for link in landing["links"] if link["rel"] == "service-desc")
    answer = client.get(desc["href"].replace("http://localhost", ""))
    assert answer.status_code == 200 and answer.mimetype == "application/vnd.oai.openapi+json"
    doc = json.loads(answer.get_data(as_text=True))
    validate(doc)  # raises on any departure from OpenAPI 3.0
    assert doc["openapi"].startswith("3.0.")
    expected = {"/ogc", "/ogc/api", "/ogc/conformance", "/ogc/collections"}
    for cid in ("quarters", "zones", "interventions", "quarter_results"):
        base = f"/ogc/collections/{cid}"
        expected |= {base, f"{base}/items", f"{base}/items/{{featureId}}", f"{base}/schema"}
        expected.add(f"/exports/{cid}.{{format}}")
    assert set(doc["paths"]) == expected

    def params(path: str) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in doc["paths"][path]["get"]["parameters"]}

    items = params("/ogc/collections/interventions/items")
    # the bounds the server enforces, as a client (GDAL sizes its pages with limit's maximum) reads them
    assert items["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100}
    assert items["offset"]["schema"]["maximum"] == 10**9
    assert items["bbox"]["style"] == "form" and items["bbox"]["explode"] is False
    assert {"bbox", "datetime", "limit", "offset", "f", "source", "source_id", "category", "status"} <= set(
        items
    )
    assert {"code", "level", "parent"} <= set(params("/ogc/collections/quarters/items"))
    assert {"norm", "from", "to"} <= set(params("/exports/quarter_results.{format}"))
    assert "limit" not in params("/exports/quarters.{format}")
    feature_id = params("/ogc/collections/interventions/items/{featureId}")["featureId"]["schema"]
    assert (feature_id["minimum"], feature_id["maximum"]) == (1, 2**63 - 1)
    secured = doc["paths"]["/ogc/collections/interventions/items"]["get"]
    assert "401" in secured["responses"] and "security" in secured
    assert "security" not in doc["paths"]["/ogc/collections/quarters/items"]["get"]

    # what the document says is what the server does
    assert client.get("/ogc/collections/quarters/items?limit=10000").status_code == 200
    assert client.get("/ogc/collections/quarters/items?limit=10001").status_code == 400


# -- who reads the requests ------------------------------------------------------------------------


def quarter_requests(engine: Engine, code: str) -> list[int]:
    with engine.connect() as conn:
        recs, _zones = load_records(conn)
    return sorted(int(i) for i in recs.loc[(recs["quarter"] == code) | (recs["subquarter"] == code), "id"])


def test_published_requests_are_public_without_their_personal_fields(
    db_url: str, engine: Engine, store: str
) -> None:
    with engine.begin() as conn:
        set_setting(conn, "publish_requests", "true")
    client = make_app(db_url).test_client()
    listing = client.get("/ogc/collections").get_json()
    assert "interventions" in [c["id"] for c in listing["collections"]]
    page = client.get("/ogc/collections/interventions/items?limit=10000")
    assert page.status_code == 200
    doc = page.get_json(force=True)
    assert doc["numberMatched"] == 381
    for f in doc["features"]:
        assert "description" not in f["properties"] and "address" not in f["properties"]
        assert f["properties"]["source_id"] and f["geometry"]["type"] == "Point"
    one = client.get("/ogc/collections/interventions/items/1").get_json(force=True)
    assert "description" not in one["properties"]
    schema = client.get("/ogc/collections/interventions/schema").get_json(force=True)
    assert "description" not in schema["properties"]["properties"]["properties"]
    text = client.get("/exports/interventions.csv").get_data(as_text=True)
    header = text.splitlines()[0].lstrip("\ufeff").split(";")
    assert "source_id" in header and "description" not in header and "address" not in header

    # the same store with an API key: everything
    full = client.get("/ogc/collections/interventions/items/1", headers={"Authorization": f"Bearer {store}"})
    assert "description" in full.get_json(force=True)["properties"]


def test_a_correspondent_reads_the_requests_of_their_quarter_only(
    db_url: str, engine: Engine, store: str
) -> None:
    with engine.begin() as conn:
        add_user(conn, "south-end", PASSWORD, "correspondent", "6")
        add_user(conn, "mayor", PASSWORD, "official", None)
    mine = quarter_requests(engine, "6")
    assert 0 < len(mine) < 381
    client = make_app(db_url).test_client()
    assert client.post("/login", data={"username": "south-end", "password": PASSWORD}).status_code == 302
    got = sorted(f["id"] for f in all_pages(client, "/ogc/collections/interventions/items?limit=40"))
    assert got == mine
    other = next(i for i in range(1, 400) if i not in mine)
    assert client.get(f"/ogc/collections/interventions/items/{other}").status_code == 404
    detail = client.get(f"/ogc/collections/interventions/items/{mine[0]}").get_json(force=True)
    assert "description" in detail["properties"]  # their own quarter: in detail
    doc = json.loads(client.get("/exports/interventions.geojson").get_data(as_text=True))
    assert sorted(f["id"] for f in doc["features"]) == mine and doc["numberMatched"] == len(mine)
    # the rest of the city: in aggregate, as everybody
    results = client.get("/ogc/collections/quarter_results/items?limit=100").get_json(force=True)
    assert results["numberMatched"] == 26

    official = make_app(db_url).test_client()
    assert official.post("/login", data={"username": "mayor", "password": PASSWORD}).status_code == 302
    assert official.get("/ogc/collections/interventions/items").get_json(force=True)["numberMatched"] == 381
