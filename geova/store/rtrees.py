"""A first load's SpatiaLite R*Tree, packed from the points in memory instead of grown one by one.

SpatiaLite fills a spatial index by inserting every point into SQLite's R*Tree, one after the
other, each insert choosing a leaf, splitting full nodes and reinserting cells (R*-tree rules): the
longest statement of a million-request first load (5.0-5.3 s of one core on Session 16's machine,
while every other index took under 2.4 s). When the whole set of points is known at once, as in a
first load, an R-tree can be built bottom-up instead: sort the points into tiles (Sort-Tile-
Recursive, Leutenegger et al. 1997), cut the sorted run into full leaves, and build each level
above the same way from the boxes of the level below. numpy does that for a million points in
well under a second, and the tree is at least as good for searches: its nodes are full and do not
overlap.

The tree is then written into the three ordinary tables behind SQLite's R*Tree (``%_node``,
``%_rowid``, ``%_parent``), in the format rtree.c documents at its top: each node a blob of the tree's
node size, its depth (root only) and its number of cells as 2-byte big-endian integers, then its
cells, an 8-byte big-endian id (a row's id in a leaf, a child node's number above) followed by
the box as 4-byte big-endian floats (x min, x max, y min, y max); the root is node 1. Each box is
rounded outward to single precision exactly as the R*Tree module rounds what it is given
(``rtreeValueDown`` / ``rtreeValueUp``). tests/test_rtrees.py holds the result to SQLite's own
``rtreecheck()`` and to the entries and search answers of the tree SpatiaLite builds from the same
rows (``RecoverSpatialIndex``), for random point sets of every shape.

Hand-written, as no library writes SQLite's R*Tree (SQLite has no bulk-load call for it, and
SpatiaLite only fills it row by row). If the store's tree is not the plain 2-D one this module
writes (:func:`packable`), or packing or writing fails, SpatiaLite fills it from the rows instead,
as every first load did before: slower, never wrong.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Column, Connection, Integer, MetaData, Table

from geova.store.staging import staged_insert

log = logging.getLogger(__name__)

# The one R*Tree shape this module writes: SpatiaLite's, 2-D, single-precision boxes.
DECLARATION = "rtree(pkid, xmin, xmax, ymin, ymax)"
HEAD_BYTES = 4  # depth (root only) and cell count, 2 bytes each
CELL = np.dtype([("id", ">i8"), ("box", ">f4", (4,))])  # 24 bytes: rtree.c's cell of 2 dimensions
SHADOWS = ("node", "rowid", "parent")  # the tables behind an R*Tree, as rtree.c names them
# rtree.c's rounding of a double to the single-precision bound below or above it
TOWARDS = 1.0 - 1.0 / 8388608.0
AWAY = 1.0 + 1.0 / 8388608.0


@dataclass
class Packed:
    """A packed tree: its nodes as (number, blob), the root first (number 1); each row id's leaf;
    the (child, parent) numbers of every node below the root."""

    nodes: list[tuple[int, bytes]]
    ids: np.ndarray
    leaf_of: np.ndarray
    parents: np.ndarray


def packable(conn: Connection, table: str, column: str) -> int | None:
    """The node size of SpatiaLite's R*Tree of ``table.column`` when it is the 2-D tree this module
    writes; ``None`` otherwise (SpatiaLite then fills it itself)."""
    name = f"idx_{table}_{column}"
    declared = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).scalar()
    if declared is None or DECLARATION not in " ".join(str(declared).split()):
        return None
    root = f'SELECT length(data) FROM "{name}_node" WHERE nodeno = 1'
    size = conn.exec_driver_sql(root).scalar()
    return int(size) if size is not None and size >= HEAD_BYTES + 2 * CELL.itemsize else None


def fill_packed(conn: Connection, table: str, column: str, tree: Callable[[], Packed]) -> bool:
    """Fill SpatiaLite's empty R*Tree of ``table.column`` (:func:`packable`) with ``tree()``, the
    packed tree of every row of the table with a point (computed meanwhile, maybe in a worker:
    :func:`packed`). Returns ``True`` when packed; ``False`` when that failed and SpatiaLite rebuilt
    the tree from the rows instead."""
    try:
        write_packed(conn, f"idx_{table}_{column}", tree())
        return True
    except Exception as exc:
        log.warning("the R*Tree of %s was rebuilt from the rows instead: %s", table, exc)
        conn.exec_driver_sql(f"SELECT RecoverSpatialIndex('{table}', '{column}')")
        return False


def write_packed(conn: Connection, name: str, tree: Packed) -> None:
    """Replace what the R*Tree ``name`` holds by ``tree``."""
    for shadow in SHADOWS:
        conn.exec_driver_sql(f'DELETE FROM "{name}_{shadow}"')
    # the driver's executemany, with plain tuples: a city's 20,000 nodes took 0.3 s through
    # SQLAlchemy's per-row parameter handling
    conn.exec_driver_sql(f'INSERT INTO "{name}_node" (nodeno, data) VALUES (?, ?)', tree.nodes)
    if len(tree.parents):
        conn.exec_driver_sql(
            f'INSERT INTO "{name}_parent" (nodeno, parentnode) VALUES (?, ?)',
            list(map(tuple, tree.parents.tolist())),
        )
    if len(tree.ids):  # a million rows: through a staging file, not a million bound parameters
        rowid = Table(f"{name}_rowid", MetaData(), Column("rowid", Integer), Column("nodeno", Integer))
        staged_insert(conn, rowid, [pd.DataFrame({"rowid": tree.ids, "nodeno": tree.leaf_of})])


def packed(ids: np.ndarray, xs: np.ndarray, ys: np.ndarray, node_size: int) -> Packed:
    """The R-tree of the points ``(xs, ys)`` of rows ``ids``, packed Sort-Tile-Recursive, in nodes
    of ``node_size`` bytes. numpy's sorts let go of the interpreter's lock: a worker thread may
    pack while the caller's thread works."""
    capacity = (node_size - HEAD_BYTES) // CELL.itemsize
    boxes = np.stack([_down(xs), _up(xs), _down(ys), _up(ys)], axis=1)
    keys = np.asarray(ids, dtype=np.int64)
    levels: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (order, boxes in order, node starts)
    while True:
        order, starts = _tiled(boxes, capacity)
        levels.append((order, boxes[order], starts))
        if len(starts) == 2:  # one node: the root
            break
        inner = boxes[order]
        boxes = np.stack(
            [
                np.minimum.reduceat(inner[:, 0], starts[:-1]),
                np.maximum.reduceat(inner[:, 1], starts[:-1]),
                np.minimum.reduceat(inner[:, 2], starts[:-1]),
                np.maximum.reduceat(inner[:, 3], starts[:-1]),
            ],
            axis=1,
        )
    # node numbers: the root 1, then each level below it in turn
    numbers: list[np.ndarray] = []
    first = 1
    for _order, _boxes, starts in reversed(levels):
        numbers.insert(0, np.arange(first, first + len(starts) - 1, dtype=np.int64))
        first += len(starts) - 1
    depth = len(levels) - 1
    nodes: list[tuple[int, bytes]] = []
    leaf_of = np.zeros(len(keys), dtype=np.int64)
    parents: list[np.ndarray] = []
    for level, (order, ordered, starts) in enumerate(levels):
        counts = np.diff(starts)
        mine = numbers[level]
        cells = np.zeros(len(order), dtype=CELL)
        cells["id"] = keys[order] if level == 0 else numbers[level - 1][order]
        cells["box"] = ordered
        # every node of the level in one block of bytes: its head, then its cells where they go
        block = np.zeros((len(counts), node_size), dtype=np.uint8)
        block[:, 2], block[:, 3] = counts >> 8, counts & 0xFF
        if level == depth:  # the root's depth
            block[0, 0], block[0, 1] = depth >> 8, depth & 0xFF
        within = np.arange(len(order)) - np.repeat(starts[:-1], counts)
        at = np.repeat(np.arange(len(counts)), counts) * node_size + HEAD_BYTES + within * CELL.itemsize
        block.reshape(-1)[at[:, None] + np.arange(CELL.itemsize)] = cells.view(np.uint8).reshape(
            -1, CELL.itemsize
        )
        nodes.extend(zip(mine.tolist(), (row.tobytes() for row in block), strict=True))
        if level == 0:
            leaf_of[order] = np.repeat(mine, counts)
        else:
            parents.append(np.stack([numbers[level - 1][order], np.repeat(mine, counts)], axis=1))
    nodes.sort()
    linked = np.concatenate(parents) if parents else np.zeros((0, 2), dtype=np.int64)
    return Packed(nodes, keys, leaf_of, linked)


def _tiled(boxes: np.ndarray, capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """Sort-Tile-Recursive on the boxes' centres: the order of the boxes, and where each node's
    run of at most ``capacity`` of them starts (the last entry is the end). Runs are cut as evenly
    as possible within each vertical slice, so every node but the root is at least half full
    (the R*Tree module's own minimum is a third; tests/test_rtrees.py checks the half)."""
    n = len(boxes)
    if n <= capacity:
        return np.arange(n), np.array([0, n], dtype=np.int64)
    cx = (boxes[:, 0].astype(np.float64) + boxes[:, 1]) / 2
    cy = (boxes[:, 2].astype(np.float64) + boxes[:, 3]) / 2
    nodes = math.ceil(n / capacity)
    slices = math.ceil(math.sqrt(nodes))
    by_x = np.argsort(cx, kind="stable")
    orders: list[np.ndarray] = []
    starts: list[np.ndarray] = []
    done = 0
    for part in np.array_split(by_x, slices):
        if not len(part):
            continue
        orders.append(part[np.argsort(cy[part], kind="stable")])
        cut = math.ceil(len(part) / capacity)
        starts.append(done + np.linspace(0, len(part), cut + 1).round().astype(np.int64)[:-1])
        done += len(part)
    return np.concatenate(orders), np.append(np.concatenate(starts), n)


def _down(values: np.ndarray) -> np.ndarray:
    """Each double as the largest single-precision float not above it, as rtree.c's
    ``rtreeValueDown`` computes it."""
    d = np.asarray(values, dtype=np.float64)
    f = d.astype(np.float32)
    nudged = (d * np.where(d < 0, AWAY, TOWARDS)).astype(np.float32)
    return np.where(f.astype(np.float64) > d, nudged, f)


def _up(values: np.ndarray) -> np.ndarray:
    """Each double as the smallest single-precision float not below it (``rtreeValueUp``)."""
    d = np.asarray(values, dtype=np.float64)
    f = d.astype(np.float32)
    nudged = (d * np.where(d < 0, TOWARDS, AWAY)).astype(np.float32)
    return np.where(f.astype(np.float64) < d, nudged, f)
