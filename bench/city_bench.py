"""City-scale benchmark: one store of N requests built once, then every figure issue 9 asks for.

For each backend (PostGIS, SpatiaLite) it builds a store with the Boston quarters and zones, the
Boston norms and N requests from ``bench/import_bench.py``'s own generator, and measures, in one run:

- **import**: the first import of the N rows (rows/s; since revision 0006 it includes computing and
  storing every verdict), then the re-import of the unchanged file;
- **evaluate**: ``geova evaluate``'s work (every active deadline norm, by norm and quarter) beside the
  two honest SQL baselines of ``bench/evaluate_bench.py`` (PostGIS only: a spatial join + on-time
  aggregate by quarter, and the same aggregate over the stored quarter), with the counts compared;
- **pages**: every page and feed, server-side (Flask's test client, in process: no network, no
  browser), logged in where the page needs it: the first view after a write ("cold") and the median
  of ``--repeat`` further views.

Figures only; nothing is asserted. Results and the machine's load go to ``bench/README.md`` by hand.

    .venv/bin/python bench/city_bench.py                                  # 1M, both backends
    .venv/bin/python bench/city_bench.py --size 100000 --backends postgis
    .venv/bin/python bench/city_bench.py --sizes 10000,100000,1000000,3000000 --backends postgis \\
        --pages overview --growth bench/growth.png                          # the growth table and plot
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

from evaluate_bench import AS_OF, BASELINES, agree, time_sql  # noqa: E402
from import_bench import (  # noqa: E402
    DEFAULT_MAPPING,
    DEFAULT_PG_ADMIN,
    QUARTERS_FILE,
    ZONES_FILE,
    cached_csv,
    checkpoint,
    store,
)

PASSWORD = "bench-password-1"
QUARTER = "6"  # Dorchester, the largest quarter
BROWSER_ENCODINGS = "gzip, deflate, br, zstd"  # what Chromium and Firefox send


def pages(quarter: str, bbox: str, city: str) -> dict[str, tuple[str | None, str]]:
    """name -> (account that views it, URL). ``bbox``: the correspondent's view of their quarter;
    ``city``: an official's 1280 x 720 map at zoom 13 (bench/load_bench.py's map feed)."""
    return {
        "overview": (None, "/"),
        "results": (None, "/results"),
        "quarter page": ("correspondent", f"/quarters/{quarter}"),
        "worklist": ("service", "/worklist"),
        "comparison": ("official", "/compare"),
        "print view": ("official", "/compare/print"),
        "map: quarters": (None, "/geo/quarters.geojson"),
        "map: requests": ("correspondent", f"/geo/interventions.geojson?bbox={bbox}&zoom=14"),
        "map: city zoom 13": ("official", f"/geo/interventions.geojson?bbox={city}&zoom=13"),
        "api evaluations": ("official", "/api/v1/evaluations?by=norm,quarter"),
        "ogc quarter_results": (None, "/ogc/collections/quarter_results/items?f=json"),
        "open311 requests": (
            "official",
            "/open311/v2/requests.json?start_date=2015-10-01T00:00:00Z&end_date=2015-12-29T00:00:00Z",
        ),
    }


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = call()
    return time.perf_counter() - t, out


def machine_load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} / {five:.2f} (1 / 5 min) on {os.cpu_count()} CPUs"


def measure_pages(
    url: str, repeat: int, only: set[str] | None, page_cache: str = "none"
) -> dict[str, dict[str, Any]]:
    """Each page's first view and the median of ``repeat`` more. ``page_cache``: ``none`` computes
    every view (what a first visitor after a write waits for); ``files`` serves the repeated views
    from geova.web.page_cache, as gunicorn does (kept in a temporary folder)."""
    from load_bench import viewport

    from geova.store import users
    from geova.store.areas import load_areas
    from geova.store.db import make_engine, write
    from geova.web import create_app

    engine = make_engine(url)
    with write(engine) as conn:
        for role in ("correspondent", "service", "official"):
            if users.find(conn, f"bench-{role}") is None:
                users.add_user(
                    conn, f"bench-{role}", PASSWORD, role, QUARTER if role == "correspondent" else None
                )
            else:  # bench/load_bench.py gives bench-official a random password of its own
                users.set_password(conn, f"bench-{role}", PASSWORD)
        quarters, _zones = load_areas(conn)
    engine.dispose()
    config = {"GEOVA_DATABASE_URL": url, "TESTING": True, "WTF_CSRF_ENABLED": False}
    config["GEOVA_PAGE_CACHE"] = page_cache
    if page_cache != "none":
        config["GEOVA_INSTANCE_PATH"] = tempfile.mkdtemp(prefix="geova-city-cache-")
    app = create_app(config)
    clients: dict[str | None, Any] = {None: app.test_client()}
    for role in ("correspondent", "service", "official"):
        client = app.test_client()
        client.post("/login", data={"username": f"bench-{role}", "password": PASSWORD})
        clients[role] = client
    bbox = "-71.075,42.295,-71.055,42.31"
    city = ",".join(map(str, viewport(next(q.geom for q in quarters if q.code == QUARTER))))
    out: dict[str, dict[str, Any]] = {}
    for name, (role, path) in pages(QUARTER, bbox, city).items():
        if only and name not in only:
            continue
        client = clients[role]
        # asked as a browser asks (the compression's time counted); the page's own size read apart
        get = lambda c=client, p=path: c.get(p, headers={"Accept-Encoding": BROWSER_ENCODINGS})  # noqa: E731
        cold, response = timed(get)
        warm = [timed(get)[0] for _ in range(repeat)]
        out[name] = {
            "path": path,
            "status": response.status_code,
            "bytes": len(client.get(path).get_data()),
            "wire_bytes": len(response.get_data()),
            "encoding": response.headers.get("Content-Encoding", "none"),
            "cold_ms": cold * 1000,
            "median_ms": statistics.median(warm) * 1000 if warm else None,
        }
        print(
            f"    {name:22} {response.status_code}  cold {cold * 1000:8.0f} ms  "
            f"median {out[name]['median_ms']:8.0f} ms  {out[name]['bytes']:>9,} B  "
            f"({out[name]['wire_bytes']:,} B {out[name]['encoding']})",
            flush=True,
        )
    return out


def run_backend(backend: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import text

    from geova.evaluation import evaluate
    from geova.importing import import_interventions, import_layer, load_extra_referential, prepare_store
    from geova.store.db import write
    from geova.store.status import set_setting

    csv = cached_csv(n, args.seed, False)
    result: dict[str, Any] = {"backend": backend, "size": n, "load_before": machine_load()}
    print(f"\n[{backend}] {n:,} requests ({result['load_before']})", flush=True)
    kept = kept_store(backend, n, args) if args.keep else None
    with kept or store(backend, args.pg_admin_url, None) as (engine, size):
        prepare_store(engine)
        with write(engine) as conn:
            set_setting(conn, "timezone", "America/New_York")
            set_setting(conn, "holidays", "US-MA")
        load_extra_referential(engine, REPO / "data" / "boston" / "norms.toml")
        import_layer(engine, QUARTERS_FILE, as_="quarters", code_field="Neighborhood_ID", name_field="Name")
        import_layer(engine, ZONES_FILE, as_="zones", code_field="code", name_field="name", kind_field="kind")
        checkpoint(engine)  # as import_bench does before each timed import
        first, _ = timed(lambda: import_interventions(engine, csv, DEFAULT_MAPPING))
        result["build_s"] = first
        print(f"  first import: {first:.1f} s ({n / first:,.0f} rows/s, verdicts included)", flush=True)
        checkpoint(engine)
        reimport, _ = timed(lambda: import_interventions(engine, csv, DEFAULT_MAPPING))
        result["reimport_s"] = reimport
        print(f"  re-import of the unchanged file: {reimport:.1f} s", flush=True)
        if backend == "postgis":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        result["store_mb"] = size()
        times = []
        for _ in range(args.repeat):
            secs, ev = timed(lambda: evaluate(engine, as_of=AS_OF, by=["norm", "quarter"]).aggregates)
            times.append(secs)
        result["evaluate_s"] = min(times)
        print(f"  geova evaluate (by norm and quarter): best {min(times):.2f} s", flush=True)
        if backend == "postgis":
            for key, baseline in BASELINES.items():
                secs, frame = time_sql(engine, baseline, args.repeat)
                codes = sorted(set(frame["norm"])) if "norm" in frame else []
                verdict = agree(ev, frame, codes)
                result[f"baseline_{key}_s"] = secs
                result[f"baseline_{key}_agree"] = verdict
                print(f"  baseline {key}: best {secs:.2f} s; counts {verdict}", flush=True)
        url = engine.url.render_as_string(hide_password=False)
        for how in ("replica", "tuples"):
            probe = subprocess.run(
                [sys.executable, str(BENCH / "replica_probe.py"), url, how], capture_output=True, text=True
            )
            figures = json.loads(probe.stdout) if probe.returncode == 0 else {"error": probe.stderr[-500:]}
            result[f"replica_load_{how}"] = figures
            print(f"  replica cold load ({how}): {figures}", flush=True)
        if args.pages != "none":
            only = None if args.pages == "all" else set(args.pages.split(","))
            print("  pages (server-side):", flush=True)
            result["pages"] = measure_pages(
                engine.url.render_as_string(hide_password=False), args.repeat, only, args.page_cache
            )
    result["load_after"] = machine_load()
    return result


@contextmanager
def kept_store(backend: str, n: int, args: argparse.Namespace) -> Iterator[tuple[Any, Callable[[], float]]]:
    """A store left in place after the run (for bench/load_bench.py --db): a PostGIS database
    ``geova_city_<n>`` or a SpatiaLite file under bench/out/, replaced if it exists."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from geova.store.db import make_engine

    if backend == "spatialite":
        path = BENCH / "out" / f"city-{n}.sqlite"
        for old in path.parent.glob(path.name + "*"):
            old.unlink()
        engine = make_engine(f"sqlite:///{path}")
        print(f"  kept store: sqlite:///{path}", flush=True)
        yield engine, lambda: sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6
        engine.dispose()
        return
    name = f"geova_city_{n}"
    admin = create_engine(args.pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(args.pg_admin_url).set(database=name).render_as_string(hide_password=False)
    print(f"  kept store: {url}", flush=True)
    engine = make_engine(url)

    def pg_size() -> float:
        with engine.connect() as conn:
            return conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one() / 1e6

    yield engine, pg_size
    engine.dispose()


def growth_plot(results: list[dict[str, Any]], path: Path) -> None:
    """Three panels: the first import on log-log axes beside a line of slope 1 through the first
    point (near-linear growth stays parallel to it); ``geova evaluate`` beside both SQL baselines,
    and the overview's median, in milliseconds from zero (a flat line reads flat: an axis zoomed to
    the figures' own range made a few milliseconds of noise look like growth)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = pd.DataFrame(
        [
            {
                "backend": r["backend"],
                "size": r["size"],
                "import": r["build_s"],
                "evaluate": r["evaluate_s"] * 1000,
                "baseline a": (r.get("baseline_a_s") or float("nan")) * 1000,
                "baseline b": (r.get("baseline_b_s") or float("nan")) * 1000,
                "overview": r.get("pages", {}).get("overview", {}).get("median_ms", float("nan")),
            }
            for r in results
        ]
    ).sort_values("size")
    fig, (imp, ev, ov) = plt.subplots(1, 3, figsize=(13, 3.8))
    for backend, part in frame.groupby("backend"):
        imp.plot(part["size"], part["import"], marker="o", label=f"{backend}: first import")
        first = part.iloc[0]
        imp.plot(
            part["size"],
            first["import"] * part["size"] / first["size"],
            linestyle=":",
            color="grey",
            label="slope 1 (linear) from the first point",
        )
        ev.plot(part["size"], part["evaluate"], marker="o", label=f"{backend}: geova evaluate")
        if part["baseline a"].notna().any():
            ev.plot(
                part["size"], part["baseline a"], marker="s", label="baseline a: spatial join + aggregate"
            )
            ev.plot(
                part["size"], part["baseline b"], marker="^", label="baseline b: aggregate, stored quarter"
            )
        ov.plot(part["size"], part["overview"], marker="o", label=f"{backend}: overview, median")
    imp.set_xscale("log")
    imp.set_yscale("log")
    imp.set_title("first import (s, log-log)")
    ev.set_xscale("log")
    ev.set_yscale("symlog", linthresh=100)
    ev.set_ylim(bottom=0)
    ev.set_title("evaluation by norm and quarter (ms)")
    ov.set_xscale("log")
    ov.set_ylim(0, max(330.0, float(frame["overview"].max()) * 1.2))
    ov.axhline(300, color="red", linestyle="--", linewidth=1, label="target 300 ms")
    ov.set_title("public overview (ms, from zero)")
    for ax in (imp, ev, ov):
        ax.set_xlabel("requests")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"\nplot: {path}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1000000", help="comma-separated request counts")
    p.add_argument("--size", type=int, help="one request count (same as --sizes N)")
    p.add_argument("--backends", default="postgis,spatialite")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--seed", type=int, default=2015)
    p.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN)
    p.add_argument("--pages", default="all", help="all, none, or comma-separated page names")
    p.add_argument("--json", help="also write the figures to this file")
    p.add_argument("--keep", action="store_true", help="keep the store (for bench/load_bench.py --db)")
    p.add_argument("--url", help="measure the pages only, on this store (kept by an earlier --keep run)")
    p.add_argument(
        "--page-cache",
        default="none",
        choices=["none", "files"],
        help="none: every view computed (default); files: repeated views from the page cache",
    )
    p.add_argument("--growth", help="write the growth plot (import, evaluate, overview) to this PNG")
    args = p.parse_args()
    if args.url:
        print(f"pages of {args.url} ({machine_load()})", flush=True)
        only = None if args.pages == "all" else set(args.pages.split(","))
        found = measure_pages(args.url, args.repeat, only, args.page_cache)
        print(f"load after: {machine_load()}")
        if args.json:
            Path(args.json).write_text(json.dumps(found, indent=1, default=str))
        return 0
    sizes = [args.size] if args.size else [int(s) for s in args.sizes.split(",")]
    results = [run_backend(b, n, args) for n in sizes for b in args.backends.split(",")]
    print("\n| backend | requests | import rows/s | re-import s | evaluate s | baseline a s | baseline b s |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['backend']} | {r['size']:,} | {r['size'] / r['build_s']:,.0f} | {r['reimport_s']:.1f} "
            f"| {r['evaluate_s']:.2f} | {r.get('baseline_a_s', float('nan')):.2f} "
            f"| {r.get('baseline_b_s', float('nan')):.2f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    if args.growth:
        growth_plot(results, Path(args.growth))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
