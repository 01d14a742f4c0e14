"""Background import jobs (``import_job``): created by the web app or ``geova sync``, advanced by the
process that runs them (geova.jobs), read by the page that polls their progress and the import log.

The store is the queue: a job is a row, its runner a process that writes its progress into that row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from geova.store.schema import ImportJob, ImportRun

JOBS = ImportJob.__table__
RUNS = ImportRun.__table__
FINISHED = ("done", "failed", "skipped")
PREVIEWING = ("preview", "previewing")  # a web upload's dry run: waiting to start, then running
PREVIEWED = "previewed"  # the dry run's result is stored; the job waits for "Import" (or nothing)


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    origin: str
    source: str | None
    file_name: str
    path: str
    mapping: str | None
    options: dict[str, Any]
    sha256: str | None
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    phase: str
    rows_done: int
    rows_total: int | None
    counts: dict[str, Any]
    error: str | None
    rejects_path: str | None
    pid: int | None

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED

    @property
    def previewing(self) -> bool:
        return self.phase in PREVIEWING

    @property
    def settled(self) -> bool:
        """No process works on the job: finished, or previewed and waiting for the user."""
        return self.finished or self.phase == PREVIEWED

    @property
    def failed_before_import(self) -> bool:
        """Failed before its import started (its preview found the file or mapping wrong)."""
        return self.phase == "failed" and self.started_at is None

    @property
    def percent(self) -> int | None:
        """How far the job is, 0 to 100; None while the total is not known."""
        if self.phase in FINISHED:
            return 100
        if not self.rows_total:
            return None
        return min(100, round(100 * self.rows_done / self.rows_total))


def _job(row: Any) -> Job:
    values = dict(row._mapping)
    values["options"] = dict(values["options"] or {})
    values["counts"] = dict(values["counts"] or {})
    return Job(**values)


def create_job(
    conn: Connection,
    *,
    kind: str,
    origin: str,
    file_name: str,
    path: str,
    mapping: str | None = None,
    options: dict[str, Any] | None = None,
    source: str | None = None,
    sha256: str | None = None,
    created_by: str | None = None,
    phase: str = "queued",
) -> int:
    statement = insert(JOBS).values(
        kind=kind,
        origin=origin,
        source=source,
        file_name=file_name,
        path=path,
        mapping=mapping,
        options=options or {},
        sha256=sha256,
        created_by=created_by,
        created_at=datetime.now(UTC),
        phase=phase,
        rows_done=0,
        counts={},
    )
    return int(conn.execute(statement.returning(JOBS.c.id)).scalar_one())


def update_job(conn: Connection, job_id: int, **values: Any) -> None:
    """Progress, phase, pid...: the columns given. A finished phase stamps ``finished_at``."""
    if values.get("phase") in FINISHED:
        values.setdefault("finished_at", datetime.now(UTC))
    if values.get("phase") == "running":
        values.setdefault("started_at", datetime.now(UTC))
    conn.execute(update(JOBS).where(JOBS.c.id == job_id).values(**values))


def fail_unfinished(conn: Connection, job_id: int, error: str) -> None:
    """Mark a job failed unless it finished meanwhile (its process may have just written it)."""
    conn.execute(
        update(JOBS)
        .where(JOBS.c.id == job_id, JOBS.c.phase.not_in((*FINISHED, PREVIEWED)))
        .values(phase="failed", error=error, finished_at=datetime.now(UTC))
    )


def queue_previewed(conn: Connection, job_id: int, **options: Any) -> bool:
    """A previewed job queued for its import, with ``options`` added to its own; False if it is
    not waiting for that any more (imported already, from another tab or a second click)."""
    job = get_job(conn, job_id)
    if job is None or job.phase != PREVIEWED:
        return False
    statement = (
        update(JOBS)
        .where(JOBS.c.id == job_id, JOBS.c.phase == PREVIEWED)
        .values(phase="queued", pid=None, options={**job.options, **options})
    )
    return conn.execute(statement).rowcount == 1


def record_progress(engine: Engine, job_id: int, done: int, total: int) -> None:
    """Rows stored so far, in a transaction of its own while the import's is still open. Progress is
    bookkeeping, not data: it does not go through ``db.write`` (no verdicts to settle, no new data
    version for the pages' caches at every tick)."""
    with engine.begin() as conn:
        conn.execute(
            update(JOBS).where(JOBS.c.id == job_id).values(phase="storing", rows_done=done, rows_total=total)
        )


def get_job(conn: Connection, job_id: int) -> Job | None:
    row = conn.execute(select(JOBS).where(JOBS.c.id == job_id)).first()
    return None if row is None else _job(row)


def recent_jobs(conn: Connection, limit: int = 50) -> list[Job]:
    return [_job(r) for r in conn.execute(select(JOBS).order_by(JOBS.c.id.desc()).limit(limit))]


def last_synced_sha256(conn: Connection, source: str) -> str | None:
    """The digest of the content ``source`` last imported without failing (``geova sync``)."""
    row = conn.execute(
        select(JOBS.c.sha256)
        .where(JOBS.c.source == source, JOBS.c.origin == "sync", JOBS.c.phase.in_(("done", "skipped")))
        .order_by(JOBS.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else row.sha256


@dataclass(frozen=True)
class JournalRow:
    kind: str
    source: str
    file_name: str
    started_at: datetime
    finished_at: datetime
    counts: dict[str, Any]


def recent_imports(conn: Connection, limit: int = 50) -> list[JournalRow]:
    """The import journal (every import, CLI ones included), latest first."""
    rows = conn.execute(select(RUNS).order_by(RUNS.c.id.desc()).limit(limit))
    return [
        JournalRow(r.kind, r.source, r.file_name, r.started_at, r.finished_at, dict(r.counts or {}))
        for r in rows
    ]
