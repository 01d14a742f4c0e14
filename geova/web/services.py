"""Cleanliness services: the overdue worklist, resolve and reassign, exports.

The worklist holds the open requests whose deadline under the chosen norm has passed or falls
within the risk window (``risk_hours``, default 24), most overdue first, whatever their report date
unless a period is asked. The page, its CSV and its GeoJSON read the same rows
(``worklist_frame``), and the page's map loads the GeoJSON: what the table lists is what the map
shows.
"""

from __future__ import annotations

from math import ceil
from typing import Annotated, Any

import folium
import numpy as np
import pandas as pd
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from pydantic import Field
from wtforms import DateTimeLocalField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from geova.core.evaluate import DEFAULT_RISK_HOURS, State, judge
from geova.evaluation import ensure_current, territory_of
from geova.io.exports import to_excel_csv
from geova.store import edits, request_details, verdict_reads
from geova.store import records as store_records
from geova.store.db import write
from geova.store.records import RecordFilter
from geova.web import engine
from geova.web.access import RESOLVERS
from geova.web.auth import roles_required
from geova.web.correspondent import request_fields, view_query
from geova.web.format import territory_tz
from geova.web.maps import GeovaMap, Legend, RemotePoints, RemotePolygons, embed
from geova.web.params import Hours, MapFeedParams
from geova.web.queries import (
    STATE_COLOURS,
    STATE_LABELS,
    View,
    categories,
    current_view,
    deadline_norms,
    norm_label,
    quarters,
    services,
    view_params,
    zones,
)

bp = Blueprint("services", __name__)
ROLES = RESOLVERS
WORKLIST_STATES = (State.OPEN_OVERDUE.value, State.OPEN_AT_RISK.value)
PAGE_SIZE = 200
# At most this many requests in the worklist's CSV and map feed (the earliest due first): a bounded
# cost whatever the backlog; the page itself lists them all, page by page.
MAX_LISTED = 20_000
MAX_RISK_HOURS = 24 * 90
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"
COLUMNS = [
    "id",
    "source_id",
    "category",
    "category_label",
    "quarter",
    "quarter_name",
    "address",
    "reported_at",
    "due_at",
    "hours_overdue",
    "hours_left",
    "service",
    "description",
    "state",
    "x",
    "y",
]


def _lang() -> str:
    return str(get_locale() or "fr")


class WorklistParams(MapFeedParams):
    """The worklist's query string: the view, the risk window (hours, 0..90 days) and a map box."""

    risk_hours: Hours = DEFAULT_RISK_HOURS
    page: Annotated[int, Field(ge=1, le=10**6)] = 1


def risk_hours() -> float:
    return view_params(WorklistParams).risk_hours


def worklist_view() -> View | None:
    """The view of the query string; the period applies only when ``from`` or ``to`` is given."""
    try:
        return current_view()
    except LookupError:
        return None


def _period(view: View) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    return (
        view.start if request.args.get("from") else None,
        view.end if request.args.get("to") else None,
    )


def worklist_frame(
    view: View,
    risk: float,
    bbox: tuple[float, float, float, float] | None = None,
    offset: int = 0,
    limit: int = MAX_LISTED,
) -> tuple[pd.DataFrame, verdict_reads.OpenPage]:
    """Open requests overdue or due within ``risk`` hours under the view's norm, earliest due first:
    rows ``offset`` to ``offset + limit`` (sorted and paged by the database), and what the whole
    list counts."""
    start, end = _period(view)
    where = RecordFilter(
        categories=(view.category,) if view.category else None,
        services=(view.service,) if view.service else None,
        quarters=(view.quarter,) if view.quarter else None,
        zones=(view.zone,) if view.zone else None,
        reported_from=start,
        reported_to=end,
        bbox=bbox,
    )
    ensure_current(engine())
    with engine().connect() as conn:
        page = verdict_reads.open_page(conn, view.as_of, view.norm.code, where, risk, offset, limit)
        names = store_records.names(conn)["quarter"]
    facts = page.facts
    if facts.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS}), page
    per = judge(facts, view.as_of, view.norm.calendar, territory_of(engine()), risk)
    frame = per[["id", "source_id", "reported_at", "due_at", "hours_overdue", "state"]].copy()
    for column in ("category", "quarter", "service", "x", "y"):
        frame[column] = facts[column].to_numpy()
    as_of = pd.Timestamp(view.as_of).tz_convert("UTC")
    left = (frame["due_at"] - as_of).dt.total_seconds() / 3600
    frame["hours_left"] = left.where(frame["state"] == State.OPEN_AT_RISK.value)
    frame["hours_overdue"] = frame["hours_overdue"].astype(float)
    cats = categories()
    labels = dict(zip(cats["code"], cats["label_fr" if _lang() == "fr" else "label_en"], strict=True))
    frame["category_label"] = frame["category"].map(labels).fillna(frame["category"])
    frame["quarter_name"] = frame["quarter"].map(names)
    with engine().connect() as conn:
        texts = request_details.request_texts(conn, [int(i) for i in frame["id"]])
    frame["address"] = frame["id"].map(lambda i: texts[i].address if i in texts else None)
    frame["description"] = frame["id"].map(lambda i: texts[i].description if i in texts else None)
    frame = frame[COLUMNS]
    texts_columns = ("source_id", "category", "category_label", "quarter", "quarter_name", "address")
    for col in (*texts_columns, "service", "description"):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)  # None, never NaN
    return frame, page


def _keep() -> dict[str, Any]:
    """The worklist's query string, to come back to the same list after an action (its own keys
    only: nothing from a crafted link reaches url_for's ``_scheme`` or ``_external``)."""
    return view_query("risk_hours", "page")


# -- the page -----------------------------------------------------------------------------------


def worklist_map(
    args: dict[str, Any], view: View, bounds: tuple[float, float, float, float] | None
) -> dict[str, str]:
    """The worklist's requests on a map, fitted to them (to the quarters when there are none)."""
    cfg = current_app.config
    m = GeovaMap(
        cfg["GEOVA_TILES_URL"], cfg["GEOVA_TILES_ATTRIBUTION"], location=[0, 0], zoom_start=12, height="100%"
    )
    if bounds is not None:
        minx, miny, maxx, maxy = bounds
        m.fit_bounds([[miny, minx], [maxy, maxx]], padding=(20, 20), max_zoom=16)
    RemotePolygons(
        url_for("geo.quarters_geojson", **view.args()),
        _("Quarters"),
        fit=bounds is None,
        fill_opacity=0.0,
        fill="#ffffff",
        weight=1,
    ).add_to(m)
    detail = url_for("geo.intervention_detail", intervention_id=0, **view.args())
    RemotePoints(
        url_for("services.worklist_geojson", **args),
        detail.replace("/0.json", "/{id}.json", 1),
        _("Open requests overdue or due soon"),
        STATE_COLOURS,
        {k: str(v) for k, v in STATE_LABELS.items()},
        request_fields(),
    ).add_to(m)
    Legend(_("Requests"), [(STATE_COLOURS[s], str(STATE_LABELS[s])) for s in WORKLIST_STATES]).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return embed(m)


class ResolveForm(FlaskForm):
    resolved_at = DateTimeLocalField(
        _l("Resolved at"), format=[DATETIME_LOCAL, "%Y-%m-%dT%H:%M:%S"], validators=[DataRequired()]
    )
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=edits.MAX_TEXT)])


class ReassignForm(FlaskForm):
    service = StringField(_l("Service"), validators=[DataRequired(), Length(max=edits.MAX_SHORT_TEXT)])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=edits.MAX_TEXT)])


@bp.get("/worklist")
@roles_required(*ROLES)
def worklist() -> Any:
    view = worklist_view()
    if view is None:
        return render_template("public/empty.html")
    risk = risk_hours()
    asked = view_params(WorklistParams).page
    shown, listed = worklist_frame(view, risk, offset=(asked - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    total = listed.overdue + listed.at_risk
    pages = max(ceil(total / PAGE_SIZE), 1)
    page = min(asked, pages)
    if page != asked:  # past the last page: show the last one
        shown, listed = worklist_frame(view, risk, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    keep = _keep()
    feed_args = {k: v for k, v in keep.items() if k != "page"}
    lang = _lang()
    cats = categories()
    now_local = pd.Timestamp.now(tz=territory_tz()).strftime(DATETIME_LOCAL)
    start, end = _period(view)
    return render_template(
        "services/worklist.html",
        view=view,
        risk=risk,
        rows=shown.to_dict("records"),
        total=total,
        overdue=listed.overdue,
        at_risk=listed.at_risk,
        page=page,
        pages=pages,
        keep=keep,
        feed_args=feed_args,
        map=worklist_map(feed_args, view, listed.bounds),
        norms=deadline_norms(),
        norm_label=lambda n: norm_label(n, lang),
        services=services(),
        categories=sorted(
            zip(cats["code"], cats["label_fr" if lang == "fr" else "label_en"], strict=True),
            key=lambda c: c[1].casefold(),
        ),
        quarters=quarters(level=None).to_dict("records"),
        zones=zones().to_dict("records"),
        state_labels=STATE_LABELS,
        now_local=now_local,
        period_from=request.args.get("from", "") if start is not None else "",
        period_to=request.args.get("to", "") if end is not None else "",
    )


def _back() -> Any:
    return redirect(url_for("services.worklist", **_keep()))


def _source_id(intervention_id: int) -> str:
    """The request's source id; 404 when there is no such request (or no row can have this id)."""
    with engine().connect() as conn:
        sid = request_details.source_id(conn, intervention_id)
    if sid is None:
        abort(404)
    return sid


def _flash_form_errors(form: FlaskForm) -> None:
    for name, errors in form.errors.items():
        field = getattr(form, name, None)
        label = field.label.text if field is not None else name
        for error in errors:
            flash(f"{label}: {error}", "error")


@bp.post("/worklist/<int:intervention_id>/resolve")
@roles_required(*ROLES)
def resolve(intervention_id: int) -> Any:
    sid = _source_id(intervention_id)
    form = ResolveForm()
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return _back()
    local = pd.Timestamp(form.resolved_at.data)
    when = local.tz_localize(territory_tz(), ambiguous=True, nonexistent="shift_forward")
    try:
        with write(engine()) as conn:
            edits.resolve(conn, intervention_id, when, form.note.data, current_user.username)
    except ValueError as exc:
        flash(_("Request %(id)s was not changed: %(reason)s", id=sid, reason=str(exc)), "error")
    else:
        flash(_("Request %(id)s marked resolved.", id=sid), "success")
    return _back()


@bp.post("/worklist/<int:intervention_id>/reassign")
@roles_required(*ROLES)
def reassign(intervention_id: int) -> Any:
    sid = _source_id(intervention_id)
    form = ReassignForm()
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return _back()
    try:
        with write(engine()) as conn:
            edits.reassign(conn, intervention_id, form.service.data, form.note.data, current_user.username)
    except ValueError as exc:
        flash(_("Request %(id)s was not changed: %(reason)s", id=sid, reason=str(exc)), "error")
    else:
        flash(
            _("Request %(id)s handed to %(service)s.", id=sid, service=form.service.data.strip()), "success"
        )
    return _back()


# -- exports ------------------------------------------------------------------------------------


def _headers() -> dict[str, str]:
    return {
        "source_id": _("Request"),
        "category_label": _("Category"),
        "quarter_name": _("Quarter"),
        "address": _("Address"),
        "reported_at": _("Reported"),
        "due_at": _("Due"),
        "hours_overdue": _("Hours overdue"),
        "hours_left": _("Hours left"),
        "service": _("Service"),
        "description": _("Description"),
        "state": _("State"),
        "x": _("Longitude"),
        "y": _("Latitude"),
    }


def _hours_text(value: Any) -> str:
    """Hours with one decimal and a decimal comma, as French Excel reads a number."""
    return "" if value is None or value != value else f"{value:.1f}".replace(".", ",")


def _coord_text(value: Any) -> str:
    return "" if value is None or value != value else f"{value:.6f}".replace(".", ",")


@bp.get("/worklist.csv")
@roles_required(*ROLES)
def worklist_csv() -> Any:
    view = worklist_view()
    if view is None:
        abort(404)
    frame, _listed = worklist_frame(view, risk_hours())
    out = frame.copy()
    for col in ("hours_overdue", "hours_left"):
        out[col] = out[col].map(_hours_text)
    for col in ("x", "y"):
        out[col] = out[col].map(_coord_text)
    out["state"] = out["state"].map(lambda s: str(STATE_LABELS.get(s, s)))
    for col in ("reported_at", "due_at"):
        out[col] = pd.to_datetime(out[col], utc=True)
    headers = _headers()
    out = out[list(headers)].rename(columns=headers)
    text = to_excel_csv(out, territory_tz())
    stamp = pd.Timestamp(view.as_of).tz_convert(territory_tz()).strftime("%Y%m%d-%H%M")
    return Response(
        text.encode("utf-8"),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="geova-worklist-{stamp}.csv"',
            "Content-Type": "text/csv; charset=utf-8",
        },
    )


def _iso(value: Any, tz: str) -> str | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    return pd.Timestamp(value).tz_convert(tz).isoformat()


def _number(value: Any, digits: int = 1) -> float | None:
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
        return None
    return round(float(value), digits)


@bp.get("/worklist.geojson")
@roles_required(*ROLES)
def worklist_geojson() -> Any:
    """The worklist as GeoJSON points. ``i`` and ``s`` repeat ``id`` and ``state``: they are the
    short keys the page's map layer reads (as in /geo/interventions.geojson)."""
    view = worklist_view()
    if view is None:
        abort(404)
    frame, _listed = worklist_frame(view, risk_hours(), view_params(WorklistParams).bbox)
    tz = territory_tz()
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round(float(r["x"]), 6), round(float(r["y"]), 6)]},
            "properties": {
                "id": int(r["id"]),
                "source_id": r["source_id"],
                "category": r["category"],
                "category_label": r["category_label"],
                "quarter": r["quarter"],
                "quarter_name": r["quarter_name"],
                "address": r["address"],
                "description": r["description"],
                "service": r["service"],
                "reported_at": _iso(r["reported_at"], tz),
                "due_at": _iso(r["due_at"], tz),
                "hours_overdue": _number(r["hours_overdue"]),
                "hours_left": _number(r["hours_left"]),
                "state": r["state"],
                "i": int(r["id"]),
                "s": r["state"],
            },
        }
        for r in frame.to_dict("records")
    ]
    return jsonify(
        {
            "type": "FeatureCollection",
            "total": len(features),
            "norm": view.norm.code,
            "as_of": pd.Timestamp(view.as_of).isoformat(),
            "features": features,
        }
    )
