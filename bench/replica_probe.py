"""One cold load of the verdicts' replica, in a fresh process, for bench/city_bench.py.

    .venv/bin/python bench/replica_probe.py URL replica   # geova's load (COPY/CSV or chunks)
    .venv/bin/python bench/replica_probe.py URL tuples    # baseline: rows through the driver, then DuckDB

Prints one JSON object: seconds, rows, peak RSS of the process in MB (the reason to run each load
in its own process: a peak is a high-water mark, it never goes down). The ``tuples`` baseline reads
the same columns as plain tuples from the driver's cursor into a DataFrame and hands it to DuckDB
sorted: what the replica did before it streamed, and what a straightforward loader would do.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from sqlalchemy import select

from geova.store.db import make_engine
from geova.store.records import fetch_raw, time_expr, to_utc
from geova.store.schema import Verdict
from geova.store.verdict_replica import NAMES, SORTED_BY, TIMES, Replica


def main() -> int:
    url, how = sys.argv[1], sys.argv[2]
    engine = make_engine(url)
    with engine.connect() as conn:
        started = time.perf_counter()
        if how == "replica":
            replica = Replica()
            replica.sync(conn)
            row = replica.db.execute("SELECT count(*) FROM v").fetchone()
            rows = int(row[0]) if row else 0
        else:
            v = Verdict.__table__
            # instants as epoch seconds (PostgreSQL) or text (SQLite), cheaper than datetimes
            columns = [time_expr(conn, v.c[n]).label(n) if n in TIMES else v.c[n] for n in NAMES]
            frame = pd.DataFrame.from_records(fetch_raw(conn, select(*columns)), columns=NAMES)
            for t in TIMES:  # to microseconds, into DuckDB sorted: what the replica did before
                stamps = to_utc(conn, frame[t].tolist())
                micros = stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64) // 1000
                values = pd.array(micros, dtype="Int64")
                values[stamps.isna().to_numpy()] = pd.NA
                frame[t] = values
            db = duckdb.connect(":memory:")
            db.register("incoming", frame)
            db.execute(f"CREATE TABLE v AS SELECT * FROM incoming ORDER BY {SORTED_BY}")
            rows = len(frame)
        seconds = time.perf_counter() - started
    # VmHWM, not getrusage's ru_maxrss: the latter keeps the high-water mark of the parent's image
    # this process was forked from, the former starts afresh at exec
    lines = Path("/proc/self/status").read_text(encoding="ascii").splitlines()
    status = dict(line.split(":", 1) for line in lines)
    peak = int(status["VmHWM"].split()[0]) / 1024
    print(json.dumps({"how": how, "seconds": round(seconds, 2), "rows": rows, "peak_mb": round(peak)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
