"""Interventions in the store: idempotent upsert on (source, source id), zones, flags, reassignment."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import (
    Connection,
    Numeric,
    Table,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)

from geova.core.assign import Area, assign_points
from geova.core.checks import COORD_DECIMALS, outside_extent, repeated_location_boxes
from geova.core.model import Flag
from geova.core.records import CANONICAL
from geova.store import rtrees
from geova.store.bulk import (
    DEFERRED_INDEX_ROWS,
    FEW_VALUES,
    copy_frame,
    copy_frames,
    deferred_structures,
    insert_converted,
    native_column,
    refresh_statistics,
    spatial_indexes,
    suspended_triggers,
    update_rows,
)
from geova.store.schema import Intervention, InterventionFlag, InterventionZone, Quarter, Verdict, Zone
from geova.store.staging import staged_insert
from geova.store.verdicts import LoadedVerdicts, finish_loaded, start_loaded

T = TypeVar("T")
CHUNK = 5000
IV = Intervention.__table__
IV_TABLE: Table = Intervention.__table__
F = InterventionFlag.__table__
Z = InterventionZone.__table__
Z_TABLE: Table = InterventionZone.__table__
F_TABLE: Table = InterventionFlag.__table__
V_TABLE: Table = Verdict.__table__
# the triggers queueing inserted requests for their verdicts (migration 0006), which a first load
# does without (see first_load)
QUEUE_TRIGGERS = {"intervention": "verdict_stale_iv_insert", "intervention_zone": "verdict_stale_iz_insert"}
# SpatiaLite's trigger adding each new request's point to the R*Tree, which a first load packs instead
RTREE_TRIGGER = "gii_intervention_geom"

# The columns an import writes: the canonical request without its point (stored as geometry), with
# its placement and its content digest.
STORED = [c for c in CANONICAL if c not in ("x", "y")] + ["quarter_id", "subquarter_id", "content_hash"]


@dataclass
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    ids: list[int] = field(default_factory=list)  # stored id of each row of the frame, in order


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _columns(
    conn: Connection, frame: pd.DataFrame, positions: np.ndarray, source: str, import_id: int
) -> dict:
    """The stored columns of the rows at ``positions``, converted once for a bulk write."""
    part = frame.iloc[positions]
    cols = {c: native_column(conn, part[c]) for c in STORED}
    for c in ("quarter_id", "subquarter_id"):
        cols[c] = [None if v is None or v < 0 else int(v) for v in cols[c]]
    cols["source"] = [source] * len(part)
    cols["import_id"] = [import_id] * len(part)
    return cols


def stored_versions(conn: Connection, source: str) -> dict[str, tuple[str, int | None]]:
    """source id -> (content hash, quarter id) of the rows a source already has in the store."""
    rows = conn.execute(
        select(IV.c.source_id, IV.c.content_hash, IV.c.quarter_id).where(IV.c.source == source)
    )
    return {sid: (h, q) for sid, h, q in rows}


def changed_rows(frame: pd.DataFrame, stored: dict[str, tuple[str, int | None]]) -> np.ndarray:
    """Rows of ``frame`` that are new or differ from their stored version."""
    if not stored:  # a first import: every row is new
        return np.ones(len(frame), dtype=bool)
    return np.array(
        [
            stored.get(s, ("",))[0] != h
            for s, h in zip(frame["source_id"], frame["content_hash"], strict=True)
        ],
        dtype=bool,
    )


def upsert(
    conn: Connection,
    source: str,
    frame: pd.DataFrame,
    zone_pairs: list[tuple[int, int]],
    flags: dict[Flag, np.ndarray],
    import_id: int,
    progress: Callable[[int], None] | None = None,
    stored: dict[str, tuple[str, int | None]] | None = None,
) -> UpsertCounts:
    """Write records of one source. ``frame`` carries canonical columns plus quarter/subquarter ids
    (only read for new or changed rows); ``zone_pairs`` are (frame position, zone id); ``flags``
    are boolean masks over the frame; ``stored`` is stored_versions() when the caller has it."""
    stored = stored_versions(conn, source) if stored is None else stored
    existing = {sid: h for sid, (h, _q) in stored.items()}
    sids = frame["source_id"].to_numpy(dtype=object)
    hashes = frame["content_hash"].to_numpy(dtype=object)
    state = (
        np.zeros(len(frame), dtype=np.int8)  # a first import: every row is new
        if not existing
        else np.array(
            [
                0 if s not in existing else (2 if existing[s] == h else 1)
                for s, h in zip(sids, hashes, strict=True)
            ],
            dtype=np.int8,
        )
        if len(frame)
        else np.empty(0, dtype=np.int8)
    )
    new_pos = np.flatnonzero(state == 0)
    changed_pos = np.flatnonzero(state == 1)
    counts = UpsertCounts(len(new_pos), len(changed_pos), int((state == 2).sum()))
    done = counts.unchanged
    if progress:
        progress(done)
    xs, ys = frame["x"].to_numpy(dtype=float), frame["y"].to_numpy(dtype=float)
    start = done
    if conn.dialect.name == "postgresql" and len(new_pos) > FEW_VALUES:
        copy_frame(conn, IV_TABLE, _copied(frame, new_pos, source, import_id), point=("x", "y"))
    else:
        insert_converted(
            conn,
            IV_TABLE,
            len(new_pos),
            lambda a, b: _columns(conn, frame, new_pos[a:b], source, import_id),
            xs[new_pos],
            ys[new_pos],
            progress=(lambda k: progress(start + k)) if progress else None,
        )
    done += len(new_pos)
    ids_by_sid = dict(conn.execute(select(IV.c.source_id, IV.c.id).where(IV.c.source == source)).all())
    changed_ids = [ids_by_sid[sids[i]] for i in changed_pos]
    changed_cols = _columns(conn, frame, changed_pos, source, import_id)
    del changed_cols["source_id"], changed_cols["source"]
    update_rows(conn, IV, changed_ids, changed_cols, xs[changed_pos], ys[changed_pos])
    done += len(changed_pos)
    if progress:
        progress(done)
    for part in chunks(changed_ids):
        conn.execute(delete(Z).where(Z.c.intervention_id.in_(part)))
        conn.execute(
            # every flag of a changed row is recomputed: from this file's checks below, and
            # store-wide repeated locations by flag_repeated_locations afterwards
            delete(F).where(F.c.intervention_id.in_(part))
        )
    touched = state != 2
    ids = np.array([ids_by_sid[s] for s in sids], dtype=np.int64)
    at = np.array([p for p, _z in zone_pairs], dtype=np.int64)
    zone_ids = np.array([z for _p, z in zone_pairs], dtype=np.int64)
    keep = touched[at] if len(at) else np.zeros(0, dtype=bool)
    _insert_pairs(conn, Z, pd.DataFrame({"intervention_id": ids[at[keep]], "zone_id": zone_ids[keep]}))
    _insert_pairs(conn, F, _flag_rows(ids, flags, touched))
    counts.ids = ids.tolist()
    return counts


def _flag_rows(ids: np.ndarray, flags: dict[Flag, np.ndarray], rows: np.ndarray) -> pd.DataFrame:
    """(intervention_id, code) of each flag raised on the ``rows`` (a mask over the frame)."""
    flagged = [(code.value, np.flatnonzero(mask & rows)) for code, mask in flags.items()]
    return pd.DataFrame(
        {
            "intervention_id": np.concatenate([ids[p] for _c, p in flagged] or [np.zeros(0, np.int64)]),
            "code": np.concatenate(
                [np.full(len(p), c, dtype=object) for c, p in flagged] or [np.zeros(0, object)]
            ),
        }
    )


def first_load_wanted(rows: int) -> bool:
    """Whether a file of ``rows`` rows into an empty store is worth a first load (its indexes and
    keys dropped and rebuilt): below that, the row path is as fast."""
    return rows >= DEFERRED_INDEX_ROWS


def empty(conn: Connection) -> bool:
    """Whether the store holds no request: an import may then load its file as a first load."""
    return conn.execute(select(IV.c.id).limit(1)).first() is None


def empty_and_locked(conn: Connection) -> bool:
    """Whether the request table is empty, with no other writer able to add a row until commit
    (SQLite: BEGIN IMMEDIATE already holds the write lock)."""
    if not empty(conn):
        return False  # the usual case: no lock taken, web reports go on during the import
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("LOCK TABLE intervention IN SHARE ROW EXCLUSIVE MODE")
    return empty(conn)


def _reserve_ids(conn: Connection, n: int) -> int:
    """The first of ``n`` consecutive ids for new requests, taken as the database would have given
    them (the table is locked: no other insert draws from the sequence meanwhile)."""
    if conn.dialect.name == "postgresql":
        base = int(
            conn.exec_driver_sql("SELECT nextval(pg_get_serial_sequence('intervention', 'id'))").scalar_one()
        )
        _last_id(conn, base + n - 1)
        return base
    # an INTEGER PRIMARY KEY: SQLite gives max(id) + 1
    return int(conn.execute(select(func.coalesce(func.max(IV.c.id), 0))).scalar_one()) + 1


def _last_id(conn: Connection, last: int) -> None:
    """PostgreSQL: the sequence's next id after ``last`` (the ids a first load reserved and did not
    use are given back). SQLite reads max(id) itself."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "SELECT setval(pg_get_serial_sequence('intervention', 'id'), %(last)s, %(called)s)",
            {"last": max(last, 1), "called": last >= 1},
        )


@dataclass
class PlacedPart:
    """A part of a file ready for a first load: its valid rows in canonical columns with
    ``quarter_id`` / ``subquarter_id`` (-1: none) and their service; ``zone_pairs`` (position in
    the part, zone id); ``flags``, masks over the part's rows."""

    frame: pd.DataFrame
    zone_pairs: list[tuple[int, int]]
    flags: dict[Flag, np.ndarray]


@dataclass
class FirstLoad:
    """What a first load stored: every request's id and point, in the parts' order."""

    ids: np.ndarray
    xs: np.ndarray
    ys: np.ndarray
    repeated: np.ndarray  # the ids flagged at a repeated location by the load's own checks


def first_load(
    conn: Connection, source: str, import_id: int, parts: Iterable[PlacedPart], most: int
) -> FirstLoad:
    """Every row of ``parts`` (at most ``most`` rows) into the empty request table, which the
    caller has locked (:func:`empty_and_locked`), the fast way.

    - The parts are consumed while they are stored: a generator may check and place the next
      part of the file while the database stores the last (one COPY on PostgreSQL; on SQLite, a
      staging file written meanwhile and copied by one statement: geova.store.staging). Nothing
      here uses the connection between two parts, since the COPY holds it.
    - Ids are drawn up front, so the rows are never read back for them.
    - Indexes, keys and the spatial index are built once after the rows
      (bulk.deferred_structures); SpatiaLite's R*Tree is packed from the points in a worker
      meanwhile (geova.store.rtrees).
    - The verdicts are computed from the parts in memory (verdicts.start_loaded, in a worker
      thread while the database builds the indexes) instead of queued by the triggers and read
      back at commit, which took a third of a million-row import.

    The stored instants are the parts' to the microsecond, the stores' precision, so that both
    give the same verdicts."""

    def joined(arrays: list[np.ndarray], dtype: Any) -> np.ndarray:
        return np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)

    base = next_id = _reserve_ids(conn, most)
    q, z = Quarter.__table__, Zone.__table__
    quarter_codes = dict(conn.execute(select(q.c.id, q.c.code)).all())
    zones = pd.DataFrame(
        conn.execute(select(z.c.id, z.c.code, z.c.kind)).all(), columns=["zone_id", "zone", "kind"]
    )
    kept: list[tuple[pd.DataFrame, np.ndarray, pd.DataFrame]] = []  # each part, its ids and zone links
    flagged: list[pd.DataFrame] = []

    loaded: LoadedVerdicts | None = None
    # SpatiaLite: the requests' R*Tree is packed from the points in memory (geova.store.rtrees)
    # rather than filled by SpatiaLite one point at a time
    node_size = (
        rtrees.packable(conn, IV_TABLE.name, "geom") if "geom" in spatial_indexes(conn, IV_TABLE) else None
    )
    tree: Future[rtrees.Packed] | None = None
    set_aside = [QUEUE_TRIGGERS["intervention"], *([RTREE_TRIGGER] if node_size is not None else [])]
    try:
        with (
            ThreadPoolExecutor(1, thread_name_prefix="geova-verdicts") as pool,
            ThreadPoolExecutor(1, thread_name_prefix="geova-rtree") as packer,
        ):
            loaded = start_loaded(conn, pool)

            def numbered() -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
                """Each part with its ids, its links, flags and verdicts set aside."""
                nonlocal next_id
                for part in parts:
                    frame = part.frame.copy()
                    for c in ("reported_at", "resolved_at", "due_at"):
                        frame[c] = frame[c].dt.floor("us")
                    n = len(frame)
                    if next_id - base + n > most:
                        raise ValueError(f"a first load of at most {most} rows was given more")
                    part_ids = np.arange(next_id, next_id + n, dtype=np.int64)
                    next_id += n
                    at = np.array([p for p, _z in part.zone_pairs], dtype=np.int64)
                    part_links = pd.DataFrame(
                        {
                            "intervention_id": part_ids[at],
                            "zone_id": np.array([z for _p, z in part.zone_pairs], dtype=np.int64),
                        }
                    )
                    kept.append((frame, part_ids, part_links))
                    flagged.append(_flag_rows(part_ids, part.flags, np.ones(n, dtype=bool)))
                    yield frame, part_ids

            with (
                suspended_triggers(conn, IV_TABLE, set_aside),
                deferred_structures(conn, IV_TABLE, True, rebuild_rtrees=node_size is None),
            ):
                rows = _numbered_rows(numbered(), source, import_id)
                if conn.dialect.name == "postgresql":
                    copy_frames(conn, IV_TABLE, rows, point=("x", "y"))
                else:
                    staged_insert(conn, IV_TABLE, rows, point=("x", "y"))
                ids = joined([k[1] for k in kept], np.int64)
                xs = joined([k[0]["x"].to_numpy(dtype=float) for k in kept], float)
                ys = joined([k[0]["y"].to_numpy(dtype=float) for k in kept], float)
                if node_size is not None:  # packed while the database builds the indexes below
                    tree = packer.submit(rtrees.packed, ids, xs, ys, node_size)
                # The verdicts are computed while the database builds the indexes (the Python side
                # then only waits); computed as the parts came, they took the CPU the parts' checks
                # and the COPY needed. The rows are shaped as load_records would read them back in
                # the worker too (1.8 s of the caller's thread at a million requests).
                for frame, part_ids, part_links in kept:
                    loaded.add(partial(_loaded_part, frame, part_ids, part_links, quarter_codes, zones))
            _last_id(conn, next_id - 1)
            if tree is not None:  # ready by now, or nearly
                rtrees.fill_packed(conn, IV_TABLE.name, "geom", tree.result)
            all_links = pd.concat([k[2] for k in kept], ignore_index=True) if kept else pd.DataFrame()
            all_flags = pd.concat(flagged, ignore_index=True) if flagged else pd.DataFrame()
            # the request table was empty, so its zone links and flags (deleted with it) are too: they
            # load without their keys as well, checked once at the end (the keys' per-row checks made
            # the zone links' COPY 1.7 s of a million-request import)
            # (even 40,000 flags took 1.3 s with their keys: each row's foreign key check locks the
            # request's row, a write, where re-adding the key is one join)
            with (
                suspended_triggers(conn, Z_TABLE, [QUEUE_TRIGGERS["intervention_zone"]]),
                deferred_structures(conn, Z_TABLE, not all_links.empty),
            ):
                _insert_pairs(conn, Z, all_links, staged=True)
            with deferred_structures(conn, F_TABLE, not all_flags.empty):
                _insert_pairs(conn, F, all_flags, staged=True)
            finish_loaded(conn, loaded)
    finally:
        if loaded is not None:  # after the pool's worker is done with it
            loaded.discard()
    refresh_statistics(conn, [IV_TABLE, V_TABLE, Z_TABLE, F_TABLE])

    repeated = np.zeros(0, dtype=np.int64)
    if not all_flags.empty:
        at_spot = all_flags["code"] == Flag.REPEATED_LOCATION.value
        repeated = all_flags.loc[at_spot, "intervention_id"].to_numpy(dtype=np.int64)
    return FirstLoad(ids, xs, ys, repeated)


def _loaded_part(
    frame: pd.DataFrame,
    ids: np.ndarray,
    links: pd.DataFrame,
    quarter_codes: dict[int, str],
    zones: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A part's requests and zones as load_records would read them back (for its verdicts)."""
    return _as_loaded(frame, ids, quarter_codes), _zones_loaded(links, zones)


def _numbered_rows(
    parts: Iterator[tuple[pd.DataFrame, np.ndarray]], source: str, import_id: int
) -> Iterator[pd.DataFrame]:
    """The stored columns of each part with its ids first, for copy_frames or staged_insert."""
    for frame, part_ids in parts:
        rows = _copied(frame, np.arange(len(frame)), source, import_id)
        rows.insert(0, "id", part_ids)
        yield rows


def _as_loaded(frame: pd.DataFrame, ids: np.ndarray, quarter_codes: dict[int, str]) -> pd.DataFrame:
    """The frame's rows as geova.store.records.load_records reads them back: quarter codes for
    ids, the category code as ``category``, gaps as None."""

    def texts(values: pd.Series) -> Any:
        # pandas' own text dtype, which a frame of Python strings would be inferred as anyway: the
        # CSV's Arrow-backed columns pass as they are (listing them as Python strings, for the
        # frame to turn them back into Arrow, took 1.7 s of the worker at a million requests)
        return values.astype("str").array

    return pd.DataFrame(
        {
            "id": ids,
            "source_id": texts(frame["source_id"]),
            "category": texts(frame["category_code"]),
            "reported_at": frame["reported_at"].array,
            "resolved_at": frame["resolved_at"].array,
            "due_at": frame["due_at"].array,
            "status": texts(frame["status"]),
            "insulting": frame["insulting"].to_numpy(dtype=bool),
            "severity": texts(frame["severity"]),
            "quarter": texts(pd.Series(frame["quarter_id"].to_numpy()).map(quarter_codes)),
            "subquarter": texts(pd.Series(frame["subquarter_id"].to_numpy()).map(quarter_codes)),
            "service": texts(frame["service"]),
            "channel": texts(frame["channel"]),
        }
    )


def _zones_loaded(links: pd.DataFrame, known: pd.DataFrame) -> pd.DataFrame:
    """(id, zone, kind) of the zone links, as load_records reads them back; ``known`` holds the
    stored zones' (zone_id, zone, kind)."""
    zones = links.merge(known, on="zone_id", how="inner")
    return pd.DataFrame(
        {
            "id": zones["intervention_id"].to_numpy(dtype=np.int64),
            "zone": zones["zone"].to_numpy(dtype=object),
            "kind": zones["kind"].to_numpy(dtype=object),
        }
    )


def _insert_pairs(conn: Connection, table: Any, rows: pd.DataFrame, staged: bool = False) -> None:
    """Rows of a link table (zones, flags): one COPY on PostgreSQL when there are many; on SQLite,
    for a first load (``staged``), one INSERT ... SELECT from a staging file (a million requests'
    200,000 zone links took 1.2 s through SQLAlchemy's executemany)."""
    if rows.empty:
        return
    if conn.dialect.name == "postgresql" and len(rows) > FEW_VALUES:
        copy_frame(conn, table, rows)
        return
    if staged and len(rows) > FEW_VALUES:
        staged_insert(conn, table, [rows])
        return
    records: list[dict[str, Any]] = [
        {str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
        for r in rows.to_dict("records")
    ]
    for part in chunks(records):
        conn.execute(insert(table), list(part))


def _copied(frame: pd.DataFrame, positions: np.ndarray, source: str, import_id: int) -> pd.DataFrame:
    """The stored columns of the rows at ``positions`` as a frame for copy_frame: placements below
    0 (none) as nulls, the longitude and latitude kept for the point."""
    part = frame.iloc[positions][[*STORED, "x", "y"]].reset_index(drop=True)
    for c in ("quarter_id", "subquarter_id"):
        placed = part[c].astype("Int64")
        part[c] = placed.where(placed >= 0)
    part["source"] = source
    part["import_id"] = import_id
    return part


def flag_counts(conn: Connection, ids: Sequence[int] | None = None) -> dict[str, int]:
    """Flags per code, over the given interventions or the whole store."""
    if ids is None:
        q = select(F.c.code, func.count()).group_by(F.c.code)
        return dict(conn.execute(q).all())
    # Flags are few (a few percent of rows): read them all and count in memory, rather than send
    # a million ids to the database in IN lists.
    flagged = conn.execute(select(F.c.intervention_id, F.c.code)).all()
    if not flagged:
        return {}
    fid = np.fromiter((r[0] for r in flagged), dtype=np.int64, count=len(flagged))
    codes = np.array([r[1] for r in flagged], dtype=object)
    mine = np.isin(fid, np.asarray(list(ids), dtype=np.int64))
    found, counts = np.unique(codes[mine].astype(str), return_counts=True)
    return {str(c): int(n) for c, n in zip(found, counts, strict=True)}


def _rounded(column: Any) -> Any:
    # CAST to NUMERIC: PostgreSQL rounds numerics only; SQLite accepts it and keeps a REAL.
    return func.round(cast(column, Numeric), COORD_DECIMALS)


def flag_repeated_locations(conn: Connection, threshold: int, loaded: FirstLoad | None = None) -> int:
    """Flag every record at a location shared by ``threshold`` records or more, store-wide: a
    geocoder's default falls on the same spot whatever the request type. Returns the flags added.

    ``loaded``: what a first load stored, when the store holds nothing else. Only the requests
    inside the boxes geova.core.checks.repeated_location_boxes finds are then rounded and
    counted, by the database (its rounding is the rule), from their coordinates sent along
    rather than read back through the spatial index; the flags already stored are the load's
    own. Same result, in a tenth of the time (1 s of a million-request first load before)."""
    boxes = repeated_location_boxes(loaded.xs, loaded.ys, threshold) if loaded is not None else None
    if loaded is not None and boxes is not None:
        if not boxes:
            return 0
        xs, ys = loaded.xs, loaded.ys
        inside = np.zeros(len(xs), dtype=bool)
        for minx, miny, maxx, maxy in boxes:  # as in_box's exact test
            inside |= (xs >= minx) & (xs <= maxx) & (ys >= miny) & (ys <= maxy)
        keys = _rounded_points(conn, xs[inside], ys[inside])
        sizes: dict[tuple, int] = {}
        for key in keys:
            sizes[key] = sizes.get(key, 0) + 1
        shared = np.array([sizes[k] >= threshold for k in keys], dtype=bool)
        ids = loaded.ids[inside][shared]
        fresh = ids[~np.isin(ids, loaded.repeated)]
        _insert_pairs(conn, F, pd.DataFrame({"intervention_id": fresh, "code": Flag.REPEATED_LOCATION.value}))
        return len(fresh)
    rx, ry = _rounded(func.ST_X(IV.c.geom)), _rounded(func.ST_Y(IV.c.geom))
    hot = select(rx.label("rx"), ry.label("ry")).group_by(rx, ry).having(func.count() >= threshold).subquery()
    i2 = IV.alias("i2")
    candidates = (
        select(i2.c.id, literal(Flag.REPEATED_LOCATION.value))
        .join(
            hot, and_(_rounded(func.ST_X(i2.c.geom)) == hot.c.rx, _rounded(func.ST_Y(i2.c.geom)) == hot.c.ry)
        )
        .where(~exists().where((F.c.intervention_id == i2.c.id) & (F.c.code == Flag.REPEATED_LOCATION.value)))
    )
    result = conn.execute(insert(F).from_select(["intervention_id", "code"], candidates))
    return result.rowcount or 0


def _rounded_points(conn: Connection, xs: np.ndarray, ys: np.ndarray) -> list[tuple]:
    """The points as the store rounds a stored point's coordinates (:func:`_rounded` over ST_X
    and ST_Y, which give back the very doubles stored), in order: the values go to the database
    as doubles (binary parameters, bound REALs), never as text."""
    if not len(xs):
        return []
    if conn.dialect.name == "postgresql":
        raw: Any = conn.connection.dbapi_connection
        with raw.cursor() as cur:
            cur.execute(
                "SELECT round(CAST(x AS NUMERIC), %(d)s), round(CAST(y AS NUMERIC), %(d)s) "
                "FROM unnest(%(xs)b::float8[], %(ys)b::float8[]) WITH ORDINALITY AS t(x, y, n) ORDER BY n",
                {"xs": xs.tolist(), "ys": ys.tolist(), "d": COORD_DECIMALS},
            )
            return [tuple(r) for r in cur.fetchall()]
    conn.exec_driver_sql("CREATE TEMP TABLE geova_points (x REAL, y REAL)")
    try:
        conn.exec_driver_sql(
            "INSERT INTO geova_points (x, y) VALUES (?, ?)", list(zip(xs.tolist(), ys.tolist(), strict=True))
        )
        d = COORD_DECIMALS
        rows = conn.exec_driver_sql(
            f"SELECT round(CAST(x AS NUMERIC), {d}), round(CAST(y AS NUMERIC), {d}) "
            "FROM geova_points ORDER BY rowid"
        ).all()
    finally:
        conn.exec_driver_sql("DROP TABLE geova_points")
    return [tuple(r) for r in rows]


@dataclass
class Placement:
    """Where every stored request was, taken before a layer changes: deleting a quarter or a zone
    clears its links through ON DELETE rules, so the database alone cannot say who moved."""

    quarters: dict[int, tuple[int | None, int | None]]
    zones: set[tuple[int, int]]


def placement(conn: Connection) -> Placement:
    rows = conn.execute(select(IV.c.id, IV.c.quarter_id, IV.c.subquarter_id)).all()
    return Placement(
        {r[0]: (r[1], r[2]) for r in rows},
        set(conn.execute(select(Z.c.intervention_id, Z.c.zone_id)).all()),
    )


def reassign_all(
    conn: Connection,
    quarters: list[Area],
    zones: list[Area],
    bounds: tuple | None,
    before: Placement | None = None,
) -> int:
    """Recompute quarter, sub-quarter, zones and the extent flag of every stored intervention after
    a layer changed. Only rows whose assignment changed are written. Returns how many requests
    moved compared with ``before`` (default: what the store holds now)."""
    rows = conn.execute(
        select(IV.c.id, func.ST_X(IV.c.geom), func.ST_Y(IV.c.geom), IV.c.quarter_id, IV.c.subquarter_id)
    ).all()
    if not rows:
        return 0
    arr = np.array(
        [
            (r[0], r[1], r[2], r[3] if r[3] is not None else -1, r[4] if r[4] is not None else -1)
            for r in rows
        ],
        dtype=float,
    )
    ids = arr[:, 0].astype(np.int64)
    result = assign_points(arr[:, 1], arr[:, 2], quarters, zones)
    moved = np.flatnonzero(
        (result.quarter != arr[:, 3].astype(np.int64)) | (result.subquarter != arr[:, 4].astype(np.int64))
    )
    upd = (
        update(IV)
        .where(IV.c.id == bindparam("_id"))
        .values(quarter_id=bindparam("q"), subquarter_id=bindparam("s"))
    )
    params = [
        {
            "_id": int(ids[i]),
            "q": int(result.quarter[i]) if result.quarter[i] >= 0 else None,
            "s": int(result.subquarter[i]) if result.subquarter[i] >= 0 else None,
        }
        for i in moved
    ]
    for part in chunks(params):
        conn.execute(upd, list(part))
    wanted = {(int(ids[p]), z) for p, z in result.zone_pairs}
    stored = set(conn.execute(select(Z.c.intervention_id, Z.c.zone_id)).all())
    unlink = delete(Z).where((Z.c.intervention_id == bindparam("a")) & (Z.c.zone_id == bindparam("b")))
    for part in chunks(sorted(stored - wanted)):
        conn.execute(unlink, [{"a": a, "b": b} for a, b in part])
    for part in chunks(sorted(wanted - stored)):
        conn.execute(insert(Z), [{"intervention_id": a, "zone_id": b} for a, b in part])
    outside = outside_extent(arr[:, 1], arr[:, 2], bounds)
    if before is not None:
        new_q = {
            int(ids[i]): (_id_or_none(result.quarter[i]), _id_or_none(result.subquarter[i]))
            for i in range(len(ids))
        }
        moved_ids = {i for i, qs in new_q.items() if before.quarters.get(i, (None, None)) != qs}
        moved_ids |= {iid for iid, _ in wanted ^ before.zones}
    else:
        moved_ids = {int(ids[i]) for i in moved} | {iid for iid, _ in wanted ^ stored}
    conn.execute(delete(F).where(F.c.code == Flag.OUTSIDE_EXTENT.value))
    flag_rows = [
        {"intervention_id": int(ids[i]), "code": Flag.OUTSIDE_EXTENT.value} for i in np.flatnonzero(outside)
    ]
    for part in chunks(flag_rows):
        conn.execute(insert(F), list(part))
    return len(moved_ids)


def _id_or_none(value: np.int64) -> int | None:
    return int(value) if value >= 0 else None
