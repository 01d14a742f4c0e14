"""Engine creation for the two supported backends.

SQLite needs two things Python's bundled ``sqlite3`` cannot give on Debian: extension loading (for
SpatiaLite) and a recent SQLite. ``pysqlite3-binary`` provides both, so it is plugged in as the DBAPI
module; SpatiaLite itself comes from Debian's ``libsqlite3-mod-spatialite``.
"""

from __future__ import annotations

import atexit
import os
import weakref
from typing import Any

# Load order matters. SQLite loads SpatiaLite with dlopen(RTLD_GLOBAL), which makes Debian's PROJ
# and GEOS symbols global; the PROJ and GEOS bundled in the pyproj, pyogrio and shapely wheels, if
# loaded afterwards, then bind their C++ globals to Debian's copies, and both libraries' destructors
# free the same objects when the process exits (a "double free" abort after a successful run).
# Importing the wheels first keeps each copy bound to itself.
import pyogrio  # noqa: F401  (imported for its side effect on load order)
import pyproj  # noqa: F401
import shapely  # noqa: F401
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from geova.config import database_url


class StoreBusy(RuntimeError):
    """The store could not take the write lock in time (SQLite's busy timeout, or PostgreSQL's lock
    timeout): nothing was written, and the same call may succeed a moment later."""


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_module() -> Any:
    try:
        from pysqlite3 import dbapi2  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - only on platforms without the wheel
        import sqlite3 as dbapi2
    return dbapi2


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    """Load SpatiaLite and set the pragmas geova relies on, on every new connection."""
    from geoalchemy2.admin.dialects.sqlite import init_spatialite, load_spatialite_driver

    os.environ.setdefault("SPATIALITE_LIBRARY_PATH", "mod_spatialite")
    load_spatialite_driver(dbapi_conn)
    # WGS84 only: geova stores EPSG:4326 and reprojects with pyproj, so the full EPSG table
    # (seconds to build, megabytes on disk) is not needed.
    init_spatialite(dbapi_conn, transaction=True, init_mode="WGS84")
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


# Engines still open at exit are disposed while SpatiaLite is loaded: left to the interpreter's
# final garbage collection, SQLite connections with SpatiaLite can crash the process on the way out.
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


@atexit.register
def _dispose_engines() -> None:
    for engine in list(_ENGINES):
        engine.dispose()


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` (or the configured default) with spatial support loaded."""
    resolved = database_url(url)
    parsed = make_url(resolved)
    if parsed.get_backend_name() == "sqlite":
        # The sqlite3 module manages transactions by itself unless told not to; SQLAlchemy must own
        # BEGIN/COMMIT so that an import is one transaction.
        engine = create_engine(resolved, module=_sqlite_module(), **kwargs)
        event.listen(engine, "connect", _on_sqlite_connect)
        _take_over_transactions(engine)
    else:
        engine = create_engine(resolved, **kwargs)
    _ENGINES.add(engine)
    return engine


def _take_over_transactions(engine: Engine) -> None:
    """Let SQLAlchemy emit BEGIN itself (the documented pysqlite transaction recipe)."""

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")
