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
