"""SQLite bulk inserts through a staging file: a first load's million rows without a million
rounds of Python.

The driver's ``executemany`` binds every value from a Python object, one by one, holding the
interpreter's lock: a million requests took 12-16 s that way, and their 1.17M verdicts 12 s, where
SQLite itself stores the same rows in under 2 s with ``INSERT ... SELECT`` (bench/README.md,
Session 14). So the rows go first, as Arrow columns, into a scratch SQLite file written by the ADBC
SQLite driver (Apache Arrow's, which binds Arrow arrays in C), in a worker thread while the caller
prepares the next frame; the store's own connection then attaches that file and copies every row
in one statement, inside the caller's transaction. A failed load rolls back as before: the scratch
file is never part of the store.

Hand-written glue, not a replacement: the only library that writes Arrow into SQLite in C (ADBC)
writes through its own connection, which cannot join the store's transaction; this module is the
bridge (one file, one ``INSERT ... SELECT``).

The attached file cannot be detached before the transaction ends (SQLite keeps it locked for
reading): it is unlinked at once (the open handle keeps it readable) and detached when the
connection goes back to the pool (:func:`detach_staged`, listened for by geova.store.db).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Table

from geova.store.bulk import arrow_driver_column, insert_frame, point_triggers_once

log = logging.getLogger(__name__)

# connection_record.info key: the schemas this connection attached, detached at checkin
ATTACHED_KEY = "geova_staged"
# Staging files one transaction may attach (SQLite attaches at most 10 databases, this build of it
# too): a first load attaches four; beyond this, staged_insert inserts through the driver instead.
STAGED_AT_MOST = 6


class Staging:
    """A scratch file that rows are written to (:meth:`add`, from one thread at a time, which
    need not be the store connection's) and then copied from into a table of the store
    (:meth:`insert_into`, by the store's connection, inside its transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn  # its dialect only, for the driver's values: a worker thread may add rows
        self.folder = Path(tempfile.mkdtemp(prefix="geova-stage-"))
        self.path = self.folder / "staged.sqlite"
        self.names: list[str] = []
        self.rows = 0
        self.db: Any = None

    def arrow(self, frame: pd.DataFrame) -> Any:
        """``frame``'s rows as the Arrow table :meth:`write` takes (see staged_insert)."""
        import pyarrow as pa

        columns = [arrow_driver_column(self.conn, frame[name]) for name in frame.columns]
        return pa.Table.from_arrays(columns, names=[str(n) for n in frame.columns])

    def write(self, rows: Any) -> None:
        """Append an Arrow table's rows (the first one sets the columns)."""
        if not rows.num_rows:
            return
        if self.db is None:
            import adbc_driver_sqlite.dbapi as adbc

            self.names = list(rows.column_names)
            # autocommit: the pragmas below cannot run inside the transaction the driver would
            # open; the rows then go in one explicit transaction
            self.db = adbc.connect(str(self.path), autocommit=True)
            with self.db.cursor() as cur:
                # a scratch file: no journal, no syncing (a crash leaves only a file to delete)
                cur.execute("PRAGMA journal_mode = OFF")
                cur.execute("PRAGMA synchronous = OFF")
                # no declared types: no affinity may change a value between the frame and the store
                cur.execute(f"CREATE TABLE staged ({', '.join(_quoted(n) for n in self.names)})")
                cur.execute("BEGIN")
        with self.db.cursor() as cur:
            cur.adbc_ingest("staged", rows, mode="append")
        self.rows += rows.num_rows

    def add(self, frame: pd.DataFrame) -> None:
        """Append ``frame``'s rows."""
        self.write(self.arrow(frame))

    def close(self) -> None:
        """Finish writing (the file is complete once this returns)."""
        if self.db is not None:
            with self.db.cursor() as cur:
                cur.execute("COMMIT")
            self.db.close()
            self.db = None

    def insert_into(self, conn: Connection, table: Table, point: tuple[str, str] | None = None) -> int:
        """Copy every row written into ``table`` in one statement, in the order written, and
        remove the file. Returns the rows copied."""
        try:
            self.close()
            if not self.rows:
                return 0
            schema = f"geova_staged_{uuid.uuid4().hex[:12]}"
            conn.exec_driver_sql(f"ATTACH DATABASE ? AS {schema}", (str(self.path),))
            conn.connection.info.setdefault(ATTACHED_KEY, []).append(schema)
            columns = [n for n in self.names if point is None or n not in point]
            values = [_quoted(n) for n in columns]
            if point is not None:
                columns.append("geom")
                values.append(f"MakePoint({_quoted(point[0])}, {_quoted(point[1])}, 4326)")
            with point_triggers_once(conn, table.name, point is not None):
                conn.exec_driver_sql(
                    f"INSERT INTO {table.name} ({', '.join(_quoted(c) for c in columns)}) "
                    f"SELECT {', '.join(values)} FROM {schema}.staged ORDER BY rowid"
                )
            return self.rows
        finally:
            self.discard()

    def discard(self) -> None:
        """Remove the file (attached or not: the open handle keeps it readable until detached)."""
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def staged_insert(
    conn: Connection,
    table: Table,
    frames: Iterable[pd.DataFrame],
    point: tuple[str, str] | None = None,
) -> int:
    """SQLite: insert the rows of ``frames`` into ``table`` through a staging file (see the module).

    Every frame has the same columns, named as the table's, holding what geova.store.bulk's
    native_column would give the driver (arrow_driver_column converts them the same way, value
    for value). ``point``: the frame's longitude and latitude columns, stored as the table's
    ``geom`` (``MakePoint(x, y, 4326)``, as insert_converted does). Each frame is written in a
    worker thread while the next one is taken from ``frames``, so a generator may prepare it
    meanwhile. The rows keep the frames' order. Returns the rows inserted."""
    if len(conn.connection.info.get(ATTACHED_KEY, ())) >= STAGED_AT_MOST:
        return _inserted(conn, table, frames, point)
    stage = Staging(conn)
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="geova-stage") as pool:
            pending: Future[None] | None = None
            try:
                for frame in frames:
                    rows = stage.arrow(frame)
                    if pending is not None:
                        pending.result()  # one frame in writing at a time: memory stays bounded
                    pending = pool.submit(stage.write, rows)
            finally:
                if pending is not None:
                    pending.result()
        return stage.insert_into(conn, table, point)
    finally:
        stage.discard()


def _inserted(
    conn: Connection, table: Table, frames: Iterable[pd.DataFrame], point: tuple[str, str] | None
) -> int:
    """staged_insert's rows through the driver's executemany (bulk.insert_frame) instead."""
    return sum(insert_frame(conn, table, frame, point) for frame in frames)


def detach_staged(dbapi_conn: Any, record: Any) -> None:
    """Pool checkin (SQLite): detach the staging files a first load attached, now that the
    transaction that read them is over."""
    schemas = record.info.pop(ATTACHED_KEY, None) if record is not None else None
    if not schemas or dbapi_conn is None:
        return
    try:
        for schema in schemas:
            dbapi_conn.execute(f"DETACH DATABASE {schema}")
    except Exception as exc:  # e.g. a statement left open on it: the connection is not reused
        log.warning("could not detach a staging file (%s): the connection is closed instead", exc)
        record.invalidate(exc)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
