"""Migration 0020: PostgreSQL keeps statistics of the requests' longitudes and latitudes, so that a
map view's box is expected to hold about as many requests as it does (geova.store.records.in_box
tests ``ST_X`` and ``ST_Y`` for the exact edges, which PostgreSQL otherwise guesses keep half a
percent of the rows each). The migration goes down to 0019 and up again on both backends; SQLite
has no such statistics and is left as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

from alembic import command
from sqlalchemy import Engine, text

from geova.store.db import write
from geova.store.migrate import alembic_config, current_revision, head_revision, upgrade
from tests.test_map_feed_indexes import fresh  # noqa: F401 (the fixture: a store of its own)
from tests.test_web_correspondent import build_store

NAME = "st_intervention_lon_lat"
BOX = (-71.2, 42.2, -70.9, 42.4)  # most of Boston
IN_BOX = (
    "FROM intervention WHERE geom && ST_MakeEnvelope({0}, {1}, {2}, {3}, 4326) "
    "AND ST_X(geom) BETWEEN {0} AND {2} AND ST_Y(geom) BETWEEN {1} AND {3}"
).format(*BOX)


def statistics(engine: Engine) -> set[str]:
    if engine.dialect.name != "postgresql":
        return set()
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT stxname FROM pg_statistic_ext")).scalars())


def expected_and_found(engine: Engine) -> tuple[float, int]:
    """(rows the planner expects in the box, rows there are), after ANALYZE."""
    with engine.begin() as conn:
        conn.execute(text("ANALYZE intervention"))
        plan = conn.execute(text(f"EXPLAIN (FORMAT JSON) SELECT id {IN_BOX}")).scalar_one()
        found = conn.execute(text(f"SELECT count(*) {IN_BOX}")).scalar_one()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return float(plan[0]["Plan"]["Plan Rows"]), int(found)


def down(engine: Engine, revision: str) -> None:
    cfg = alembic_config(engine)
    with write(engine) as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_a_box_is_expected_to_hold_what_it_holds(fresh: Engine, tmp_path: Path) -> None:  # noqa: F811
    build_store(fresh, tmp_path / "rejects.csv")
    if fresh.dialect.name != "postgresql":
        assert statistics(fresh) == set()
        down(fresh, "0019")
        upgrade(fresh)
        assert current_revision(fresh) == head_revision(fresh)
        return
    assert NAME in statistics(fresh)
    expected, found = expected_and_found(fresh)
    assert found > 200
    assert found / 3 <= expected <= found * 3, (expected, found)
    down(fresh, "0019")
    assert NAME not in statistics(fresh)
    before, _ = expected_and_found(fresh)
    assert before < found / 100  # what the planner guessed without them
    upgrade(fresh)
    assert NAME in statistics(fresh)
