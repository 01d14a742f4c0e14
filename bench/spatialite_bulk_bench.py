"""SpatiaLite bulk-load micro benchmark: the steps of a first import that geova.store.bulk owns.

Builds a migrated SpatiaLite store in a temporary folder and times, on N synthetic requests and
verdict-like rows: converting the columns (native_column), inserting the requests (insert_rows,
spatial index and secondary indexes deferred), rebuilding the R*Tree and the b-tree indexes
(deferred_structures' exit), and inserting verdict-like rows. Prints figures only.

    PYTHONPATH=. .venv/bin/python bench/spatialite_bulk_bench.py --rows 200000

Figures (200k rows, 2 slow cores, load 4.4-4.8, same session; main 8688e30 -> branch slite):

    requests: native_column                 2.56 s ->  1.21 s
    requests: insert_rows                  19.75 s ->  6.78 s   (geometry triggers set aside, cache)
    requests: rebuild (R*Tree + b-trees)    8.41 s ->  4.61 s   (256 MiB page cache)
    verdicts: native_column                 1.60 s ->  0.58 s
    verdicts: insert_rows / rebuild         3.27 / 2.45 s -> 3.24 / 2.39 s
    total                                  40.3 s  -> 21.3 s

At 1M rows (one run each, load 7.0 for the branch against 5.7 for main): native_column 18.1 ->
6.2 s (requests) and 6.5 -> 4.4 s (verdicts), requests insert_rows 90.8 -> 64.9 s, but the rebuild
40.0 -> 61.8 s, verdicts insert_rows 16.1 -> 25.2 s and their rebuild 14.2 -> 25.1 s: the 256 MiB
page cache (BULK_CACHE_KIB) is not confirmed at that size; measure with and without it.

Tried and dropped: SpatiaLite point BLOBs built in numpy and bound as plain blobs instead of
MakePoint(?, ?, 4326): no gain (100k rows, CPU 1.2-1.7 s against 0.8-1.6 s with MakePoint).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from geova.store import bulk
from geova.store.db import make_engine, write
from geova.store.migrate import upgrade
from geova.store.schema import Intervention, Verdict

TIMES: dict[str, float] = {}


@contextmanager
def timed(name: str) -> Iterator[None]:
    t = time.perf_counter()
    yield
    TIMES[name] = TIMES.get(name, 0.0) + time.perf_counter() - t


def frame(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2015-01-01", tz="UTC")
    reported = start + pd.to_timedelta(rng.integers(0, 365 * 86400 * 10**6, n), unit="us")
    resolved = pd.Series(reported + pd.to_timedelta(rng.integers(0, 30 * 86400, n), unit="s"))
    resolved[rng.random(n) < 0.2] = pd.NaT
    return (
        pd.DataFrame(
            {
                "source": "bench",
                "source_id": [f"C{i:09d}" for i in range(n)],
                "category_code": "bench",
                "source_category": rng.choice(["Graffiti", "Pothole", None], n),
                "reported_at": pd.Series(reported),
                "resolved_at": resolved,
                "due_at": pd.Series(reported + pd.Timedelta(days=3)),
                "status": rng.choice(["open", "closed"], n),
                "channel": rng.choice(["web", "phone", None], n),
                "insulting": rng.random(n) < 0.01,
                "severity": None,
                "service": rng.choice(["PWD", "BTD"], n),
                "description": "a description",
                "address": [f"{i} Main St" for i in range(n)],
                "quarter_id": pd.array(np.where(rng.random(n) < 0.05, pd.NA, 1), dtype="Int64"),
                "subquarter_id": pd.array(np.full(n, pd.NA), dtype="Int64"),
                "content_hash": [f"{i:032x}" for i in range(n)],
                "import_id": 1,
            }
        ),
        rng.uniform(-71.19, -70.99, n),
        rng.uniform(42.23, 42.40, n),
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=200_000)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'b.sqlite'}")
        upgrade(engine)
        with write(engine) as conn:
            conn.exec_driver_sql("INSERT INTO category (code, label_fr, label_en) VALUES ('bench','b','b')")
        df, xs, ys = frame(a.rows)
        df["quarter_id"] = pd.array(np.full(a.rows, pd.NA), dtype="Int64")
        df["import_id"] = pd.array(np.full(a.rows, pd.NA), dtype="Int64")
        t0 = time.perf_counter()
        with engine.connect() as conn, conn.begin():
            with timed("requests: native_column"):
                cols = {c: bulk.native_column(conn, df[c]) for c in df.columns}
            table = Intervention.__table__
            with timed("requests: rebuild (R*Tree + b-trees)"):
                ctx = bulk.deferred_structures(conn, table, True)
            ctx.__enter__()
            with timed("requests: insert_rows"):
                bulk.insert_rows(conn, table, cols, xs, ys)
            with timed("requests: rebuild (R*Tree + b-trees)"):
                ctx.__exit__(None, None, None)
            v = df.iloc[: a.rows][["reported_at", "resolved_at", "due_at", "insulting", "service", "channel"]]
            vf = pd.DataFrame(
                {
                    "intervention_id": np.arange(1, a.rows + 1, dtype=np.int64),
                    "norm_code": "n1",
                    "reported_at": v["reported_at"].array,
                    "resolved_at": v["resolved_at"].array,
                    "due_at": v["due_at"].array,
                    "target_hours": np.full(a.rows, 72.0),
                    "applied": np.full(a.rows, "default", dtype=object),
                    "hours_taken": np.where(v["resolved_at"].isna(), np.nan, 12.5),
                    "excluded": v["insulting"].to_numpy(),
                    "quarter": np.full(a.rows, None, dtype=object),
                    "subquarter": np.full(a.rows, None, dtype=object),
                    "category": np.full(a.rows, "bench", dtype=object),
                    "service": v["service"].to_numpy(dtype=object),
                    "channel": v["channel"].to_numpy(dtype=object),
                    "month": np.full(a.rows, "2015-03", dtype=object),
                }
            )
            vt = Verdict.__table__
            with timed("verdicts: native_column"):
                vcols = {c: bulk.native_column(conn, vf[c]) for c in vf.columns}
            with timed("verdicts: rebuild b-trees"):
                vctx = bulk.deferred_structures(conn, vt, True)
                vctx.__enter__()
            with timed("verdicts: insert_rows"):
                bulk.insert_rows(conn, vt, vcols)
            with timed("verdicts: rebuild b-trees"):
                vctx.__exit__(None, None, None)
            with timed("commit"):
                pass
        total = time.perf_counter() - t0
        for k, s in TIMES.items():
            print(f"{k:40s} {s:7.2f} s")
        print(f"{'total':40s} {total:7.2f} s   ({a.rows / total:,.0f} rows/s)")
        engine.dispose()


if __name__ == "__main__":
    main()
