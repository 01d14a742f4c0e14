"""Spatial assignment of points to quarters and zones.

Done in memory with shapely rather than as a database spatial join: it is vectorised, runs before
the rows are written (import -> assign -> store), and gives the same answer on SpatiaLite and PostGIS
because the same GEOS predicate decides every case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray


@dataclass(frozen=True)
class Area:
    """A polygon of the territory: a quarter (with its level in the hierarchy) or a zone."""

    id: int
    geom: shapely.Geometry
    level: int = 0
    code: str = ""
    parent: int | None = None  # id of the parent quarter, for a sub-quarter


@dataclass(frozen=True)
class Assignment:
    """Where each point fell. -1 in ``quarter``/``subquarter`` means no such area contains it."""

    quarter: NDArray[np.int64]
    subquarter: NDArray[np.int64]
    zone_pairs: list[tuple[int, int]]  # (point index, zone id), a point may be in several zones

    @property
    def outside(self) -> int:
        return int((self.quarter < 0).sum())


# Up to this many areas, testing every point against each prepared polygon (after a bounding-box
# filter) is fastest (a city's quarters: 25 times faster than querying a tree); beyond, a tree
# over the points is queried with the polygons.
FEW_AREAS = 64


def _hits(
    xs: NDArray[np.float64], ys: NDArray[np.float64], areas: Sequence[Area]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(point index, area index) pairs where the area covers the point (a point on a boundary
    belongs to both sides: ties are broken by the caller)."""
    if not len(areas) or not len(xs):
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    if len(areas) > FEW_AREAS:
        valid = np.isfinite(xs) & np.isfinite(ys)
        where = np.flatnonzero(valid)
        tree = shapely.STRtree(shapely.points(xs[where], ys[where]))
        aidx, pidx = tree.query([a.geom for a in areas], predicate="covers")
        return where[pidx].astype(np.int64), aidx.astype(np.int64)
    points, owners = [], []
    for i, area in enumerate(areas):
        minx, miny, maxx, maxy = area.geom.bounds
        candidates = np.flatnonzero((xs >= minx) & (xs <= maxx) & (ys >= miny) & (ys <= maxy))
        if not len(candidates):
            continue
        shapely.prepare(area.geom)
        inside = candidates[shapely.intersects_xy(area.geom, xs[candidates], ys[candidates])]
        points.append(inside)
        owners.append(np.full(len(inside), i, dtype=np.int64))
    if not points:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(points).astype(np.int64), np.concatenate(owners)


def _roots(quarters: Sequence[Area]) -> NDArray[np.int64]:
    """Index of each quarter's top ancestor, following ``parent`` (itself when it has none)."""
    pos = {q.id: i for i, q in enumerate(quarters)}
    roots = np.arange(len(quarters), dtype=np.int64)
    for i in range(len(quarters)):
        j, steps = i, 0
        while quarters[j].parent in pos and steps < len(quarters):  # steps: no endless loop on a cycle
            j, steps = pos[quarters[j].parent], steps + 1
        roots[i] = j
    return roots


def assign_points(
    xs: NDArray[np.float64],
    ys: NDArray[np.float64],
    quarters: Sequence[Area],
    zones: Sequence[Area],
) -> Assignment:
    """Assign lon/lat points to the top-level quarter, the deepest sub-quarter and every zone.

    When quarters of one level overlap or a point lies on a shared boundary, the area with the
    smallest code wins, so that the result does not depend on storage order. The sub-quarter is
    taken under the point's quarter when one covers the point (``Area.parent``): a point on the
    boundary of two quarters must not get the quarter of one and a sub-quarter of the other.
    """
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    n = len(xs)
    quarter = np.full(n, -1, dtype=np.int64)
    subquarter = np.full(n, -1, dtype=np.int64)
    pidx, aidx = _hits(xs, ys, quarters)
    if len(pidx):
        levels = np.array([q.level for q in quarters])
        ids = np.array([q.id for q in quarters], dtype=np.int64)
        # rank codes so that ties break on the code, deterministically
        order = sorted(range(len(quarters)), key=lambda i: quarters[i].code)
        rank = np.empty(len(quarters), dtype=np.int64)
        rank[order] = np.arange(len(quarters))
        hit_level = levels[aidx]
        # top level: smallest level, then smallest code rank; processed in reverse so the best wins
        top = np.lexsort((-rank[aidx], -hit_level))
        is_top = hit_level[top] == 0
        top_pos = np.full(n, -1, dtype=np.int64)  # index in ``quarters`` of each point's quarter
        top_pos[pidx[top][is_top]] = aidx[top][is_top]
        quarter[top_pos >= 0] = ids[top_pos[top_pos >= 0]]
        # sub-quarter: under the point's quarter first, then deepest level, then smallest code
        under = (_roots(quarters)[aidx] == top_pos[pidx]).astype(np.int8)
        deep = np.lexsort((-rank[aidx], hit_level, under))
        is_sub = hit_level[deep] > 0
        subquarter[pidx[deep][is_sub]] = ids[aidx[deep][is_sub]]
    zpidx, zaidx = _hits(xs, ys, zones)
    zone_ids = [z.id for z in zones]
    pairs = sorted({(int(p), zone_ids[a]) for p, a in zip(zpidx, zaidx, strict=True)})
    return Assignment(quarter=quarter, subquarter=subquarter, zone_pairs=pairs)
