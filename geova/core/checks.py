"""Plausibility checks on intervention records.

They flag rather than reject: a request at a geocoder's default location is still a real request
that counts in the rates; it just cannot be trusted on a map.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from numpy.typing import NDArray

# Two points closer than this (in degrees, about 1 m) are "the same location".
COORD_DECIMALS = 5
# A location shared by at least this many requests is a geocoder default, not a hot spot.
REPEATED_LOCATION_THRESHOLD = 100
# Margin around the territory's bounding box before coordinates count as outside its extent.
EXTENT_MARGIN_DEGREES = 0.05


def location_key(x: float, y: float) -> tuple[float, float]:
    return (round(float(x), COORD_DECIMALS), round(float(y), COORD_DECIMALS))


def at_locations(
    xs: NDArray[np.float64], ys: NDArray[np.float64], keys: set[tuple[float, float]]
) -> NDArray[np.bool_]:
    """Points whose location_key is one of ``keys`` (a geocoder's default spots). Only the points
    near a key are rounded one by one, so a million points cost a few vectorised comparisons."""
    hit = np.zeros(len(xs), dtype=bool)
    if not keys or not len(xs):
        return hit
    near = np.zeros(len(xs), dtype=bool)
    with np.errstate(invalid="ignore"):
        for kx, ky in keys:  # rounding moves a value by at most half a unit of the last decimal
            near |= (np.abs(xs - kx) < 10.0**-COORD_DECIMALS) & (np.abs(ys - ky) < 10.0**-COORD_DECIMALS)
    for i in np.flatnonzero(near):
        hit[i] = location_key(xs[i], ys[i]) in keys
    return hit


def outside_extent(
    xs: NDArray[np.float64], ys: NDArray[np.float64], bounds: tuple[float, float, float, float] | None
) -> NDArray[np.bool_]:
    """Points outside the territory's bounding box (grown by a margin); none when no territory."""
    if bounds is None:
        return np.zeros(len(xs), dtype=bool)
    minx, miny, maxx, maxy = bounds
    m = EXTENT_MARGIN_DEGREES
    return (xs < minx - m) | (xs > maxx + m) | (ys < miny - m) | (ys > maxy + m)


def resolved_before_report(reported: pd.Series, resolved: pd.Series) -> NDArray[np.bool_]:
    return (resolved.notna() & (resolved < reported)).to_numpy()


def repeated_locations(
    keys: Iterable[tuple[tuple[float, float], int]],
    threshold: int = REPEATED_LOCATION_THRESHOLD,
) -> set[tuple[float, float]]:
    """Locations whose total count reaches ``threshold``, from (location key, count) pairs."""
    totals: dict[tuple[float, float], int] = {}
    for key, count in keys:
        totals[key] = totals.get(key, 0) + count
    return {k for k, c in totals.items() if c >= threshold}


def repeated_location_boxes(
    xs: NDArray[np.float64], ys: NDArray[np.float64], threshold: int, limit: int = 200
) -> list[tuple[float, float, float, float]] | None:
    """Lon/lat boxes that hold every point of every location shared by ``threshold`` points or
    more (locations as the store rounds them: COORD_DECIMALS decimals), found without rounding
    any point exactly; None when more than ``limit`` boxes would be needed (then look everywhere).

    The store's exact rounding (numeric, half away from zero) and a float rounding here differ by
    at most one unit of the last decimal, so every point of such a location has its float key
    within a 3 x 3 block of keys around the location's own, and such a block lies in a window of
    2 x 2 cells of 5 x 5 keys. Windows holding ``threshold`` points or more are the candidates;
    only the points inside them need the exact check. For a first import: a million points are
    checked in a few vectorised passes instead of a store-wide GROUP BY on rounded numerics."""
    ok = np.isfinite(xs) & np.isfinite(ys)
    if threshold < 1 or ok.sum() < threshold:
        return []
    scale = 10.0**COORD_DECIMALS
    cell = 5
    cx = np.floor(np.floor(xs[ok] * scale + 0.5) / cell).astype(np.int64)
    cy = np.floor(np.floor(ys[ok] * scale + 0.5) / cell).astype(np.int64)
    offset, row = 1 << 24, 1 << 26  # cell keys as one integer: (cx + offset) * row + (cy + offset)
    cells, counts = np.unique((cx + offset) * row + (cy + offset), return_counts=True)

    def count_at(keys: NDArray[np.int64]) -> NDArray[np.int64]:
        where = np.clip(np.searchsorted(cells, keys), 0, len(cells) - 1)
        return np.where(cells[where] == keys, counts[where], 0)

    # a window of 2 x 2 cells, named by its lower left cell. A window holding ``threshold`` points
    # has a cell holding a quarter of them (pigeonhole): only those cells' windows are looked at,
    # a few instead of four per non-empty cell (which took 2 s of a million-point first import)
    seeds = cells[counts * 4 >= threshold]
    starts = np.unique(np.concatenate([seeds, seeds - row, seeds - 1, seeds - row - 1]))
    window = count_at(starts) + count_at(starts + 1) + count_at(starts + row) + count_at(starts + row + 1)
    hot = starts[window >= threshold]
    if len(hot) > limit:
        return None
    boxes = []
    for key in hot.tolist():
        kx, ky = key // row - offset, key % row - offset
        # the window's keys, half a unit either side, and one unit more for float error
        lo_x, lo_y = (kx * cell - 1.5) / scale, (ky * cell - 1.5) / scale
        boxes.append((lo_x, lo_y, lo_x + (2 * cell + 2) / scale, lo_y + (2 * cell + 2) / scale))
    return boxes
