"""A first import into an empty store loads without the tables' secondary indexes (and, on PostGIS,
foreign keys) and builds them once after the rows: the store must end up exactly as the row-by-row
path leaves it, and a failed load must leave it as it was, indexes and keys included.

The threshold is lowered so that the real Boston file (4,284 requests) takes that path; every test
runs on SpatiaLite and on PostGIS.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, func, inspect, select

from geova import importing
from geova.importing import import_interventions, import_layer, streamed
from geova.io.errors import TooManyRejects
from geova.store import interventions, verdicts
from geova.store.schema import (
    ImportRun,
    Intervention,
    InterventionFlag,
    InterventionZone,
    Verdict,
    VerdictStale,
)
from tests.boston import load_zones

REPO = Path(__file__).resolve().parents[1]
BOSTON_CSV = REPO / "data" / "boston" / "graffiti-removal.csv"
BOSTON_MAPPING = REPO / "data" / "mappings" / "graffiti-removal.toml"
NEIGHBORHOODS = REPO / "layers" / "boston_neighborhoods.geojson"
TABLES = ("intervention", "verdict", "intervention_zone", "intervention_flag")


def structure(engine: Engine) -> dict[str, tuple]:
    """The keys and indexes of the tables a first load defers, as the database reports them."""
    with engine.connect() as conn:
        seen = inspect(conn)
        return {
            t: (
                tuple(seen.get_pk_constraint(t)["constrained_columns"]),
                sorted(tuple(u["column_names"]) for u in seen.get_unique_constraints(t)),
                sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in seen.get_indexes(t)),
                sorted(
                    (tuple(k["constrained_columns"]), k["referred_table"], tuple(k["referred_columns"]))
                    for k in seen.get_foreign_keys(t)
                ),
            )
            for t in TABLES
        } | {"spatialite": spatialite_index(conn)}


def spatialite_index(conn: Connection) -> object:
    """SpatiaLite: whether the requests' R*Tree is enabled, and the triggers that keep it."""
    if conn.dialect.name != "sqlite":
        return None
    enabled = conn.exec_driver_sql(
        "SELECT spatial_index_enabled FROM geometry_columns WHERE f_table_name = 'intervention'"
    ).scalar_one()
    triggers = conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'intervention' ORDER BY name"
    ).scalars()
    return enabled, list(triggers)


def contents(engine: Engine) -> dict[str, object]:
    iv, vt = Intervention.__table__, Verdict.__table__
    zt, ft = InterventionZone.__table__, InterventionFlag.__table__
    with engine.connect() as conn:
        return {
            "requests": conn.execute(
                select(
                    iv.c.source_id, iv.c.quarter_id, iv.c.reported_at, iv.c.status, iv.c.content_hash
                ).order_by(iv.c.source_id)
            ).all(),
            "points": conn.execute(
                select(func.ST_X(iv.c.geom), func.ST_Y(iv.c.geom)).order_by(iv.c.source_id)
            ).all(),
            "zones": conn.execute(select(func.count()).select_from(InterventionZone.__table__)).scalar_one(),
            "flags": conn.execute(select(func.count()).select_from(InterventionFlag.__table__)).scalar_one(),
            "verdicts": conn.execute(select(func.count()).select_from(Verdict.__table__)).scalar_one(),
            # every verdict row, column by column, by the request's source id (ids may differ)
            "verdict_rows": conn.execute(
                select(iv.c.source_id, *(c for c in vt.c if c.name != "intervention_id"))
                .join(iv, iv.c.id == vt.c.intervention_id)
                .order_by(iv.c.source_id, vt.c.norm_code)
            ).all(),
            "zone_links": conn.execute(
                select(iv.c.source_id, zt.c.zone_id)
                .join(iv, iv.c.id == zt.c.intervention_id)
                .order_by(iv.c.source_id, zt.c.zone_id)
            ).all(),
            "flag_rows": conn.execute(
                select(iv.c.source_id, ft.c.code)
                .join(iv, iv.c.id == ft.c.intervention_id)
                .order_by(iv.c.source_id, ft.c.code)
            ).all(),
            "storage_classes": storage_classes(conn),
            "queued": conn.execute(select(func.count()).select_from(VerdictStale.__table__)).scalar_one(),
            "current": verdicts.current(conn),
            "triggers": queue_triggers(conn),
        }


def storage_classes(conn: Connection) -> object:
    """SQLite: how many values of each storage class every column holds (Python reads 1, 1.0 and
    True as equal; a first load that stored 1.0 where the row path stores 1 must not pass)."""
    if conn.dialect.name != "sqlite":
        return None
    found = {}
    for table in TABLES:
        for column in [r[1] for r in conn.exec_driver_sql(f"PRAGMA table_info({table})")]:
            found[table, column] = conn.exec_driver_sql(
                f"SELECT typeof({column}), count(*) FROM {table} GROUP BY 1 ORDER BY 1"
            ).all()
    return found


def queue_triggers(conn: Connection) -> list[tuple[str, bool]]:
    """The triggers queueing requests for their verdicts, and whether each is enabled."""
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql(
            "SELECT tgname, tgenabled <> 'D' FROM pg_trigger WHERE starts_with(tgname, 'verdict_stale') "
            "ORDER BY tgname"
        ).all()
    else:
        rows = conn.exec_driver_sql(
            "SELECT name, 1 FROM sqlite_master WHERE type = 'trigger' "
            "AND substr(name, 1, 13) = 'verdict_stale' ORDER BY name"
        ).all()
    return [(str(n), bool(e)) for n, e in rows]


def nothing_staged_left(engine: Engine, scratch: Path) -> None:
    """No staging file on disk, none attached to the pool's connection."""
    assert list(scratch.iterdir()) == []
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            attached = [r[1] for r in conn.exec_driver_sql("PRAGMA database_list")]
            assert not [name for name in attached if name.startswith("geova_staged")]


@pytest.fixture
def quarters(engine: Engine) -> None:
    import_layer(engine, NEIGHBORHOODS, as_="quarters", code_field="Neighborhood_ID", name_field="Name")


def lower_threshold(monkeypatch: pytest.MonkeyPatch, rows: int) -> None:
    monkeypatch.setattr(interventions, "DEFERRED_INDEX_ROWS", rows)
    monkeypatch.setattr(verdicts, "DEFERRED_INDEX_ROWS", rows)


def test_a_first_load_stores_what_the_row_path_stores(engine, quarters, tmp_path, monkeypatch, scratch):
    with BOSTON_CSV.open(encoding="utf-8", newline="") as fh:
        ids = sorted(r["CASE_ENQUIRY_ID"] for r in csv.DictReader(fh))
    before = structure(engine)
    lower_threshold(monkeypatch, 1)

    report = import_interventions(engine, BOSTON_CSV, BOSTON_MAPPING, rejects_path=tmp_path / "r.csv")

    assert (report.read, report.inserted, report.rejected) == (len(ids), len(ids), 0)
    assert report.flagged == {"repeated_location": 198}  # as test_real_boston_graffiti_file says
    assert structure(engine) == before  # every index and key rebuilt as it was
    nothing_staged_left(engine, scratch)
    first = contents(engine)
    assert [r[0] for r in first["requests"]] == ids
    assert first["verdicts"] > 0
    if engine.dialect.name == "sqlite":  # the rebuilt R*Tree holds every point
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM idx_intervention_geom").scalar_one() == len(ids)
            # and the planner has the loaded tables' statistics (bulk.refresh_statistics): without
            # them it read a million-request store's due dates through the wrong index
            rows = conn.exec_driver_sql(
                "SELECT tbl, stat FROM sqlite_stat1 WHERE idx IS NULL OR idx LIKE 'sqlite_autoindex%'"
            )
            counted = {t: int(str(stat).split()[0]) for t, stat in rows}
            assert counted["intervention"] == len(ids)
            assert counted["verdict"] == first["verdicts"]

    # the journal holds the file's digest, hashed while the rows were stored
    with engine.connect() as conn:
        runs = ImportRun.__table__
        recorded = conn.execute(select(runs.c.sha256).where(runs.c.kind == "interventions")).scalar_one()
    assert recorded == hashlib.sha256(BOSTON_CSV.read_bytes()).hexdigest()

    # the same file again: nothing changed, nothing rewritten, answered from the journal
    again = import_interventions(engine, BOSTON_CSV, BOSTON_MAPPING, rejects_path=tmp_path / "r.csv")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, len(ids))
    assert "nothing to change" in " ".join(again.notes)
    assert contents(engine) == first


def both_ways(
    db_url: str,
    path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    part_rows: int | None = 700,
    norms: bool = False,
) -> list[tuple]:
    """(report counts, store contents, rejects file) of ``path`` imported into an empty store by
    the streamed first load (in parts of ``part_rows`` rows; None: as many as threads), then by
    the row path, each into a fresh store; ``norms``: Boston's zones and norms loaded first."""
    from geova.store.db import make_engine

    if part_rows is not None:
        monkeypatch.setattr(streamed, "STREAM_PART_ROWS", part_rows)
    got: list[tuple] = []
    for rows in (1, 10**9):
        eng = make_engine(db_url)
        try:
            if got:  # empty the store the first pass filled (the fixture gave one empty store)
                with eng.begin() as conn:
                    for t in ("verdict", "intervention_flag", "intervention_zone", "intervention"):
                        conn.exec_driver_sql(f"DELETE FROM {t}")
            import_layer(eng, NEIGHBORHOODS, as_="quarters", code_field="Neighborhood_ID", name_field="Name")
            if norms:
                load_zones(eng)  # norms scoped to zone kinds and zone overrides: verdicts that read zones
                importing.load_extra_referential(eng, REPO / "data" / "boston" / "norms.toml")
            lower_threshold(monkeypatch, rows)
            rejects = tmp_path / f"rejects-{rows}.csv"
            report = import_interventions(eng, path, BOSTON_MAPPING, rejects_path=rejects)
            counts = (report.read, report.inserted, report.rejected, report.outside_territory, report.flagged)
            got.append((counts, contents(eng), rejects.read_text(encoding="utf-8-sig")))
        finally:
            eng.dispose()
    return got


@pytest.mark.parametrize("part_rows", [None, 700], ids=["one part", "parts of 700 rows"])
def test_the_bulk_path_and_the_row_path_agree(db_url, tmp_path, monkeypatch, part_rows):
    """The first load streams the file's parts into the store as they are checked: in one part or
    in seven, the store ends up as the row path leaves it."""
    (_c, streamed, _r), (_c2, row_path, _r2) = both_ways(
        db_url, BOSTON_CSV, tmp_path, monkeypatch, part_rows, norms=True
    )
    assert streamed == row_path
    assert streamed["current"] and streamed["queued"] == 0
    assert len(streamed["triggers"]) == 5 and all(on for _name, on in streamed["triggers"])


def damaged_copy(path: Path) -> tuple[Path, list[str]]:
    """The Boston file with rows the import must reject: the whole of its first 700 rows (a part
    of the streamed load with no valid row), a few rows further on, and a source id repeated
    across parts. Returns the file and the rejected rows' source ids."""
    with BOSTON_CSV.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    fields = list(rows[0])
    bad: list[str] = []
    for i, row in enumerate(rows):
        if i < 700 or i in (1500, 2222, 3001):
            row["OPEN_DT"] = "the 31st of never"
            bad.append(row["CASE_ENQUIRY_ID"])
    rows[4000]["CASE_ENQUIRY_ID"] = rows[2000]["CASE_ENQUIRY_ID"]  # the later one is rejected
    bad.append(rows[4000]["CASE_ENQUIRY_ID"])
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return path, bad


def test_a_streamed_load_rejects_rows_as_the_row_path_does(db_url, tmp_path, monkeypatch):
    """Rejected rows in every part, a part with none valid and a duplicate across parts: the
    streamed load stores and rejects exactly what the row path does, and lists the same rejects."""
    damaged, bad = damaged_copy(tmp_path / "damaged.csv")
    streamed, row_path = both_ways(db_url, damaged, tmp_path, monkeypatch)
    assert streamed == row_path
    assert streamed[0][2] == len(bad) == 704
    stored = {r[0] for r in streamed[1]["requests"]}
    assert not stored & (set(bad) - {bad[-1]})  # the duplicate's first row is stored
    assert bad[-1] in stored


def test_a_streamed_load_flags_locations_rounded_as_the_store_rounds(db_url, tmp_path, monkeypatch):
    """Points on either side of a half unit of the fifth decimal, in groups below the threshold
    (100) that a rounding other than the store's would merge or split: the first load finds the
    same repeated locations as the store-wide SQL count of the row path."""
    with BOSTON_CSV.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    # -71.058725 and 42.359415 are a hair below the half unit in binary: rounded exactly they go
    # down, as decimal text of 15 digits (PostgreSQL's numeric) they go away from zero
    spots = [
        ("-71.058725", "42.359415"),  # on the half units, as the decimal text says
        ("-71.05873", "42.35942"),  # the spot away from zero
        ("-71.05872", "42.35941"),  # the spot towards zero
        ("-71.058724999999", "42.359414999999"),  # a hair towards zero
    ]
    for i, row in enumerate(rows[:240]):
        row["LONGITUDE"], row["LATITUDE"] = spots[i % len(spots)]
    path = tmp_path / "half-units.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    streamed, row_path = both_ways(db_url, path, tmp_path, monkeypatch)
    assert streamed == row_path
    flagged = {sid for sid, code in streamed[1]["flag_rows"] if code == "repeated_location"}
    spot_ids = {r["CASE_ENQUIRY_ID"] for r in rows[:240]}
    assert flagged & spot_ids  # some of the 240 share a rounded location with 100 or more


def test_a_streamed_load_gives_back_the_ids_it_did_not_use(engine, quarters, tmp_path, monkeypatch):
    """Ids are drawn for every row read; the rejected rows' are given back, so the next request
    stored gets the id the database would have given it."""
    damaged, bad = damaged_copy(tmp_path / "damaged.csv")
    monkeypatch.setattr(streamed, "STREAM_PART_ROWS", 700)
    lower_threshold(monkeypatch, 1)
    said: list[tuple[int, int]] = []
    report = import_interventions(
        engine, damaged, BOSTON_MAPPING, rejects_path=tmp_path / "r.csv", progress=lambda *p: said.append(p)
    )
    # progress part by part, to the whole file
    assert len(said) >= 7 and said[-1] == (report.read, report.read)
    assert [d for d, _t in said] == sorted(d for d, _t in said)
    iv = Intervention.__table__
    with engine.connect() as conn:
        ids = sorted(conn.execute(select(iv.c.id)).scalars())
    assert len(ids) == report.inserted == report.read - len(bad)
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # consecutive, in the file's order

    one = tmp_path / "one.csv"
    with BOSTON_CSV.open(encoding="utf-8", newline="") as fh:
        first = next(csv.DictReader(fh))
    first["CASE_ENQUIRY_ID"] = "999000111"
    with one.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(first))
        w.writeheader()
        w.writerow(first)
    import_interventions(engine, one, BOSTON_MAPPING, rejects_path=tmp_path / "r1.csv")
    with engine.connect() as conn:
        added = conn.execute(select(iv.c.id).where(iv.c.source_id == "999000111")).scalar_one()
    assert added == ids[-1] + 1


def test_too_many_rejects_in_a_streamed_load_leave_the_store_as_it_was(
    engine, quarters, tmp_path, monkeypatch
):
    """The rejects of a streamed load are only all known at its end: over the limit, the whole
    load is rolled back, indexes and keys included, and the rejects file still lists them."""
    damaged, bad = damaged_copy(tmp_path / "damaged.csv")
    before = structure(engine)
    monkeypatch.setattr(streamed, "STREAM_PART_ROWS", 700)
    lower_threshold(monkeypatch, 1)
    with pytest.raises(TooManyRejects) as caught:
        import_interventions(
            engine, damaged, BOSTON_MAPPING, rejects_path=tmp_path / "r.csv", max_rejects=len(bad) - 1
        )
    assert caught.value.rejected == len(bad)
    assert structure(engine) == before
    assert contents(engine)["requests"] == []
    with (tmp_path / "r.csv").open(encoding="utf-8-sig", newline="") as fh:
        assert len(list(csv.reader(fh, delimiter=";"))) == len(bad) + 1  # a header and each reject
    # the same file within the limit loads
    report = import_interventions(
        engine, damaged, BOSTON_MAPPING, rejects_path=tmp_path / "r.csv", max_rejects=len(bad)
    )
    assert report.rejected == len(bad) and report.inserted == report.read - len(bad)


def test_a_streamed_load_failing_halfway_leaves_the_store_as_it_was(
    engine, quarters, tmp_path, monkeypatch, scratch
):
    """A failure while the COPY is open (the fourth part's placement here) rolls everything back."""
    before = structure(engine)
    monkeypatch.setattr(streamed, "STREAM_PART_ROWS", 700)
    lower_threshold(monkeypatch, 1)
    placed = streamed.placed
    calls = []

    def fails_at_the_fourth(*args: object, **kw: object) -> object:
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("out of memory")
        return placed(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(streamed, "placed", fails_at_the_fourth)
    with pytest.raises(RuntimeError, match="out of memory"):
        import_interventions(engine, BOSTON_CSV, BOSTON_MAPPING, rejects_path=tmp_path / "r.csv")
    assert len(calls) == 4
    assert structure(engine) == before
    assert contents(engine)["requests"] == []
    nothing_staged_left(engine, scratch)


def test_a_streamed_load_of_rows_all_rejected_stores_nothing(engine, quarters, tmp_path, monkeypatch):
    """No part with a valid row: no COPY at all, the indexes and keys as they were."""
    with BOSTON_CSV.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["OPEN_DT"] = ""
    bad = tmp_path / "undated.csv"
    with bad.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    before = structure(engine)
    monkeypatch.setattr(streamed, "STREAM_PART_ROWS", 700)
    lower_threshold(monkeypatch, 1)
    report = import_interventions(engine, bad, BOSTON_MAPPING, rejects_path=tmp_path / "r.csv")
    assert (report.read, report.inserted, report.rejected) == (len(rows), 0, len(rows))
    assert structure(engine) == before
    assert contents(engine)["requests"] == []


def test_a_store_filled_meanwhile_is_imported_the_ordinary_way(engine, quarters, tmp_path, monkeypatch):
    """The store was empty when the import looked, but another writer stored requests before the
    import's transaction locked the table: the file is imported the ordinary way."""
    lower_threshold(monkeypatch, 1)
    monkeypatch.setattr(interventions, "empty_and_locked", lambda conn: False)
    report = import_interventions(engine, BOSTON_CSV, BOSTON_MAPPING, rejects_path=tmp_path / "r.csv")
    assert report.inserted == report.read == 4284
    assert contents(engine)["current"]


def test_a_failed_first_load_leaves_the_store_as_it_was(engine, quarters, tmp_path, monkeypatch):
    before = structure(engine)
    lower_threshold(monkeypatch, 1)

    def broken(*_args: object, **_kw: object) -> int:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(interventions, "flag_repeated_locations", broken)
    with pytest.raises(RuntimeError):
        import_interventions(engine, BOSTON_CSV, BOSTON_MAPPING, rejects_path=tmp_path / "r.csv")

    assert structure(engine) == before
    assert contents(engine)["requests"] == []


def test_geocoder_default_spots_found_among_many_points():
    """The vectorised look-up flags exactly the points that round onto a default spot, rounding
    edges included (about 1 m: five decimals)."""
    import numpy as np

    from geova.core.checks import at_locations, location_key

    spot = location_key(-71.0587, 42.3594)  # City Hall Plaza
    rng = np.random.default_rng(7)
    xs = spot[0] + rng.uniform(-3e-5, 3e-5, 20_000)
    ys = spot[1] + rng.uniform(-3e-5, 3e-5, 20_000)
    xs[:3], ys[:3] = [spot[0] + 0.49e-5, spot[0] - 0.51e-5, np.nan], [spot[1], spot[1], spot[1]]
    expected = np.array([location_key(x, y) == spot for x, y in zip(xs, ys, strict=True)])

    got = at_locations(xs, ys, {spot})

    assert got.tolist() == expected.tolist()
    assert got[0] and not got[1] and not got[2]
    assert 0 < got.sum() < len(xs)
    assert not at_locations(xs, ys, set()).any()


def test_repeated_location_boxes_hold_every_point_of_every_shared_location():
    """However the store rounds a coordinate at a half unit (up, down, to even), every point of a
    location shared by the threshold lies in a box, and a city of scattered points needs none."""
    from decimal import ROUND_HALF_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

    import numpy as np

    from geova.core.checks import COORD_DECIMALS, repeated_location_boxes

    rng = np.random.default_rng(3)
    scattered_x, scattered_y = rng.uniform(-71.2, -70.9, 50_000), rng.uniform(42.2, 42.4, 50_000)
    assert repeated_location_boxes(scattered_x, scattered_y, 100) == []

    # spots on a half unit of the last decimal, and points a hair either side of it
    spots = [(-71.058705, 42.359405), (-71.1, 42.3), (-71.000015, 42.250005)]
    xs, ys = [scattered_x], [scattered_y]
    for sx, sy in spots:
        xs.append(sx + rng.choice([0.0, 1e-12, -1e-12, 0.4e-5, -0.4e-5], 120))
        ys.append(sy + rng.choice([0.0, 1e-12, -1e-12, 0.4e-5, -0.4e-5], 120))
    x, y = np.concatenate(xs), np.concatenate(ys)
    boxes = repeated_location_boxes(x, y, 30)
    assert boxes is not None and 0 < len(boxes) <= 200

    def inside(px: float, py: float) -> bool:
        return any(a <= px <= c and b <= py <= d for a, b, c, d in boxes)

    unit = Decimal(1).scaleb(-COORD_DECIMALS)
    for mode in (ROUND_HALF_UP, ROUND_HALF_DOWN, ROUND_HALF_EVEN):
        keys = [
            (Decimal(f"{px:.15g}").quantize(unit, mode), Decimal(f"{py:.15g}").quantize(unit, mode))
            for px, py in zip(x.tolist(), y.tolist(), strict=True)
        ]
        sizes: dict[tuple, int] = {}
        for k in keys:
            sizes[k] = sizes.get(k, 0) + 1
        shared = [i for i, k in enumerate(keys) if sizes[k] >= 30]
        assert shared  # the spots are found under every rounding
        assert all(inside(x[i], y[i]) for i in shared)


def test_repeated_location_boxes_are_every_window_a_plain_count_finds():
    """The pass looks only at windows around cells holding a quarter of the threshold; a plain
    count of every 2 x 2 window of cells (a dictionary, point by point) finds the same windows."""
    import numpy as np

    from geova.core.checks import COORD_DECIMALS, repeated_location_boxes

    rng = np.random.default_rng(11)
    centres = rng.uniform([-71.2, 42.2], [-70.9, 42.4], (40, 2))
    spread = rng.choice([1e-6, 1e-5, 5e-5], 40)
    sizes = rng.integers(1, 60, 40)
    x = np.concatenate([c[0] + rng.normal(0, s, n) for c, s, n in zip(centres, spread, sizes, strict=True)])
    y = np.concatenate([c[1] + rng.normal(0, s, n) for c, s, n in zip(centres, spread, sizes, strict=True)])
    scale, cell = 10.0**COORD_DECIMALS, 5
    cells: dict[tuple[int, int], int] = {}
    for px, py in zip(x.tolist(), y.tolist(), strict=True):
        key = (
            int(np.floor(np.floor(px * scale + 0.5) / cell)),
            int(np.floor(np.floor(py * scale + 0.5) / cell)),
        )
        cells[key] = cells.get(key, 0) + 1
    for threshold in (1, 2, 7, 20, 45, 80):
        windows = {(kx - dx, ky - dy) for kx, ky in cells for dx in (0, 1) for dy in (0, 1)}
        hot = sorted(
            (kx, ky)
            for kx, ky in windows
            if sum(cells.get((kx + a, ky + b), 0) for a in (0, 1) for b in (0, 1)) >= threshold
        )
        expected = [((kx * cell - 1.5) / scale, (ky * cell - 1.5) / scale) for kx, ky in hot]
        boxes = repeated_location_boxes(x, y, threshold, limit=10**6)
        assert boxes is not None
        assert sorted((b[0], b[1]) for b in boxes) == expected, threshold
