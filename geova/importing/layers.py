"""A layer of quarters or zones into the store, in one transaction: features matched on their code
(missing ones removed), then every stored request placed again where the layer changed."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from string import Formatter

from sqlalchemy import Engine

from geova.importing.files import refused_by_store
from geova.importing.journalling import journal_import
from geova.importing.referential import prepare_store
from geova.importing.reports import LayerReport, log_import
from geova.io.errors import ImportFailure
from geova.io.layers import read_layer
from geova.io.limits import LAYER_NAME_MAX, ZONE_KIND_MAX
from geova.store import areas, interventions
from geova.store.db import write


def check_layer_options(path: Path, as_: str, name: str, kind: str | None, parent_name: str) -> None:
    """A layer import's options, checked before anything is read: what the layer is, and the
    options that end up in the store (the import and its dry run check them here alike)."""
    if as_ not in ("quarters", "zones"):
        raise ImportFailure(str(path), f"--as must be 'quarters' or 'zones', not '{as_}'")
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
    began = time.perf_counter()
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
    report = LayerReport(file=str(path), layer=name, kind=as_, features=len(data.features), notes=data.notes)
    started = datetime.now(UTC)
    prepare_store(engine)
    with refused_by_store(path), write(engine) as conn:
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
        journal_import(
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
    log_import(
        as_, path, {k: getattr(report, k) for k in ("features", "inserted", "updated", "deleted")}, began
    )
    return report
