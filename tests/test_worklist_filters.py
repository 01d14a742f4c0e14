"""Every filter of the worklist, alone and together, against rows computed from the imported file.

The store is tests/test_web_correspondent.py's: Boston's 2015 "trash on vacant lot" export (waste
land, ``friche``), its neighbourhoods as quarters and the demo's priority zones. The expected rows
are read off the CSV with pandas and placed in quarters and zones with geopandas (a point inside a
polygon), the service from the QUEUE patterns of data/boston/norms.toml: none of it goes through
geova's own reading, routing or worklist code. Only the requests the store holds are expected (the
import's own checks are tested elsewhere).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import geopandas as gpd
import pandas as pd
import pytest
from sqlalchemy import Engine, select

from geova.store.schema import Intervention
from geova.web import services as worklist_module
from tests.test_web_correspondent import fast_passwords, login, make_app
from tests.test_web_services import rows

REPO = Path(__file__).resolve().parents[1]
IV = Intervention.__table__
TZ = "America/New_York"
NORM = "boston.target"  # judges waste land (its scope: graffiti, corbeille, seringue, friche)
OTHER_NORM = "nantes.graffiti.48h"  # graffiti only: no waste land
PAGE = 25  # a small page, so that the 104 open requests take several


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_passwords(monkeypatch)


@pytest.fixture
def app(db_url: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setattr(worklist_module, "PAGE_SIZE", PAGE)
    yield from make_app(db_url, engine, tmp_path)


def expected_frame(engine: Engine) -> pd.DataFrame:
    """The open requests of the file: source id, address, report time, quarter, zones, service."""
    raw = pd.read_csv(REPO / "data/boston/trash-on-vacant-lot.csv", dtype=str, keep_default_na=False)
    open_rows = raw[raw["CASE_STATUS"] == "Open"].copy()
    points = gpd.GeoDataFrame(
        open_rows,
        geometry=gpd.points_from_xy(
            open_rows["LONGITUDE"].astype(float), open_rows["LATITUDE"].astype(float)
        ),
        crs="EPSG:4326",
    )
    quarters = gpd.read_file(REPO / "layers/boston_neighborhoods.geojson").to_crs("EPSG:4326")
    zones = gpd.read_file(REPO / "layers/boston_priority_zones.geojson").to_crs("EPSG:4326")
    in_quarter = gpd.sjoin(points, quarters[["Neighborhood_ID", "geometry"]], predicate="within", how="left")
    quarter = in_quarter.groupby(level=0)["Neighborhood_ID"].first().astype(str)
    in_zone = gpd.sjoin(points, zones[["code", "geometry"]], predicate="within", how="inner")
    zone_sets = in_zone.groupby(level=0)["code"].agg(set)
    referential = tomllib.loads((REPO / "data/boston/norms.toml").read_text(encoding="utf-8"))

    def service(queue: str) -> str:
        return next(
            (s["code"] for s in referential["service"] if any(fnmatch(queue, p) for p in s["queues"])), queue
        )

    out = pd.DataFrame(
        {
            "source_id": open_rows["CASE_ENQUIRY_ID"],
            "address": open_rows["Location"],
            "reported": pd.to_datetime(open_rows["OPEN_DT"], format="%m/%d/%Y %I:%M:%S %p").dt.tz_localize(
                TZ
            ),
            "quarter": quarter.reindex(open_rows.index),
            "zones": zone_sets.reindex(open_rows.index).map(lambda v: v if isinstance(v, set) else set()),
            "service": open_rows["QUEUE"].map(service),
        }
    )
    with engine.connect() as conn:
        ids = dict(conn.execute(select(IV.c.source_id, IV.c.id)).all())
    out = out[out["source_id"].isin(ids)]
    out["id"] = out["source_id"].map(ids).astype(int)
    return out


def listed(client: Any, **params: str) -> set[int]:
    """Every request the worklist lists with these filters, page after page."""
    found: list[int] = []
    page = 1
    while True:
        html = client.get(f"/worklist?{urlencode({'norm': NORM, 'scope': 'all', **params, 'page': page})}")
        assert html.status_code == 200
        text = html.get_data(as_text=True)
        on_page = rows(text)
        assert len(on_page) <= PAGE
        assert not set(on_page) & set(found), "a request on two pages"
        found.extend(on_page)
        if f"page={page + 1}" not in text or not on_page:
            return set(found)
        page += 1


def test_every_filter_alone_and_together_lists_what_the_file_says(app, engine):
    expected = expected_frame(engine)
    assert len(expected) > 2 * PAGE  # several pages
    agent = login(app, "agent")
    everything = set(expected["id"])
    assert listed(agent) == everything
    assert listed(agent, state="open_overdue") == everything  # 2015's deadlines are long past
    assert listed(agent, state="open_in_time") == set()
    assert listed(agent, category="friche") == everything
    assert listed(agent, category="graffiti") == set()
    assert listed(agent, norm=OTHER_NORM) == set()

    top_quarter = expected["quarter"].value_counts().index[0]
    in_quarter = expected[expected["quarter"] == top_quarter]
    assert listed(agent, quarter=top_quarter) == set(in_quarter["id"])
    zone = expected["zones"].explode().dropna().value_counts().index[0]
    in_zone = expected[expected["zones"].map(lambda z: zone in z)]
    assert listed(agent, zone=zone) == set(in_zone["id"]) != set()

    service = expected["service"].iloc[0]
    assert service == "boston.inspections"  # ISD_* in Boston's file
    assert listed(agent, service=service) == everything
    assert listed(agent, service="boston.parks") == set()

    # free text: part of an id, part of an address (any case)
    prefix = expected["source_id"].iloc[0][:9]
    by_id = expected[expected["source_id"].str.contains(prefix, regex=False)]
    assert listed(agent, q=prefix) == set(by_id["id"])
    street = "Blue Hill Ave"
    by_street = expected[expected["address"].str.lower().str.contains(street.lower(), regex=False)]
    assert listed(agent, q=street.upper()) == set(by_street["id"]) != set()

    # a period of report dates (``to`` is the last day included)
    start, end = pd.Timestamp("2015-06-01", tz=TZ), pd.Timestamp("2015-09-01", tz=TZ)
    in_period = expected[(expected["reported"] >= start) & (expected["reported"] < end)]
    assert listed(agent, **{"from": "2015-06-01", "to": "2015-08-31"}) == set(in_period["id"]) != set()

    # all together
    together = in_quarter[
        (in_quarter["reported"] >= start)
        & (in_quarter["reported"] < end)
        & (in_quarter["service"] == service)
    ]
    combined = {
        "category": "friche",
        "quarter": top_quarter,
        "service": service,
        "state": "open_overdue",
        "from": "2015-06-01",
        "to": "2015-08-31",
    }
    assert listed(agent, **combined) == set(together["id"]) != set()
    one = together.iloc[0]
    assert listed(agent, **combined, q=one["source_id"]) == {one["id"]}
    in_both = in_zone[in_zone["quarter"] == top_quarter]
    assert listed(agent, quarter=top_quarter, zone=zone, category="friche") == set(in_both["id"])
