"""A large file of requests into an empty store, streamed: each part of the file is checked (two
threads ahead), placed and routed while the database stores the parts before it, where checking
the whole file first left the server idle for a third of the import. The store's side (one COPY
or one staging file, indexes built once, verdicts computed in a worker) is
geova.store.interventions.first_load."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from geova.importing.files import refused_by_store, write_rejects
from geova.importing.journalling import finish_requests_import
from geova.importing.placing import opened, placed, row_flags
from geova.importing.reports import InterventionReport
from geova.io.errors import TooManyRejects
from geova.io.records import STREAM_PART_ROWS, stream_records
from geova.io.tables import SourceTable
from geova.store import interventions, journal, routing
from geova.store.db import write

Progress = Callable[[int, int], None]  # (done, total)


@dataclass
class Load:
    """What an import of requests was asked to do (import_interventions' arguments)."""

    path: Path
    mapping_path: Path
    mapping: Any
    rejects_file: Path
    max_rejects: int | None
    digest: Callable[[], str]  # the file's SHA-256, maybe still being computed
    mapping_digest: str
    progress: Progress | None


def first_load(engine: Engine, how: Load, table: SourceTable, report: InterventionReport) -> bool:
    """Store ``table`` streamed, part after part, in one transaction. ``False`` when another writer
    stored requests meanwhile: the caller imports the ordinary way.

    Rejects are settled at the end, inside the transaction: too many, and the rollback leaves the
    store as it was (the rejects file is written all the same)."""
    source, path, mapping, progress = report.source, how.path, how.mapping, how.progress
    stream = stream_records(table, mapping, path, part_rows=STREAM_PART_ROWS)
    report.read = stream.read
    started = datetime.now(UTC)
    with refused_by_store(path), write(engine, bulk=True) as conn:
        if not interventions.empty_and_locked(conn):
            return False
        quarters, zones = opened(conn, mapping, how.mapping_path, report)
        router = routing.router(conn)
        # the file's digest is recorded at the end (still being computed, see files.digest_later)
        import_id = journal.record_import(conn, "interventions", source, path.name, "", started, {})

        def parts() -> Iterator[interventions.PlacedPart]:
            done = 0
            for frame, parsed in stream.parts:
                if len(frame):
                    xs, ys = frame["x"].to_numpy(dtype=float), frame["y"].to_numpy(dtype=float)
                    where = placed(frame, xs, ys, quarters, zones, router)
                    report.outside_territory += where.outside
                    rows = frame.assign(**{c: where.frame[c].to_numpy() for c in where.frame.columns})
                    yield interventions.PlacedPart(
                        rows, where.zone_pairs, row_flags(rows, xs, ys, parsed, mapping, quarters)
                    )
                done += len(frame)
                if progress:
                    progress(done, stream.read)  # the valid rows so far, of the rows read
            if progress:
                progress(stream.read, stream.read)

        loaded = interventions.first_load(conn, source, import_id, parts(), stream.read)
        rejects = stream.rejects()
        report.rejected = len(rejects)
        write_rejects(rejects, how.rejects_file, table.row_unit)
        if how.max_rejects is not None and report.rejected > how.max_rejects:
            raise TooManyRejects(str(path), report.rejected, how.max_rejects, str(how.rejects_file))
        interventions.flag_repeated_locations(conn, mapping.checks.repeated_location_threshold, loaded)
        report.inserted = len(loaded.ids)
        # the store held no request before: every flag and every request of the source is the load's
        report.flagged = interventions.flag_counts(conn)
        finish_requests_import(
            conn, import_id, report, how.mapping_digest, source, how.digest(), stored=report.inserted
        )
    return True
