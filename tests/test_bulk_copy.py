"""geova.store.bulk.copy_frame (PostgreSQL's binary COPY, encoded by pgpq) stores what SQLAlchemy's
own INSERT of the same values stores: texts that CSV or COPY's text format would mangle (quotes,
backslashes, tabs, newlines, an empty text beside a null), gaps in every type, instants truncated to
the microsecond as geova.store.bulk.native_column does, 4-byte integers, and points."""

from __future__ import annotations

import numpy as np
import pandas as pd
from geoalchemy2 import Geometry
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text

from geova.store.bulk import copy_frame
from geova.store.db import make_engine
from geova.store.schema import Verdict

HOSTILE = ["", "a\tb", 'say "hi"', "back\\slash", "two\nlines", "\\N", "NULL", "é ß 中 🚮", ",;"]


def verdict_frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    base = pd.Timestamp("2015-03-01 10:00:00", tz="America/New_York")
    reported = base + pd.to_timedelta(rng.integers(0, 10**15, n), unit="ns")  # sub-microsecond parts
    resolved = pd.Series(reported + pd.Timedelta(hours=30)).where(rng.random(n) > 0.3)
    texts = np.array([*HOSTILE, None], dtype=object)
    return pd.DataFrame(
        {
            "intervention_id": np.arange(1, n + 1, dtype=np.int64),
            "norm_code": np.array(["n-48h", "n,5d"], dtype=object)[np.arange(n) % 2],
            "reported_at": reported,
            "resolved_at": resolved.array,
            "due_at": pd.Series(reported + pd.Timedelta(hours=48)).where(rng.random(n) > 0.2).array,
            "target_hours": np.where(rng.random(n) > 0.3, 48.0, np.nan),
            "applied": texts[np.arange(n) % (len(texts) - 1)],
            "hours_taken": np.where(rng.random(n) > 0.5, rng.random(n) * 100, np.nan),
            "excluded": rng.random(n) < 0.2,
            "quarter": texts[np.arange(n) % len(texts)],
            "subquarter": np.full(n, None, dtype=object),  # a column of gaps only
            "category": np.full(n, "graffiti", dtype=object),
            "service": texts[(np.arange(n) * 7) % len(texts)],
            "channel": texts[(np.arange(n) * 3) % len(texts)],
            "month": np.full(n, "2015-03", dtype=object),
        }
    )


def expected_rows(frame: pd.DataFrame) -> list[dict]:
    """The frame as Python values, instants truncated to the microsecond: the oracle's input."""
    out = []
    for record in frame.to_dict("records"):
        row = {}
        for key, value in record.items():
            if isinstance(value, pd.Timestamp):
                value = value.tz_convert("UTC").floor("us").to_pydatetime()
            elif value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
                value = None
            elif isinstance(value, np.generic):
                value = value.item()
            row[key] = value
        out.append(row)
    return out


def stored(conn) -> list[tuple]:
    v = Verdict.__table__
    return [tuple(r) for r in conn.execute(select(v).order_by(v.c.intervention_id, v.c.norm_code))]


def test_binary_copy_stores_what_an_insert_stores(postgis_url: str) -> None:
    frame = verdict_frame(500)
    engine = make_engine(postgis_url)
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(text("TRUNCATE verdict"))
            conn.execute(insert(Verdict.__table__), expected_rows(frame))
            oracle = stored(conn)
            conn.execute(text("TRUNCATE verdict"))
            copy_frame(conn, Verdict.__table__, frame)  # type: ignore[arg-type]
            got = stored(conn)
            conn.rollback()
    finally:
        engine.dispose()
    assert len(got) == 500
    assert got == oracle
    # the oracle is what it claims: hostile texts, gaps and truncated instants made it through
    assert {r[6] for r in oracle} >= set(HOSTILE) - {None}
    assert any(r[9] is None for r in oracle) and any(r[9] == "" for r in oracle)
    assert all(
        r[2].microsecond == frame["reported_at"].iloc[i].tz_convert("UTC").floor("us").microsecond
        for i, r in enumerate(oracle)
    )


def test_binary_copy_stores_points_and_integers(postgis_url: str) -> None:
    """Points given as longitude and latitude become SRID 4326 geometries with the same doubles;
    an integer column with gaps keeps them."""
    rng = np.random.default_rng(8)
    n = 300
    xs, ys = rng.uniform(-180, 180, n), rng.uniform(-90, 90, n)
    frame = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "ref": pd.array([i if i % 3 else None for i in range(n)], dtype="Int64"),
            "lon": xs,
            "lat": ys,
        }
    )
    probe = Table(
        "bulk_probe",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("ref", Integer),
        Column("geom", Geometry("POINT", srid=4326, spatial_index=False)),
    )
    engine = make_engine(postgis_url)
    try:
        with engine.connect() as conn, conn.begin():
            probe.create(conn)
            copy_frame(conn, probe, frame, point=("lon", "lat"))
            rows = conn.execute(
                text("SELECT id, ref, ST_X(geom), ST_Y(geom), ST_SRID(geom) FROM bulk_probe ORDER BY id")
            ).all()
            conn.rollback()
    finally:
        engine.dispose()
    assert [r[0] for r in rows] == list(range(1, n + 1))
    assert [r[1] for r in rows] == [i if i % 3 else None for i in range(n)]
    assert [r[2] for r in rows] == xs.tolist() and [r[3] for r in rows] == ys.tolist()
    assert {r[4] for r in rows} == {4326}


def test_an_empty_frame_copies_nothing(postgis_url: str) -> None:
    engine = make_engine(postgis_url)
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(text("TRUNCATE verdict"))
            copy_frame(conn, Verdict.__table__, verdict_frame(5).iloc[:0])  # type: ignore[arg-type]
            assert stored(conn) == []
            conn.rollback()
    finally:
        engine.dispose()
