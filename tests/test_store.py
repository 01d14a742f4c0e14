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


def test_the_migrated_indexes_are_the_models_indexes(engine):
    """Alembic's own comparison finds no index the migrations and geova.store.schema disagree on
    (an index dropped by a migration but still declared, or the reverse), on geova's tables."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from geova.store.schema import Base

    ours = set(Base.metadata.tables)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    about_indexes = [
        (d[0], d[1].name, d[1].table.name)
        for d in diffs
        if isinstance(d, tuple) and d[0] in ("add_index", "remove_index") and d[1].table.name in ours
    ]
    assert about_indexes == []
    names = {i["name"] for i in inspect(engine).get_indexes("intervention")}
    assert "ix_intervention_quarter_category_reported" in names  # serves lookups by quarter alone too
    assert not {"ix_intervention_quarter_id", "ix_intervention_status"} & names  # migration 0019
