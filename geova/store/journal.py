"""The import journal: one row per import run (kind, source, file, digest, counts), which `geova
status` and the web app's import log read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from geova.store.schema import ImportRun, Intervention, InterventionEvent


def record_import(
    conn: Connection,
    kind: str,
    source: str,
    file_name: str,
    sha256: str,
    started: datetime,
    counts: dict[str, Any],
) -> int:
    """A journal row for an import starting now (finished when it is written, unless finished later)."""
    statement = insert(ImportRun).values(
        kind=kind,
        source=source,
        file_name=file_name,
        sha256=sha256,
        started_at=started,
        finished_at=started,
        counts=counts,
    )
    return int(conn.execute(statement.returning(ImportRun.id)).scalar_one())


def finish_import(
    conn: Connection, import_id: int, counts: dict[str, Any], sha256: str | None = None
) -> None:
    """The import's row finished now with its counts, and its file's digest when given (an import
    may hash its file while it runs)."""
    values: dict[str, Any] = {"finished_at": datetime.now(UTC), "counts": counts}
    if sha256 is not None:
        values["sha256"] = sha256
    conn.execute(update(ImportRun).where(ImportRun.id == import_id).values(**values))


def imported_before(conn: Connection, kind: str, source: str) -> bool:
    runs = ImportRun.__table__
    found = select(runs.c.id).where(runs.c.kind == kind, runs.c.source == source).limit(1)
    return conn.execute(found).first() is not None


def unchanged_import(
    conn: Connection, kind: str, source: str, sha256: str, mapping_sha256: str
) -> dict[str, Any] | None:
    """The counts of the latest import of ``source`` if importing the same file with the same
    mapping again could change nothing: that import read these very bytes, and since it finished
    no request of the source was changed in geova (no event) and none came or went. ``None``
    otherwise, and the file is imported in full."""
    runs = ImportRun.__table__
    last = conn.execute(
        select(runs.c.sha256, runs.c.finished_at, runs.c.counts)
        .where(runs.c.kind == kind, runs.c.source == source)
        .order_by(runs.c.id.desc())
        .limit(1)
    ).first()
    if last is None or last.sha256 != sha256:
        return None
    counts = dict(last.counts or {})
    if counts.get("mapping_sha256") != mapping_sha256 or "stored" not in counts:
        return None
    iv, ev = Intervention.__table__, InterventionEvent.__table__
    if stored_count(conn, source) != counts["stored"]:
        return None
    touched = conn.execute(
        select(ev.c.id)
        .join(iv, iv.c.id == ev.c.intervention_id)
        .where(iv.c.source == source, ev.c.at >= last.finished_at)
        .limit(1)
    ).first()
    return None if touched is not None else counts


def stored_count(conn: Connection, source: str) -> int:
    iv = Intervention.__table__
    return int(conn.execute(select(func.count()).select_from(iv).where(iv.c.source == source)).scalar_one())
