"""Hostile parameters on the demo store: every page, feed and API with the values of issue 8's table,
timed server-side through the test client. The suite fuzzes the same parameters on a small store
(tests/test_fuzz_pages.py, test_api's schemathesis run, test_ogc_bounds, test_open311); this script
says what they cost on the real demo territory (Boston, 9,664 requests).

    GEOVA_INSTANCE_PATH=/tmp/demo .venv/bin/geova demo
    GEOVA_INSTANCE_PATH=/tmp/demo .venv/bin/python bench/hostile_bench.py

Prints each request's status and time, then the slowest; figures only, nothing is asserted.
"""

from __future__ import annotations

import sys
import time
from itertools import product
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from geova.store.db import make_engine, write  # noqa: E402
from geova.store.users import add_user, find  # noqa: E402
from geova.web import create_app  # noqa: E402

HOSTILE = ["NaN", "-1", "1e23", "99999999999999999999", "0001-01-01", "9999-12-31", "\x00", "x" * 5000]
PAGES = [
    "/",
    "/results",
    "/quarters",
    "/quarters/6",
    "/worklist",
    "/worklist.csv",
    "/compare",
    "/geo/quarters.geojson",
    "/geo/interventions.geojson",
    "/api/v1/interventions",
    "/api/v1/evaluations",
    "/ogc/collections/interventions/items",
    "/open311/v2/requests.json",
]
PARAMS = ["from", "to", "as_of", "zoom", "bbox", "norm", "category", "limit", "offset", "start_date"]


def main() -> None:
    app = create_app({"TESTING": True, "WTF_CSRF_ENABLED": False})
    engine = make_engine(app.config["GEOVA_DATABASE_URL"])
    with write(engine) as conn:
        if find(conn, "bench-admin") is None:
            add_user(conn, "bench-admin", "bench-password-1", "admin")
    client = app.test_client()
    client.post("/login", data={"username": "bench-admin", "password": "bench-password-1"})
    cases = [(page, "") for page in PAGES]
    cases += [(page, f"{p}={v}") for page, p, v in product(PAGES, PARAMS, HOSTILE)]
    cases += [
        ("/geo/interventions.geojson", "zoom=99999999999999999999999"),
        ("/results", "from=0001-01-01&to=9998-12-31"),
        ("/geo/interventions.geojson", "bbox=nan,nan,nan,nan"),
        # valid, but cells far finer than any map asks for: bounded by the requests' extent
        ("/geo/interventions.geojson", "bbox=-180,-90,180,90&zoom=22"),
    ]
    timings = []
    for page, query in cases:
        started = time.perf_counter()
        answer = client.get(f"{page}?{query}" if query else page)
        elapsed = time.perf_counter() - started
        timings.append((elapsed, answer.status_code, page, query[:60]))
    fives = [t for t in timings if t[1] >= 500]
    statuses: dict[int, int] = {}
    for _elapsed, status, _page, _query in timings:
        statuses[status] = statuses.get(status, 0) + 1
    print(f"{len(timings)} requests, {len(fives)} answered 5xx; by status: {dict(sorted(statuses.items()))}")
    for elapsed, status, page, query in sorted(timings, reverse=True)[:15]:
        print(f"{elapsed * 1000:8.0f} ms  {status}  {page}?{query!r}")
    engine.dispose()


if __name__ == "__main__":
    main()
