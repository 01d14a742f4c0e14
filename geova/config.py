"""Where geova finds its database and runtime state.

One resolution order for every entry point (CLI, web app, tests) so that `geova import-...` and the
web app served by `make demo` always talk to the same store: an explicit URL, then the
``GEOVA_DATABASE_URL`` environment variable, then an embedded SpatiaLite file under ``instance/``.
"""

from __future__ import annotations

from pathlib import Path

from geova.settings import load

DEFAULT_TIMEZONE = "Europe/Paris"
# Seconds a write waits for another writer's lock before giving up (the web answers 503 then).


def instance_path() -> Path:
    """The folder holding runtime state; ``GEOVA_INSTANCE_PATH`` or ``./instance``."""
    return load().instance


def database_url(explicit: str | None = None) -> str:
    """The database URL to use, normalised to the drivers geova ships with."""
    url = explicit or load().database_url
    if not url:
        folder = instance_path()
        folder.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{folder / 'geova.sqlite'}"
    return normalise_url(url)


def normalise_url(url: str) -> str:
    """Map the URLs people paste (``postgres://``, ``postgresql://``) onto psycopg 3."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def busy_timeout() -> float:
    """``GEOVA_BUSY_TIMEOUT`` in seconds (default 30): how long a write waits for the store's lock."""
    return load().busy_timeout
