"""The import journal: one row per import run (kind, source, file, digest, counts), which `geova
status` and the web app's import log read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, update

from geova.store.schema import ImportRun


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


def finish_import(conn: Connection, import_id: int, counts: dict[str, Any]) -> None:
    conn.execute(
        update(ImportRun)
        .where(ImportRun.id == import_id)
        .values(finished_at=datetime.now(UTC), counts=counts)
    )
