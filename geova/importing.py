"""The import pipeline: read -> validate -> assign to quarters/zones -> store, in one transaction.

Everything that can fail on the user's data fails before or inside the transaction, so a fatal error
leaves the store exactly as it was; rows that are merely wrong are rejected one by one and listed in
a rejects file, and the others are stored.

A large file into an empty store is streamed instead (:func:`_first_load`): each part of the file
is validated, assigned and stored while the next is validated, and the rejects are settled at the
end, still inside the transaction.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from string import Formatter
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DataError, IntegrityError

from geova.config import instance_path
from geova.core.assign import Area, assign_points
from geova.core.checks import at_locations, location_key, outside_extent, resolved_before_report
from geova.core.model import Flag
from geova.core.referential import Referential
from geova.io.activities import load_activity_mapping, to_activities
from geova.io.errors import ImportFailure, Reject, TooManyRejects
from geova.io.exports import safe_cell
from geova.io.layers import read_layer
from geova.io.limits import LAYER_NAME_MAX, ZONE_KIND_MAX
from geova.io.mapping import load_mapping
from geova.io.records import STREAM_PART_ROWS, stream_records, to_records
from geova.io.referential_file import read_referential, refusal
from geova.io.tables import SourceTable, read_table
from geova.settings import load as load_settings
from geova.store import areas, interventions, journal, routing, verdicts
from geova.store.activities import upsert_activities
from geova.store.db import write
from geova.store.migrate import current_revision, ensure_schema
from geova.store.referential import category_codes, formula_names_known, store_referential, unknown_codes
from geova.store.status import set_setting, settings

Progress = Callable[[int, int], None]  # (done, total)
log = logging.getLogger(__name__)


def _log_import(kind: str, path: Path, counts: dict, began: float) -> None:
    """One line per import: what, which file, the counts, how long (geova.logs formats it)."""
    ms = round((time.perf_counter() - began) * 1000)
    log.info(
        "imported %s from %s in %d ms: %s",
        kind,
        path.name,
        ms,
        counts,
        extra={"kind": kind, "file": str(path), "counts": counts, "duration_ms": ms},
    )


@dataclass
class InterventionReport:
    file: str
    source: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    outside_territory: int = 0
    flagged: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rejects_file: str | None = None
    timezone_note: str | None = None  # the territory's time zone set from, or differing from, the mapping's

    def counts(self) -> dict[str, int]:
        return {
            k: getattr(self, k)
            for k in ("read", "inserted", "updated", "unchanged", "rejected", "outside_territory")
        }


@dataclass
class LayerReport:
    file: str
    layer: str
    kind: str
    features: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    parents_created: int = 0
    reassigned: int = 0
    notes: list[str] = field(default_factory=list)


def prepare_store(engine: Engine, referential: Path | None = None) -> list[str]:
    """Bring the schema to head and load the referential file when it changed since last loaded.

    The referential is the city's own file (``GEOVA_REFERENTIAL``, default data/referential.toml):
    loading it upserts by code and never deletes, so what the city added in the store stays.
    """
    said = []
    if ensure_schema(engine):
        said.append("database schema upgraded")
    path = referential or referential_path()
    digest = _sha256(path)
    with write(engine) as conn:
        if settings(conn).get("referential_sha256") != digest:
            store_referential(conn, _checked_referential(conn, path, places=False), base=True)
            set_setting(conn, "referential_sha256", digest)
            said.append(f"referential loaded from {path}")
    return said


def referential_path() -> Path:
    return load_settings().referential


def load_extra_referential(engine: Engine, path: Path) -> dict[str, int]:
    """Add a city's own norms or categories (e.g. data/boston/norms.toml) to the store. Load it after
    the layers: the quarters, zones and zone kinds its norms name must be stored."""
    prepare_store(engine)
    with write(engine) as conn:
        return store_referential(conn, _checked_referential(conn, path, places=True))


def _checked_referential(conn: Connection, path: Path, *, places: bool) -> Referential:
    """The file validated whole, then against the store: an ImportFailure lists every problem."""
    ref = read_referential(path, formula_names_known(conn))
    problems = unknown_codes(conn, ref, places=places)
    if problems:
        raise refusal(path, problems)
    return ref


def _sha256(path: Path) -> str:
    """The digest of a file (or of a folder's files, in name order), read in blocks: reading a
    490 MB export whole first took twice as long (0.8-1.0 s against 0.4-0.7 s), most of it the
    kernel mapping fresh memory."""
    h = hashlib.sha256()
    for p in sorted(path.iterdir()) if path.is_dir() else [path]:
        with p.open("rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    return h.hexdigest()


def _journal(
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
    return journal.record_import(conn, kind, source, path.name, digest or _sha256(path), started, counts)


@contextmanager
def _refused_by_store(file: Path) -> Iterator[None]:
    """A value the store's constraints refuse although the checks before let it through: one line
    naming the file instead of a traceback. Enter it before ``engine.begin()`` so that the
    transaction is rolled back first. Lock and connection errors (OperationalError) pass through:
    they say nothing about the file."""
    try:
        yield
    except (IntegrityError, DataError) as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        raise ImportFailure(str(file), f"the store refused a value ({reason})") from exc


def check_layer_options(path: Path, name: str, kind: str | None, parent_name: str) -> None:
    """Options that end up in the store, checked before anything is read."""
    if len(name) > LAYER_NAME_MAX:
        raise ImportFailure(str(path), f"layer name longer than {LAYER_NAME_MAX} characters (give --name)")
    if kind is not None and not 0 < len(kind) <= ZONE_KIND_MAX:
        raise ImportFailure(str(path), f"--kind must have 1 to {ZONE_KIND_MAX} characters")
    try:
        fields = {f for _, f, _, _ in Formatter().parse(parent_name) if f is not None}
    except ValueError as exc:
        raise ImportFailure(str(path), f"--parent-name {parent_name!r}: {exc}") from exc
    if fields - {"code"}:
        raise ImportFailure(
            str(path), f"--parent-name {parent_name!r}: the only placeholder is {{code}}, the parent's code"
        )


def write_rejects(rejects: list[Reject], path: Path, unit: str) -> None:
    """A rejects file for Excel users: ``;``-separated, UTF-8 with BOM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow([unit, "field", "value", "reason"])
        for r in rejects:
            w.writerow([safe_cell(c) for c in (r.row, r.field, r.value, r.reason)])  # values: the file's


def default_rejects_path(path: Path) -> Path:
    return instance_path() / "rejects" / f"{path.stem}.rejects.csv"


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
    mapping_digest = _sha256(mapping_path) if readable else ""
    file_digest: str | None = None
    if readable and _imported_before(engine, source):
        file_digest = _sha256(path)
        again = _unchanged(
            engine, path, mapping_path, mapping, source, (file_digest, mapping_digest), report, max_rejects
        )
        if again is not None:
            return again
    table = read_table(
        path, delimiter=mapping.source.delimiter, encoding=mapping.source.encoding, layer=mapping.source.layer
    )
    digest = _digest_later(path) if file_digest is None else (lambda: file_digest)
    report.notes.extend(table.notes)
    rejects_file = rejects_path or default_rejects_path(path)
    report.rejects_file = str(rejects_file)
    if interventions.first_load_wanted(len(table.cells)):
        prepare_store(engine)
        with engine.connect() as conn:
            first = interventions.empty(conn)  # checked again under a lock
        if first:
            how = _Load(
                path, mapping_path, mapping, rejects_file, max_rejects, digest, mapping_digest, progress
            )
            if _first_load(engine, how, table, report):
                _log_import("interventions", path, report.counts(), began)
                return report
    records = to_records(table, mapping, path)
    report.read, report.rejected = records.read, len(records.rejects)
    write_rejects(records.rejects, rejects_file, table.row_unit)
    if max_rejects is not None and report.rejected > max_rejects:
        raise TooManyRejects(str(path), report.rejected, max_rejects, str(rejects_file))
    started = datetime.now(UTC)
    frame = records.frame
    prepare_store(engine)
    with _refused_by_store(path), write(engine) as conn:
        quarters, zones = _opened(conn, mapping, mapping_path, report)
        xs, ys = frame["x"].to_numpy(dtype=float), frame["y"].to_numpy(dtype=float)
        # Only new or changed rows are placed: an unchanged row keeps its stored assignment (layer
        # changes re-place every row themselves), which makes a re-import cheap.
        stored = interventions.stored_versions(conn, source)
        todo = np.flatnonzero(interventions.changed_rows(frame, stored))
        placed = _placed(frame.iloc[todo], xs[todo], ys[todo], quarters, zones, routing.router(conn))
        frame["quarter_id"] = np.full(len(frame), -1, dtype=np.int64)
        frame["subquarter_id"] = np.full(len(frame), -1, dtype=np.int64)
        frame.loc[todo, "quarter_id"] = placed.frame["quarter_id"].to_numpy()
        frame.loc[todo, "subquarter_id"] = placed.frame["subquarter_id"].to_numpy()
        frame.loc[todo, "service"] = placed.frame["service"].to_numpy()
        zone_pairs = [(int(todo[p]), z) for p, z in placed.zone_pairs]
        unchanged_outside = (
            0
            if len(todo) == len(frame)  # every row new or changed (a first import)
            else sum(
                1
                for sid in frame["source_id"].to_numpy()[np.setdiff1d(np.arange(len(frame)), todo)]
                if stored[sid][1] is None
            )
        )
        flags = _row_flags(frame, xs, ys, records.flags, mapping, quarters)
        import_id = _journal(conn, "interventions", source, path, started, {}, digest())
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
        report.outside_territory = placed.outside + unchanged_outside
        report.flagged = interventions.flag_counts(conn, written.ids)
        _finished(conn, import_id, report, mapping_digest, source)
    _log_import("interventions", path, report.counts(), began)
    return report


@dataclass
class _Placed(interventions.PlacedPart):
    outside: int = 0


def _placed(
    frame: pd.DataFrame,
    xs: np.ndarray,
    ys: np.ndarray,
    quarters: list[Area],
    zones: list[Area],
    router: routing.Router,
) -> _Placed:
    """``frame``'s rows in their quarter, sub-quarter and zones, each with its service: the
    source's queue code mapped onto the referential's services, or routed when it names none."""
    placed = assign_points(xs, ys, quarters, zones)
    out = pd.DataFrame(
        {
            "quarter_id": np.asarray(placed.quarter, dtype=np.int64),
            "subquarter_id": np.asarray(placed.subquarter, dtype=np.int64),
            "service": router.map_queues(frame["service"]).to_numpy(dtype=object),
        }
    )
    routed = router.route_rows(
        frame["category_code"].to_numpy(), placed.quarter, placed.subquarter, placed.zone_pairs
    )
    unnamed = out["service"].isna().to_numpy()
    out.loc[unnamed, "service"] = np.asarray(routed, dtype=object)[unnamed]
    return _Placed(out, placed.zone_pairs, {}, placed.outside)


def _row_flags(
    frame: pd.DataFrame,
    xs: np.ndarray,
    ys: np.ndarray,
    parsed: dict[Flag, np.ndarray],
    mapping: Any,
    quarters: list[Area],
) -> dict[Flag, np.ndarray]:
    """The flags each row of ``frame`` raises by itself (``parsed``: the reader's own)."""
    defaults = {location_key(lon, lat) for lat, lon in mapping.checks.geocoder_defaults}
    return {
        Flag.OUTSIDE_EXTENT: outside_extent(xs, ys, areas.territory_bounds(quarters)),
        Flag.RESOLVED_BEFORE_REPORT: resolved_before_report(frame["reported_at"], frame["resolved_at"]),
        Flag.REPEATED_LOCATION: at_locations(xs, ys, defaults),
        **parsed,
    }


def _opened(conn: Connection, mapping: Any, mapping_path: Path, report: InterventionReport) -> tuple:
    """The checks an import of requests makes once its transaction is open, and the quarters and
    zones it places the rows in."""
    unknown = mapping.category_codes() - category_codes(conn)
    if unknown:
        listed = ", ".join(sorted(unknown))
        raise ImportFailure(str(mapping_path), f"categories not in the referential: {listed}")
    report.timezone_note = _territory_timezone(conn, mapping.source.timezone, mapping_path)
    return areas.load_areas(conn)


def _finished(
    conn: Connection,
    import_id: int,
    report: InterventionReport,
    mapping_digest: str,
    source: str,
    digest: str | None = None,
    stored: int | None = None,
) -> None:
    """The journal's row of the import, its counts and (when known only now) the file's digest;
    ``stored``: the source's requests in the store, when the caller knows it."""
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


def _imported_before(engine: Engine, source: str) -> bool:
    """Whether the store's journal holds an import of ``source``: only then may the file be the
    same as last time (_unchanged), and its digest be needed before it is read."""
    if current_revision(engine) is None:
        return False
    with engine.connect() as conn:
        return journal.imported_before(conn, "interventions", source)


def _digest_later(path: Path) -> Callable[[], str]:
    """The file's SHA-256, computed in a thread while the import checks and stores the rows (the
    journal records it): hashing a 490 MB export first kept one core busy for 0.5-1 s while the
    other waited."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="geova-sha256")
    try:
        return pool.submit(_sha256, path).result
    finally:
        pool.shutdown(wait=False)  # the digest goes on; the thread ends with it


@dataclass
class _Load:
    """What an import of requests was asked to do (import_interventions' arguments)."""

    path: Path
    mapping_path: Path
    mapping: Any
    rejects_file: Path
    max_rejects: int | None
    digest: Callable[[], str]  # the file's SHA-256, maybe still being computed
    mapping_digest: str
    progress: Progress | None


def _first_load(engine: Engine, how: _Load, table: SourceTable, report: InterventionReport) -> bool:
    """A large file into an empty store, streamed: each part of the file is checked (two threads
    ahead), placed and routed while the database stores the parts before it, where checking the
    whole file first left the server idle for a third of the import. ``False`` when another
    writer stored requests meanwhile: the caller imports the ordinary way.

    Rejects are settled at the end, inside the transaction: too many, and the rollback leaves the
    store as it was (the rejects file is written all the same)."""
    source, path, mapping, progress = report.source, how.path, how.mapping, how.progress
    stream = stream_records(table, mapping, path, part_rows=STREAM_PART_ROWS)
    report.read = stream.read
    started = datetime.now(UTC)
    with _refused_by_store(path), write(engine) as conn:
        if not interventions.empty_and_locked(conn):
            return False
        quarters, zones = _opened(conn, mapping, how.mapping_path, report)
        router = routing.router(conn)
        # the file's digest is recorded at the end (still being computed, see _digest_later)
        import_id = journal.record_import(conn, "interventions", source, path.name, "", started, {})

        def parts() -> Iterator[interventions.PlacedPart]:
            done = 0
            for frame, parsed in stream.parts:
                if len(frame):
                    xs, ys = frame["x"].to_numpy(dtype=float), frame["y"].to_numpy(dtype=float)
                    placed = _placed(frame, xs, ys, quarters, zones, router)
                    report.outside_territory += placed.outside
                    rows = frame.assign(**{c: placed.frame[c].to_numpy() for c in placed.frame.columns})
                    yield interventions.PlacedPart(
                        rows, placed.zone_pairs, _row_flags(rows, xs, ys, parsed, mapping, quarters)
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
        _finished(conn, import_id, report, how.mapping_digest, source, how.digest(), stored=report.inserted)
    return True


def _unchanged(
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
        import_id = _journal(conn, "interventions", source, path, started, {}, digests[0])
        journal.finish_import(conn, import_id, {**previous, **report.counts(), "flagged": {}})
    return report


def _territory_timezone(conn: Connection, zone: str, mapping_path: Path) -> str | None:
    """The first import of requests gives the territory the time zone of its mapping (``--as-of``
    and every page read local times in it); a later mapping in another zone is only warned about,
    since its dates are read in its own zone and stored in UTC, whatever the territory's."""
    current = settings(conn).get("timezone")
    if current is None:
        set_setting(conn, "timezone", zone)
        return f"territory time zone set to {zone} (from {mapping_path.name}; change it with geova territory)"
    if current != zone:
        return (
            f"warning: {mapping_path.name} reads dates in {zone}, the territory shows them in {current} "
            "(geova territory --timezone changes the latter)"
        )
    return None


def import_layer(
    engine: Engine,
    path: Path,
    *,
    as_: str,
    code_field: str | None,
    name_field: str | None,
    parent_field: str | None = None,
    parent_name: str = "{code}",
    kind: str | None = None,
    kind_field: str | None = None,
    crs: str | None = None,
    layer: str | None = None,
    layer_name: str | None = None,
    repair: bool = True,
) -> LayerReport:
    if as_ not in ("quarters", "zones"):
        raise ImportFailure(str(path), f"--as must be 'quarters' or 'zones', not '{as_}'")
    began = time.perf_counter()
    name = layer_name or path.stem
    check_layer_options(path, name, kind, parent_name)
    data = read_layer(
        path,
        code_field=code_field,
        name_field=name_field,
        parent_field=parent_field,
        kind_field=kind_field,
        crs=crs,
        layer=layer,
        repair=repair,
    )
    report = LayerReport(file=str(path), layer=name, kind=as_, features=len(data.features), notes=data.notes)
    started = datetime.now(UTC)
    prepare_store(engine)
    with _refused_by_store(path), write(engine) as conn:
        before = interventions.placement(conn)
        try:
            if as_ == "quarters":
                counts = areas.upsert_quarters(conn, data.features, name, parent_name=parent_name)
            else:
                counts = areas.upsert_zones(conn, data.features, name, kind)
        except ValueError as exc:
            raise ImportFailure(str(path), str(exc)) from exc
        for k in ("inserted", "updated", "unchanged", "deleted", "parents_created"):
            setattr(report, k, getattr(counts, k))
        quarters, zones = areas.load_areas(conn)
        report.reassigned = interventions.reassign_all(
            conn, quarters, zones, areas.territory_bounds(quarters), before=before
        )
        _journal(
            conn,
            as_,
            name,
            path,
            started,
            {
                k: getattr(report, k)
                for k in (
                    "features",
                    "inserted",
                    "updated",
                    "unchanged",
                    "deleted",
                    "parents_created",
                    "reassigned",
                )
            },
        )
    _log_import(
        as_, path, {k: getattr(report, k) for k in ("features", "inserted", "updated", "deleted")}, began
    )
    return report


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
    with _refused_by_store(path), write(engine) as conn:
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
        _journal(
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
    _log_import("activities", path, report.counts(), began)
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
