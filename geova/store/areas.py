"""Quarters and zones in the store: upsert a layer, read areas back for spatial assignment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import shapely
from geoalchemy2.shape import from_shape
from sqlalchemy import Connection, delete, func, insert, select, update

from geova.core.assign import Area
from geova.core.model import LayerFeature
from geova.store.schema import SRID, Quarter, Zone
from geova.store.status import set_setting, settings

LAYERS_VERSION = "layers_version"


@dataclass
class LayerCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    parents_created: int = 0


def _same_geom(a: shapely.Geometry, b: shapely.Geometry) -> bool:
    return bool(shapely.equals_exact(shapely.normalize(a), shapely.normalize(b), tolerance=1e-9))


def _upsert(
    conn: Connection, table: type[Quarter] | type[Zone], layer: str, rows: list[dict]
) -> tuple[LayerCounts, dict[str, int]]:
    """Insert, update or keep each feature by code; delete this layer's features that are gone."""
    t = table.__table__
    counts = LayerCounts()
    existing = {
        r.code: r
        for r in conn.execute(
            select(t, func.ST_AsBinary(t.c.geom).label("wkb")).where(
                t.c.code.in_([r["code"] for r in rows]) | (t.c.layer == layer)
            )
        )
    }
    wanted = {r["code"] for r in rows}
    for row in rows:
        old = existing.get(row["code"])
        geom = row.pop("shape")
        values = {**row, "geom": from_shape(geom, srid=SRID)}
        if old is None:
            conn.execute(insert(t).values(**values))
            counts.inserted += 1
        elif _same_geom(shapely.from_wkb(bytes(old.wkb)), geom) and all(
            getattr(old, k) == v for k, v in row.items()
        ):
            counts.unchanged += 1
        else:
            conn.execute(update(t).where(t.c.id == old.id).values(**values))
            counts.updated += 1
    gone = [r.id for code, r in existing.items() if code not in wanted and r.layer == layer]
    if gone:
        conn.execute(delete(t).where(t.c.id.in_(gone)))
        counts.deleted = len(gone)
    if counts.inserted or counts.updated or counts.deleted:
        bump_layers_version(conn)
    ids = {r.code: r.id for r in conn.execute(select(t.c.code, t.c.id))}
    return counts, ids


def bump_layers_version(conn: Connection) -> None:
    """Mark the layers as changed: caches of shapes (the map feeds') are keyed on this version."""
    set_setting(conn, LAYERS_VERSION, uuid.uuid4().hex)


def layers_version(conn: Connection) -> str:
    return settings(conn).get(LAYERS_VERSION, "")


def upsert_quarters(
    conn: Connection,
    features: list[LayerFeature],
    layer: str,
    parent_name: str = "{code}",
) -> LayerCounts:
    """Store a quarter layer; parents named by ``parent_field`` are linked when another layer of the
    store holds them, else derived by dissolving their children (e.g. Paris arrondissements).

    Derived parents belong to the layer (as ``"<layer> (parents)"``): every import recomputes them, so
    that they follow their children's geometry, and drops those no feature names any more.
    """
    t = Quarter.__table__
    parents_layer = f"{layer} (parents)"
    parent_codes = sorted({f.parent_code for f in features if f.parent_code})
    child_codes = {f.code for f in features}
    clash = child_codes & set(parent_codes)
    if clash:
        raise ValueError(f"codes used both as quarter and parent: {', '.join(sorted(clash))}")
    stored = conn.execute(select(t.c.code, t.c.level, t.c.layer).where(t.c.code.in_(parent_codes))).all()
    known = {r.code: r.level for r in stored if r.layer != parents_layer}
    derived = [c for c in parent_codes if c not in known]
    parent_rows = []
    for code in derived:
        union = shapely.union_all([f.geom for f in features if f.parent_code == code])
        parts = [g for g in shapely.get_parts(union) if g.geom_type == "Polygon"]
        parent_rows.append(
            {
                "code": code,
                "name": parent_name.format(code=code),
                "level": 0,
                "parent_id": None,
                "layer": parents_layer,
                "properties": {},
                "shape": shapely.MultiPolygon(parts),
            }
        )
    # all of the layer's derived parents in one call: _upsert deletes the layer's codes it is not given
    pc, _ = _upsert(conn, Quarter, parents_layer, parent_rows)
    known.update({c: 0 for c in derived})
    parent_ids = {
        r.code: r.id for r in conn.execute(select(t.c.code, t.c.id).where(t.c.code.in_(parent_codes)))
    }
    rows = [
        {
            "code": f.code,
            "name": f.name,
            "level": known[f.parent_code] + 1 if f.parent_code else 0,
            "parent_id": parent_ids.get(f.parent_code) if f.parent_code else None,
            "layer": layer,
            "properties": f.properties,
            "shape": f.geom,
        }
        for f in features
    ]
    c, _ = _upsert(conn, Quarter, layer, rows)
    c.parents_created = pc.inserted
    return c


def upsert_zones(conn: Connection, features: list[LayerFeature], layer: str, kind: str | None) -> LayerCounts:
    rows = []
    for f in features:
        zone_kind = f.kind or kind
        if not zone_kind:
            raise ValueError(f"zone '{f.name}' has no kind: give --kind or --kind-field")
        rows.append(
            {
                "code": f.code,
                "name": f.name,
                "kind": zone_kind,
                "layer": layer,
                "properties": f.properties,
                "shape": f.geom,
            }
        )
    counts, _ = _upsert(conn, Zone, layer, rows)
    return counts


def load_areas(conn: Connection) -> tuple[list[Area], list[Area]]:
    """All quarters and zones as shapely areas, for assignment."""
    q = Quarter.__table__
    z = Zone.__table__
    quarters = [
        Area(id=r.id, geom=shapely.from_wkb(bytes(r.wkb)), level=r.level, code=r.code, parent=r.parent_id)
        for r in conn.execute(
            select(q.c.id, q.c.level, q.c.code, q.c.parent_id, func.ST_AsBinary(q.c.geom).label("wkb"))
        )
    ]
    zones = [
        Area(id=r.id, geom=shapely.from_wkb(bytes(r.wkb)), code=r.code)
        for r in conn.execute(select(z.c.id, z.c.code, func.ST_AsBinary(z.c.geom).label("wkb")))
    ]
    return quarters, zones


def territory_bounds(quarters: list[Area]) -> tuple[float, float, float, float] | None:
    if not quarters:
        return None
    return tuple(shapely.total_bounds([q.geom for q in quarters]).tolist())


def parent_codes(conn: Connection) -> dict[str, str]:
    """Each sub-quarter's top-level quarter code (walking up the hierarchy)."""
    q = Quarter.__table__
    rows = conn.execute(select(q.c.id, q.c.code, q.c.parent_id)).all()
    by_id = {r.id: r for r in rows}
    out = {}
    for r in rows:
        top = r
        while top.parent_id is not None and top.parent_id in by_id:
            top = by_id[top.parent_id]
        if top.code != r.code:
            out[r.code] = top.code
    return out


def area_shapes(conn: Connection, table: str) -> list[tuple[str, str, object, bytes]]:
    """(code, name, level or kind, WKB) of every quarter (``table="quarter"``) or zone."""
    t = Quarter.__table__ if table == "quarter" else Zone.__table__
    detail = t.c.level if table == "quarter" else t.c.kind
    rows = conn.execute(select(t.c.code, t.c.name, detail, func.ST_AsBinary(t.c.geom)))
    return [(code, name, d, bytes(wkb)) for code, name, d, wkb in rows]
