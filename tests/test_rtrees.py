"""A first load's R*Tree, packed by geova (geova.store.rtrees) instead of filled point by point by
SpatiaLite. The oracles are SQLite's and SpatiaLite's own: ``rtreecheck()`` (SQLite's integrity
check of an R*Tree), the entries and search answers of a tree SQLite fills from the same points,
and the tree SpatiaLite rebuilds from the stored rows (``RecoverSpatialIndex``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection

from geova.importing import import_interventions, prepare_store, streamed
from geova.store import interventions, rtrees, verdicts
from geova.store.db import make_engine, write
from tests.boston import load_quarters

REPO = Path(__file__).resolve().parents[1]
BOSTON_CSV = REPO / "data" / "boston" / "graffiti-removal.csv"
BOSTON_MAPPING = REPO / "data" / "mappings" / "graffiti-removal.toml"
DECLARED = "USING rtree(pkid, xmin, xmax, ymin, ymax)"
ENTRIES = "SELECT pkid, xmin, xmax, ymin, ymax FROM {} ORDER BY pkid"
BOX = "SELECT pkid FROM {} WHERE xmax >= ? AND xmin <= ? AND ymax >= ? AND ymin <= ? ORDER BY pkid"


def check(conn: Connection, name: str) -> str:
    return str(conn.exec_driver_sql(f"SELECT rtreecheck('{name}')").scalar_one())


# longitudes and latitudes, with repeats and near-repeats (geocoders' default spots), anywhere
coordinates = st.one_of(
    st.floats(-180, 180, allow_nan=False),
    st.sampled_from([-71.0589, -71.05890000000001, 0.0, -0.0, 1e-30, 42.3601, 179.99999999]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    points=st.lists(st.tuples(coordinates, coordinates), max_size=3000),
    boxes=st.lists(st.tuples(coordinates, coordinates, coordinates, coordinates), min_size=1, max_size=5),
    edits=st.integers(0, 400),
)
def test_a_packed_tree_is_the_tree_sqlite_fills_for_the_same_points(tmp_path, points, boxes, edits):
    """rtreecheck passes, every entry is the one SQLite stores for the point (single precision,
    rounded outward), every search answers the same, every node but the root is at least half
    full (SQLite's own minimum is a third), and the tree stays sound under SQLite's inserts and
    deletes afterwards."""
    engine = make_engine(f"sqlite:///{tmp_path / 'trees.sqlite'}")
    try:
        with write(engine) as conn:
            for table in ("packed", "filled"):
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
                conn.exec_driver_sql(f"CREATE VIRTUAL TABLE {table} {DECLARED}")
            ids = np.arange(1, len(points) + 1, dtype=np.int64) * 7  # ids need not be consecutive
            xs = np.array([p[0] for p in points], dtype=float)
            ys = np.array([p[1] for p in points], dtype=float)
            root = "SELECT length(data) FROM packed_node WHERE nodeno = 1"
            node_size = conn.exec_driver_sql(root).scalar_one()
            rtrees.write_packed(conn, "packed", rtrees.packed(ids, xs, ys, int(node_size)))
            conn.exec_driver_sql(
                "INSERT INTO filled VALUES (?, ?, ?, ?, ?)",
                [(int(i), x, x, y, y) for i, x, y in zip(ids, xs, ys, strict=True)] or [(0, 0, 0, 0, 0)],
            )
            if not len(points):
                conn.exec_driver_sql("DELETE FROM filled")

            assert check(conn, "packed") == "ok"
            assert (
                conn.exec_driver_sql(ENTRIES.format("packed")).all()
                == conn.exec_driver_sql(ENTRIES.format("filled")).all()
            )
            for x1, x2, y1, y2 in boxes:
                box = (min(x1, x2), max(x1, x2), min(y1, y2), max(y1, y2))
                found = conn.exec_driver_sql(BOX.format("packed"), box).all()
                assert found == conn.exec_driver_sql(BOX.format("filled"), box).all()
            capacity = (int(node_size) - 4) // 24
            nodes = conn.exec_driver_sql("SELECT nodeno, data FROM packed_node").all()
            counts = [(node, int.from_bytes(data[2:4], "big")) for node, data in nodes]
            assert all(count >= capacity // 2 for node, count in counts if node != 1)

            # SQLite's own writes on the packed tree: deletes (nodes condensed) and inserts (splits)
            conn.exec_driver_sql(f"DELETE FROM packed WHERE pkid % 3 = 0 AND pkid < {7 * edits}")
            conn.exec_driver_sql(
                "INSERT INTO packed VALUES (?, ?, ?, ?, ?)",
                [(10**9 + k, -71.0 + k / 1e4, -71.0 + k / 1e4, 42.3, 42.3) for k in range(edits + 1)],
            )
            assert check(conn, "packed") == "ok"
    finally:
        engine.dispose()


def test_the_byte_layout_of_a_leaf_is_rtree_c_s(tmp_path):
    """One point, by hand: the root leaf holds depth 0, one cell, the id and the box big-endian,
    padded to the node size, and SQLite reads the point back from it."""
    tree = rtrees.packed(np.array([5]), np.array([1.5]), np.array([-2.25]), 1228)
    assert len(tree.nodes) == 1 and tree.nodes[0][0] == 1 and len(tree.nodes[0][1]) == 1228
    expected = bytes.fromhex("0000000100000000000000053fc000003fc00000c0100000c0100000")
    assert tree.nodes[0][1] == expected.ljust(1228, b"\0")
    assert tree.leaf_of.tolist() == [1] and len(tree.parents) == 0


def test_a_tree_of_three_levels(tmp_path):
    """20,000 points, clustered and repeated, as a city's are: a root, a level of inner nodes and
    the leaves, sound and answering as SQLite's own tree."""
    rng = np.random.default_rng(311)
    n = 20_000
    xs = np.where(rng.random(n) < 0.05, -71.0589, rng.normal(-71.06, 0.03, n))
    ys = np.where(xs == -71.0589, 42.3601, rng.normal(42.33, 0.03, n))
    ids = np.arange(1, n + 1)
    engine = make_engine(f"sqlite:///{tmp_path / 'tree.sqlite'}")
    try:
        with write(engine) as conn:
            for table in ("packed", "filled"):
                conn.exec_driver_sql(f"CREATE VIRTUAL TABLE {table} {DECLARED}")
            rtrees.write_packed(conn, "packed", rtrees.packed(ids, xs, ys, 1228))
            conn.exec_driver_sql(
                "INSERT INTO filled VALUES (?, ?, ?, ?, ?)",
                [(int(i), x, x, y, y) for i, x, y in zip(ids, xs, ys, strict=True)],
            )
            root = "SELECT rtreedepth(data) FROM packed_node WHERE nodeno = 1"
            assert conn.exec_driver_sql(root).scalar_one() == 2
            nodes = conn.exec_driver_sql("SELECT nodeno, data FROM packed_node WHERE nodeno > 1").all()
            assert min(int.from_bytes(data[2:4], "big") for _n, data in nodes) >= 51 // 2
            assert check(conn, "packed") == "ok"
            assert (
                conn.exec_driver_sql(ENTRIES.format("packed")).all()
                == conn.exec_driver_sql(ENTRIES.format("filled")).all()
            )
            for box in [(-71.07, -71.05, 42.32, 42.34), (-71.0589, -71.0589, 42.3601, 42.3601)]:
                found = conn.exec_driver_sql(BOX.format("packed"), box).all()
                assert found == conn.exec_driver_sql(BOX.format("filled"), box).all() and found
    finally:
        engine.dispose()


def lower_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streamed, "STREAM_PART_ROWS", 700)
    monkeypatch.setattr(interventions, "DEFERRED_INDEX_ROWS", 1)  # the real file takes the first load
    monkeypatch.setattr(verdicts, "DEFERRED_INDEX_ROWS", 1)


@pytest.fixture
def loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[object, list[bool]]:
    """A SpatiaLite store after a first load of the real Boston file, and what fill_packed said."""
    lower_threshold(monkeypatch)
    said: list[bool] = []
    fill = rtrees.fill_packed

    def watched(*args: object) -> bool:
        said.append(fill(*args))  # type: ignore[arg-type]
        return said[-1]

    monkeypatch.setattr(rtrees, "fill_packed", watched)
    engine = make_engine(f"sqlite:///{tmp_path / 'geova.sqlite'}")
    prepare_store(engine)
    load_quarters(engine)
    import_interventions(engine, BOSTON_CSV, BOSTON_MAPPING, rejects_path=tmp_path / "r.csv")
    yield engine, said
    engine.dispose()


def test_a_first_load_s_packed_tree_is_the_one_spatialite_rebuilds_from_the_rows(loaded):
    engine, said = loaded
    assert said == [True]  # packed, not rebuilt by the fallback
    name = "idx_intervention_geom"
    with engine.connect() as conn:
        assert check(conn, name) == "ok"
        packed = conn.exec_driver_sql(ENTRIES.format(name)).all()
        assert len(packed) == conn.exec_driver_sql("SELECT count(*) FROM intervention").scalar_one() == 4284
        # SpatiaLite's search through its own index, against every row's point tested one by one
        box = (-71.08, 42.33, -71.05, 42.36)
        through_index = conn.exec_driver_sql(
            "SELECT id FROM intervention WHERE ROWID IN (SELECT ROWID FROM SpatialIndex "
            "WHERE f_table_name = 'intervention' AND search_frame = BuildMbr(?, ?, ?, ?)) "
            "AND MbrWithin(geom, BuildMbr(?, ?, ?, ?)) ORDER BY id",
            box + box,
        ).all()
        every_row = conn.exec_driver_sql(
            "SELECT id FROM intervention WHERE MbrWithin(geom, BuildMbr(?, ?, ?, ?)) ORDER BY id", box
        ).all()
        assert through_index == every_row and len(every_row) > 100
    with write(engine) as conn:
        conn.exec_driver_sql("SELECT RecoverSpatialIndex('intervention', 'geom')")
        assert conn.exec_driver_sql(ENTRIES.format(name)).all() == packed


def test_the_packed_tree_follows_the_store_s_later_writes(loaded):
    """SpatiaLite's triggers keep the packed tree as they keep their own: deletes and moves."""
    engine, _said = loaded
    with write(engine) as conn:
        conn.exec_driver_sql("DELETE FROM intervention WHERE id % 5 = 0")  # their links cascade
        conn.exec_driver_sql("UPDATE intervention SET geom = MakePoint(-71.06, 42.35, 4326) WHERE id % 7 = 0")
    with engine.connect() as conn:
        assert check(conn, "idx_intervention_geom") == "ok"
        entries = conn.exec_driver_sql(ENTRIES.format("idx_intervention_geom")).all()
    with write(engine) as conn:
        conn.exec_driver_sql("SELECT RecoverSpatialIndex('intervention', 'geom')")
        assert conn.exec_driver_sql(ENTRIES.format("idx_intervention_geom")).all() == entries


def failing_packer(*args: object) -> rtrees.Packed:
    raise MemoryError("no room to pack")


@pytest.mark.parametrize(
    "how",
    [("DECLARATION", "rtree(pkid, xmin, xmax, ymin, ymax, zmin, zmax)"), ("packed", failing_packer)],
    ids=["a tree of another shape", "packing that fails"],
)
def test_a_tree_geova_does_not_pack_is_filled_by_spatialite(tmp_path, monkeypatch, how):
    """A tree this module does not write (as if SpatiaLite declared it otherwise), or packing that
    fails: SpatiaLite fills the tree from the rows, and the load is as before, only slower."""
    lower_threshold(monkeypatch)
    monkeypatch.setattr(rtrees, *how)
    engine = make_engine(f"sqlite:///{tmp_path / 'geova.sqlite'}")
    prepare_store(engine)
    load_quarters(engine)
    report = import_interventions(engine, BOSTON_CSV, BOSTON_MAPPING, rejects_path=tmp_path / "r.csv")
    with engine.connect() as conn:
        assert check(conn, "idx_intervention_geom") == "ok"
        count = conn.exec_driver_sql("SELECT count(*) FROM idx_intervention_geom").scalar_one()
    engine.dispose()
    assert count == report.inserted == 4284
