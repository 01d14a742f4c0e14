"""Dry runs: what an import would read, reject, flag and store, with nothing stored.

A data officer's first try with a city's export is rarely right: a date format, a day/month order,
a time zone or a coordinate column is off, and the rows still parse. The preview reads the whole
file exactly as the import would (same readers, same mapping, the same store lookups, read-only),
shows the first rows as geova understood them, and runs the checks of ``core.import_checks`` that
catch such mistakes. It returns one dataclass: the CLI prints it, a web page can render it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from geova.core import import_checks as checks
from geova.core.assign import Area, assign_points
from geova.core.checks import location_key, outside_extent, resolved_before_report
from geova.core.import_checks import CheckWarning, Example
from geova.core.model import Flag
from geova.importing import check_layer_options, place_activities, referential_path
from geova.io.activities import load_activity_mapping, to_activities
from geova.io.errors import Reject
from geova.io.layers import read_layer
from geova.io.mapping import SourceSection, load_mapping
from geova.io.records import parse_datetimes, text_column, to_records
from geova.io.referential_file import read_referential
from geova.io.tables import SourceTable, read_table
from geova.store import areas, interventions
from geova.store.migrate import current_revision
from geova.store.referential import category_codes
from geova.store.status import settings

FIRST_ROWS = 10  # rows shown as geova reads them
REJECT_EXAMPLES = 3


@dataclass
class RejectReason:
    column: str  # the file's column (or the field, when the mapping names none)
    reason: str
    count: int
    examples: list[Example] = field(default_factory=list)


@dataclass
class Preview:
    """What an import of ``file`` would do. ``failure`` says why it would store nothing."""

    file: str
    kind: str  # interventions, activities, quarters or zones
    source: str
    encoding: str | None = None
    delimiter: str | None = None
    notes: list[str] = field(default_factory=list)
    timezone: str | None = None  # the zone local times are read in
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    new: int | None = None  # against the store: rows not stored yet, changed, unchanged
    changed: int | None = None
    unchanged: int | None = None
    outside_territory: int = 0
    rejects: list[RejectReason] = field(default_factory=list)
    flags: dict[str, int] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[CheckWarning] = field(default_factory=list)
    failure: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for JSON): the rejects, warnings and their examples as dicts too."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preview:
        """The preview ``to_dict`` gave (read back from JSON)."""

        def examples(items: list[dict[str, Any]]) -> list[Example]:
            return [Example(**e) for e in items]

        values = dict(data)
        values["rejects"] = [
            RejectReason(**{**r, "examples": examples(r.get("examples", []))})
            for r in data.get("rejects", [])
        ]
        values["warnings"] = [
            CheckWarning(**{**w, "examples": examples(w.get("examples", []))})
            for w in data.get("warnings", [])
        ]
        return cls(**values)


@dataclass
class StoreView:
    """What the preview reads from the store (nothing when the store has no schema yet)."""

    quarters: list[Area] = field(default_factory=list)
    zones: list[Area] = field(default_factory=list)
    categories: set[str] = field(default_factory=set)
    timezone: str | None = None  # the territory's stored time zone
    stored: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    parents: dict[str, str] = field(default_factory=dict)


def read_store(engine: Engine, source: str | None = None) -> StoreView:
    """Read-only: the schema is not upgraded and the referential not loaded (the import does both);
    the referential file's categories count as known since the import loads them first."""
    view = StoreView()
    with suppress(OSError, ValueError, KeyError):  # the import itself will say what is wrong with it
        view.categories = {c.code for c in read_referential(referential_path()).categories}
    if current_revision(engine) is None:
        return view
    with engine.connect() as conn:
        view.quarters, view.zones = areas.load_areas(conn)
        view.categories |= category_codes(conn)
        view.timezone = settings(conn).get("timezone")
        view.parents = areas.parent_codes(conn)
        if source is not None:
            view.stored = interventions.stored_versions(conn, source)
    return view


def _by_reason(rejects: list[Reject]) -> list[RejectReason]:
    groups: dict[tuple[str, str], RejectReason] = {}
    for r in rejects:
        reason = re.sub(r" \(first seen at .*\)$", "", r.reason)
        g = groups.setdefault((r.field, reason), RejectReason(r.field, reason, 0))
        g.count += 1
        if len(g.examples) < REJECT_EXAMPLES:
            g.examples.append(Example(r.row, r.value))
    return sorted(groups.values(), key=lambda g: -g.count)


def _local(ts: Any, tz: str) -> str | None:
    return None if pd.isna(ts) else f"{ts.tz_convert(tz):%Y-%m-%d %H:%M:%S %Z}"


def _utc(ts: Any) -> str | None:
    return None if pd.isna(ts) else f"{ts.tz_convert('UTC'):%Y-%m-%d %H:%M:%S} UTC"


def _coordinate(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 6)


def _codes(quarters: list[Area]) -> Callable[[int], str | None]:
    by_id = {q.id: q.code for q in quarters}
    return lambda qid: by_id.get(int(qid))


def _flag_counts(flags: dict[Flag, np.ndarray]) -> dict[str, int]:
    return {code.value: int(mask.sum()) for code, mask in flags.items() if mask.any()}


def _too_many(rejected: int, max_rejects: int | None) -> str | None:
    if max_rejects is not None and rejected > max_rejects:
        return f"{rejected} rows rejected, more than the {max_rejects} allowed: nothing would be stored"
    return None


def _date_warnings(
    table: SourceTable, src: SourceSection, columns: dict[str, str | None]
) -> list[CheckWarning | None]:
    """The checks on the raw date strings of every row, rejected or not: a wrong day/month order
    rejects the rows that show it best."""
    dates = {
        name: text_column(table.cells.reset_index(drop=True), col) for name, col in columns.items() if col
    }
    found: list[CheckWarning | None] = [
        checks.ampm_without_12h_clock(src.date_format, dates, table.rows),
        checks.month_above_12(src.date_format, src.day_first, dates, table.rows),
    ]
    if "reported_at" in dates and "resolved_at" in dates:
        position = checks.month_position(src.date_format, src.day_first)
        if position is not None:
            fmt = src.date_format
            swapped = fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m") if fmt else None

            def read(name: str, f: str | None, day_first: bool) -> pd.Series:
                return parse_datetimes(dates[name], f, day_first, src.timezone).instants

            found.append(
                checks.day_month_contradicted(
                    read("reported_at", fmt, src.day_first),
                    read("resolved_at", fmt, src.day_first),
                    read("reported_at", swapped, not src.day_first),
                    read("resolved_at", swapped, not src.day_first),
                    table.rows,
                    dates["reported_at"].tolist(),
                )
            )
    return found


def _outside_warning(
    view: StoreView, xs: np.ndarray, ys: np.ndarray, rows: np.ndarray
) -> CheckWarning | None:
    if not view.quarters:
        return None
    inside = assign_points(xs, ys, view.quarters, []).quarter >= 0
    swapped = assign_points(ys, xs, view.quarters, []).quarter >= 0
    return checks.mostly_outside(inside, swapped, xs, ys, rows)


def check_before_reading(
    kind: str,
    path: Path,
    mapping_path: Path | None = None,
    *,
    layer_name: str | None = None,
    zone_kind: str | None = None,
    parent_name: str = "{code}",
) -> None:
    """What can be checked without reading the file (the mapping; a layer's name and options), at
    a cost that does not grow with the file: ImportFailure naming the mistake."""
    if kind == "interventions":
        load_mapping(mapping_path or Path())
    elif kind == "activities":
        load_activity_mapping(mapping_path or Path())
    else:
        check_layer_options(path, kind, layer_name or path.stem, zone_kind, parent_name)


def preview_interventions(
    engine: Engine, path: Path, mapping_path: Path, *, max_rejects: int | None = None
) -> Preview:
    """Everything ``importing.import_interventions`` would do, short of writing."""
    mapping = load_mapping(mapping_path)
    src = mapping.source
    source = src.name or path.stem
    table = read_table(path, delimiter=src.delimiter, encoding=src.encoding, layer=src.layer)
    records = to_records(table, mapping, path)
    frame = records.frame
    view = read_store(engine, source)
    p = Preview(
        file=str(path),
        kind="interventions",
        source=source,
        encoding=table.encoding,
        delimiter=table.delimiter,
        notes=table.notes,
        timezone=src.timezone,
        read=records.read,
        accepted=len(frame),
        rejected=len(records.rejects),
        rejects=_by_reason(records.rejects),
    )
    xs, ys = frame["x"].to_numpy(dtype=float), frame["y"].to_numpy(dtype=float)
    placed = assign_points(xs, ys, view.quarters, view.zones)
    p.outside_territory = placed.outside
    changed = interventions.changed_rows(frame, view.stored)
    p.new = sum(1 for s in frame["source_id"] if s not in view.stored)
    p.changed = int(changed.sum()) - p.new
    p.unchanged = len(frame) - int(changed.sum())
    defaults = {location_key(lon, lat) for lat, lon in mapping.checks.geocoder_defaults}
    before = resolved_before_report(frame["reported_at"], frame["resolved_at"])
    flags = {
        Flag.OUTSIDE_EXTENT: outside_extent(xs, ys, areas.territory_bounds(view.quarters)),
        Flag.RESOLVED_BEFORE_REPORT: before,
        Flag.REPEATED_LOCATION: np.array(
            [location_key(x, y) in defaults for x, y in zip(xs, ys, strict=True)], dtype=bool
        ),
        **records.flags,
    }
    p.flags = _flag_counts(flags)
    rows = frame["row"].to_numpy()
    at = np.searchsorted(table.rows, rows)  # each stored row's position in the file's table
    cells = table.cells.reset_index(drop=True)
    reported = text_column(cells, mapping.columns.reported_at).to_numpy()[at]
    resolved = text_column(cells, mapping.columns.resolved_at).to_numpy()[at]
    found = _date_warnings(
        table,
        src,
        {
            "reported_at": mapping.columns.reported_at,
            "resolved_at": mapping.columns.resolved_at,
            "due_at": mapping.columns.due_at,
        },
    )
    found += [
        checks.resolved_before_report_share(
            before, rows, [f"reported {a}, resolved {b}" for a, b in zip(reported, resolved, strict=True)]
        ),
        checks.timezone_mismatch(src.timezone, view.timezone, len(frame)),
        checks.unknown_categories(frame["category_code"], view.categories, rows),
        _outside_warning(view, xs, ys, rows),
    ]
    p.warnings = [w for w in found if w is not None]
    unknown = mapping.category_codes() - view.categories
    p.failure = _too_many(p.rejected, max_rejects) or (
        "categories not in the referential: " + ", ".join(sorted(unknown)) if unknown else None
    )
    quarter = _codes(view.quarters)
    p.columns = [
        "row", "source_id", "reported_local", "reported_utc", "resolved_local", "resolved_utc",
        "longitude", "latitude", "category", "status", "quarter",
    ]  # fmt: skip
    for i in range(min(FIRST_ROWS, len(frame))):
        r = frame.iloc[i]
        p.rows.append(
            {
                "row": int(r["row"]),
                "source_id": r["source_id"],
                "reported_local": _local(r["reported_at"], src.timezone),
                "reported_utc": _utc(r["reported_at"]),
                "resolved_local": _local(r["resolved_at"], src.timezone),
                "resolved_utc": _utc(r["resolved_at"]),
                "longitude": _coordinate(xs[i]),
                "latitude": _coordinate(ys[i]),
                "category": r["category_code"],
                "status": r["status"],
                "quarter": quarter(placed.quarter[i]),
            }
        )
    return p


def preview_activities(
    engine: Engine, path: Path, mapping_path: Path, *, max_rejects: int | None = None
) -> Preview:
    """Everything ``importing.import_activities`` would do, short of writing."""
    mapping = load_activity_mapping(mapping_path)
    src = mapping.source
    source = src.name or path.stem
    table = read_table(path, delimiter=src.delimiter, encoding=src.encoding, layer=src.layer)
    acts = to_activities(table, mapping, path)
    view = read_store(engine)
    frame, unknown_quarters = place_activities(
        acts.frame.copy(), view.quarters, view.parents, mapping.columns.quarter
    )
    located = frame["x"].notna().to_numpy()
    xs, ys = frame["x"].to_numpy(dtype=float), frame["y"].to_numpy(dtype=float)
    placed = assign_points(xs[located], ys[located], view.quarters, view.zones)
    frame.loc[located, "quarter_id"] = placed.quarter
    rejects = sorted([*acts.rejects, *unknown_quarters], key=lambda r: r.row)
    p = Preview(
        file=str(path),
        kind="activities",
        source=source,
        encoding=table.encoding,
        delimiter=table.delimiter,
        notes=table.notes,
        timezone=src.timezone,
        read=acts.read,
        accepted=len(frame),
        rejected=len(rejects),
        rejects=_by_reason(rejects),
        outside_territory=int((frame["quarter_id"] < 0).sum()),
    )
    kept = np.isin(acts.frame["row"].to_numpy(), frame["row"].to_numpy())
    p.flags = _flag_counts({code: mask & kept for code, mask in acts.flags.items()})
    rows = frame["row"].to_numpy()
    found = _date_warnings(table, src, {"at": mapping.columns.at})
    found += [
        checks.timezone_mismatch(src.timezone, view.timezone, len(frame)),
        checks.unknown_categories(frame["category_code"], view.categories, rows),
        _outside_warning(view, xs[located], ys[located], rows[located]),
    ]
    p.warnings = [w for w in found if w is not None]
    unknown = mapping.category_codes() - view.categories
    p.failure = _too_many(p.rejected, max_rejects) or (
        "categories not in the referential: " + ", ".join(sorted(unknown)) if unknown else None
    )
    quarter = _codes(view.quarters)
    p.columns = ["row", "source_id", "at_local", "at_utc", "longitude", "latitude", "category", "quarter"]
    for i in range(min(FIRST_ROWS, len(frame))):
        r = frame.iloc[i]
        p.rows.append(
            {
                "row": int(r["row"]),
                "source_id": r["source_id"],
                "at_local": _local(r["at"], src.timezone),
                "at_utc": _utc(r["at"]),
                "longitude": _coordinate(xs[i]),
                "latitude": _coordinate(ys[i]),
                "category": r["category_code"],
                "quarter": quarter(r["quarter_id"]) or r["quarter_code"],
            }
        )
    return p


def preview_layer(
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
) -> Preview:
    """The layer as ``importing.import_layer`` would read it: features, CRS, repairs, first rows."""
    name = layer_name or path.stem
    check_layer_options(path, as_, name, kind, parent_name)
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
    p = Preview(
        file=str(path),
        kind=as_,
        source=name,
        notes=data.notes,
        read=len(data.features),
        accepted=len(data.features),
    )
    p.columns = ["row", "code", "name", "parent", "kind", "longitude", "latitude"]
    for i, f in enumerate(data.features[:FIRST_ROWS]):
        c = f.geom.representative_point()
        p.rows.append(
            {
                "row": i + 1,
                "code": f.code,
                "name": f.name,
                "parent": f.parent_code,
                "kind": f.kind or kind,
                "longitude": _coordinate(c.x),
                "latitude": _coordinate(c.y),
            }
        )
    return p
