"""GeoJSON feeds the maps load: quarters (with their on-time rate), zones, and requests.

Requests come for a bounding box and a zoom: when the view holds more than ``MAX_POINTS`` they
are gathered into grid cells server-side, so a page never ships thousands of markers.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pandas as pd
import shapely
from flask import Blueprint, abort, current_app, jsonify, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from geova.core.evaluate import DEFAULT_RISK_HOURS, State, evaluate_deadline
from geova.evaluation import ensure_current, territory_of
from geova.store import verdict_reads
from geova.store.areas import area_shapes, layers_version
from geova.store.records import RecordFilter, load_records
from geova.store.request_details import request_row
from geova.web import engine
from geova.web.access import request_access
from geova.web.format import dt, num, pct
from geova.web.page_cache import cached
from geova.web.params import MapFeedParams
from geova.web.queries import (
    category_label,
    current_view,
    evaluate_view,
    rate_colour,
    view_params,
)
from geova.web.statuses import service_name, status_label

bp = Blueprint("geo", __name__, url_prefix="/geo")
MAX_POINTS = 1500
SIMPLIFY_DEGREES = 0.00005  # about 5 m: invisible on a city map, a tenth of the bytes


@lru_cache(maxsize=8)
def _shapes(database_url: str, table: str, version: str) -> list[dict[str, Any]]:
    """Simplified geometries of quarters or zones, cached per database and layers version (every
    layer import that changes a feature bumps the version, so a re-imported layer is served at once)."""
    with engine().connect() as conn:
        rows = area_shapes(conn, table)
    out = []
    for code, name, detail, wkb in rows:
        geom = shapely.simplify(shapely.from_wkb(bytes(wkb)), SIMPLIFY_DEGREES, preserve_topology=True)
        geom = shapely.set_precision(geom, 1e-5)
        out.append({"code": code, "name": name, "detail": detail, "geometry": shapely.geometry.mapping(geom)})
    return out


def shapes(table: str) -> list[dict[str, Any]]:
    with engine().connect() as conn:
        version = layers_version(conn)
    return _shapes(str(current_app.config["GEOVA_DATABASE_URL"]), table, version)


@bp.get("/quarters.geojson")
@cached
def quarters_geojson() -> Any:
    """Top-level quarters coloured by the on-time rate of the view's norm and period."""
    view = current_view()
    grouped = evaluate_view(view).group(["norm", "quarter"])
    rates = (
        grouped.set_index("quarter") if len(grouped) else pd.DataFrame(columns=["on_time_rate", "requests"])
    )
    features = []
    for shape in shapes("quarter"):
        if shape["detail"] != 0:
            continue
        code = shape["code"]
        row = rates.loc[code] if code in rates.index else None
        rate = float(row["on_time_rate"]) if row is not None else None
        rate = None if rate != rate else rate  # NaN (requests, none judged yet) is not valid JSON
        requests = int(row["requests"]) if row is not None else 0
        label = f"{shape['name']} — " + (
            _("%(rate)s on time, %(n)s requests", rate=pct(rate), n=num(requests))
            if requests
            else _("no request")
        )
        features.append(
            {
                "type": "Feature",
                "geometry": shape["geometry"],
                "properties": {
                    "code": code,
                    "name": shape["name"],
                    "rate": rate,
                    "requests": requests,
                    "fill": rate_colour(rate),
                    "label": label,
                    "url": url_for("correspondent.quarter", code=code, **view.args()),
                },
            }
        )
    return jsonify({"type": "FeatureCollection", "features": features})


@bp.get("/zones.geojson")
@cached
def zones_geojson() -> Any:
    features = [
        {
            "type": "Feature",
            "geometry": s["geometry"],
            "properties": {
                "code": s["code"],
                "name": s["name"],
                "kind": s["detail"],
                "label": f"{s['name']} ({s['detail']})",
            },
        }
        for s in shapes("zone")
    ]
    return jsonify({"type": "FeatureCollection", "features": features})


def _view_filters(bbox: tuple[float, float, float, float] | None) -> list[RecordFilter] | None:
    """The filters of the view's requests the caller may see one by one (the access rule: a
    correspondent, their quarter's); None when the caller may see none."""
    view = current_view()
    access = request_access()
    if not access.allowed:
        return None
    judged = view.norm.categories
    categories = tuple(sorted(judged & {view.category} if view.category else judged))
    wheres = [view.where(categories=categories, bbox=bbox)]
    if access.quarters is not None:
        wheres.append(RecordFilter(quarters=tuple(access.quarters)))
    return wheres


def view_points(bbox: tuple[float, float, float, float] | None = None) -> pd.DataFrame:
    """The view's requests the caller may see one by one, with their state under the view's norm
    and their location."""
    columns = ["id", "x", "y", "category", "service", "quarter", "state"]
    wheres = _view_filters(bbox)
    if wheres is None:
        return pd.DataFrame(columns=columns)
    view = current_view()
    ensure_current(engine())
    with engine().connect() as conn:
        frame = verdict_reads.points(
            conn, view.as_of, view.norm.code, wheres, view.states, DEFAULT_RISK_HOURS
        )
    return frame[columns]


def view_cells(bbox: tuple[float, float, float, float] | None, zoom: int) -> pd.DataFrame:
    """The same requests gathered in cells of about 60 screen pixels at this zoom (x, y, n, o)."""
    wheres = _view_filters(bbox)
    if wheres is None:
        return pd.DataFrame(columns=["x", "y", "n", "o"])
    view = current_view()
    cell = 360 / (2**zoom) * 60 / 256  # zoom is bounded by MapFeedParams (0..22)
    ensure_current(engine())
    with engine().connect() as conn:
        return verdict_reads.cells(
            conn, view.as_of, view.norm.code, wheres, view.states, DEFAULT_RISK_HOURS, cell
        )


@bp.get("/interventions.geojson")
@login_required
@cached
def interventions_geojson() -> Any:
    params = view_params(MapFeedParams)
    # counted in cells first: a dense view never ships its points; a sparse one reads them after
    cells = view_cells(params.bbox, params.zoom)
    total = int(cells["n"].sum()) if len(cells) else 0
    if total <= MAX_POINTS:
        frame = view_points(params.bbox)
        total = len(frame)  # a write between both reads: the points are what is shown
        features = [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(x, 5), round(y, 5)]},
                "properties": {"i": int(i), "s": s},
            }
            for i, x, y, s in zip(frame["id"], frame["x"], frame["y"], frame["state"], strict=True)
        ]
    else:
        features = [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(x, 5), round(y, 5)]},
                "properties": {"n": int(n), "o": int(o)},
            }
            for x, y, n, o in zip(cells["x"], cells["y"], cells["n"], cells["o"], strict=True)
        ]
    return jsonify({"type": "FeatureCollection", "total": total, "features": features})


@bp.get("/interventions/<int:intervention_id>.json")
@login_required
def intervention_detail(intervention_id: int) -> Any:
    """One request for a popup: plain values; the page inserts them as text.

    A request the caller may not read one by one answers 404, like one that does not exist (the
    feed does not reveal that it exists); so does an id no stored row can have."""
    view = current_view()
    access = request_access()
    with engine().connect() as conn:
        row = request_row(conn, intervention_id)
        if row is None or not (access.quarter_allowed(row.quarter) or access.quarter_allowed(row.subquarter)):
            abort(404)
        recs, zones = load_records(conn, where=RecordFilter(ids=(intervention_id,)))
    verdict = evaluate_deadline(view.norm, recs, zones, view.as_of, territory_of(engine()))
    state = verdict["state"].iloc[0] if len(verdict) else State.NO_DEADLINE.value
    due = verdict["due_at"].iloc[0] if len(verdict) else None
    lang = str(get_locale() or "fr")
    return jsonify(
        {
            "id": row.id,
            "source_id": row.source_id,
            "category": category_label(row.category, lang),
            "reported": dt(row.reported_at),
            "due": dt(due),
            "resolved": dt(row.resolved_at),
            "state": state,
            "address": row.address if access.personal else None,
            "description": row.description if access.personal else None,
            "service": service_name(row.service),
            "status": row.status,
            "status_label": status_label(row.status),
            # the request's page, for those logged in (the public has none)
            "url": url_for("request_page.show", intervention_id=row.id)
            if current_user.is_authenticated
            else None,
        }
    )
