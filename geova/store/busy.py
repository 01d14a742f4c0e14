"""A store too busy to take a write lock in time, recognised on either backend.

Its own module so that the bulk writers and the verdict maintenance, which geova.store.db's
:func:`~geova.store.db.write` calls, can share it without importing the engine module back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

# SQLite's primary result codes for a lock it could not get: SQLITE_BUSY (another connection holds
# it) and SQLITE_LOCKED (a conflict inside the same connection's shared cache).
SQLITE_BUSY_CODES = {5, 6}
# PostgreSQL: lock_not_available (lock_timeout ran out), serialization_failure, deadlock_detected.
POSTGRES_BUSY_STATES = {"55P03", "40001", "40P01"}


class StoreBusy(RuntimeError):
    """The store could not take the write lock in time (SQLite's busy timeout, or PostgreSQL's lock
    timeout): nothing was written, and the same call may succeed a moment later."""


def is_busy_error(exc: BaseException) -> bool:
    """Whether a driver error means "a lock could not be had in time" (retryable), on either backend."""
    state = getattr(exc, "sqlstate", None)
    if state is not None:
        return state in POSTGRES_BUSY_STATES
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in SQLITE_BUSY_CODES
    message = str(exc).lower()  # older sqlite3 modules do not expose the result code
    return type(exc).__name__ == "OperationalError" and ("database is locked" in message or "busy" in message)


@contextmanager
def busy_errors() -> Iterator[None]:
    """The same translation for calls made on the driver's connection directly (geova.store.bulk's
    COPY and executemany), which SQLAlchemy's ``handle_error`` event does not see."""
    try:
        yield
    except Exception as exc:
        if is_busy_error(exc):
            raise StoreBusy(str(exc).strip()) from exc
        raise
