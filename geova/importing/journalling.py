"""The journal's row of each import: opened with the file's digest, finished with the counts the
import pages and an unchanged re-import read back (geova.store.journal holds the SQL)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection

from geova.importing.files import sha256
from geova.importing.reports import InterventionReport
from geova.store import journal


def journal_import(
    conn: Connection,
    kind: str,
    source: str,
    path: Path,
    started: datetime,
    counts: dict,
    digest: str | None = None,
) -> int:
    """Record the import; ``digest`` is the file's SHA-256 when the caller has already read it
    (half a second more for a 500 MB export otherwise)."""
    return journal.record_import(conn, kind, source, path.name, digest or sha256(path), started, counts)


def finish_requests_import(
    conn: Connection,
    import_id: int,
    report: InterventionReport,
    mapping_digest: str,
    source: str,
    digest: str | None = None,
    stored: int | None = None,
) -> None:
    """The journal's row of an import of requests, its counts and (when known only now) the file's
    digest; ``stored``: the source's requests in the store, when the caller knows it."""
    journal.finish_import(
        conn,
        import_id,
        {
            **report.counts(),
            "flagged": report.flagged,
            "mapping_sha256": mapping_digest,
            "stored": journal.stored_count(conn, source) if stored is None else stored,
            "rejects_file": report.rejects_file,
        },
        sha256=digest,
    )
