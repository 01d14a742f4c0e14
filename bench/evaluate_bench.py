"""Evaluation benchmark: geova's full norm evaluation of N requests versus a hand-written PostGIS query.

For each backend it builds a store with the Boston quarters and priority zones, imports N synthetic
requests (the generator of bench/import_bench.py, cached under bench/out/) and Boston's own norm,
then times, at a fixed instant:

- **geova**: ``geova.evaluation.evaluate`` over every active deadline norm, reading the store, then
  every aggregate (by norm, quarter, sub-quarter, zone, zone kind, category, service, channel,
  month); best of ``--repeat`` runs;
- **PostGIS SQL** (server backend only): one hand-written query doing what a GIS analyst would do
  without geova: spatially join every request to its quarter and to the priority zones, judge each
  one against each deadline norm, and aggregate per norm and quarter (counts, on-time rate, median
  and p90). Best of ``--repeat`` runs.

It prints both times and their ratio (target: geova at most half the SQL's time), and checks that
both give the same per-norm, per-quarter counts. Figures only; nothing is asserted.

    .venv/bin/python bench/evaluate_bench.py                     # 1M requests, both backends
    .venv/bin/python bench/evaluate_bench.py --size 100000 --backends postgis
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
from sqlalchemy import text

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
REPO = BENCH.parent

from import_bench import DEFAULT_MAPPING, DEFAULT_PG_ADMIN, QUARTERS_FILE, ZONES_FILE, cached_csv, store  # noqa: E402

AS_OF = pd.Timestamp("2016-01-11 13:29:47", tz="America/New_York")
GROUPINGS = [
    ["norm"],
    ["norm", "quarter"],
    ["norm", "subquarter"],
    ["norm", "zone"],
    ["norm", "zone_kind"],
    ["norm", "category"],
    ["norm", "service"],
    ["norm", "channel"],
    ["norm", "month"],
]
PRIORITY = "('commercial', 'sensitive', 'black_spot', 'waste_land')"

# The active deadline norms of data/referential.toml and data/boston/norms.toml, written by hand.
SQL = f"""
WITH pts AS (
  SELECT i.id, i.category_code, i.reported_at, i.resolved_at, i.due_at, i.status, i.insulting,
         q.code AS quarter,
         EXISTS (SELECT 1 FROM zone z
                 WHERE z.kind IN {PRIORITY} AND ST_Covers(z.geom, i.geom)) AS in_priority,
         EXISTS (SELECT 1 FROM zone z
                 WHERE z.kind = 'sensitive' AND ST_Covers(z.geom, i.geom)) AS in_sensitive
  FROM intervention i
  LEFT JOIN LATERAL (
    SELECT code FROM quarter q WHERE q.level = 0 AND ST_Covers(q.geom, i.geom) ORDER BY code LIMIT 1
  ) q ON true
  WHERE i.reported_at <= :as_of
),
scoped AS (
  SELECT 'nantes.graffiti.48h' AS norm, p.*, p.reported_at + interval '48 hours' AS due FROM pts p
   WHERE p.category_code = 'graffiti' AND (p.insulting OR p.in_priority)
  UNION ALL
  SELECT 'nantes.friches.72h', p.*, p.reported_at + interval '72 hours' FROM pts p
   WHERE p.category_code = 'friche'
  UNION ALL
  SELECT 'nantes.voirie.48h.sensibles', p.*, p.reported_at + interval '48 hours' FROM pts p
   WHERE p.category_code IN ('nettoiement', 'mobilier', 'corbeille', 'seringue')
     AND p.in_sensitive
  UNION ALL
  SELECT 'boston.target', p.*, p.due_at FROM pts p
   WHERE p.category_code IN ('graffiti', 'corbeille', 'seringue', 'friche')
),
judged AS (
  SELECT norm, quarter, status IN ('duplicate', 'cancelled') AS excluded,
    CASE WHEN due IS NULL THEN 'no_deadline'
         WHEN resolved_at <= :as_of AND resolved_at <= due THEN 'on_time'
         WHEN resolved_at <= :as_of THEN 'late'
         WHEN due < :as_of THEN 'open_overdue'
         WHEN due - :as_of <= interval '24 hours' THEN 'open_at_risk'
         ELSE 'open_in_time' END AS state,
    CASE WHEN resolved_at <= :as_of THEN extract(epoch FROM resolved_at - reported_at) / 3600 END AS hours
  FROM scoped
)
SELECT norm, coalesce(quarter, '(none)') AS quarter, count(*) AS requests,
  count(*) FILTER (WHERE NOT excluded AND state = 'on_time') AS on_time,
  count(*) FILTER (WHERE NOT excluded AND state = 'late') AS late,
  count(*) FILTER (WHERE NOT excluded AND state = 'open_overdue') AS open_overdue,
  count(*) FILTER (WHERE NOT excluded AND state = 'open_at_risk') AS open_at_risk,
  count(*) FILTER (WHERE NOT excluded AND state = 'open_in_time') AS open_in_time,
  count(*) FILTER (WHERE excluded) AS excluded,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY hours)
    FILTER (WHERE NOT excluded AND state IN ('on_time', 'late')) AS median_hours,
  percentile_cont(0.9) WITHIN GROUP (ORDER BY hours)
    FILTER (WHERE NOT excluded AND state IN ('on_time', 'late')) AS p90_hours
FROM judged GROUP BY norm, quarter ORDER BY norm, quarter
"""
COMPARED = ["requests", "on_time", "late", "open_overdue", "open_at_risk", "open_in_time", "excluded"]


def build(engine, csv: Path) -> None:  # type: ignore[no-untyped-def]
    from geova.importing import import_interventions, import_layer, load_extra_referential, prepare_store
    from geova.store.status import set_setting

    prepare_store(engine)
    with engine.begin() as conn:
        set_setting(conn, "timezone", "America/New_York")
        set_setting(conn, "holidays", "US-MA")
    load_extra_referential(engine, REPO / "data" / "boston" / "norms.toml")
    import_layer(engine, QUARTERS_FILE, as_="quarters", code_field="Neighborhood_ID", name_field="Name")
    import_layer(engine, ZONES_FILE, as_="zones", code_field="code", name_field="name", kind_field="kind")
    t = time.perf_counter()
    import_interventions(engine, csv, DEFAULT_MAPPING)
    print(f"  imported in {time.perf_counter() - t:.1f} s", flush=True)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))


def time_geova(engine, repeat: int) -> tuple[float, float, pd.DataFrame]:  # type: ignore[no-untyped-def]
    from geova.evaluation import evaluate

    best, best_load = float("inf"), 0.0
    result = None
    for _ in range(repeat):
        t = time.perf_counter()
        result = evaluate(engine, as_of=AS_OF, by=GROUPINGS[0])
        loaded = time.perf_counter()
        for by in GROUPINGS[1:]:
            result.group(by)
        elapsed = time.perf_counter() - t
        if elapsed < best:
            best, best_load = elapsed, loaded - t
    assert result is not None
    return best, best_load, result.group(["norm", "quarter"])


def time_sql(engine, repeat: int) -> tuple[float, pd.DataFrame]:  # type: ignore[no-untyped-def]
    best = float("inf")
    frame = pd.DataFrame()
    for _ in range(repeat):
        with engine.connect() as conn:
            t = time.perf_counter()
            rows = conn.execute(text(SQL), {"as_of": AS_OF.to_pydatetime()}).all()
            best = min(best, time.perf_counter() - t)
            frame = pd.DataFrame(rows, columns=list(rows[0]._fields) if rows else [])
    return best, frame


def agree(geova_q: pd.DataFrame, sql_q: pd.DataFrame) -> str:
    g = geova_q.set_index(["norm", "quarter"])[COMPARED].astype(int)
    s = sql_q.set_index(["norm", "quarter"])[COMPARED].astype(int)
    g = g[g["requests"] > 0]
    if g.sort_index().equals(s.sort_index()):
        return "yes"
    diff = g.sort_index().compare(s.sort_index()) if g.index.equals(s.index) else "index differs"
    return f"NO\n{diff}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=1_000_000)
    p.add_argument("--backends", default="spatialite,postgis")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seed", type=int, default=2015)
    p.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN)
    args = p.parse_args()
    csv = cached_csv(args.size, args.seed, regenerate=False)
    rows = []
    sql_time = None
    for backend in args.backends.split(","):
        print(f"{backend}: building a store of {args.size:,} requests ...", flush=True)
        with store(backend, args.pg_admin_url, None) as (engine, _size):
            build(engine, csv)
            g_time, g_load, g_quarters = time_geova(engine, args.repeat)
            rows.append((backend, "geova evaluate + 9 aggregates", g_time, g_load))
            if backend == "postgis":
                sql_time, sql_quarters = time_sql(engine, args.repeat)
                rows.append((backend, "hand-written PostGIS SQL (spatial join + aggregate)", sql_time, None))
                print(
                    f"  per norm and quarter, geova and SQL agree: {agree(g_quarters, sql_quarters)}",
                    flush=True,
                )
    print(f"\nEvaluation of {args.size:,} requests at {AS_OF} (best of {args.repeat})")
    print(f"{'backend':<11} {'what':<55} {'seconds':>8} {'of which reading':>17} {'vs SQL':>7}")
    for backend, what, secs, load in rows:
        ratio = f"{secs / sql_time:.2f}" if sql_time else ""
        loading = f"{load:.2f}" if load is not None else ""
        print(f"{backend:<11} {what:<55} {secs:>8.2f} {loading:>17} {ratio:>7}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
