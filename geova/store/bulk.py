"""Bulk writes: binary COPY on PostgreSQL, the driver's own ``executemany`` on SQLite.

Hand-written on purpose. SQLAlchemy's executemany runs every bound value through its type system
(the UTC timestamp type, GeoAlchemy2's geometry binding): right for a form, but a third of the time
of a million-row import. Here each column is converted once, vectorised, to what the database reads
natively (COPY's binary rows on PostgreSQL, texts and numbers on SQLite), and rows go through the
driver's bulk path inside the caller's transaction. (A first load on SQLite goes further:
geova.store.staging, from the Arrow columns :func:`arrow_driver_column` makes.)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table

from geova.store.busy import busy_errors

SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's own SQLite DateTime storage format (UTC here)


def native_column(conn: Connection, series: pd.Series) -> list:
    """One column as values the driver sends as they are: UTC text for instants, None for gaps.

    Vectorised in numpy end to end: the per-row Python of the first version (an f-string per
    instant, an ``isinstance`` per value) cost 6.3 s of a million-request import and as much for
    its verdicts; building the texts as arrays of code points and listing them once costs a
    fraction of that (figures in bench/spatialite_bulk_bench.py's docstring). The values are those
    of :func:`_native_value`, value for value and type for type (tests/test_bulk_native.py)."""
    if len(series) <= FEW_VALUES:  # a web report's row: pandas' vectorised paths cost more here
        return [_native_value(conn, v) for v in series.tolist()]
    sqlite = conn.dialect.name == "sqlite"
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        micros = series.dt.tz_convert("UTC").to_numpy(dtype="datetime64[us]")
        missing = series.isna().to_numpy()
        text = _utc_text(micros, missing, sqlite)
        if text is not None:
            return _with_gaps(text, missing)
        # numpy's formatter (a year outside 0000-9999): "YYYY-MM-DDTHH:MM:SS.ffffff"
        iso = np.datetime_as_string(micros, unit="us")
        if sqlite:
            return [
                None if gap else f"{t[:10]} {t[11:]}" for t, gap in zip(iso.tolist(), missing, strict=True)
            ]
        return [None if gap else f"{t}+00:00" for t, gap in zip(iso.tolist(), missing, strict=True)]
    if series.dtype == bool:
        return series.astype(int if sqlite else bool).tolist()
    if series.dtype == np.float64:  # Python floats, NaN as None
        floats = series.to_numpy()
        return _with_gaps(floats, np.isnan(floats))
    values = series.astype(object)
    listed = _with_gaps(values.to_numpy(), values.isna().to_numpy())
    if set(map(type, listed)) <= _DRIVER_TYPES:  # the common case: no numpy scalar to unwrap
        return listed
    return [v.item() if isinstance(v, np.generic) else v for v in listed]


def arrow_driver_column(conn: Connection, series: pd.Series) -> Any:
    """The values :func:`native_column` gives, as one Arrow array (SQLite's staged inserts,
    geova.store.staging): taken from the column's own arrays where its type allows (instants as
    the same UTC texts, booleans as 0 and 1, floats with NaN as null, integers, texts pandas holds
    in Arrow), through native_column's Python objects otherwise. Either way the array lists back
    to native_column's values, type for type (tests/test_bulk_native.py)."""
    import pyarrow as pa

    if len(series) > FEW_VALUES:
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            micros = series.dt.tz_convert("UTC").to_numpy(dtype="datetime64[us]")
            missing = series.isna().to_numpy()
            text = _utc_text(micros, missing, conn.dialect.name == "sqlite")
            if text is not None:
                return pa.array(text, type=pa.string(), mask=missing)
        elif series.dtype == bool:
            return pa.array(series.to_numpy(dtype=np.int64) if conn.dialect.name == "sqlite" else series)
        elif series.dtype == np.float64:
            floats = series.to_numpy()
            return pa.array(floats, type=pa.float64(), mask=np.isnan(floats))
        elif series.dtype.kind in "iu" or isinstance(series.dtype, pd.Int64Dtype):
            return pa.array(series, type=pa.int64(), from_pandas=True)
        elif isinstance(series.dtype, pd.StringDtype | pd.ArrowDtype) and hasattr(
            series.array, "__arrow_array__"
        ):
            values = pa.array(series.array)
            if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
                return values.cast(pa.string())
    listed = native_column(conn, series)
    kinds = set(map(type, listed)) - {type(None)}
    if len(kinds) > 1:  # Arrow would make one type of them (1 and 2.5 as doubles): never silently
        raise TypeError(f"column {series.name!r} mixes {sorted(k.__name__ for k in kinds)}: not staged")
    return pa.array(listed, type=pa.null() if not kinds else None)


# Values the driver takes as they are (checked by exact type: numpy's float64 subclasses float).
_DRIVER_TYPES = {type(None), str, int, float, bool, bytes}


def _utc_text(micros: np.ndarray, missing: np.ndarray, sqlite: bool) -> np.ndarray | None:
    """UTC instants (``datetime64[us]``) as stored: "YYYY-MM-DD HH:MM:SS.ffffff" on SQLite
    (SQLITE_TIME), "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" on PostgreSQL; None when a year falls outside
    0000-9999. Each digit is computed in integer arithmetic on whole columns (the proleptic
    Gregorian calendar, H. Hinnant's days-to-civil algorithm) and written as an ASCII code: 0.3 s
    of CPU a million instants, against 0.5 s for numpy's ``datetime_as_string`` alone plus 0.4 s
    for editing its texts row by row (measured, loaded 2-core machine). Gaps (NaT) give some text:
    the caller sets them to None."""
    us = np.where(missing, 0, micros.view(np.int64))
    days64, rem = np.divmod(us, 86_400_000_000)
    seconds64, fraction64 = np.divmod(rem, 1_000_000)
    # int32 from here on (numpy divides int32 about twice as fast as int64)
    days, seconds, fraction = (a.astype(np.int32) for a in (days64, seconds64, fraction64))
    z = days + 719_468  # days since 0000-03-01
    era = np.floor_divide(z, 146_097)
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    if len(year) and (year.min() < 0 or year.max() > 9999):
        return None
    hours, seconds = np.divmod(seconds, 3600)
    minutes, seconds = np.divmod(seconds, 60)
    thousands, fraction = np.divmod(fraction, 10_000)
    # one contiguous row of ASCII codes per character position, turned into texts at the end:
    # writing a position of every text in place (strided) cost 0.15 s a digit pair, 1.4 s in all
    text = "0000-00-00 00:00:00.000000" if sqlite else "0000-00-00T00:00:00.000000+00:00"
    width = len(text)
    rows = np.empty((width, len(us)), dtype=np.uint8)
    rows[:] = np.frombuffer(text.encode("ascii"), dtype=np.uint8)[:, None]
    for at, pair in (
        (0, year // 100),
        (2, year % 100),
        (5, month),
        (8, day),
        (11, hours),
        (14, minutes),
        (17, seconds),
        (20, thousands),
        (22, fraction // 100),
        (24, fraction % 100),
    ):
        tens = pair // 10
        rows[at] += tens.astype(np.uint8)
        rows[at + 1] += (pair - 10 * tens).astype(np.uint8)
    out = rows.T.astype(np.uint32, order="C")
    return out.view(f"<U{width}").ravel()


def _with_gaps(values: np.ndarray, missing: np.ndarray) -> list:
    """``values`` as a list of Python objects, None where ``missing``."""
    if not missing.any():
        return values.tolist()
    listed = values.astype(object)
    listed[missing] = None
    return listed.tolist()


FEW_VALUES = 64


def _native_value(conn: Connection, value: object) -> object:
    """One value as :func:`native_column` converts a column."""
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, pd.Timestamp):
        utc = value.tz_convert("UTC")
        return (
            utc.strftime(SQLITE_TIME)
            if conn.dialect.name == "sqlite"
            else utc.strftime(SQLITE_TIME + "+00:00")
        )
    if isinstance(value, bool | np.bool_):
        return int(value) if conn.dialect.name == "sqlite" else bool(value)
    return value.item() if isinstance(value, np.generic) else value


def copy_frame(
    conn: Connection,
    table: Table,
    frame: pd.DataFrame,
    batch_rows: int = 1 << 16,
    point: tuple[str, str] | None = None,
) -> None:
    """PostgreSQL: COPY a whole frame (columns named as the table's) in COPY's binary format.

    psycopg's ``write_row`` costs about 7 µs a row in Python: 2.2 million verdict rows took half a
    minute. The frame goes to Arrow columns typed as the table's, which pgpq (Rust, vectorised)
    encodes as COPY's binary rows: the server then parses no text at all. Against the CSV that
    DuckDB wrote for the same COPY before, the COPYs of a million-request first import fell from
    4.2 to 2.5 s for the requests (their instants and EWKT points were parsed from text) and from
    1.9 to 1.0 s for the verdicts (bench/README.md, Session 7). A null reaches the table as NULL,
    an empty text as an empty text.

    ``point`` names the frame's longitude and latitude columns: they become the table's ``geom``
    (EWKB in SRID 4326, which PostGIS's binary input reads). ``batch_rows``: rows encoded at a
    time (bounded memory)."""
    copy_frames(conn, table, [frame], point, batch_rows)


def copy_frames(
    conn: Connection,
    table: Table,
    frames: Iterable[pd.DataFrame],
    point: tuple[str, str] | None = None,
    batch_rows: int = 1 << 16,
) -> int:
    """PostgreSQL: COPY frames one after the other as one COPY (see :func:`copy_frame`), taking
    each from ``frames`` only when the previous one is on its way: a generator may compute the
    next while the server stores the last (a first load checks its file's parts so). The first
    frame with rows sets the columns and their types; empty frames are skipped, and no COPY is
    opened when every frame is. Returns the rows copied."""
    import pgpq
    import pyarrow as pa
    from psycopg.copy import QueuedLibpqWriter

    given = (frame.iloc[a : a + batch_rows] for frame in frames for a in range(0, len(frame), batch_rows))
    first_frame = next(given, None)
    if first_frame is None:
        return 0
    names = [c for c in first_frame.columns if point is None or c not in point]
    columns = [*names, "geom"] if point is not None else names

    def arrow_rows(part: pd.DataFrame) -> Any:
        arrays = [_arrow_column(part[name], table.c[name].type) for name in names]
        if point is not None:
            arrays.append(
                _ewkb_points(part[point[0]].to_numpy(dtype=float), part[point[1]].to_numpy(dtype=float))
            )
        return pa.Table.from_arrays(arrays, names=columns)

    # Batch by batch, and written by psycopg's queued writer (a thread): the next batch is turned
    # into Arrow and encoded while the previous one is sent and stored, where converting the whole
    # frame first left the server idle (1 s of a million requests' COPY on the 2-core machine).
    first = arrow_rows(first_frame)
    schema = first.schema
    encoder = pgpq.ArrowToPostgresBinaryEncoder(schema)
    raw: Any = conn.connection.dbapi_connection  # psycopg's own connection (COPY)
    assert raw is not None
    sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT binary)"
    copied = 0
    with raw.cursor() as cur, cur.copy(sql, writer=QueuedLibpqWriter(cur)) as copy:
        copy.write(encoder.write_header())
        for rows in itertools.chain([first], map(arrow_rows, given)):
            if not rows.schema.equals(schema):  # a batch of gaps only: the first batch's types
                rows = rows.cast(schema)
            for batch in rows.to_batches():
                copy.write(encoder.write_batch(batch))
            copied += rows.num_rows
        copy.write(encoder.finish())
    return copied


def _arrow_column(series: pd.Series, sql_type: Any) -> Any:
    """One column as the Arrow type whose binary COPY form the table's column reads: 4-byte
    integers for INTEGER, UTC microseconds for instants (truncated, as native_column does), text
    for texts; pandas' missing values (None, NaN, NaT, NA) as nulls."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from sqlalchemy import BigInteger, Boolean, DateTime, Float, Integer, String

    sql_type = getattr(sql_type, "impl", sql_type)  # a TypeDecorator's (UTCDateTime) own type
    if isinstance(sql_type, DateTime) and not pd.api.types.is_datetime64_any_dtype(series.dtype):
        series = pd.to_datetime(series, utc=True)  # e.g. a column of gaps only, held as objects
    if isinstance(sql_type, Integer):
        values = pa.array(series.astype("Int64"), type=pa.int64())
        return values if isinstance(sql_type, BigInteger) else values.cast(pa.int32())
    if isinstance(sql_type, Boolean):
        return pa.array(series.astype("boolean"), type=pa.bool_())
    if isinstance(sql_type, Float):
        return pa.array(series.astype(float), type=pa.float64(), from_pandas=True)
    if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(series.dtype):
        utc = series.dt.tz_convert("UTC") if isinstance(series.dtype, pd.DatetimeTZDtype) else series
        values = pa.array(utc, from_pandas=True)
        return pc.cast(values, pa.timestamp("us", tz="UTC"), safe=False)
    if isinstance(series.dtype, pd.StringDtype | pd.ArrowDtype) and hasattr(series.array, "__arrow_array__"):
        # texts pandas already holds in Arrow (the CSV reader's): taken as they are, no Python
        # string made (listing them as objects was a third of the write of a million requests)
        return pa.array(series.array).cast(pa.string())
    if isinstance(sql_type, String) or series.dtype == object or isinstance(series.dtype, pd.StringDtype):
        values = series.astype(object)
        return pa.array(values.where(values.notna(), None), type=pa.string())
    return pa.array(series, from_pandas=True)


def _ewkb_points(xs: np.ndarray, ys: np.ndarray) -> Any:
    """Points in SRID 4326 as little-endian EWKB (byte order, type POINT with the SRID flag, the
    SRID, x, y: 25 bytes), which PostGIS's binary input reads. Written as one numpy record array:
    shapely's points and WKB writer took 2.5 s for a million (the format is fixed: OGC 06-103r4
    WKB, PostGIS's EWKB SRID flag 0x20000000)."""
    import pyarrow as pa

    record = np.dtype([("order", "u1"), ("kind", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")])
    points = np.empty(len(xs), dtype=record)
    points["order"] = 1
    points["kind"] = 1 | 0x20000000
    points["srid"] = 4326
    points["x"], points["y"] = xs, ys
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(record.itemsize), len(points), [None, pa.py_buffer(points.tobytes())]
    )
    return fixed.cast(pa.binary())


def _point_sql(conn: Connection) -> str:
    return (
        "MakePoint(?, ?, 4326)" if conn.dialect.name == "sqlite" else "ST_SetSRID(ST_MakePoint(%s, %s), 4326)"
    )


@busy_errors()
def insert_rows(
    conn: Connection,
    table: Table,
    columns: dict[str, list],
    xs: np.ndarray | None = None,
    ys: np.ndarray | None = None,
    progress: Callable[[int], None] | None = None,
    batch: int = 20_000,
) -> None:
    """Insert rows given column-wise; ``xs``/``ys`` fill the table's ``geom`` point column."""
    n = len(next(iter(columns.values()))) if columns else 0
    insert_converted(
        conn, table, n, lambda a, b: {k: v[a:b] for k, v in columns.items()}, xs, ys, progress, batch
    )


@busy_errors()
def insert_converted(
    conn: Connection,
    table: Table,
    n: int,
    columns_of: Callable[[int, int], dict[str, list]],
    xs: np.ndarray | None = None,
    ys: np.ndarray | None = None,
    progress: Callable[[int], None] | None = None,
    batch: int = 20_000,
) -> None:
    """Insert ``n`` rows whose columns ``columns_of(a, b)`` gives for rows ``a`` to ``b`` as the
    driver takes them (native_column); ``xs``/``ys`` fill the table's ``geom`` point column.

    On SQLite the rows are converted a batch ahead, in a worker thread, while the driver inserts
    the batch before: SQLite steps without the GIL, so the conversion's Python and SQLite's
    inserts share the two cores instead of taking turns (a million-request first load converted
    every column for about 5 s while SQLite waited; overlapped, it takes 1.5-2.5 s less:
    bench/README.md, Session 12). ``columns_of`` must not touch the connection."""
    if n == 0:
        if progress:
            progress(0)
        return
    raw = conn.connection.dbapi_connection
    assert raw is not None
    geo = xs is not None and ys is not None
    if conn.dialect.name == "postgresql":
        columns = columns_of(0, n)
        cols = ", ".join([*columns, *(["geom"] if geo else [])])
        with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({cols}) FROM STDIN") as copy:
            rows = zip(*columns.values(), *(_ewkt(xs, ys),) if geo else (), strict=True)
            for i, row in enumerate(rows, start=1):
                copy.write_row(row)
                if progress and i % batch == 0:
                    progress(i)
    else:

        def batch_rows(a: int, b: int) -> tuple[list[str], list[tuple]]:
            columns = columns_of(a, b)
            points = (xs[a:b].tolist(), ys[a:b].tolist()) if xs is not None and ys is not None else ()
            return list(columns), list(zip(*columns.values(), *points, strict=True))

        with point_triggers_once(conn, table.name, geo and n >= DEFERRED_INDEX_ROWS):
            cur = raw.cursor()
            try:
                for start, (names, part) in _ahead(batch_rows, n, batch):
                    holes = ", ".join(["?"] * len(names) + ([_point_sql(conn)] if geo else []))
                    cols = ", ".join([*names, *(["geom"] if geo else [])])
                    cur.executemany(f"INSERT INTO {table.name} ({cols}) VALUES ({holes})", part)
                    if progress:
                        progress(min(start + batch, n))
            finally:
                cur.close()
    if progress:
        progress(n)


def insert_frame(
    conn: Connection, table: Table, frame: pd.DataFrame, point: tuple[str, str] | None = None
) -> int:
    """Insert a frame's rows (columns named as the table's) through :func:`insert_converted`, each
    column converted by :func:`native_column` a batch at a time; ``point``: the frame's longitude
    and latitude columns, stored as the table's ``geom``. Returns the rows inserted."""
    names = [n for n in frame.columns if point is None or n not in point]
    insert_converted(
        conn,
        table,
        len(frame),
        lambda a, b: {n: native_column(conn, frame[n].iloc[a:b]) for n in names},
        None if point is None else frame[point[0]].to_numpy(dtype=float),
        None if point is None else frame[point[1]].to_numpy(dtype=float),
    )
    return len(frame)


def _ahead(make: Callable[[int, int], Any], n: int, batch: int) -> Iterator[tuple[int, Any]]:
    """(start, ``make(start, end)``) for each batch of ``n`` rows, the next batch made in a worker
    thread while the caller uses the current one."""
    starts = range(0, n, batch)
    if len(starts) == 1:
        yield 0, make(0, n)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="geova-bulk") as pool:
        pending = pool.submit(make, 0, min(batch, n))
        for start in starts:
            made = pending.result()
            if start + batch < n:
                pending = pool.submit(make, start + batch, min(start + 2 * batch, n))
            yield start, made


@contextmanager
def point_triggers_once(conn: Connection, table: str, many: bool) -> Iterator[None]:
    """SpatiaLite: insert many rows without the two per-row triggers SpatiaLite puts on a geometry
    column that cannot matter for points made by ``MakePoint(?, ?, 4326)``, and do their work once.

    ``ggi_<table>_geom`` looks the column up in geometry_columns for every row and checks the row's
    geometry type, SRID and dimensions; ``tmi_<table>_geom`` rewrites geometry_columns_time's
    ``last_insert`` for every row: about 40 % of the CPU of a bulk insert (100k requests, spatial
    index deferred: 2.2-2.8 s of CPU with them, 1.2-1.8 s without). A point MakePoint builds is
    an XY POINT in SRID 4326, or NULL (no coordinate), which GeometryConstraints accepts (the NOT
    NULL constraint then rejects it, as it would): so the check can never fail when the column is
    declared XY POINT 4326, and only then are they set aside. They are re-created from their own
    SQL afterwards (whatever happens), and ``last_insert`` is set once, as the last row's trigger
    would have set it (a few milliseconds later: it is a clock reading either way)."""
    saved: list[tuple[str, str]] = []
    if many and conn.dialect.name == "sqlite":
        declared = conn.exec_driver_sql(
            "SELECT geometry_type, coord_dimension, srid FROM geometry_columns "
            "WHERE f_table_name = ? AND f_geometry_column = 'geom'",
            (table.lower(),),
        ).first()
        if declared is not None and tuple(declared) == (1, 2, 4326):
            saved = [
                (str(name), str(sql))
                for name, sql in conn.exec_driver_sql(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? "
                    "AND name IN (?, ?) ORDER BY name",
                    (table, f"ggi_{table}_geom", f"tmi_{table}_geom"),
                )
            ]
    for name, _sql in saved:
        conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
    try:
        yield
    finally:
        for _name, sql in saved:
            conn.exec_driver_sql(sql)
    if any(name.startswith("tmi_") for name, _sql in saved):
        conn.exec_driver_sql(  # the statement of SpatiaLite's tmi_ trigger, run once
            "UPDATE geometry_columns_time SET last_insert = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
            "WHERE Lower(f_table_name) = Lower(?) AND Lower(f_geometry_column) = Lower('geom')",
            (table,),
        )


@busy_errors()
def update_rows(
    conn: Connection,
    table: Table,
    ids: Sequence[int],
    columns: dict[str, list],
    xs: np.ndarray | None = None,
    ys: np.ndarray | None = None,
) -> None:
    """Update rows by id, given column-wise (same conventions as insert_rows)."""
    if not len(ids):
        return
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    sets = [f"{c} = {mark}" for c in columns]
    if xs is not None:
        sets.append(f"geom = {_point_sql(conn)}")
    sql = f"UPDATE {table.name} SET {', '.join(sets)} WHERE id = {mark}"
    geo = (xs.tolist(), ys.tolist()) if xs is not None else ()
    data = list(zip(*columns.values(), *geo, list(ids), strict=True))
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cur = raw.cursor()
    cur.executemany(sql, data)
    cur.close()


def _ewkt(xs: np.ndarray | None, ys: np.ndarray | None) -> list[str]:
    assert xs is not None and ys is not None
    return [f"SRID=4326;POINT({x!r} {y!r})" for x, y in zip(xs.tolist(), ys.tolist(), strict=True)]


# A first import into an empty table loads faster with its secondary indexes built once at the end
# (a sorted build) than maintained row by row; below this many rows the difference is noise.
DEFERRED_INDEX_ROWS = 50_000
REBUILD_MEMORY = "256MB"  # PostgreSQL's maintenance_work_mem while a first load rebuilds its indexes


def secondary_indexes(conn: Connection, table: Table) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the table's indexes that back no constraint (primary key,
    unique constraint): those a bulk load may drop and rebuild. SpatiaLite's spatial index is a
    virtual table, not an index, and is left alone."""
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i "
            "WHERE i.schemaname = current_schema() AND i.tablename = %(t)s AND NOT EXISTS ("
            "SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname "
            "AND c.conrelid = %(t)s::regclass)",
            {"t": table.name},
        )
    else:
        rows = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
            (table.name,),
        )
    return [(str(name), str(sql)) for name, sql in rows]


def constraints(conn: Connection, table: Table) -> list[tuple[str, str]]:
    """PostgreSQL: (name, definition) of the table's keys a bulk load may drop and re-add, in the
    order they are re-added: primary keys and unique constraints no foreign key depends on, then
    the table's foreign keys. COPY checks each row against each key one lookup at a time (and a
    verdict row's primary key cost four times its COPY); re-adding a key checks every row in one
    sort or join. SQLite checks keys in C, cheaply, and cannot drop them: none are returned there."""
    if conn.dialect.name != "postgresql":
        return []
    rows = conn.exec_driver_sql(
        "SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
        "WHERE c.conrelid = %(t)s::regclass AND (c.contype = 'f' OR (c.contype IN ('p', 'u') "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = c.conindid))) "
        "ORDER BY c.contype = 'f', c.conname",
        {"t": table.name},
    )
    return [(str(name), str(sql)) for name, sql in rows]


@contextmanager
def deferred_structures(
    conn: Connection, table: Table, defer: bool, rebuild_rtrees: bool = True
) -> Iterator[None]:
    """Load a table without its secondary indexes, (PostgreSQL) keys and (SpatiaLite) spatial
    index, rebuilt once the
    rows are in: PostgreSQL's "Populating a Database" advice. Only for a table the caller knows
    is empty (``defer``); the drops are DDL inside the caller's transaction, so a failed load
    rolls them back with it and the store is left as it was.

    ``rebuild_rtrees=False``: SpatiaLite's R*Tree is left to the caller, who keeps it (empty, as
    the table is) and fills it itself before the transaction ends (geova.store.rtrees)."""
    if not defer:
        yield
        return
    with _bulk_cache(conn):
        indexes, keys = secondary_indexes(conn, table), constraints(conn, table)
        rtrees = spatial_indexes(conn, table) if rebuild_rtrees else []
        for name, _sql in reversed(keys):
            conn.exec_driver_sql(f'ALTER TABLE {table.name} DROP CONSTRAINT "{name}"')
        for name, _sql in indexes:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
        for column in rtrees:
            conn.exec_driver_sql(f"SELECT DisableSpatialIndex('{table.name}', '{column}')")
            conn.exec_driver_sql(f'DROP TABLE "idx_{table.name}_{column}"')
        yield
        if conn.dialect.name == "postgresql":
            # the rebuilds sort a million keys: in memory rather than in temporary files (the
            # server's default, 64 MB, spilled; for this transaction only)
            conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{REBUILD_MEMORY}'")
        for column in rtrees:  # SpatiaLite fills the new R*Tree from the rows, in one pass
            conn.exec_driver_sql(f"SELECT CreateSpatialIndex('{table.name}', '{column}')")
        for _name, sql in indexes:
            conn.exec_driver_sql(sql)
        for name, sql in keys:
            conn.exec_driver_sql(f'ALTER TABLE {table.name} ADD CONSTRAINT "{name}" {sql}')


ANALYSIS_ROWS = 2000  # index entries SQLite's ANALYZE samples per index (0: all of them)


def refresh_statistics(conn: Connection, tables: Sequence[Table]) -> None:
    """SQLite: gather the planner's statistics of ``tables`` after a bulk load (ANALYZE).

    SQLite never gathers them by itself (PostgreSQL's autovacuum does), and without them its planner
    assumes about ten rows per index key: on a million-request store, Open311's search read each
    page's due dates through the index on (norm, resolution date), every verdict of the norm, rather
    than through the primary key by request id: 1.6 s instead of 3 ms for 1,000 requests. ANALYZE of
    the four tables took 1.7 s on the 2-core bench machine (bench/README.md, Session 8).

    Each index is sampled (``analysis_limit``, SQLite's advice for ``PRAGMA optimize``): the
    planner needs the rough number of rows per key, not an exact count, and reading all of a
    million requests' indexes took 3.2 to 3.7 s of a first load."""
    if conn.dialect.name != "sqlite":
        return
    before = conn.exec_driver_sql("PRAGMA analysis_limit").scalar_one()
    conn.exec_driver_sql(f"PRAGMA analysis_limit = {ANALYSIS_ROWS}")
    try:
        for table in tables:
            conn.exec_driver_sql(f"ANALYZE {table.name}")
    finally:
        conn.exec_driver_sql(f"PRAGMA analysis_limit = {int(before)}")


# SQLite's page cache during a bulk load (PRAGMA cache_size, KiB when negative): the default
# 2 MiB is far smaller than the R*Tree CreateSpatialIndex fills one point at a time and than the
# verdicts' primary key filled norm by norm, so pages went to and from the OS cache all along.
# Measured on 100k-200k points: the R*Tree rebuild 3.4-4.1 s -> 1.9-2.5 s (CPU 1.5-1.8 s -> 0.9 s).
# Pages are allocated as used, and the setting is the connection's own, restored after the load.
BULK_CACHE_KIB = 256 * 1024


@contextmanager
def _bulk_cache(conn: Connection) -> Iterator[None]:
    """SQLite: a larger page cache for the load. No effect on what is written or on durability
    (synchronous and the journal are untouched)."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
    conn.exec_driver_sql(f"PRAGMA cache_size = {-BULK_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")


def spatial_indexes(conn: Connection, table: Table) -> list[str]:
    """SpatiaLite: the table's geometry columns with an R*Tree spatial index. Its triggers update
    the tree row by row (four fifths of a bulk insert's time); rebuilding it after the rows costs
    a fraction of that. PostGIS's GiST index is an ordinary index (secondary_indexes)."""
    if conn.dialect.name != "sqlite":
        return []
    rows = conn.exec_driver_sql(
        "SELECT f_geometry_column FROM geometry_columns WHERE f_table_name = ? AND spatial_index_enabled = 1",
        (table.name.lower(),),
    )
    return [str(c) for (c,) in rows]


@contextmanager
def suspended_triggers(conn: Connection, table: Table, names: Sequence[str]) -> Iterator[None]:
    """Run the block without the named triggers of ``table``; they are back before the block's
    changes are committed. PostgreSQL disables and re-enables them; SQLite cannot disable a
    trigger, so it is dropped and re-created from its stored definition. Both are DDL inside the
    caller's transaction: a failure rolls them back with the rows. For a first load whose caller
    does itself what the triggers would have done (geova.store.verdicts.start_loaded)."""
    if conn.dialect.name == "postgresql":
        for name in names:
            conn.exec_driver_sql(f'ALTER TABLE {table.name} DISABLE TRIGGER "{name}"')
        yield
        for name in names:
            conn.exec_driver_sql(f'ALTER TABLE {table.name} ENABLE TRIGGER "{name}"')
        return
    found: dict[str, str] = dict(
        conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table.name,)
        ).all()
    )
    kept = [(n, str(found[n])) for n in names if n in found]
    for name, _sql in kept:
        conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
    yield
    for _name, sql in kept:
        conn.exec_driver_sql(sql)
