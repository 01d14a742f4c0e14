"""Page benchmark: a quarter page with N requests, served by geova versus built the naive way.

It builds a SpatiaLite store (or PostGIS with --backend postgis) holding the Boston quarters and
priority zones and N synthetic requests inside one quarter (Dorchester by default), logs in as a
correspondent with Flask's test client, and measures, best of --repeat:

- **geova**: GET /quarters/<code> (the page: map scaffolding, scorecard, audit grid, recent
  requests, report form) and the first GeoJSON the map then loads for the quarter's extent
  (points, or grid clusters when there are too many); page weight = both responses;
- **naive**: the same map with one ``folium.Marker`` (and its popup) per request, rendered by
  folium, which is what a first version of such a page usually does.

Static assets (Leaflet, CSS, JS: the same for every page, cached by the browser) are listed apart.
Figures only; nothing is asserted.

    .venv/bin/python bench/page_bench.py                 # 20,000 requests, SpatiaLite
    .venv/bin/python bench/page_bench.py --size 5000 --backend postgis
"""

from __future__ import annotations

import argparse
import html
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

from import_bench import DEFAULT_PG_ADMIN, QUARTERS_FILE, ZONES_FILE, store  # noqa: E402

PASSWORD = "bench-password-1"
MAPPING = """
[source]
name = "page-bench"
timezone = "America/New_York"
date_format = "%Y-%m-%d %H:%M"
[columns]
source_id = "id"
category = "type"
reported_at = "opened"
resolved_at = "closed"
due_at = "target"
status = "status"
description = "description"
address = "address"
latitude = "lat"
longitude = "lon"
[categories]
"Graffiti" = "graffiti"
"Litter" = "corbeille"
"Vacant lot" = "friche"
[status]
values = { Open = "open", Closed = "closed" }
"""


def generate(n: int, polygon: shapely.Geometry, path: Path, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = polygon.bounds
    xs, ys = [], []
    shapely.prepare(polygon)
    while sum(len(x) for x in xs) < n:
        cx, cy = rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)
        inside = shapely.intersects_xy(polygon, cx, cy)
        xs.append(cx[inside])
        ys.append(cy[inside])
    x, y = np.concatenate(xs)[:n], np.concatenate(ys)[:n]
    opened = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.uniform(0, 364, n), unit="D")
    closed = opened + pd.to_timedelta(rng.exponential(80, n), unit="h")
    is_open = rng.random(n) < 0.15
    frame = pd.DataFrame(
        {
            "id": [f"PB{i:07d}" for i in range(n)],
            "type": rng.choice(["Graffiti", "Litter", "Vacant lot"], n, p=[0.6, 0.3, 0.1]),
            "opened": opened.strftime("%Y-%m-%d %H:%M"),
            "closed": np.where(is_open, "", closed.strftime("%Y-%m-%d %H:%M")),
            "target": (opened + pd.Timedelta(days=5)).strftime("%Y-%m-%d %H:%M"),
            "status": np.where(is_open, "Open", "Closed"),
            "description": [f"Request {i} <b>with markup</b> & text" for i in range(n)],
            "address": [f"{i % 400} Dorchester Ave" for i in range(n)],
            "lat": np.round(y, 6),
            "lon": np.round(x, 6),
        }
    )
    frame.to_csv(path, index=False)


def best(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def naive_page(frame: pd.DataFrame) -> str:
    """One folium.Marker per request, with its popup: the page a first version would build."""
    import folium

    m = folium.Map(location=[frame["y"].mean(), frame["x"].mean()], zoom_start=14, tiles=None)
    for r in frame.itertuples():
        text = f"{html.escape(str(r.category))}<br>{html.escape(str(r.source_id))}"
        folium.Marker([r.y, r.x], popup=folium.Popup(text)).add_to(m)
    return m.get_root().render()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=20_000)
    p.add_argument("--quarter", default="6", help="quarter code (default: Dorchester)")
    p.add_argument("--backend", choices=["spatialite", "postgis"], default="spatialite")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN)
    args = p.parse_args()

    from app import create_app
    from geova.importing import import_interventions, import_layer, load_extra_referential
    from geova.store.records import load_records
    from geova.store.status import set_setting
    from geova.store.users import add_user

    quarters = pd.DataFrame(__import__("pyogrio").read_dataframe(QUARTERS_FILE))
    polygon = shapely.make_valid(
        quarters.loc[quarters["Neighborhood_ID"] == args.quarter, "geometry"].iloc[0]
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        store(args.backend, args.pg_admin_url, None) as (engine, _size),
    ):
        csv, mapping = Path(tmp) / "requests.csv", Path(tmp) / "mapping.toml"
        generate(args.size, polygon, csv)
        mapping.write_text(MAPPING, encoding="utf-8")
        import_layer(engine, QUARTERS_FILE, as_="quarters", code_field="Neighborhood_ID", name_field="Name")
        import_layer(engine, ZONES_FILE, as_="zones", code_field="code", name_field="name", kind_field="kind")
        load_extra_referential(engine, REPO / "data" / "boston" / "norms.toml")
        report = import_interventions(engine, csv, mapping, rejects_path=Path(tmp) / "rejects.csv")
        with engine.begin() as conn:
            set_setting(conn, "timezone", "America/New_York")
            set_setting(conn, "headline_norm", "boston.target")
            add_user(conn, "bench", PASSWORD, "correspondent", args.quarter)
        print(f"{args.backend}: {report.inserted:,} requests in quarter {args.quarter}", flush=True)

        app = create_app(
            {
                "GEOVA_DATABASE_URL": engine.url.render_as_string(hide_password=False),
                "GEOVA_TILES_URL": "none",
                "WTF_CSRF_ENABLED": False,
                "SECRET_KEY": "bench",
            }
        )
        client = app.test_client()
        client.post("/login", data={"username": "bench", "password": PASSWORD})
        query = "?lang=en&from=2015-01-01&to=2015-12-31"
        page_url = f"/quarters/{args.quarter}{query}"
        if client.get(page_url).status_code != 200:
            print(f"GET {page_url} failed: is the quarter page there?")
            return 1
        minx, miny, maxx, maxy = polygon.bounds
        feed_url = (
            f"/geo/interventions.geojson{query}&quarter={args.quarter}"
            f"&bbox={minx:.5f},{miny:.5f},{maxx:.5f},{maxy:.5f}&zoom=13"
        )
        page_s, page = best(lambda: client.get(page_url), args.repeat)
        feed_s, feed = best(lambda: client.get(feed_url), args.repeat)
        feed_json = feed.get_json()  # type: ignore[union-attr]
        assets = sum(
            len(client.get(u).data)
            for u in (
                "/static/vendor/leaflet/leaflet.js",
                "/static/vendor/leaflet/leaflet.css",
                "/static/vendor/leaflet.markercluster/leaflet.markercluster.js",
                "/static/js/geova-maps.js",
                "/static/css/geova.css",
            )
        )
        with engine.connect() as conn:
            recs, _ = load_records(conn, with_location=True)
        naive_s, naive = best(lambda: naive_page(recs), max(1, args.repeat // 2))
        page_kb = len(page.data) / 1024  # type: ignore[union-attr]
        feed_kb = len(feed.data) / 1024  # type: ignore[union-attr]
        kinds = (
            "grid clusters"
            if feed_json["features"] and "n" in feed_json["features"][0]["properties"]
            else "points"
        )
        print(f"\nQuarter page with {args.size:,} requests ({args.backend}, best of {args.repeat})")
        print(f"{'what':<52} {'server ms':>10} {'KB':>9}")
        print(f"{'geova: the page (HTML)':<52} {page_s * 1000:>10.0f} {page_kb:>9.1f}")
        print(
            f"{'geova: first map feed (' + str(len(feed_json['features'])) + ' ' + kinds + ')':<52} "
            f"{feed_s * 1000:>10.0f} {feed_kb:>9.1f}"
        )
        print(f"{'geova: page + first feed':<52} {(page_s + feed_s) * 1000:>10.0f} {page_kb + feed_kb:>9.1f}")
        print(
            f"{'naive: one folium.Marker per request':<52} {naive_s * 1000:>10.0f} {len(naive) / 1024:>9.1f}"
        )
        print(f"{'static assets (cached, same for every page)':<52} {'':>10} {assets / 1024:>9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
