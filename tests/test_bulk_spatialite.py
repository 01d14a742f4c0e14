"""SpatiaLite's bulk point insert (geova.store.bulk.insert_rows on many rows) sets aside the
geometry column's per-row constraint and timestamp triggers: the rows, the triggers afterwards
and the errors must be exactly those of the per-row trigger path."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from geova.store import bulk
from geova.store.db import make_engine, write
from geova.store.schema import Intervention

IV = Intervention.__table__
N = 300


@pytest.fixture
def store(spatialite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """A SpatiaLite store only: the triggers under test are SpatiaLite's (PostGIS has none)."""
    path = tmp_path / "geova.sqlite"
    shutil.copy(spatialite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with write(engine) as conn:
        conn.exec_driver_sql("INSERT INTO category (code, label_fr, label_en) VALUES ('b', 'b', 'b')")
    yield engine
    engine.dispose()


def columns(n: int, first: int = 0) -> dict[str, list]:
    return {
        "source": ["s"] * n,
        "source_id": [f"C{first + i}" for i in range(n)],
        "category_code": ["b"] * n,
        "reported_at": ["2015-01-01 00:00:00.000000"] * n,
        "status": ["open"] * n,
        "insulting": [0] * n,
        "content_hash": ["h"] * n,
    }


def triggers(conn) -> list[tuple[str, str]]:
    return conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'intervention' "
        "ORDER BY name"
    ).all()


def points(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    xs, ys = rng.uniform(-180, 180, n), rng.uniform(-90, 90, n)
    xs[:4] = [-0.0, 5e-324, 1e308, np.inf]
    return xs, ys


@pytest.mark.parametrize("threshold", [N // 2, N * 10], ids=["without triggers", "with triggers"])
def test_a_bulk_point_insert_stores_what_the_triggers_path_stores(store, monkeypatch, threshold):
    monkeypatch.setattr(bulk, "DEFERRED_INDEX_ROWS", threshold)
    xs, ys = points(N)
    with store.connect() as conn:
        before = triggers(conn)
    with write(store) as conn:
        bulk.insert_rows(conn, IV, columns(N), xs, ys)
    with store.connect() as conn:
        assert triggers(conn) == before
        stored = conn.exec_driver_sql("SELECT source_id, geom FROM intervention ORDER BY id").all()
        made = [
            conn.exec_driver_sql("SELECT MakePoint(?, ?, 4326)", (x, y)).scalar_one()
            for x, y in zip(xs.tolist(), ys.tolist(), strict=True)
        ]
        assert [g for _s, g in stored] == made
        assert conn.exec_driver_sql(
            "SELECT last_insert IS NOT NULL FROM geometry_columns_time WHERE f_table_name = 'intervention'"
        ).scalar_one()
        # the triggers still guard the column after the load
        with pytest.raises(Exception, match="violates Geometry constraint"):
            conn.exec_driver_sql(
                "INSERT INTO intervention (source, source_id, category_code, reported_at, status, "
                "insulting, content_hash, geom) "
                "VALUES ('s', 'x', 'b', '2015-01-01', 'open', 0, 'h', MakePoint(1, 2, 3857))"
            )


def test_a_missing_coordinate_fails_as_with_the_triggers(store, monkeypatch):
    xs, ys = points(N)
    xs[N - 7] = np.nan
    errors = []
    for threshold in (N // 2, N * 10):
        monkeypatch.setattr(bulk, "DEFERRED_INDEX_ROWS", threshold)
        with pytest.raises(Exception) as failed, write(store) as conn:  # the same error either way
            bulk.insert_rows(conn, IV, columns(N), xs, ys)
        errors.append((type(failed.value), str(failed.value)))
        with store.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM intervention").scalar_one() == 0
    assert errors[0] == errors[1]
    assert "NOT NULL constraint failed: intervention.geom" in errors[0][1]


def test_rows_converted_a_batch_ahead_are_stored_in_order(store):
    """insert_converted makes the next batch in a worker thread while SQLite inserts the current
    one: every row once, in order, whatever the batch size."""
    xs, ys = points(N)
    xs[:4] = [1.0, 2.0, 3.0, 4.0]  # finite points only: this test is about order, not edge values
    asked: list[tuple[int, int]] = []
    whole = columns(N)

    def columns_of(a: int, b: int) -> dict[str, list]:
        asked.append((a, b))
        return {k: v[a:b] for k, v in whole.items()}

    with write(store) as conn:
        bulk.insert_converted(conn, IV, N, columns_of, xs, ys, batch=7)
    assert sorted(asked) == [(a, min(a + 7, N)) for a in range(0, N, 7)]
    with store.connect() as conn:
        stored = conn.exec_driver_sql("SELECT source_id, ST_X(geom) FROM intervention ORDER BY id").all()
    assert [s for s, _x in stored] == [f"C{i}" for i in range(N)]
    assert [x for _s, x in stored] == xs.tolist()


@pytest.mark.parametrize("where", ["converting", "inserting"])
def test_a_failed_batch_leaves_no_row(store, where):
    """A batch that cannot be converted, or that the database refuses, fails the whole insert:
    the error reaches the caller and the transaction leaves nothing behind."""
    xs, ys = points(N)
    whole = columns(N)
    if where == "inserting":
        whole["source_id"][150] = None  # NOT NULL

    def columns_of(a: int, b: int) -> dict[str, list]:
        if where == "converting" and a >= 140:
            raise ValueError("a bad batch")
        return {k: v[a:b] for k, v in whole.items()}

    expected = "a bad batch" if where == "converting" else "NOT NULL"
    with pytest.raises(Exception, match=expected), write(store) as conn:
        bulk.insert_converted(conn, IV, N, columns_of, xs, ys, batch=20)
    with store.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM intervention").scalar_one() == 0
