"""An export of requests into the store, in one transaction: read -> validate -> place in quarters
and zones -> store (with every verdict maintained). Rows that are merely wrong are rejected one by
one and listed in a rejects file, and the others are stored; anything fatal leaves the store as it
was.

Three roads, chosen here: a re-import that can change nothing is answered from the journal
(:func:`unchanged`); a large file into an empty store is streamed (geova.importing.streamed); any
other file is validated whole, then only its new and changed rows are placed and written."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine

from geova.importing.files import default_rejects_path, digest_later, refused_by_store, sha256, write_rejects
from geova.importing.journalling import finish_requests_import, journal_import
from geova.importing.placing import opened, placed, row_flags
from geova.importing.referential import prepare_store
from geova.importing.reports import InterventionReport, log_import
from geova.importing.streamed import Load, Progress, first_load
from geova.io.errors import TooManyRejects
from geova.io.mapping import load_mapping
from geova.io.records import to_records
from geova.io.tables import read_table
from geova.store import interventions, journal, routing, verdicts
from geova.store.db import write
from geova.store.migrate import current_revision
from geova.store.referential import category_codes


def import_interventions(
    engine: Engine,
    path: Path,
    mapping_path: Path,
    *,
    rejects_path: Path | None = None,
    max_rejects: int | None = None,
    progress: Progress | None = None,
) -> InterventionReport:
    began = time.perf_counter()
    mapping = load_mapping(mapping_path)
    source = mapping.source.name or path.stem
    report = InterventionReport(file=str(path), source=source)
    # a missing or unreadable file is reported by the reader below, naming it
    readable = path.exists() and mapping_path.is_file()
    mapping_digest = sha256(mapping_path) if readable else ""
    file_digest: str | None = None
    if readable and imported_before(engine, source):
        file_digest = sha256(path)
        again = unchanged(
            engine, path, mapping_path, mapping, source, (file_digest, mapping_digest), report, max_rejects
        )
        if again is not None:
            return again
    table = read_table(
        path, delimiter=mapping.source.delimiter, encoding=mapping.source.encoding, layer=mapping.source.layer
    )
    digest = digest_later(path) if file_digest is None else (lambda: file_digest)
    report.notes.extend(table.notes)
    rejects_file = rejects_path or default_rejects_path(path)
    report.rejects_file = str(rejects_file)
    if interventions.first_load_wanted(len(table.cells)):
        prepare_store(engine)
        with engine.connect() as conn:
            first = interventions.empty(conn)  # checked again under a lock
        if first:
            how = Load(
                path, mapping_path, mapping, rejects_file, max_rejects, digest, mapping_digest, progress
            )
            if first_load(engine, how, table, report):
                log_import("interventions", path, report.counts(), began)
                return report
    records = to_records(table, mapping, path)
    report.read, report.rejected = records.read, len(records.rejects)
    write_rejects(records.rejects, rejects_file, table.row_unit)
    if max_rejects is not None and report.rejected > max_rejects:
        raise TooManyRejects(str(path), report.rejected, max_rejects, str(rejects_file))
    started = datetime.now(UTC)
    frame = records.frame
    prepare_store(engine)
    with refused_by_store(path), write(engine) as conn:
        quarters, zones = opened(conn, mapping, mapping_path, report)
        xs, ys = frame["x"].to_numpy(dtype=float), frame["y"].to_numpy(dtype=float)
        # Only new or changed rows are placed: an unchanged row keeps its stored assignment (layer
        # changes re-place every row themselves), which makes a re-import cheap.
        stored = interventions.stored_versions(conn, source)
        todo = np.flatnonzero(interventions.changed_rows(frame, stored))
        where = placed(frame.iloc[todo], xs[todo], ys[todo], quarters, zones, routing.router(conn))
        frame["quarter_id"] = np.full(len(frame), -1, dtype=np.int64)
        frame["subquarter_id"] = np.full(len(frame), -1, dtype=np.int64)
        frame.loc[todo, "quarter_id"] = where.frame["quarter_id"].to_numpy()
        frame.loc[todo, "subquarter_id"] = where.frame["subquarter_id"].to_numpy()
        frame.loc[todo, "service"] = where.frame["service"].to_numpy()
        zone_pairs = [(int(todo[p]), z) for p, z in where.zone_pairs]
        unchanged_outside = (
            0
            if len(todo) == len(frame)  # every row new or changed (a first import)
            else sum(
                1
                for sid in frame["source_id"].to_numpy()[np.setdiff1d(np.arange(len(frame)), todo)]
                if stored[sid][1] is None
            )
        )
        flags = row_flags(frame, xs, ys, records.flags, mapping, quarters)
        import_id = journal_import(conn, "interventions", source, path, started, {}, digest())
        total = len(frame)
        written = interventions.upsert(
            conn,
            source,
            frame,
            zone_pairs,
            flags,
            import_id,
            progress=(lambda done: progress(done, total)) if progress else None,
            stored=stored,
        )
        interventions.flag_repeated_locations(conn, mapping.checks.repeated_location_threshold)
        report.inserted, report.updated, report.unchanged = (
            written.inserted,
            written.updated,
            written.unchanged,
        )
        report.outside_territory = where.outside + unchanged_outside
        report.flagged = interventions.flag_counts(conn, written.ids)
        finish_requests_import(conn, import_id, report, mapping_digest, source)
    log_import("interventions", path, report.counts(), began)
    return report


def imported_before(engine: Engine, source: str) -> bool:
    """Whether the store's journal holds an import of ``source``: only then may the file be the
    same as last time (unchanged), and its digest be needed before it is read."""
    if current_revision(engine) is None:
        return False
    with engine.connect() as conn:
        return journal.imported_before(conn, "interventions", source)


def unchanged(
    engine: Engine,
    path: Path,
    mapping_path: Path,
    mapping: Any,
    source: str,
    digests: tuple[str, str],
    report: InterventionReport,
    max_rejects: int | None,
) -> InterventionReport | None:
    """The report of a re-import that can change nothing (the same bytes, the same mapping, and no
    request of the source touched since: geova.store.journal.unchanged_import), answered from the
    journal in the time it takes to hash the file instead of parsing a million rows again; the run
    is journalled all the same. ``None``: import in full."""
    if not digests[0] or current_revision(engine) is None:
        return None
    with engine.connect() as conn:
        if not verdicts.maintained(conn):
            return None
        previous = journal.unchanged_import(conn, "interventions", source, *digests)
        unknown = mapping.category_codes() - category_codes(conn)
    if previous is None or unknown:
        return None
    report.read = int(previous.get("read", 0))
    report.rejected = int(previous.get("rejected", 0))
    report.unchanged = report.read - report.rejected
    report.outside_territory = int(previous.get("outside_territory", 0))
    report.flagged = {}
    report.rejects_file = previous.get("rejects_file")
    report.notes.append("the same file and mapping as the last import of this source: nothing to change")
    if max_rejects is not None and report.rejected > max_rejects:
        raise TooManyRejects(str(path), report.rejected, max_rejects, str(report.rejects_file))
    started = datetime.now(UTC)
    with write(engine) as conn:
        import_id = journal_import(conn, "interventions", source, path, started, {}, digests[0])
        journal.finish_import(conn, import_id, {**previous, **report.counts(), "flagged": {}})
    return report
