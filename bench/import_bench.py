"""Import benchmark: how fast ``geova.importing.import_interventions`` stores a large 311 export.

For each size N it writes (once, cached under bench/out/) a synthetic CSV in the City of Boston 311
column layout: N requests with unique CASE_ENQUIRY_IDs, 2015 dates (some closed, some open, a few
closed before they were opened), five request types, points drawn inside Boston's quarters (more in
the priority zones, about 3 % at the geocoder's default spot, about 3 % outside the territory).

Then, for each backend (a SpatiaLite file in a temporary folder; a PostGIS database created for the
run and dropped afterwards), it creates the store, imports the quarters and the priority zones with
``import_layer``, and times ``import_interventions`` twice on the same file: the first import (every
row inserted) and an idempotent re-import (every row unchanged). It prints rows/s, peak RSS of the
Python process, and a breakdown of where the time went (pipeline steps, and database time per SQL
statement kind). ``--profile`` runs cProfile on one import and prints the top entries.

It prints figures only; it never asserts a timing. Each (backend, N) case runs in its own
subprocess so that peak RSS figures do not leak from one case into the next.

    .venv/bin/python bench/import_bench.py                       # 10k, 100k, 1M on both backends
    .venv/bin/python bench/import_bench.py --sizes 10000 --backends spatialite
    .venv/bin/python bench/import_bench.py --sizes 100000 --profile --profile-phase reimport
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import json
import os
import pstats
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out"
QUARTERS_FILE = REPO / "layers" / "boston_neighborhoods.geojson"
ZONES_FILE = REPO / "layers" / "boston_priority_zones.geojson"
DEFAULT_MAPPING = BENCH / "boston-311-bench.toml"
DEFAULT_PG_ADMIN = os.environ.get(
    "GEOVA_BENCH_POSTGRES_URL",
    os.environ.get("GEOVA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
)
BACKENDS = ("spatialite", "postgis")
GENERATOR_VERSION = 1  # bump when the generated content changes, so cached files are rebuilt

# --------------------------------------------------------------------------------------------------
# Synthetic Boston 311 export
# --------------------------------------------------------------------------------------------------

HEADER = [
    "",
    "CASE_ENQUIRY_ID",
    "OPEN_DT",
    "TARGET_DT",
    "CLOSED_DT",
    "OnTime_Status",
    "CASE_STATUS",
    "CLOSURE_REASON",
    "CASE_TITLE",
    "SUBJECT",
    "REASON",
    "TYPE",
    "QUEUE",
    "Department",
    "SubmittedPhoto",
    "ClosedPhoto",
    "Location",
    "fire_district",
    "pwd_district",
    "city_council_district",
    "police_district",
    "neighborhood",
    "neighborhood_services_district",
    "ward",
    "precinct",
    "land_usage",
    "LOCATION_STREET_NAME",
    "LOCATION_ZIPCODE",
    "Property_Type",
    "Property_ID",
    "LATITUDE",
    "LONGITUDE",
    "Source",
    "Geocoded_Location",
]
DATE_FORMAT = "%m/%d/%Y %I:%M:%S %p"
GEOCODER_DEFAULT = (-71.0587, 42.3594)  # City Hall Plaza, where Boston's geocoder puts the unplaceable

# Request types as in the 2015 exports: (TYPE, share, SUBJECT, REASON, queues [(QUEUE, Department)],
# share of plain titles, target delay in days (None: no target), median hours to closure).
REQUEST_TYPES = [
    (
        "Graffiti Removal",
        0.45,
        "Property Management",
        "Graffiti",
        [
            ("PROP_GRAF_GraffitiRemoval", "PROP"),
            ("INFO01_GenericeFormforOtherServiceRequestTypes", "INFO"),
            ("BTDT_Traffic Signal_Graffiti", "BTDT"),
            ("PWDx_District 1B: North End", "PWDx"),
        ],
        0.76,
        7,
        40.0,
    ),
    (
        "PWD Graffiti",
        0.15,
        "Public Works Department",
        "Highway Maintenance",
        [
            ("PWDx_Graffiti", "PWDx"),
            ("PWDx_District 1C: Downtown", "PWDx"),
            ("PWDx_District 04: Allston/Brighton", "PWDx"),
            ("INFO01_GenericeFormforOtherServiceRequestTypes", "INFO"),
        ],
        0.95,
        60,
        70.0,
    ),
    (
        "Empty Litter Basket",
        0.30,
        "Public Works Department",
        "Highway Maintenance",
        [
            ("PWDx_Empty Litter Basket", "PWDx"),
            ("PWDx_District 1C: Downtown", "PWDx"),
            ("PWDx_District 1B: North End", "PWDx"),
            ("PARK_Maintenance_Region 1", "PARK"),
        ],
        0.93,
        2,
        14.0,
    ),
    (
        "Needle Pickup",
        0.06,
        "Mayor's 24 Hour Hotline",
        "Needle Program",
        [("GEN_Needle_Pickup", "GEN_")],
        0.98,
        None,
        3.0,
    ),
    (
        "Trash on Vacant Lot",
        0.04,
        "Inspectional Services",
        "Environmental Services",
        [("ISD_Environmental Services (INTERNAL)", "ISD")],
        1.0,
        21,
        300.0,
    ),
]
CLOSURE_RESOLVED = [
    "Case Closed Case Resolved",
    "Case Closed Case Resolved This request has been completed.",
    "Case Closed Case Resolved Graffiti has been removed.  Case is now closed.",
    "Case Closed Case Resolved This case # has been closed.  Graffiti removal crew has been "
    "dispatched and the graffiti has been removed",
    "Case Closed Case Noted have put on file",
    "Case Closed. Closed date : 2015-10-07 17:46:46.437 Case Resolved Thank you for your request. We "
    "apologize for the time that it has taken to respond to this case. If this issue persists  please "
    "resubmit your case or call 311 to speak to an agent.",
    "Case Closed Case Resolved Basket emptied",
    "Case Closed Case Resolved removed",
]
CLOSURE_DUPLICATE = "Case Closed Duplicate of Existing Case"
CLOSURE_INVALID = "Case Closed Case Invalid"
STREETS = [
    "Washington St",
    "Tremont St",
    "Boylston St",
    "Newbury St",
    "Commonwealth Ave",
    "Massachusetts Ave",
    "Blue Hill Ave",
    "Dorchester Ave",
    "Centre St",
    "Hyde Park Ave",
    "Harrison Ave",
    "Columbus Ave",
    "Cambridge St",
    "Hanover St",
    "Summer St",
    "E Fourth St",
    "W Broadway",
    "Bennington St",
    "Meridian St",
    "Main St",
    "Bunker Hill St",
    "Huntington Ave",
    "Beacon St",
    "Charles St",
    "Boston St",
    "Warren St",
    "Adams St",
    "Gallivan Blvd",
    "River St",
    "South St",
]
ZIP_BY_QUARTER = {
    "Allston": "2134",
    "Back Bay": "2116",
    "Bay Village": "2116",
    "Beacon Hill": "2108",
    "Brighton": "2135",
    "Charlestown": "2129",
    "Chinatown": "2111",
    "Dorchester": "2125",
    "Downtown": "2109",
    "East Boston": "2128",
    "Fenway": "2215",
    "Hyde Park": "2136",
    "Jamaica Plain": "2130",
    "Leather District": "2111",
    "Longwood": "2115",
    "Mattapan": "2126",
    "Mission Hill": "2120",
    "North End": "2113",
    "Roslindale": "2131",
    "Roxbury": "2119",
    "South Boston": "2127",
    "South Boston Waterfront": "2210",
    "South End": "2118",
    "West End": "2114",
    "West Roxbury": "2132",
    "Harbor Islands": "2109",
}
CHANNELS = (
    ["Citizens Connect App", "Constituent Call", "Self Service", "Employee Generated"],
    [0.75, 0.15, 0.08, 0.02],
)
# Local hour of the report: few at night, most during office hours.
HOUR_WEIGHTS = np.array([1, 1, 1, 1, 1, 2, 4, 7, 10, 11, 11, 10, 9, 10, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1], float)


def _polygons(path: Path, name_key: str) -> tuple[list[str], np.ndarray]:
    data = json.loads(path.read_text(encoding="utf-8"))
    names = [str(f["properties"][name_key]) for f in data["features"]]
    geoms = shapely.make_valid(shapely.from_geojson([json.dumps(f["geometry"]) for f in data["features"]]))
    return names, geoms


def _sample_in(geom: shapely.Geometry, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` points uniformly inside ``geom`` (rejection sampling in its bounding box, vectorised)."""
    if count <= 0:
        return np.empty(0), np.empty(0)
    shapely.prepare(geom)
    minx, miny, maxx, maxy = geom.bounds
    fill = max(geom.area / ((maxx - minx) * (maxy - miny)), 0.01)
    xs, ys, have = [], [], 0
    while have < count:
        m = int((count - have) / fill * 1.2) + 64
        x, y = rng.uniform(minx, maxx, m), rng.uniform(miny, maxy, m)
        keep = shapely.contains_xy(geom, x, y)
        xs.append(x[keep])
        ys.append(y[keep])
        have += int(keep.sum())
    return np.concatenate(xs)[:count], np.concatenate(ys)[:count]


def _which(xs: np.ndarray, ys: np.ndarray, geoms: np.ndarray) -> np.ndarray:
    """Index of the polygon containing each point, -1 for none."""
    out = np.full(len(xs), -1, dtype=np.int64)
    for i, g in enumerate(geoms):
        shapely.prepare(g)
        minx, miny, maxx, maxy = g.bounds
        cand = np.flatnonzero((out < 0) & (xs >= minx) & (xs <= maxx) & (ys >= miny) & (ys <= maxy))
        if len(cand):
            out[cand[shapely.contains_xy(g, xs[cand], ys[cand])]] = i
    return out


def sample_locations(
    n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Points for N requests: (lon, lat, quarter index or -1, quarter names), in random order.

    72 % uniform over the quarters (by area), 20 % inside the priority zones (commercial streets get
    many requests), 3 % at the geocoder default, 2 % just outside the territory (Cambridge,
    Brookline, the harbour: inside the extent margin) and 1 % far away (elsewhere in Massachusetts).
    """
    names, quarters = _polygons(QUARTERS_FILE, "Name")
    _, zones = _polygons(ZONES_FILE, "name")
    territory = shapely.union_all(quarters)
    n_default, n_near, n_far, n_zone = (round(n * s) for s in (0.03, 0.02, 0.01, 0.20))
    n_uniform = n - n_default - n_near - n_far - n_zone
    areas = shapely.area(quarters)
    per_quarter = rng.multinomial(n_uniform, areas / areas.sum())
    xs, ys, qs = [], [], []
    for i, (geom, k) in enumerate(zip(quarters, per_quarter, strict=True)):
        x, y = _sample_in(geom, int(k), rng)
        xs.append(x)
        ys.append(y)
        qs.append(np.full(len(x), i))
    x, y = _sample_in(shapely.intersection(shapely.union_all(zones), territory), n_zone, rng)
    xs.append(x)
    ys.append(y)
    qs.append(_which(x, y, quarters))
    xs.append(np.full(n_default, GEOCODER_DEFAULT[0]))
    ys.append(np.full(n_default, GEOCODER_DEFAULT[1]))
    qs.append(
        np.full(
            n_default, _which(np.array([GEOCODER_DEFAULT[0]]), np.array([GEOCODER_DEFAULT[1]]), quarters)[0]
        )
    )
    ring = shapely.difference(shapely.buffer(shapely.envelope(territory), 0.03), territory)
    x, y = _sample_in(ring, n_near, rng)
    xs.append(x)
    ys.append(y)
    qs.append(np.full(len(x), -1))
    minx, miny, maxx, maxy = territory.bounds
    fx, fy = np.empty(0), np.empty(0)
    while len(fx) < n_far:
        m = 2 * (n_far - len(fx)) + 16
        x, y = rng.uniform(-73.4, -69.95, m), rng.uniform(41.25, 42.85, m)
        far = (x < minx - 0.1) | (x > maxx + 0.1) | (y < miny - 0.1) | (y > maxy + 0.1)
        fx, fy = np.concatenate([fx, x[far]]), np.concatenate([fy, y[far]])
    xs.append(fx[:n_far])
    ys.append(fy[:n_far])
    qs.append(np.full(n_far, -1))
    order = rng.permutation(n)
    return np.concatenate(xs)[order], np.concatenate(ys)[order], np.concatenate(qs)[order], names


def _fmt_dates(values: np.ndarray) -> np.ndarray:
    """datetime64 (NaT allowed) -> Boston's ``01/08/2015 10:37:47 AM`` text, "" for NaT."""
    out = pd.DatetimeIndex(values).strftime(DATE_FORMAT)
    return np.asarray(pd.Series(out).fillna(""), dtype=object)


def _pick(rng: np.random.Generator, options: list[str], n: int, p: list[float] | None = None) -> np.ndarray:
    return np.asarray(options, dtype=object)[rng.choice(len(options), size=n, p=p)]


def generate_csv(n: int, path: Path, seed: int) -> None:
    """Write N synthetic 2015 Boston 311 requests to ``path`` (vectorised; about 30 s per million)."""
    rng = np.random.default_rng(seed)
    lon, lat, qidx, qnames = sample_locations(n, rng)

    # Report times: a uniform day of 2015, an office-hours-weighted hour; IDs increase with time.
    seconds = (
        rng.integers(0, 365, n) * 86_400
        + rng.choice(24, size=n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum()) * 3600
        + rng.integers(0, 3600, n)
    )
    seconds.sort()
    opened = np.datetime64("2015-01-01T00:00:00") + seconds.astype("timedelta64[s]")
    ids = 101001240000 + np.cumsum(rng.integers(1, 4, n))

    shares = np.array([t[1] for t in REQUEST_TYPES])
    kind = rng.choice(len(REQUEST_TYPES), size=n, p=shares / shares.sum())
    col = lambda i: np.asarray([t[i] for t in REQUEST_TYPES], dtype=object)[kind]  # noqa: E731
    type_, subject, reason = col(0), col(2), col(3)

    queue = np.empty(n, dtype=object)
    dept = np.empty(n, dtype=object)
    for k, t in enumerate(REQUEST_TYPES):
        sel = np.flatnonzero(kind == k)
        weights = np.linspace(2.0, 1.0, len(t[4])) ** 4  # the first queue gets most tickets
        choice = rng.choice(len(t[4]), size=len(sel), p=weights / weights.sum())
        queue[sel] = np.asarray([q for q, _ in t[4]], dtype=object)[choice]
        dept[sel] = np.asarray([d for _, d in t[4]], dtype=object)[choice]

    # Titles: mostly the type's name; graffiti tickets may carry the ward, precinct and a severity.
    title = type_.copy()
    ward = rng.integers(1, 23, n)
    precinct = ward * 100 + rng.integers(1, 15, n)
    detailed = (kind == 0) & (rng.random(n) > REQUEST_TYPES[0][5])
    sev = _pick(rng, ["", "  Other", "  Racial", "  Profane", "  Obscene"], n, [0.45, 0.4, 0.06, 0.06, 0.03])
    title[detailed] = (
        "Graffiti: Ward "
        + pd.Series(ward[detailed]).astype(str)
        + "  "
        + pd.Series(precinct[detailed]).astype(str).str.zfill(4)
        + pd.Series(sev[detailed]).astype(str)
    ).to_numpy(dtype=object)

    # Deadlines, closures (about 10 % open, more at the end of the year), a few closed before opened.
    target_days = np.array([t[6] if t[6] is not None else -1 for t in REQUEST_TYPES])[kind]
    target = opened + (np.maximum(target_days, 0) * 86_400).astype("timedelta64[s]")
    target[target_days < 0] = np.datetime64("NaT")
    median_h = np.array([t[7] for t in REQUEST_TYPES])[kind]
    hours = rng.lognormal(np.log(median_h), 1.3)
    closed = opened + (hours * 3600).astype(np.int64).astype("timedelta64[s]")
    backwards = rng.random(n) < 0.003
    closed[backwards] = opened[backwards] - (rng.uniform(1, 72, int(backwards.sum())) * 3600).astype(
        np.int64
    ).astype("timedelta64[s]")
    day = (opened - np.datetime64("2015-01-01T00:00:00")).astype("timedelta64[D]").astype(np.int64)
    still_open = rng.random(n) < np.where(day > 335, 0.35, 0.08)
    closed[still_open] = np.datetime64("NaT")
    is_closed = ~still_open
    status = np.where(is_closed, "Closed", "Open").astype(object)
    on_time = np.where(is_closed & ~np.isnat(target) & (closed > target), "OVERDUE", "ONTIME").astype(object)
    r = rng.random(n)
    closure = _pick(rng, CLOSURE_RESOLVED, n)
    closure[r < 0.035] = CLOSURE_INVALID
    closure[r < 0.02] = CLOSURE_DUPLICATE
    closure[~is_closed] = ""

    # Addresses: street addresses and intersections in the quarter's name.
    qname = np.asarray([*qnames, "Boston"], dtype=object)[qidx]  # -1 -> "Boston"
    zips = np.asarray([ZIP_BY_QUARTER.get(q, "2108") for q in qnames] + [""], dtype=object)[qidx]
    zip_suffix = pd.Series(np.where(zips == "", "", "  0" + zips.astype(str)))
    number = pd.Series(rng.integers(1, 400, n)).astype(str)
    street1 = pd.Series(_pick(rng, STREETS, n)).astype(str)
    street2 = pd.Series(_pick(rng, STREETS, n)).astype(str)
    qn = pd.Series(qname).astype(str)
    intersection = rng.random(n) < 0.35
    location = np.where(
        intersection,
        ("INTERSECTION of " + street1 + " & " + street2 + "  " + qn + "  MA").to_numpy(dtype=object),
        (number + " " + street1 + "  " + qn + "  MA" + zip_suffix).to_numpy(dtype=object),
    )
    street_name = np.where(
        intersection,
        ("INTERSECTION " + street1 + " & " + street2).to_numpy(dtype=object),
        (number + " " + street1).to_numpy(dtype=object),
    )
    lat_s = pd.Series(np.round(lat, 4)).astype(str)
    lon_s = pd.Series(np.round(lon, 4)).astype(str)
    photo = np.where(
        rng.random(n) < 0.15,
        "https://mayors24.cityofboston.gov/media/boston/report/photos/" + pd.Series(ids).astype(str) + ".jpg",
        "",
    )

    frame = pd.DataFrame(
        {
            "": np.arange(469_482, 469_482 + n),
            "CASE_ENQUIRY_ID": ids,
            "OPEN_DT": _fmt_dates(opened),
            "TARGET_DT": _fmt_dates(target),
            "CLOSED_DT": _fmt_dates(closed),
            "OnTime_Status": on_time,
            "CASE_STATUS": status,
            "CLOSURE_REASON": closure,
            "CASE_TITLE": title,
            "SUBJECT": subject,
            "REASON": reason,
            "TYPE": type_,
            "QUEUE": queue,
            "Department": dept,
            "SubmittedPhoto": photo,
            "ClosedPhoto": "",
            "Location": location,
            "fire_district": pd.Series(rng.integers(1, 13, n)).astype(str) + ".0",
            "pwd_district": _pick(
                rng, ["1A", "1B", "1C", "02", "03", "04", "05", "06", "07", "08", "09", "10A"], n
            ),
            "city_council_district": pd.Series(rng.integers(1, 10, n)).astype(str) + ".0",
            "police_district": _pick(rng, ["A1", "A7", "A15", "B2", "B3", "C6", "C11", "D4", "D14", "E5"], n),
            "neighborhood": np.where(qidx >= 0, qname, ""),
            "neighborhood_services_district": pd.Series(rng.integers(1, 16, n)).astype(str) + ".0",
            "ward": "Ward " + pd.Series(ward).astype(str),
            "precinct": pd.Series(precinct).astype(str) + ".0",
            "land_usage": _pick(rng, ["C", "RC", "CM", "E", "R1", "R2", "R3", "A", ""], n),
            "LOCATION_STREET_NAME": street_name,
            "LOCATION_ZIPCODE": np.where(intersection | (zips == ""), "", zips.astype(str) + ".0"),
            "Property_Type": np.where(intersection, "Intersection", "Address"),
            "Property_ID": pd.Series(rng.integers(1, 400_000, n)).astype(str) + ".0",
            "LATITUDE": lat_s,
            "LONGITUDE": lon_s,
            "Source": _pick(rng, CHANNELS[0], n, CHANNELS[1]),
            "Geocoded_Location": ("(" + lat_s + ", " + lon_s + ")").to_numpy(dtype=object),
        },
        columns=HEADER,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    frame.to_csv(partial, index=False, lineterminator="\n")
    partial.replace(path)


def cached_csv(n: int, seed: int, regenerate: bool) -> Path:
    path = OUT / f"boston311-{n}-seed{seed}-v{GENERATOR_VERSION}.csv"
    if regenerate or not path.exists():
        t = time.perf_counter()
        print(f"generating {path.relative_to(REPO)} ...", flush=True)
        generate_csv(n, path, seed)
        print(
            f"  {n:,} rows, {path.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - t:.1f} s",
            flush=True,
        )
    return path


# --------------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------------


def code_version() -> str:
    """The commit of the code being measured, with '+dirty' when geova/ has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "geova"], capture_output=True, text=True
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark of this process (Linux >= 4.0); False when not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    try:
        m = re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text())
        if m:
            return int(m.group(1)) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


# Pipeline steps timed by wrapping module attributes (monkeypatching here only; geova is untouched).
# (module, attribute, label, depth) - depth only indents the breakdown; nested steps are included
# in their parent's time. Steps the current code does not have are skipped.
STEPS = [
    ("geova.importing.interventions", "load_mapping", "load_mapping", 1),
    ("geova.importing.interventions", "read_table", "read_table (csv module -> DataFrame)", 1),
    ("geova.importing.interventions", "to_records", "to_records (validation, canonical frame)", 1),
    ("geova.io.records", "parse_datetimes", "parse_datetimes (x3)", 2),
    ("geova.io.records", "_locate", "_locate (lat/lon)", 2),
    ("geova.io.records", "content_hashes", "content_hashes (row digest)", 2),
    ("geova.importing.interventions", "write_rejects", "write_rejects", 1),
    ("geova.importing.streamed", "write_rejects", "write_rejects (first load)", 1),
    ("geova.importing.interventions", "prepare_store", "prepare_store", 1),
    ("geova.store.areas", "load_areas", "load_areas", 1),
    ("geova.importing.streamed", "placed", "placed (a first load's parts: quarters, zones, services)", 1),
    ("geova.importing.placing", "assign_points", "assign_points (STRtree)", 2),
    ("geova.importing.interventions", "journal_import", "journal_import (sha256 of file)", 1),
    ("geova.store.interventions", "upsert", "upsert", 1),
    ("geova.store.interventions", "_row_values", "_row_values (dicts, EWKT)", 2),  # before 890c5b7
    ("geova.store.interventions", "_columns", "_columns (column conversion)", 2),
    ("geova.store.interventions", "insert_rows", "insert_rows (COPY / driver executemany)", 2),
    ("geova.store.interventions", "update_rows", "update_rows", 2),
    ("geova.store.interventions", "flag_repeated_locations", "flag_repeated_locations", 1),
    ("geova.store.interventions", "flag_counts", "flag_counts", 1),
]


class Clock:
    """Cumulated wall time per pipeline step and per SQL statement kind."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.sql: dict[str, list[float]] = defaultdict(lambda: [0.0, 0, 0])  # seconds, calls, rows
        self.missing: list[str] = []

    def reset(self) -> None:
        self.steps.clear()
        self.calls.clear()
        self.sql.clear()

    def install(self) -> None:
        import importlib

        for module_name, attr, label, _ in STEPS:
            module = importlib.import_module(module_name)
            original = getattr(module, attr, None)
            if original is None or not callable(original):
                self.missing.append(f"{module_name}.{attr}")
                continue
            setattr(module, attr, self._timed(original, label))

    def _timed(self, fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.steps[label] += time.perf_counter() - t
                self.calls[label] += 1

        return timed

    def watch(self, engine: Any) -> None:
        from sqlalchemy import event

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn, cursor, statement, parameters, context, executemany):
            conn.info.setdefault("bench_t0", []).append(time.perf_counter())

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn, cursor, statement, parameters, context, executemany):
            started = conn.info["bench_t0"].pop()
            entry = self.sql[statement_kind(statement)]
            entry[0] += time.perf_counter() - started
            entry[1] += 1
            entry[2] += len(parameters) if executemany and parameters is not None else 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "steps": {k: [round(v, 4), self.calls[k]] for k, v in self.steps.items()},
            "sql": {k: [round(v[0], 4), v[1], v[2]] for k, v in self.sql.items()},
        }


def statement_kind(sql: str) -> str:
    """A short label for a SQL statement: verb, table and, for SELECTs, the selected columns."""
    s = " ".join(sql.split())
    up = s.upper()
    m = re.match(r'(INSERT INTO|UPDATE|DELETE FROM)\s+"?(\w+)', up)
    if m:
        verb = m.group(1).split()[0]
        if verb == "INSERT" and " SELECT " in up:
            verb = "INSERT..SELECT"
        return f"{verb} {m.group(2).lower()}"
    m = re.match(r"SELECT (.*?) FROM \"?(\w+)", s, flags=re.IGNORECASE | re.DOTALL)
    if m:
        cols = re.sub(r"\b\w+\.", "", m.group(1))
        cols = cols if len(cols) <= 42 else cols[:40] + ".."
        return f"SELECT {m.group(2)}({cols})"
    return up[:40]


@contextmanager
def store(backend: str, pg_admin_url: str, tmp_root: str | None) -> Iterator[tuple[Any, Callable[[], float]]]:
    """A fresh empty store: (engine, size-in-MB function); removed afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from geova.store.db import make_engine

    if backend == "spatialite":
        folder = Path(tempfile.mkdtemp(prefix="geova-import-bench-", dir=tmp_root))
        engine = make_engine(f"sqlite:///{folder / 'bench.sqlite'}")

        def size() -> float:
            return sum(p.stat().st_size for p in folder.iterdir()) / 1e6

        try:
            yield engine, size
        finally:
            engine.dispose()
            shutil.rmtree(folder, ignore_errors=True)
        return
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    name = f"{os.environ.get('GEOVA_BENCH_DB_PREFIX', 'geova_bench_')}{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    print(f"[postgis] created database {name} (dropped at the end of the case)", file=sys.stderr, flush=True)
    engine = None
    try:
        engine = make_engine(make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False))

        def pg_size() -> float:
            with engine.connect() as conn:
                return conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one() / 1e6

        yield engine, pg_size
    finally:
        if engine is not None:
            engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _short(filename: str) -> str:
    if filename == "~":
        return ""
    if "/site-packages/" in filename:
        return filename.split("/site-packages/", 1)[1]
    m = re.search(r"/lib/python3\.\d+/(.*)", filename)
    if m:
        return m.group(1)
    if str(REPO) in filename:
        return os.path.relpath(filename, REPO)
    return filename


def print_profile(profiler: cProfile.Profile, title: str, top: int, sorts: list[str], dump: Path) -> None:
    profiler.dump_stats(str(dump))
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if file == __file__ or file.endswith("bench/import_bench.py"):
            continue  # the step timers' wrappers: noise in a profile
        where = _short(file)
        rows.append((f"{where}:{line}({func})" if where else func, nc, tt, ct))
    for key in sorts:
        idx = 3 if key.startswith("cum") else 2
        print(
            f"\n--- cProfile {title}: top {top} by {'cumulative' if idx == 3 else 'own (tottime)'} time "
            f"(profiled total {total:.2f} s; saved to {dump.relative_to(REPO)}) ---"
        )
        print(f"{'ncalls':>10} {'tottime':>8} {'cumtime':>8} {'cum%':>6}  function")
        for name, nc, tt, ct in sorted(rows, key=lambda r: r[idx], reverse=True)[:top]:
            print(f"{nc:>10} {tt:8.2f} {ct:8.2f} {100 * (ct if idx == 3 else tt) / total:5.1f}%  {name}")
    sys.stdout.flush()


def progress_printer(prefix: str, started: float) -> Callable[[int, int], None]:
    """A progress callback for import_interventions: a line on stderr every ~10 % or 30 s."""
    last = {"done": -1, "t": time.perf_counter()}

    def report(done: int, total: int) -> None:
        now = time.perf_counter()
        if done == last["done"] or (
            done < total and done - last["done"] < total / 10 and now - last["t"] < 30
        ):
            return
        last.update(done=done, t=now)
        print(f"{prefix} {done:,}/{total:,} rows at {now - started:.1f} s", file=sys.stderr, flush=True)

    return report


def run_case(args: argparse.Namespace, backend: str, n: int, csv: Path) -> dict[str, Any]:
    """Create a store, load the layers, import ``csv`` twice; the figures as a dict."""
    from geova import importing

    clock = Clock()
    clock.install()
    mapping = Path(args.mapping).resolve()
    scratch = Path(tempfile.mkdtemp(prefix="geova-import-bench-run-", dir=args.tmpdir))
    os.environ["GEOVA_INSTANCE_PATH"] = str(scratch / "instance")  # nothing lands in ./instance
    result: dict[str, Any] = {
        "backend": backend,
        "n": n,
        "file": str(csv),
        "mapping": str(mapping),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "code": code_version(),
    }
    if clock.missing:
        result["untimed_steps"] = clock.missing
    try:
        with store(backend, args.pg_admin_url, args.tmpdir) as (engine, size):
            clock.watch(engine)
            t = time.perf_counter()
            load_layers(engine)
            result["layers_s"] = round(time.perf_counter() - t, 3)
            for phase in ("first", "reimport"):
                clock.reset()
                can_reset = reset_peak_rss()
                profiler = cProfile.Profile() if args.profile and args.profile_phase == phase else None
                print(f"[{backend} {n:,}] {phase} import ...", file=sys.stderr, flush=True)
                checkpoint(engine)
                busy = busy_cpu_s()
                t = time.perf_counter()
                if profiler:
                    profiler.enable()
                report = importing.import_interventions(
                    engine,
                    csv,
                    mapping,
                    rejects_path=scratch / f"rejects-{phase}.csv",
                    progress=progress_printer(f"[{backend} {n:,}] {phase}: upsert", t),
                )
                if profiler:
                    profiler.disable()
                seconds = time.perf_counter() - t
                after = busy_cpu_s()
                result[phase] = {
                    "busy_cpu_s": None if busy is None or after is None else round(after - busy, 1),
                    "seconds": round(seconds, 3),
                    "rows_per_s": round(report.read / seconds, 1) if seconds else None,
                    "peak_rss_mb": round(peak_rss_mb(), 1),
                    "peak_rss_is_phase": can_reset,
                    "profiled": profiler is not None,
                    "counts": report.counts(),
                    "flagged": report.flagged,
                    **clock.snapshot(),
                }
                print(
                    f"[{backend} {n:,}] {phase}: {seconds:.2f} s, {report.counts()}",
                    file=sys.stderr,
                    flush=True,
                )
                if profiler:
                    dump = OUT / f"profile-{backend}-{n}-{phase}.prof"
                    print_profile(
                        profiler,
                        f"{backend} N={n:,} {phase} import",
                        args.profile_top,
                        args.profile_sort.split(","),
                        dump,
                    )
            if not args.no_baseline:
                ogr = anchor(backend, args, csv, engine)
                if ogr is not None:
                    result["ogr2ogr"] = ogr
                    print(f"[{backend} {n:,}] ogr2ogr: {ogr}", file=sys.stderr, flush=True)
            if backend == "postgis" and not args.no_baseline:
                result["baseline"] = copy_baseline(engine, csv)
                print(f"[{backend} {n:,}] baseline: {result['baseline']}", file=sys.stderr, flush=True)

            result["db_mb"] = round(size(), 1)
            result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result["warnings"] = sanity(result)
    return result


def checkpoint(engine: Any) -> None:
    """PostgreSQL: write out what earlier steps left in the server's buffers before a timed step.

    A million-request import writes about 0.9 GB of WAL and the server's ``max_wal_size`` is 1 GB
    by default: the checkpoint the previous step's WAL called for landed, or not, in the next
    step's time (the same first import took 16.4 to 19.8 s in one sitting, Session 12). Each timed
    step, geova's and the anchors' alike, now starts with none pending. Needs a superuser or the
    pg_checkpoint role (PostgreSQL 15); skipped, with a note, without it. Nothing on SQLite."""
    from sqlalchemy import text

    if engine.dialect.name != "postgresql":
        return
    try:
        with engine.connect() as conn:
            conn.execute(text("CHECKPOINT"))
            conn.commit()
    except Exception as exc:  # a figure without it is still a figure
        print(f"(no CHECKPOINT before the step: {exc.__class__.__name__})", file=sys.stderr, flush=True)


def busy_cpu_s() -> float | None:
    """CPU seconds the whole machine (this process, the database server, everything) has spent
    busy since boot, from /proc/stat: the difference over a step is the work it cost, whatever
    process did it. None where /proc/stat is missing."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


# The assignment to the quarters an analyst writes after ogr2ogr, per backend: PostGIS's join
# goes through the points' GiST index by itself; SpatiaLite's R*Tree is only used when asked
# for: each quarter's bounding box searches it (through SpatiaLite's SpatialIndex virtual table
# instead, the search ran once per pair of point and quarter: 84 s for 10,000 points).
OGR_ASSIGN = {
    "postgis": (
        "CREATE TABLE bench_ogr_placed AS SELECT p.case_enquiry_id AS source_id, q.id AS quarter_id "
        "FROM bench_ogr p JOIN quarter q ON q.level = 0 AND ST_Contains(q.geom, p.geom)"
    ),
    "spatialite": (
        "CREATE TABLE bench_ogr_placed AS SELECT p.case_enquiry_id AS source_id, q.id AS quarter_id "
        "FROM quarter q JOIN idx_bench_ogr_geom r ON r.xmin <= MbrMaxX(q.geom) AND r.xmax >= MbrMinX(q.geom) "
        "AND r.ymin <= MbrMaxY(q.geom) AND r.ymax >= MbrMinY(q.geom) "
        "JOIN bench_ogr p ON p.ROWID = r.pkid AND ST_Contains(q.geom, p.geom) WHERE q.level = 0"
    ),
}


def _totalled(out: dict[str, float], busy: float | None) -> dict[str, float]:
    """An anchor's figures with its total time and the machine's busy CPU seconds since ``busy``."""
    out["total_s"] = round(out["copy_s"] + out["assign_s"], 3)
    after = busy_cpu_s()
    if busy is not None and after is not None:
        out["busy_cpu_s"] = round(after - busy, 1)
    return out


@contextmanager
def sqlite_default_pages() -> Iterator[None]:
    """SpatiaLite stores made meanwhile get SQLite's default 4 KiB pages instead of geova's 32 KiB
    (geova.store.db.NEW_STORE_PAGE_BYTES): the page size of the file ogr2ogr writes in is the
    anchor's own, as in a file GDAL creates itself (with 32 KiB pages, ogr2ogr took 56 s instead of
    43 s)."""
    from geova.store import db

    before = db.NEW_STORE_PAGE_BYTES
    db.NEW_STORE_PAGE_BYTES = 4096
    try:
        yield
    finally:
        db.NEW_STORE_PAGE_BYTES = before


def anchor(backend: str, args: argparse.Namespace, csv: Path, engine: Any) -> dict[str, float] | None:
    """ogr2ogr + the SQL assignment. On PostGIS, in the case's own database once geova's import is
    done; on SpatiaLite, in a store of its own with SQLite's default page size and the same
    quarters and zones (sqlite_default_pages)."""
    if backend != "spatialite":
        return ogr2ogr_baseline(engine, backend, csv)
    with sqlite_default_pages(), store(backend, args.pg_admin_url, args.tmpdir) as (own, _size):
        load_layers(own)
        return ogr2ogr_baseline(own, backend, csv)


def load_layers(engine: Any) -> None:
    """The bench's quarters and zones into ``engine``'s store."""
    from geova import importing

    importing.import_layer(
        engine, QUARTERS_FILE, as_="quarters", code_field="Neighborhood_ID", name_field="Name"
    )
    importing.import_layer(
        engine, ZONES_FILE, as_="zones", code_field="code", name_field="name", kind_field="kind"
    )


def ogr2ogr_baseline(engine: Any, backend: str, csv: Path) -> dict[str, float] | None:
    """The anchor issue 9 names, run for real: GDAL's ``ogr2ogr`` (Debian's gdal-bin) loads the
    CSV into a new table of the store's own database with its defaults (every column as text,
    the points from LONGITUDE/LATITUDE and their spatial index; on PostgreSQL a logged table
    filled by COPY, the GiST index built after the rows; on SpatiaLite its R*Tree), then the
    assignment to the quarters in SQL (``OGR_ASSIGN``). None without ogr2ogr."""
    from sqlalchemy import text

    exe = shutil.which("ogr2ogr")
    if exe is None:
        return None
    url = engine.url
    env = dict(os.environ)
    if backend == "postgis":
        pg = f"PG:host={url.host or '127.0.0.1'} port={url.port or 5432} dbname={url.database}"
        target = [
            "-f", "PostgreSQL", f"{pg} user={url.username}",
            "-lco", "SPATIAL_INDEX=GIST", "--config", "PG_USE_COPY", "YES",
        ]  # fmt: skip
        if url.password:
            env["PGPASSWORD"] = url.password
    else:
        target = ["-f", "SQLite", "-update", str(url.database), "-lco", "SPATIAL_INDEX=YES"]
    out: dict[str, float] = {}
    checkpoint(engine)
    busy = busy_cpu_s()
    t = time.perf_counter()
    subprocess.run(
        [
            exe, *target, str(csv), "-nln", "bench_ogr",
            "-oo", "X_POSSIBLE_NAMES=LONGITUDE", "-oo", "Y_POSSIBLE_NAMES=LATITUDE",
            "-a_srs", "EPSG:4326", "-lco", "GEOMETRY_NAME=geom", "-gt", "65536",
        ],
        check=True,
        env=env,
    )  # fmt: skip
    with engine.connect() as conn, conn.begin():
        conn.execute(text("ANALYZE bench_ogr"))
        out["copy_s"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        conn.execute(text(OGR_ASSIGN[backend]))
        out["assign_s"] = round(time.perf_counter() - t, 3)
        out["placed"] = int(conn.execute(text("SELECT count(*) FROM bench_ogr_placed")).scalar_one())
    with engine.connect() as conn, conn.begin():
        conn.execute(text("DROP TABLE bench_ogr_placed"))
        if backend == "postgis":
            conn.execute(text("DROP TABLE bench_ogr"))
        else:  # SpatiaLite's own cleanup of the layer's metadata and R*Tree
            conn.execute(text("SELECT DropTable(NULL, 'bench_ogr')"))
    return _totalled(out, busy)


def copy_baseline(engine: Any, csv: Path) -> dict[str, float]:
    """What ogr2ogr's PostgreSQL driver does with a CSV (``PG_USE_COPY``: every column as text,
    the point built from LATITUDE/LONGITUDE, a GiST index), then the spatial assignment to the
    quarters in SQL (a join on ``ST_Contains``, through the points' GiST index), in the same store as
    geova's import: the anchor issue 9 measures the first import against. ogr2ogr itself is not
    what it emulates (:func:`ogr2ogr_baseline` runs the real tool); the COPY is the same statement,
    streamed by psycopg from the file, into UNLOGGED tables (no write-ahead log, unlike ogr2ogr's
    default and unlike geova's tables): an anchor faster than the real tool."""
    from sqlalchemy import text

    with open(csv, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split(",")
    names = [f'"c{i}"' for i in range(len(header))]
    lat, lon = header.index("LATITUDE"), header.index("LONGITUDE")
    out: dict[str, float] = {}
    checkpoint(engine)
    busy = busy_cpu_s()
    with engine.connect() as conn, conn.begin():
        t = time.perf_counter()
        conn.execute(text(f"CREATE UNLOGGED TABLE bench_raw ({', '.join(n + ' text' for n in names)})"))
        raw: Any = conn.connection.dbapi_connection
        with (
            raw.cursor() as cur,
            cur.copy(f"COPY bench_raw ({', '.join(names)}) FROM STDIN (FORMAT csv, HEADER true)") as copy,
            open(csv, "rb") as f,
        ):
            while block := f.read(1 << 22):
                copy.write(block)
        conn.execute(
            text(
                "CREATE UNLOGGED TABLE bench_points AS SELECT *, "
                f"ST_SetSRID(ST_MakePoint(NULLIF(c{lon}, '')::float8, NULLIF(c{lat}, '')::float8), 4326) "
                "AS geom FROM bench_raw"
            )
        )
        conn.execute(text("CREATE INDEX ON bench_points USING gist (geom)"))
        conn.execute(text("ANALYZE bench_points"))
        out["copy_s"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        conn.execute(
            text(
                "CREATE UNLOGGED TABLE bench_placed AS SELECT p.c1 AS source_id, q.id AS quarter_id "
                "FROM bench_points p JOIN quarter q ON q.level = 0 AND ST_Contains(q.geom, p.geom)"
            )
        )
        out["assign_s"] = round(time.perf_counter() - t, 3)
        conn.execute(text("DROP TABLE bench_placed, bench_points, bench_raw"))
    return _totalled(out, busy)


def sanity(result: dict[str, Any]) -> list[str]:
    """What looks off in the counts (reported, never asserted)."""
    out = []
    first, again = result["first"]["counts"], result["reimport"]["counts"]
    valid = first["read"] - first["rejected"]
    if first["inserted"] != valid:
        out.append(f"first import inserted {first['inserted']} of {valid} valid rows")
    if again["unchanged"] != valid or again["inserted"] or again["updated"]:
        out.append(f"re-import was not all unchanged: {again}")
    if first["rejected"]:
        out.append(f"{first['rejected']} rows rejected (see the rejects file logic)")
    return out


# --------------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------------


def print_breakdown(result: dict[str, Any]) -> None:
    first, again = result["first"], result["reimport"]
    tf, ta = first["seconds"], again["seconds"]
    head = f"{result['backend']}, N={result['n']:,}"
    print(f"\n=== breakdown: {head} (seconds, % of the import's wall time) ===")
    print(f"{'step':<48} {'first':>9} {'%':>6} {'re-import':>10} {'%':>6}")

    def line(label: str, a: float | None, b: float | None, extra: str = "") -> None:
        fa = f"{a:9.2f} {100 * a / tf:5.1f}%" if a is not None else f"{'-':>9} {'':>6}"
        fb = f"{b:10.2f} {100 * b / ta:5.1f}%" if b is not None else f"{'-':>10} {'':>6}"
        print(f"{label:<48} {fa} {fb}{extra}")

    line("import_interventions (total)", tf, ta)
    for _m, _a, label, depth in STEPS:
        a, b = first["steps"].get(label), again["steps"].get(label)
        if a is None and b is None:
            continue
        line("  " * depth + label, a[0] if a else None, b[0] if b else None)
    print(f"{'SQL by statement (time in the driver)':<48} {'':>16} {'':>17}   calls/rows first | re-import")
    kinds = sorted(set(first["sql"]) | set(again["sql"]), key=lambda k: -(first["sql"].get(k, [0])[0]))
    for k in kinds:
        a, b = first["sql"].get(k), again["sql"].get(k)
        if max(a[0] if a else 0, b[0] if b else 0) < 0.005:
            continue
        extra = f"   {a[1] if a else 0}/{a[2] if a else 0} | {b[1] if b else 0}/{b[2] if b else 0}"
        line("  " + (k if len(k) <= 46 else k[:44] + ".."), a[0] if a else None, b[0] if b else None, extra)
    db_first = sum(v[0] for v in first["sql"].values())
    db_again = sum(v[0] for v in again["sql"].values())
    line("  all SQL", db_first, db_again)
    for w in result.get("warnings", []):
        print(f"WARNING: {w}")
    sys.stdout.flush()


def print_table(results: list[dict[str, Any]]) -> None:
    print("\n=== import_interventions throughput ===")
    cols = (
        f"{'backend':<11} {'N':>10} {'first s':>9} {'first rows/s':>13} {'re-imp s':>9} "
        f"{'re-imp rows/s':>14} {'peak RSS 1st':>13} {'peak RSS re':>12} {'layers s':>9} {'db MB':>8} "
        f"{'load':>9}  code"
    )
    print(cols)
    print("-" * len(cols))
    for r in results:
        if "error" in r:
            print(f"{r['backend']:<11} {r['n']:>10,} FAILED: {r['error']}")
            continue
        f, a = r["first"], r["reimport"]
        mark = lambda p: "*" if p["profiled"] else " "  # noqa: E731
        print(
            f"{r['backend']:<11} {r['n']:>10,} {f['seconds']:>8.2f}{mark(f)} {f['rows_per_s']:>13,.0f} "
            f"{a['seconds']:>8.2f}{mark(a)} {a['rows_per_s']:>14,.0f} {f['peak_rss_mb']:>10,.0f} MB "
            f"{a['peak_rss_mb']:>9,.0f} MB {r['layers_s']:>9.2f} {r['db_mb']:>8,.0f} "
            f"{load(r):>9}  {r.get('code', '?')}"
        )
        if f.get("busy_cpu_s") is not None:
            print(f"{'':<11} {'':>10} machine busy CPU during the first import: {f['busy_cpu_s']:.1f} s")
        for key, label, how in (
            ("ogr2ogr", "  ogr2ogr", "ogr2ogr with its spatial index"),
            ("baseline", "  emulated", "unlogged COPY as ogr2ogr + GiST"),
        ):
            if key in r:
                b = r[key]
                cpu = f", machine busy CPU {b['busy_cpu_s']:.1f} s" if "busy_cpu_s" in b else ""
                if "placed" in b:  # the anchor's assignment against geova's, as a check
                    inside = f["counts"]["read"] - f["counts"]["rejected"] - f["counts"]["outside_territory"]
                    cpu += f"; placed {b['placed']:,}, geova {inside:,}"
                print(
                    f"{label:<11} {r['n']:>10,} {b['total_s']:>8.2f}  {r['n'] / b['total_s']:>13,.0f}"
                    f"  ({how} {b['copy_s']:.2f} s, SQL assignment {b['assign_s']:.2f} s{cpu}; "
                    f"geova's first import: {b['total_s'] / f['seconds']:.2f} x its speed)"
                )
    if any(r.get(p, {}).get("profiled") for r in results for p in ("first", "reimport")):
        print("* under cProfile: slower than a plain run")
    print(
        "rows/s = rows read / wall time of import_interventions (parse, validate, assign, write, "
        "flag, all in one transaction);\npeak RSS = high-water mark of the Python process during that "
        "import (the database server is not counted);\n"
        f"load = 1-minute load average before/after the case, on {os.cpu_count()} CPUs "
        "(above the CPU count, other processes competed for the CPU and the figures are pessimistic)."
    )


def load(result: dict[str, Any]) -> str:
    before, after = result.get("loadavg_before"), result.get("loadavg_after")
    return f"{before[0]:.1f}/{after[0]:.1f}" if before and after else "?"


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated row counts")
    p.add_argument("--backends", default="spatialite,postgis", help="spatialite, postgis or both")
    p.add_argument("--mapping", default=str(DEFAULT_MAPPING), help="mapping TOML for the generated CSV")
    p.add_argument("--seed", type=int, default=2015, help="generator seed (part of the cache key)")
    p.add_argument("--regenerate", action="store_true", help="rewrite the cached CSVs under bench/out/")
    p.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN, help="server database used to CREATE/DROP")
    p.add_argument("--tmpdir", default=None, help="where the SpatiaLite files go (default: system temp)")
    p.add_argument("--in-process", action="store_true", help="run every case in this process")
    p.add_argument(
        "--case-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop a (backend, N) case that runs longer than this and go on with the next",
    )
    p.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the anchors (ogr2ogr, and on PostGIS the emulated COPY) + SQL assignment",
    )
    p.add_argument("--profile", action="store_true", help="run cProfile on one import of each case")
    p.add_argument("--profile-phase", choices=["first", "reimport"], default="first")
    p.add_argument("--profile-top", type=int, default=25)
    p.add_argument(
        "--profile-sort", default="cumulative", help="'cumulative', 'tottime' or both, comma-separated"
    )
    p.add_argument("--no-breakdown", action="store_true", help="print the summary table only")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    p.add_argument("--case", nargs=3, metavar=("BACKEND", "N", "CSV"), help=argparse.SUPPRESS)
    p.add_argument("--case-result", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.size_list = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    args.backend_list = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backend_list) - set(BACKENDS)
    if unknown:
        p.error(f"unknown backend(s): {', '.join(sorted(unknown))}; use {', '.join(BACKENDS)}")
    return args


def child_argv(args: argparse.Namespace, backend: str, n: int, csv: Path, result: Path) -> list[str]:
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--mapping",
        args.mapping,
        "--pg-admin-url",
        args.pg_admin_url,
        "--case",
        backend,
        str(n),
        str(csv),
        "--case-result",
        str(result),
        "--profile-phase",
        args.profile_phase,
        "--profile-top",
        str(args.profile_top),
        "--profile-sort",
        args.profile_sort,
    ]
    if args.tmpdir:
        argv += ["--tmpdir", args.tmpdir]
    if args.profile:
        argv.append("--profile")
    if args.no_baseline:
        argv.append("--no-baseline")
    return argv


def run_child(argv: list[str], timeout: float | None) -> int | None:
    """Run one case; None when it was stopped at ``timeout`` seconds (SIGTERM: it drops its store)."""
    proc = subprocess.Popen(argv)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return None
    except BaseException:
        proc.terminate()
        proc.wait()
        raise


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    # A killed child must still drop its PostGIS database: turn SIGTERM into SystemExit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    if args.case:  # one case, in a subprocess of the main run
        backend, n, csv = args.case[0], int(args.case[1]), Path(args.case[2])
        result = run_case(args, backend, n, csv)
        Path(args.case_result).write_text(json.dumps(result))
        return 0

    print(
        f"geova import benchmark, {datetime.now():%Y-%m-%d %H:%M}, code {code_version()}, "
        f"{os.cpu_count()} CPUs, mapping {args.mapping}",
        flush=True,
    )
    files = {n: cached_csv(n, args.seed, args.regenerate) for n in args.size_list}
    results = []
    for backend in args.backend_list:
        for n in args.size_list:
            print(f"\n##### {backend}, N={n:,} ({files[n].relative_to(REPO)})", flush=True)
            started = time.perf_counter()
            if args.in_process:
                try:
                    result = run_case(args, backend, n, files[n])
                except Exception as exc:  # report and go on with the next case
                    result = {"backend": backend, "n": n, "error": f"{type(exc).__name__}: {exc}"}
            else:
                fd, tmp = tempfile.mkstemp(prefix="geova-import-bench-", suffix=".json")
                os.close(fd)
                try:
                    rc = run_child(child_argv(args, backend, n, files[n], Path(tmp)), args.case_timeout)
                    text = Path(tmp).read_text()
                    if rc == 0 and text:
                        result = json.loads(text)
                    elif rc is None:
                        error = f"stopped after the {args.case_timeout:.0f} s --case-timeout"
                        result = {"backend": backend, "n": n, "error": error}
                    else:
                        result = {"backend": backend, "n": n, "error": f"case process exited with {rc}"}
                finally:
                    os.unlink(tmp)
            result["case_wall_s"] = round(time.perf_counter() - started, 1)
            results.append(result)
            if "error" not in result and not args.no_breakdown:
                print_breakdown(result)
    print_table(results)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(args.json) if args.json else OUT / f"results-{stamp}.json"
    path.write_text(json.dumps(results, indent=1))
    print(f"figures saved to {path}")
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
