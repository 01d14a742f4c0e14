"""Schema creation and upgrades, always through Alembic (never ``create_all``).

Alembic is driven from code rather than an ``alembic.ini`` so that ``geova db upgrade`` works from any
folder, on the same engine (SpatiaLite loaded, PostGIS enabled) as the rest of geova.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from geova.store.db import write

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``, enabling PostGIS first on a server database."""
    if engine.dialect.name == "postgresql":
        with write(engine) as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    cfg = alembic_config(engine)
    with write(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def ensure_schema(engine: Engine) -> bool:
    """Upgrade when behind; returns True when a migration ran."""
    if current_revision(engine) == head_revision(engine):
        return False
    upgrade(engine)
    return True


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a new migration from the schema module (a developer tool)."""
    cfg = alembic_config(engine)
    with write(engine) as conn:
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)
