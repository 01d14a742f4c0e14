"""Activities in the store: idempotent upsert on (source, source id), like interventions."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Connection, bindparam, delete, insert, select, update

from geova.store.interventions import UpsertCounts, chunks
from geova.store.schema import Activity, ActivityZone

A = Activity.__table__
AZ = ActivityZone.__table__
STORED = ["source_id", "category_code", "at", "label", "quarter_id", "subquarter_id", "content_hash"]


def _py(value: object) -> object:
    """Database-ready values from pandas cells (activities are few: the ORM path is fine)."""
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _values(frame: pd.DataFrame, positions: np.ndarray, source: str) -> list[dict]:
    rows = []
    for i in positions:
        row = {c: _py(frame[c].iloc[i]) for c in STORED}
        for c in ("quarter_id", "subquarter_id"):
            row[c] = row[c] if row[c] is not None and row[c] >= 0 else None
        x, y = frame["x"].iloc[i], frame["y"].iloc[i]
        row["geom"] = None if np.isnan(x) else f"SRID=4326;POINT({float(x)!r} {float(y)!r})"
        row["source"] = source
        rows.append(row)
    return rows


def upsert_activities(
    conn: Connection, source: str, frame: pd.DataFrame, zone_pairs: list[tuple[int, int]]
) -> UpsertCounts:
    existing = dict(conn.execute(select(A.c.source_id, A.c.content_hash).where(A.c.source == source)).all())
    sids = frame["source_id"].to_numpy(dtype=object)
    state = np.array(
        [
            0 if s not in existing else (2 if existing[s] == h else 1)
            for s, h in zip(sids, frame["content_hash"], strict=True)
        ],
        dtype=np.int8,
    )
    new, changed = np.flatnonzero(state == 0), np.flatnonzero(state == 1)
    for part in chunks(new):
        conn.execute(insert(A), _values(frame, part, source))
    ids = dict(conn.execute(select(A.c.source_id, A.c.id).where(A.c.source == source)).all())
    upd = (
        update(A)
        .where(A.c.id == bindparam("_id"))
        .values({c: bindparam(c) for c in [*STORED, "geom"] if c != "source_id"})
    )
    for part in chunks(changed):
        rows = _values(frame, part, source)
        for r in rows:
            r["_id"] = ids[r.pop("source_id")]
        conn.execute(upd, rows)
        conn.execute(delete(AZ).where(AZ.c.activity_id.in_([r["_id"] for r in rows])))
    touched = state != 2
    pairs = [{"activity_id": ids[sids[p]], "zone_id": z} for p, z in zone_pairs if touched[p]]
    for part in chunks(pairs):
        conn.execute(insert(AZ), list(part))
    return UpsertCounts(len(new), len(changed), int((state == 2).sum()), [ids[s] for s in sids])
