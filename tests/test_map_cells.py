"""The zoomed-out map's clusters (geova.store.verdict_reads.cells) against the requests one by one.

The oracle is ``verdict_reads.points``: every request the same filters select, with its own state
judged by ``state_expr``. Its points are gathered into the same square cells here, with pandas
(``floor(x / size)``, mean location, how many, how many open and overdue), and the clusters must say
the same, for several norms, instants (now, and instants in the past when some requests resolved
since were still open), views (the whole city, a quarter, a box) and state filters.

Same store as tests/test_web_correspondent.py (the Boston requests of 2015).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from geova.core.evaluate import DEFAULT_RISK_HOURS, State
from geova.evaluation import ensure_current
from geova.store import verdict_reads, verdict_replica
from geova.store.records import RecordFilter
from geova.store.referential import deadline_norms
from geova.store.verdict_replica import MAX_GRID
from tests.test_web_correspondent import DORCHESTER, LAT, LON, build_store

INSTANTS = [
    pd.Timestamp("2026-01-01", tz="UTC"),  # every 2015 request long due
    pd.Timestamp("2015-06-15 12:00", tz="UTC"),  # mid-year: open then, many resolved since
    pd.Timestamp("2015-03-02 08:30", tz="UTC"),
]
CELL_SIZES = [0.05, 0.01, 0.002]  # degrees: zoom ~10, ~12, ~15


@pytest.fixture
def store(engine: Engine, tmp_path: Path) -> Engine:
    build_store(engine, tmp_path / "rejects.csv")
    ensure_current(engine)
    return engine


def expected_cells(points: pd.DataFrame, size: float, grid: int = MAX_GRID) -> pd.DataFrame:
    """The points gathered into cells, as the map shows them: ordered by cell column, then row. The
    cell is never smaller than 1 / MAX_GRID of the points' extent (a bounded answer)."""
    if points.empty:
        return pd.DataFrame({"x": [], "y": [], "n": [], "o": []})
    span_x = points["x"].max() - points["x"].min()
    span_y = points["y"].max() - points["y"].min()
    size = max(size, span_x / grid, span_y / grid)
    frame = points.assign(
        gx=np.floor(points["x"] / size),
        gy=np.floor(points["y"] / size),
        late=(points["state"] == State.OPEN_OVERDUE.value).astype(int),
    )
    grouped = frame.groupby(["gx", "gy"], sort=True).agg(
        x=("x", "mean"), y=("y", "mean"), n=("x", "size"), o=("late", "sum")
    )
    return grouped.reset_index(drop=True)


def views() -> list[tuple[str, list[RecordFilter]]]:
    box = (LON - 0.03, LAT - 0.02, LON + 0.03, LAT + 0.02)
    return [
        ("city", []),
        ("Dorchester", [RecordFilter(quarters=(DORCHESTER,))]),
        ("a box", [RecordFilter(bbox=box)]),
        ("2015 H1", [RecordFilter(reported_from=pd.Timestamp("2015-01-01", tz="UTC"),
                                  reported_to=pd.Timestamp("2015-07-01", tz="UTC"))]),
    ]  # fmt: skip


def test_clusters_count_what_the_points_show(store):
    checked = late = 0
    with store.connect() as conn:
        norms = deadline_norms(conn)
        assert norms, "the test store has no deadline norm"
        for norm in norms:
            judged = RecordFilter(categories=tuple(sorted(norm.categories)))
            for as_of in INSTANTS:
                for name, wheres in views():
                    for states in [(), (State.OPEN_OVERDUE.value,), (State.ON_TIME.value, State.LATE.value)]:
                        args = (conn, as_of, norm.code, [judged, *wheres], states, DEFAULT_RISK_HOURS)
                        points = verdict_reads.points(*args)
                        for size in CELL_SIZES:
                            got = verdict_reads.cells(*args, size)
                            want = expected_cells(points, size)
                            where = f"{norm.code} {as_of} {name} {states} {size}"
                            assert got["n"].tolist() == want["n"].tolist(), where
                            assert got["o"].tolist() == want["o"].tolist(), where
                            assert np.allclose(got[["x", "y"]], want[["x", "y"]], rtol=0, atol=1e-9), where
                        checked += len(points)
                        late += int((points["state"] == State.OPEN_OVERDUE.value).sum())
    assert checked > 1000 and late > 100  # the comparison saw requests, overdue ones among them


def test_a_request_resolved_after_the_instant_is_overdue_then(store):
    """The second branch of the open overdue verdicts: resolved, but after the instant judged at."""
    with store.connect() as conn:
        norm = next(n for n in deadline_norms(conn) if n.code == "nantes.friches.72h")
        judged = [RecordFilter(categories=tuple(sorted(norm.categories)))]
        now = INSTANTS[0]
        points = verdict_reads.points(conn, now, norm.code, judged, (), DEFAULT_RISK_HOURS)
        # a request resolved late: overdue between its due date and its resolution
        resolved_late = points[points["state"] == State.LATE.value]
        assert not resolved_late.empty
        # judged mid-2015, some of them were still open past their due date
        then = INSTANTS[1]
        before = verdict_reads.points(conn, then, norm.code, judged, (), DEFAULT_RISK_HOURS)
        overdue_then = set(before.loc[before["state"] == State.OPEN_OVERDUE.value, "id"])
        assert overdue_then & set(resolved_late["id"])
        size = 360.0  # one cell holds the whole territory
        got = verdict_reads.cells(conn, then, norm.code, judged, (), DEFAULT_RISK_HOURS, size)
        assert got["o"].tolist() == [len(overdue_then)]
        assert got["n"].tolist() == [len(before)]
        assert math.isclose(got["x"].iloc[0], before["x"].mean(), abs_tol=1e-9)


@pytest.mark.parametrize("grid", [MAX_GRID, 4])
def test_a_hostile_zoom_gets_a_bounded_number_of_cells(store, monkeypatch, grid):
    """Cells far smaller than any map asks for (zoom 22 over the whole world): the cell grows with
    the requests' extent, never below 1 / MAX_GRID of it, so the answer has at most (MAX_GRID + 1)²
    cells whatever the zoom (with a grid of 4, fewer cells than the requests' locations)."""
    monkeypatch.setattr(verdict_replica, "MAX_GRID", grid)
    with store.connect() as conn:
        norms = deadline_norms(conn)
        everything = RecordFilter(categories=tuple(sorted(set().union(*(n.categories for n in norms)))))
        args = (conn, INSTANTS[0], norms[0].code, [everything], (), DEFAULT_RISK_HOURS)
        points = verdict_reads.points(*args)
        got = verdict_reads.cells(*args, 360 / 2**22 * 60 / 256)
    assert len(got) <= (grid + 1) ** 2 and got["n"].sum() == len(points) > 300
    if grid == 4:
        assert len(got) < len(points.drop_duplicates(["x", "y"]))
    want = expected_cells(points, 0.0, grid)
    assert got[["n", "o"]].values.tolist() == want[["n", "o"]].values.tolist()
    assert np.allclose(got[["x", "y"]], want[["x", "y"]], rtol=0, atol=1e-9)
