"""Passages and dated events into the store (for frequency and count norms), upserting on the
source id: passages with coordinates placed in quarters and zones, events by the quarter they
name."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from geova.core.assign import Area, assign_points
from geova.importing.files import default_rejects_path, refused_by_store, write_rejects
from geova.importing.journalling import journal_import
from geova.importing.referential import prepare_store
from geova.importing.reports import InterventionReport, log_import
from geova.io.activities import load_activity_mapping, to_activities
from geova.io.errors import ImportFailure, Reject, TooManyRejects
from geova.io.tables import read_table
from geova.store import areas
from geova.store.activities import upsert_activities
from geova.store.db import write
from geova.store.referential import category_codes


def import_activities(
    engine: Engine,
    path: Path,
    mapping_path: Path,
    *,
    rejects_path: Path | None = None,
    max_rejects: int | None = None,
) -> InterventionReport:
    """Load passages and dated events (for frequency and count norms), upserting on the source id.

    Passages with coordinates are assigned to quarters and zones; events name their quarter.
    Activities have no flags table: local times a DST change skips or repeats are only counted
    in the report's ``flagged``.
    """
    began = time.perf_counter()
    mapping = load_activity_mapping(mapping_path)
    source = mapping.source.name or path.stem
    report = InterventionReport(file=str(path), source=source)
    table = read_table(
        path, delimiter=mapping.source.delimiter, encoding=mapping.source.encoding, layer=mapping.source.layer
    )
    report.notes.extend(table.notes)
    acts = to_activities(table, mapping, path)
    prepare_store(engine)
    with refused_by_store(path), write(engine) as conn:
        unknown = mapping.category_codes() - category_codes(conn)
        if unknown:
            raise ImportFailure(
                str(mapping_path), "categories not in the referential: " + ", ".join(sorted(unknown))
            )
        quarters, zones = areas.load_areas(conn)
        frame, rejects = place_activities(
            acts.frame, quarters, areas.parent_codes(conn), mapping.columns.quarter
        )
        located = frame["x"].notna().to_numpy()
        placed = assign_points(
            frame["x"].to_numpy()[located], frame["y"].to_numpy()[located], quarters, zones
        )
        frame.loc[located, "quarter_id"] = placed.quarter
        frame.loc[located, "subquarter_id"] = placed.subquarter
        positions = np.flatnonzero(located)
        zone_pairs = [(int(positions[p]), z) for p, z in placed.zone_pairs]
        rejects = sorted([*acts.rejects, *rejects], key=lambda r: r.row)
        rejects_file = rejects_path or default_rejects_path(path)
        if max_rejects is not None and len(rejects) > max_rejects:
            write_rejects(rejects, rejects_file, table.row_unit)
            raise TooManyRejects(str(path), len(rejects), max_rejects, str(rejects_file))
        written = upsert_activities(conn, source, frame, zone_pairs)
        journal_import(
            conn,
            "activities",
            source,
            path,
            datetime.now(UTC),
            {"read": acts.read, "inserted": written.inserted, "rejected": len(rejects)},
        )
    write_rejects(rejects, rejects_file, table.row_unit)
    report.read, report.rejected, report.rejects_file = acts.read, len(rejects), str(rejects_file)
    kept = set(frame["row"].tolist())
    rows = acts.frame["row"].to_numpy()
    for code, mask in acts.flags.items():
        n = sum(1 for r in rows[mask] if r in kept)
        if n:
            report.flagged[code.value] = n
    report.inserted, report.updated, report.unchanged = written.inserted, written.updated, written.unchanged
    report.outside_territory = int((frame["quarter_id"] < 0).sum())
    log_import("activities", path, report.counts(), began)
    return report


def place_activities(
    frame: pd.DataFrame, quarters: list[Area], parents: dict[str, str], quarter_column: str | None
) -> tuple[pd.DataFrame, list[Reject]]:
    """Quarter ids of the activities that name their quarter; unknown codes are rejected."""
    by_code = {q.code: q for q in quarters}
    codes = frame["quarter_code"]
    named = frame["x"].isna() & codes.notna()
    unknown = named & ~codes.isin(list(by_code))
    rejects = [
        Reject(int(r), quarter_column or "quarter", str(c), "unknown quarter code")
        for r, c in zip(frame.loc[unknown, "row"], codes[unknown], strict=True)
    ]
    frame = frame[~unknown].reset_index(drop=True)
    codes = frame["quarter_code"]
    top = codes.map(lambda c: parents.get(c, c) if c in by_code else None)
    frame["quarter_id"] = top.map(lambda c: by_code[c].id if c in by_code else -1).astype(np.int64)
    frame["subquarter_id"] = codes.map(
        lambda c: by_code[c].id if c in by_code and by_code[c].level > 0 else -1
    ).astype(np.int64)
    return frame, rejects
