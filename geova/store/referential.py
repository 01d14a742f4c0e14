"""Writing the referential into the store (upsert by code; nothing a city added is deleted)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from geova.core.referential import Referential
from geova.store.schema import Category, FieldOfAction, StandardTask


def store_referential(conn: Connection, ref: Referential) -> dict[str, int]:
    counts = {"fields": 0, "tasks": 0, "categories": 0}
    for key, model, items in (
        ("fields", FieldOfAction, ref.fields),
        ("tasks", StandardTask, ref.tasks),
        ("categories", Category, ref.categories),
    ):
        table = model.__table__
        known = set(conn.execute(select(table.c.code)).scalars())
        for item in items:
            values = dict(item.__dict__)
            if item.code in known:
                conn.execute(table.update().where(table.c.code == item.code).values(**values))
            else:
                conn.execute(table.insert().values(**values))
                counts[key] += 1
    return counts


def category_codes(conn: Connection) -> set[str]:
    return set(conn.execute(select(Category.__table__.c.code)).scalars())
