"""Engine creation for the two supported backends, and how writers share the store.

SQLite needs two things Python's bundled ``sqlite3`` cannot give on Debian: extension loading (for
SpatiaLite) and a recent SQLite. ``pysqlite3-binary`` provides both, so it is plugged in as the DBAPI
module; SpatiaLite itself comes from Debian's ``libsqlite3-mod-spatialite``.

Concurrency. The web app, its API clients and imports write at the same time. Every write goes
through :func:`write`, which on SQLite starts the transaction with ``BEGIN IMMEDIATE``: the write lock
is taken first, and waited for (WAL keeps readers running meanwhile) up to the busy timeout
(``GEOVA_BUSY_TIMEOUT``). A deferred transaction that reads and then writes could not wait: SQLite
answers "database is locked" at once when another writer committed since it started reading (waiting
could deadlock). Reads stay deferred, so they never queue behind writers. On PostgreSQL rows are
locked by the server; the same setting bounds lock waits (``lock_timeout``). When the wait runs out,
the driver's error becomes :class:`StoreBusy`, in one place (:func:`_busy_to_store_busy`).
"""

from __future__ import annotations

import atexit
import logging
import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

# Load order matters. SQLite loads SpatiaLite with dlopen(RTLD_GLOBAL), which makes Debian's PROJ
# and GEOS symbols global; the PROJ and GEOS bundled in the pyproj, pyogrio and shapely wheels, if
# loaded afterwards, then bind their C++ globals to Debian's copies, and both libraries' destructors
# free the same objects when the process exits (a "double free" abort after a successful run).
# Importing the wheels first keeps each copy bound to itself.
import pyogrio  # noqa: F401  (imported for its side effect on load order)
import pyproj  # noqa: F401
import shapely  # noqa: F401
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url

from geova.config import busy_timeout, database_url
from geova.settings import load as load_settings
from geova.store.busy import StoreBusy, busy_errors, is_busy_error
from geova.store.staging import detach_staged

__all__ = ["StoreBusy", "busy_errors", "is_busy_error", "make_engine", "write"]

log = logging.getLogger(__name__)

# The execution option that marks a connection's transactions as writes (see write()).
WRITE_OPTION = "geova_write"
# Connections opened beyond GEOVA_DB_POOL_SIZE when every pooled one is busy (closed again when given
# back): headroom for a request that briefly holds a second connection, without letting a burst
# multiply the connections a PostgreSQL server must hold per process.
POOL_OVERFLOW = 2


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_module() -> Any:
    try:
        from pysqlite3 import dbapi2
    except ImportError:  # pragma: no cover - only on platforms without the wheel
        import sqlite3 as dbapi2
    return dbapi2


# The page size of a new SQLite store. PRAGMA page_size takes effect only before the file's first
# table (here, before SpatiaLite's metadata tables); an existing store keeps its own. 32 KiB rather
# than SQLite's 4 KiB: a first load of a million requests writes its 1.2 GB in eight times fewer
# pages (the WAL's frames and their writes, the index builds' B-tree pages, the checkpoint at
# commit): 24.5-25.1 s -> 20.2 s, alternated on one machine (bench/README.md, Session 15). 64 KiB was
# no faster (20.6-21.9 s); every page at 1M was served as fast (within 7 ms either way); an empty
# store takes 5 MB on disk instead of 0.9 MB. The staging file (geova.store.staging) keeps 4 KiB:
# 32 KiB made it slower.
NEW_STORE_PAGE_BYTES = 32 * 1024


def _on_sqlite_connect(dbapi_conn: Any, _record: Any, *, busy_ms: int) -> None:
    """Load SpatiaLite and set the pragmas geova relies on, on every new connection."""
    from geoalchemy2.admin.dialects.sqlite import init_spatialite, load_spatialite_driver

    os.environ.setdefault("SPATIALITE_LIBRARY_PATH", "mod_spatialite")
    load_spatialite_driver(dbapi_conn)
    dbapi_conn.execute(f"PRAGMA page_size = {NEW_STORE_PAGE_BYTES}")  # a new file only: see the constant
    # WGS84 only: geova stores EPSG:4326 and reprojects with pyproj, so the full EPSG table
    # (seconds to build, megabytes on disk) is not needed.
    init_spatialite(dbapi_conn, transaction=True, init_mode="WGS84")
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    # After loading SpatiaLite, which resets the busy timeout to its own 5 s (sqlite3's ``timeout``
    # connect argument would be overwritten).
    cursor.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
    cursor.close()


# Engines still open at exit are disposed while SpatiaLite is loaded: left to the interpreter's
# final garbage collection, SQLite connections with SpatiaLite can crash the process on the way out.
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


@atexit.register
def _dispose_engines() -> None:
    for engine in list(_ENGINES):
        engine.dispose()


def make_engine(url: str | None = None, *, timeout: float | None = None, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` (or the configured default) with spatial support loaded.

    ``timeout`` is how long, in seconds, a write waits for a lock held by another writer before
    :class:`StoreBusy` is raised (default: the ``GEOVA_BUSY_TIMEOUT`` setting). The pool keeps
    ``GEOVA_DB_POOL_SIZE`` connections when it is set (gunicorn sets it to its threads per worker:
    one connection per thread serving a request), plus :data:`POOL_OVERFLOW` for bursts."""
    resolved = database_url(url)
    parsed = make_url(resolved)
    seconds = busy_timeout() if timeout is None else timeout
    connect_args = dict(kwargs.pop("connect_args", {}))
    pool_size = load_settings().db_pool_size  # None: SQLAlchemy's own default (5, overflow 10)
    if pool_size is not None:
        kwargs.setdefault("pool_size", pool_size)
        kwargs.setdefault("max_overflow", POOL_OVERFLOW)
    if parsed.get_backend_name() == "sqlite":
        # The sqlite3 module manages transactions by itself unless told not to; SQLAlchemy must own
        # BEGIN/COMMIT so that an import is one transaction.
        engine = create_engine(resolved, module=_sqlite_module(), connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", partial(_on_sqlite_connect, busy_ms=round(seconds * 1000)))
        event.listen(engine, "checkin", detach_staged)  # a first load's staging files (geova.store.staging)
        _take_over_transactions(engine)
    else:
        if parsed.get_backend_name() == "postgresql":
            # A libpq startup option, so that it holds from the first statement of every connection
            # (added to the URL's own ``options``, which connect_args would otherwise replace).
            given = parsed.query.get("options") or ""
            given = given if isinstance(given, str) else " ".join(given)  # a repeated query parameter
            lock_timeout = f"-c lock_timeout={max(1, round(seconds * 1000))}"
            connect_args.setdefault("options", f"{given} {lock_timeout}".strip())
        engine = create_engine(resolved, connect_args=connect_args, **kwargs)
    event.listen(engine, "handle_error", _busy_to_store_busy)
    _ENGINES.add(engine)
    return engine


@contextmanager
def write(engine: Engine, *, bulk: bool = False) -> Iterator[Connection]:
    """A write transaction, committed on success and rolled back on error, like ``engine.begin()``.

    Every write of geova goes through it: on SQLite it starts with ``BEGIN IMMEDIATE`` so that the
    write lock is waited for up front (see the module's docstring); on PostgreSQL it is a plain
    transaction. Raises :class:`StoreBusy` when the lock cannot be had within the busy timeout.

    Before committing, the verdicts the write changed are recomputed in the same transaction
    (geova.store.verdicts.settle), and the store's data version moves on.

    ``bulk``: a first load of a large file. On SQLite, when no other connection has the store open,
    the transaction is journalled the rollback way (:func:`_rollback_journal`) and the store goes
    back to its WAL after it, committed or not.
    """
    from geova.store.verdicts import settle  # imported late: it reads the store's other modules

    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        journalled = bulk and is_sqlite(engine) and _rollback_journal(conn)
        try:
            with conn.begin():
                yield conn
                settle(conn)
        finally:
            if journalled:
                _back_to_wal(conn)


def _rollback_journal(conn: Connection) -> bool:
    """SQLite: leave the WAL for the next transaction, if no other connection has the store open.
    Returns whether it did.

    Why: in WAL mode every page a first load writes goes twice to disk, once into the WAL and once
    more when the checkpoint at commit copies it into the file (2.6 s of a million-request load,
    and a 1 GB WAL left on disk). With a rollback journal the new pages go straight into the file
    and only the few pages that existed before are journalled; the transaction stays atomic and
    durable (``synchronous = FULL`` meanwhile, SQLite's advice for that mode). A million requests:
    31.1 s -> 20.5 s, one run each (bench/README.md, Session 16).

    Only when alone, because SQLite can leave WAL mode only then (an error at once otherwise, the
    busy timeout being set to 0 for the attempt): with the web app or another process reading the
    store, the load keeps the WAL and readers go on as before. A process that opens the store
    during such a load waits for it (up to its busy timeout, then StoreBusy), as under any
    rollback-journal write."""
    raw = conn.connection.driver_connection  # not conn.exec_driver_sql: that would begin a transaction
    assert raw is not None
    busy = int(raw.execute("PRAGMA busy_timeout").fetchone()[0])
    raw.execute("PRAGMA busy_timeout = 0")
    try:
        mode = str(raw.execute("PRAGMA main.journal_mode = DELETE").fetchone()[0])
    except Exception as exc:
        if not is_busy_error(exc):
            raise
        log.info("another connection has the store open: the first load keeps the WAL")
        return False
    finally:
        raw.execute(f"PRAGMA busy_timeout = {busy}")
    if mode.lower() != "delete":
        return False
    raw.execute("PRAGMA main.synchronous = FULL")
    return True


def _back_to_wal(conn: Connection) -> None:
    """SQLite: the WAL again after a :func:`_rollback_journal` transaction, waiting up to the busy
    timeout for a reader that opened the store meanwhile. If that runs out, the store stays in
    rollback mode, which is still correct, until the next connection sets WAL (_on_sqlite_connect)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    raw.execute("PRAGMA main.synchronous = NORMAL")
    try:
        raw.execute("PRAGMA main.journal_mode = WAL")  # main: staging files may be attached
    except Exception as exc:
        if not is_busy_error(exc):
            raise
        log.warning("the store stays in rollback-journal mode until its next connection: %s", exc)


def _busy_to_store_busy(context: ExceptionContext) -> None:
    """Turn every backend's "could not get the lock in time" into StoreBusy (the one place it is done)."""
    if is_busy_error(context.original_exception):
        raise StoreBusy(str(context.original_exception).strip()) from context.original_exception


def _take_over_transactions(engine: Engine) -> None:
    """Let SQLAlchemy emit BEGIN itself (the documented pysqlite transaction recipe): ``BEGIN
    IMMEDIATE`` for the transactions :func:`write` opens, a deferred ``BEGIN`` for reads."""

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
