"""Where geova finds its database and runtime state.

One resolution order for every entry point (CLI, web app, tests) so that `geova import-...` and the
web app served by `make demo` always talk to the same store: an explicit URL, then the
``GEOVA_DATABASE_URL`` environment variable, then an embedded SpatiaLite file under ``instance/``.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_TIMEZONE = "Europe/Paris"
# Seconds a write waits for another writer's lock before giving up (the web answers 503 then).
DEFAULT_BUSY_TIMEOUT = 30.0


def instance_path() -> Path:
    """The folder holding runtime state; ``GEOVA_INSTANCE_PATH`` or ``./instance``."""
    return Path(os.environ.get("GEOVA_INSTANCE_PATH", "instance")).resolve()


def database_url(explicit: str | None = None) -> str:
    """The database URL to use, normalised to the drivers geova ships with."""
    url = explicit or os.environ.get("GEOVA_DATABASE_URL")
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
    raw = os.environ.get("GEOVA_BUSY_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_BUSY_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError as exc:
        raise ValueError(f"GEOVA_BUSY_TIMEOUT must be a number of seconds, not {raw!r}") from exc
    if not 0 <= seconds <= 3600:
        raise ValueError(f"GEOVA_BUSY_TIMEOUT must be between 0 and 3600 seconds, not {raw!r}")
    return seconds
