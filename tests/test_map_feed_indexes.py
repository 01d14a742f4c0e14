"""Migrations 0017 and 0021: the map feed's covering columns, added then dropped (PostgreSQL).

0017 made the quarter index hold each request's id and point and the verdict's primary key the
dates a state is judged on, for the map feed's SQL count (bench/README.md, "Session 5: map feed");
0021 takes them out again since the replica counts the clusters. SQLite's indexes never held them.
The migrations go down to 0016 and up again on both backends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from geova.store.db import make_engine, write
from geova.store.migrate import alembic_config, current_revision, head_revision, upgrade


def _definitions(engine: Engine) -> dict[str, str]:
    """index name -> its definition, for the two indexes the migration rebuilds."""
    names = ("verdict_pkey", "ix_intervention_quarter_category_reported")
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            query = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        else:
            query = "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
        rows = conn.execute(text(query))
        return {name: str(sql) for name, sql in rows if name in names}


def _downgrade(engine: Engine, revision: str) -> None:
    cfg = alembic_config(engine)
    with write(engine) as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


@pytest.fixture(params=["spatialite", "postgis"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty store of its own, migrated to the head (its schema is changed by the test)."""
    if request.param == "spatialite":
        engine = make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    server = make_url(request.getfixturevalue("postgis_url"))
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = f"geova_test_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(server.set(database=name).render_as_string(hide_password=False))
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_the_feeds_indexes_hold_their_key_alone(engine):
    found = _definitions(engine)
    quarter = found["ix_intervention_quarter_category_reported"]
    assert "quarter_id, category_code, reported_at" in quarter
    assert "INCLUDE" not in quarter.upper()
    if engine.dialect.name == "postgresql":
        assert found["verdict_pkey"].endswith("(intervention_id, norm_code)")


def test_the_migrations_go_down_and_up_again(fresh):
    at_head = _definitions(fresh)
    _downgrade(fresh, "0020")
    covering = _definitions(fresh)
    if fresh.dialect.name == "postgresql":
        assert "INCLUDE (id, geom)" in covering["ix_intervention_quarter_category_reported"]
        assert covering["verdict_pkey"].endswith(
            "(intervention_id, norm_code) INCLUDE (reported_at, due_at, resolved_at)"
        )
    else:
        assert covering == at_head
    _downgrade(fresh, "0016")
    assert current_revision(fresh) == "0016"
    before = _definitions(fresh)
    assert "INCLUDE" not in " ".join(before.values()).upper()
    assert "quarter_id, category_code, reported_at" in before["ix_intervention_quarter_category_reported"]
    upgrade(fresh)
    assert current_revision(fresh) == head_revision(fresh)
    assert _definitions(fresh) == at_head
