"""What the store holds, summarised for `geova status` and the web app's front page."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, select

from geova.store.schema import ImportRun, Intervention, InterventionFlag, Quarter, Setting, Zone


def settings(conn: Connection) -> dict[str, str]:
    return dict(conn.execute(select(Setting.key, Setting.value)).all())


# The territory's clock: the instant pages judge data at when none is asked for (ISO, UTC); absent:
# now. ``geova demo`` sets it to the Boston extract's instant.
AS_OF = "as_of"


def delete_setting(conn: Connection, key: str) -> None:
    conn.execute(delete(Setting).where(Setting.key == key))


def set_setting(conn: Connection, key: str, value: str) -> None:
    t = Setting.__table__
    if conn.execute(select(t.c.key).where(t.c.key == key)).first():
        conn.execute(t.update().where(t.c.key == key).values(value=value))
    else:
        conn.execute(t.insert().values(key=key, value=value))


def store_status(conn: Connection, last_imports: int = 10) -> dict[str, Any]:
    i, f, q, z, r = (m.__table__ for m in (Intervention, InterventionFlag, Quarter, Zone, ImportRun))
    by_cat_status: dict[str, dict[str, int]] = {}
    for cat, status, n in conn.execute(
        select(i.c.category_code, i.c.status, func.count()).group_by(i.c.category_code, i.c.status)
    ):
        by_cat_status.setdefault(cat, {})[status] = n
    flagged_rows = conn.execute(select(func.count(func.distinct(f.c.intervention_id)))).scalar_one()
    imports = [
        {
            "kind": row.kind,
            "source": row.source,
            "file": row.file_name,
            "finished_at": row.finished_at.isoformat(),
            "counts": row.counts,
        }
        for row in conn.execute(select(r).order_by(r.c.id.desc()).limit(last_imports))
    ]
    return {
        "settings": settings(conn),
        "quarters": dict(
            conn.execute(select(q.c.level, func.count()).group_by(q.c.level).order_by(q.c.level)).all()
        ),
        "zones": dict(
            conn.execute(select(z.c.kind, func.count()).group_by(z.c.kind).order_by(z.c.kind)).all()
        ),
        "interventions": {
            "total": conn.execute(select(func.count()).select_from(i)).scalar_one(),
            "outside_territory": conn.execute(
                select(func.count()).select_from(i).where(i.c.quarter_id.is_(None))
            ).scalar_one(),
            "by_category": by_cat_status,
        },
        "flags": dict(
            conn.execute(select(f.c.code, func.count()).group_by(f.c.code).order_by(f.c.code)).all()
        ),
        "flagged_rows": flagged_rows,
        "last_imports": imports,
    }
