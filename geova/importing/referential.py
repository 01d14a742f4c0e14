"""The store made ready for an import: its schema at head and the city's referential file loaded
when it changed; a city's own norms and categories added on top."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine

from geova.core.referential import Referential
from geova.importing.files import sha256
from geova.io.referential_file import read_referential, refusal
from geova.settings import load as load_settings
from geova.store.db import write
from geova.store.migrate import ensure_schema
from geova.store.referential import formula_names_known, store_referential, unknown_codes
from geova.store.status import set_setting, settings


def prepare_store(engine: Engine, referential: Path | None = None) -> list[str]:
    """Bring the schema to head and load the referential file when it changed since last loaded.

    The referential is the city's own file (``GEOVA_REFERENTIAL``, default data/referential.toml):
    loading it upserts by code and never deletes, so what the city added in the store stays.
    """
    said = []
    if ensure_schema(engine):
        said.append("database schema upgraded")
    path = referential or referential_path()
    digest = sha256(path)
    with write(engine) as conn:
        if settings(conn).get("referential_sha256") != digest:
            store_referential(conn, checked_referential(conn, path, places=False), base=True)
            set_setting(conn, "referential_sha256", digest)
            said.append(f"referential loaded from {path}")
    return said


def referential_path() -> Path:
    return load_settings().referential


def load_extra_referential(engine: Engine, path: Path) -> dict[str, int]:
    """Add a city's own norms or categories (e.g. data/boston/norms.toml) to the store. Load it after
    the layers: the quarters, zones and zone kinds its norms name must be stored."""
    prepare_store(engine)
    with write(engine) as conn:
        return store_referential(conn, checked_referential(conn, path, places=True))


def checked_referential(conn: Connection, path: Path, *, places: bool) -> Referential:
    """The file validated whole, then against the store: an ImportFailure lists every problem."""
    ref = read_referential(path, formula_names_known(conn))
    problems = unknown_codes(conn, ref, places=places)
    if problems:
        raise refusal(path, problems)
    return ref
