"""SQLite's staged inserts (geova.store.staging): rows written to a scratch file by the ADBC driver,
then copied into the store by one INSERT ... SELECT inside the caller's transaction.

The oracle is the driver's own path (bulk.insert_converted over native_column's values), on the
same frames: every stored value must be the same, storage class included (SQLite's ``quote()``
shows 1 and 1.0 and '1' apart), points to the bit. And the scratch files must not outlive the
transaction's connection: gone from disk, detached when the connection returns to the pool."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine

from geova.store import bulk, staging
from geova.store.db import make_engine, write
from geova.store.schema import Intervention, Verdict

IV, V = Intervention.__table__, Verdict.__table__
N = 500


@pytest.fixture
def stores(spatialite_template: Path, tmp_path: Path, scratch: Path) -> Iterator[tuple[Engine, Engine]]:
    """Two SpatiaLite stores (staging is SQLite's): one written the staged way, one the driver's."""
    engines = []
    for name in ("staged", "driver"):
        path = tmp_path / f"{name}.sqlite"
        shutil.copy(spatialite_template, path)
        engine = make_engine(f"sqlite:///{path}")
        with write(engine) as conn:
            conn.exec_driver_sql("INSERT INTO category (code, label_fr, label_en) VALUES ('b', 'b', 'b')")
        engines.append(engine)
    yield engines[0], engines[1]
    for engine in engines:
        engine.dispose()


def request_frames(n: int = N, parts: int = 3) -> list[pd.DataFrame]:
    """Requests as a first load hands them over: ids first, every kind of column and gap."""
    rng = np.random.default_rng(7)
    at = pd.Series(pd.date_range("2015-03-29 00:59:59.999999", periods=n, freq="17min", tz="Europe/Paris"))
    resolved = at + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s")
    resolved[rng.random(n) < 0.3] = pd.NaT
    xs, ys = rng.uniform(-71.2, -70.9, n), rng.uniform(42.2, 42.4, n)
    xs[:3] = [-0.0, 5e-324, -71.123456789012345]
    frame = pd.DataFrame(
        {
            "id": np.arange(1, n + 1, dtype=np.int64),
            "source_id": pd.array([f"C{i}" if i % 11 else f"0{i}" for i in range(n)], dtype="string"),
            "category_code": "b",
            "source_category": pd.Series(
                [None if i % 5 == 0 else "Graffiti ☃" for i in range(n)], dtype=object
            ),
            "reported_at": at,
            "resolved_at": resolved,
            "due_at": pd.Series([pd.NaT] * n, dtype="datetime64[ns, UTC]"),
            "status": pd.array(["open", "closed"] * (n // 2), dtype="string"),
            "insulting": rng.random(n) < 0.5,
            "description": pd.Series(["", "1", "2.5", None, "é'\""] * (n // 5), dtype=object),
            "quarter_id": pd.array([None] * n, dtype="Int64"),  # no quarter in these stores
            "content_hash": [f"{i:032x}" for i in range(n)],
            "source": "s",
            "import_id": None,
            "x": xs,
            "y": ys,
        }
    )
    return [frame.iloc[i::parts].sort_values("id").reset_index(drop=True) for i in range(parts)]


def verdict_frames() -> list[pd.DataFrame]:
    rng = np.random.default_rng(8)
    n = N
    hours = rng.exponential(50, n)
    hours[::9] = np.nan
    frame = pd.DataFrame(
        {
            "intervention_id": np.arange(1, n + 1, dtype=np.int64),
            "norm_code": "n.48h",
            "reported_at": pd.Series(pd.date_range("2015-01-01", periods=n, freq="h", tz="UTC")),
            "resolved_at": pd.Series([pd.NaT] * n, dtype="datetime64[ns, UTC]"),
            "due_at": pd.Series(pd.date_range("2015-01-03", periods=n, freq="h", tz="UTC")),
            "target_hours": 48.0,
            "applied": "city default",
            "hours_taken": hours,
            "excluded": rng.random(n) < 0.1,
            "quarter": pd.Series([None, "32", "0"] * (n // 3) + [None] * (n % 3), dtype=object),
            "subquarter": None,
            "category": "b",
            "service": None,
            "channel": "App",
            "month": "2015-01",
        }
    )
    return [frame, frame.assign(norm_code="n.72h", target_hours=72.0)]


def stored(engine: Engine, table: str, key: str) -> list[tuple]:
    """Every value as SQLite quotes it (its storage class shows), points as their bytes."""
    with engine.connect() as conn:
        names = [r[1] for r in conn.exec_driver_sql(f"PRAGMA table_info({table})")]
        values = ", ".join("hex(geom)" if n == "geom" else f"quote({n})" for n in names)
        return conn.exec_driver_sql(f"SELECT {values} FROM {table} ORDER BY {key}").all()


def driver_path(conn, table, frames, point=None) -> None:
    for frame in frames:
        bulk.insert_frame(conn, table, frame, point)


def test_staged_rows_are_the_drivers_rows(stores, scratch):
    staged, driver = stores
    with write(staged) as conn:
        assert staging.staged_insert(conn, IV, iter(request_frames()), point=("x", "y")) == N
        assert staging.staged_insert(conn, V, verdict_frames()) == 2 * N
    with write(driver) as conn:
        driver_path(conn, IV, request_frames(), point=("x", "y"))
        driver_path(conn, V, verdict_frames())
    assert stored(staged, "intervention", "id") == stored(driver, "intervention", "id")
    assert stored(staged, "verdict", "intervention_id, norm_code") == stored(
        driver, "verdict", "intervention_id, norm_code"
    )
    assert len(stored(staged, "intervention", "id")) == N
    # SpatiaLite's own bookkeeping of the geometry column is as the per-row triggers leave it
    with staged.connect() as conn:
        spatial = conn.exec_driver_sql(
            "SELECT count(*) FROM intervention WHERE ST_SRID(geom) = 4326"
        ).scalar_one()
        assert spatial == N
    assert list(scratch.iterdir()) == []  # no staging file left behind


def test_the_staging_files_are_detached_when_the_connection_returns_to_the_pool(stores, scratch):
    staged, _driver = stores
    with write(staged) as conn:
        staging.staged_insert(conn, V, verdict_frames())
        staging.staged_insert(conn, V, [f.assign(norm_code=f["norm_code"] + "b") for f in verdict_frames()])
        attached = [r[1] for r in conn.exec_driver_sql("PRAGMA database_list")]
        assert sum(name.startswith("geova_staged_") for name in attached) == 2
        assert list(scratch.iterdir()) == []  # unlinked already: the open handles keep them readable
    # the pool hands the same connection back: nothing is attached any more
    with staged.connect() as conn:
        assert [r[1] for r in conn.exec_driver_sql("PRAGMA database_list")] == ["main"]
        assert conn.exec_driver_sql("SELECT count(*) FROM verdict").scalar_one() == 4 * N


def test_a_failure_while_staging_leaves_neither_rows_nor_files(stores, scratch):
    staged, _driver = stores
    frames = request_frames()

    def failing() -> Iterator[pd.DataFrame]:
        yield frames[0]
        yield frames[1]
        raise ValueError("the third part is broken")

    with pytest.raises(ValueError, match="third part"), write(staged) as conn:
        staging.staged_insert(conn, IV, failing(), point=("x", "y"))
    with staged.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM intervention").scalar_one() == 0
    assert list(scratch.iterdir()) == []


def test_a_row_the_store_refuses_rolls_everything_back(stores, scratch):
    """The scratch file has no constraint: the store's are checked by the INSERT ... SELECT."""
    staged, _driver = stores
    frames = request_frames()
    frames[2].loc[5, "category_code"] = "no such category"  # a foreign key
    with pytest.raises(Exception, match="FOREIGN KEY"), write(staged) as conn:
        staging.staged_insert(conn, IV, frames, point=("x", "y"))
    with staged.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM intervention").scalar_one() == 0
        assert [r[1] for r in conn.exec_driver_sql("PRAGMA database_list")] == ["main"]
    assert list(scratch.iterdir()) == []


def test_past_the_attachment_limit_rows_go_through_the_driver(stores, scratch, monkeypatch):
    """SQLite attaches at most 10 databases: a transaction that has staged STAGED_AT_MOST times
    inserts the next frames through the driver, with the same values."""
    staged, driver = stores
    monkeypatch.setattr(staging, "STAGED_AT_MOST", 0)
    with write(staged) as conn:
        assert staging.staged_insert(conn, IV, request_frames(), point=("x", "y")) == N
        assert [r[1] for r in conn.exec_driver_sql("PRAGMA database_list")] == ["main"]
    with write(driver) as conn:
        driver_path(conn, IV, request_frames(), point=("x", "y"))
    assert stored(staged, "intervention", "id") == stored(driver, "intervention", "id")


def test_no_frame_no_file(stores, scratch):
    staged, _driver = stores
    with write(staged) as conn:
        assert staging.staged_insert(conn, IV, [request_frames()[0].iloc[:0]], point=("x", "y")) == 0
        assert [r[1] for r in conn.exec_driver_sql("PRAGMA database_list")] == ["main"]
    assert list(scratch.iterdir()) == []


def test_a_staging_file_that_cannot_be_detached_closes_its_connection(stores, caplog):
    """A connection that would keep a staging file attached is not handed out again."""
    staged, _driver = stores
    with staged.connect() as conn:
        first = conn.connection.dbapi_connection
        conn.connection.info[staging.ATTACHED_KEY] = ["geova_staged_never_attached"]
    with staged.connect() as conn:
        assert conn.connection.dbapi_connection is not first
        assert conn.exec_driver_sql("SELECT count(*) FROM intervention").scalar_one() == 0
    assert "could not detach a staging file" in caplog.text
