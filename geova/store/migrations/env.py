"""Alembic environment: runs migrations on the connection geova hands over (see geova.store.migrate)."""

from __future__ import annotations

from typing import Any

from alembic import context
from geoalchemy2 import alembic_helpers

from geova.store.schema import Base

# SpatiaLite's own bookkeeping tables live in the same file; they are not geova's to migrate.
SPATIALITE_TABLES = {
    "ElementaryGeometries",
    "data_licenses",
    "KNN",
    "KNN2",
    "SpatialIndex",
    "sql_statements_log",
}


def include_object(obj: Any, name: str | None, obj_type: str, reflected: bool, compare_to: Any) -> bool:
    if obj_type == "table" and name in SPATIALITE_TABLES:
        return False
    return alembic_helpers.include_object(obj, name, obj_type, reflected, compare_to)


config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    include_object=include_object,
    process_revision_directives=alembic_helpers.writer,
    render_item=alembic_helpers.render_item,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
