"""The schema is created by Alembic and is the same on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import inspect, select

from geova.store.migrate import current_revision, head_revision, upgrade
from geova.store.schema import ImportRun


def test_schema_is_at_head_and_upgrade_is_idempotent(engine):
    assert current_revision(engine) == head_revision(engine)
    upgrade(engine)  # a second run is a no-op, not an error
    tables = set(inspect(engine).get_table_names())
    assert {"quarter", "zone", "intervention", "intervention_zone", "intervention_flag", "category"} <= tables


def test_timestamps_come_back_aware_and_in_utc(engine):
    paris = timezone(timedelta(hours=2))
    moment = datetime(2015, 6, 1, 10, 0, tzinfo=paris)
    t = ImportRun.__table__
    with engine.begin() as conn:
        conn.execute(
            t.insert().values(
                kind="x",
                source="s",
                file_name="f",
                sha256="0",
                started_at=moment,
                finished_at=moment,
                counts={},
            )
        )
        stored = conn.execute(select(t.c.started_at)).scalar_one()
    assert stored.tzinfo is not None
    assert stored == moment
    assert stored.utcoffset() == UTC.utcoffset(None)
