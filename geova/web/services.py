"""Cleanliness services: the overdue worklist, the life cycle's changes and reassignment, exports.

The worklist holds every open request the chosen norm judges (``show=open``, the default), or only
those whose deadline has passed or falls within the risk window (``show=due``; ``risk_hours``,
default 24): overdue first, then due soonest, whatever their report date unless a period is asked.
The page, its CSV and its GeoJSON read the same rows (``worklist_frame``), and the page's map loads
the GeoJSON: what the table lists is what the map shows.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from math import ceil
from typing import Annotated, Any, Literal

import folium
import numpy as np
import pandas as pd
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
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
from markupsafe import Markup
from pydantic import Field
from wtforms import BooleanField, DateTimeLocalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from geova.core.evaluate import DEFAULT_RISK_HOURS, State, judge
from geova.core.lifecycle import LIFECYCLE
from geova.evaluation import ensure_current, territory_of
from geova.io.exports import to_excel_csv
from geova.store import assignments, edits, request_details, verdict_reads
from geova.store import records as store_records
from geova.store.db import write
from geova.store.records import RecordFilter
from geova.store.referential import services as referential_services
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
    judging_instant,
    norm_label,
    quarters,
    services,
    territory_clock,
    view_params,
    zones,
)
from geova.web.requesters import notify_resolved
from geova.web.statuses import actions, refusal_text, service_name, service_names, status_label

bp = Blueprint("services", __name__)
ROLES = RESOLVERS
WORKLIST_STATES = (
    State.OPEN_OVERDUE.value,
    State.OPEN_AT_RISK.value,
    State.OPEN_IN_TIME.value,
    State.NO_DEADLINE.value,
)
PAGE_SIZE = 200
# At most this many requests in the worklist's CSV and map feed (the earliest due first): a bounded
# cost whatever the backlog; the page itself lists them all, page by page.
MAX_LISTED = 20_000
MAX_RISK_HOURS = 24 * 90
DATETIME_LOCAL = "%Y-%m-%dT%H:%M:%S"  # to the second: a request resolved within its first minute
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
    "service_name",
    "assignee",
    "status",
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
    show: Literal["open", "due"] = "open"
    q: Annotated[str, Field(max_length=100)] | None = None  # free text: an id or part of an address
    sort: Literal["due", "reported", "request", "category", "quarter", "service", "assignee", "status"] = (
        "due"
    )
    order: Literal["asc", "desc"] = "asc"
    page: Annotated[int, Field(ge=1, le=10**6)] = 1
    # whose requests: the account's services (``mine``, the default) or every service's (``all``);
    # a service chosen in ``service`` wins over both
    scope: Literal["mine", "all"] = "mine"
    assigned: Literal["me", "any"] = "any"  # ``me``: only the requests assigned to the account


def my_services() -> tuple[str, ...]:
    """The services the signed-in account is linked to (none: it sees every service's)."""
    if "geova_my_services" not in g:
        with engine().connect() as conn:
            g.geova_my_services = assignments.account_services(conn, current_user.account.id)
    mine: tuple[str, ...] = g.geova_my_services
    return mine


def services_shown(view: View) -> tuple[str, ...] | None:
    """The services whose requests the worklist lists: the one chosen, else the account's own
    unless every service's are asked for; None for every service."""
    if view.service:
        return (view.service,)
    if view_params(WorklistParams).scope == "mine" and my_services():
        return my_services()
    return None


def risk_hours() -> float:
    return view_params(WorklistParams).risk_hours


def every_open() -> bool:
    """Whether the list holds every open request (``show=open``) or those due soon (``show=due``)."""
    return view_params(WorklistParams).show == "open"


def worklist_view() -> View | None:
    """The view of the query string; the period applies only when ``from`` or ``to`` is given.
    Without ``as_of`` the list is judged now, or at the territory's clock when a period beginning
    before it is asked for (geova.web.queries.judging_instant): what is open today is listed."""
    try:
        view = current_view()
    except LookupError:
        return None
    if request.args.get("as_of"):
        return view
    tz = territory_tz()
    asked = view.start if (request.args.get("from") or request.args.get("to")) else None
    now = pd.Timestamp(datetime.now(UTC)).tz_convert(tz)
    return replace(view, as_of=judging_instant(None, territory_clock(tz), now, asked))


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
        services=services_shown(view),
        quarters=(view.quarter,) if view.quarter else None,
        zones=(view.zone,) if view.zone else None,
        reported_from=start,
        reported_to=end,
        bbox=bbox,
    )
    ensure_current(engine())
    with engine().connect() as conn:
        params = view_params(WorklistParams)
        page = verdict_reads.open_page(
            conn,
            view.as_of,
            view.norm.code,
            where,
            risk,
            offset,
            limit,
            every_open=every_open(),
            search=params.q,
            states=view.states,
            sort=params.sort,
            descending=params.order == "desc",
            assignee=current_user.username if params.assigned == "me" else None,
        )
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
    frame["hours_left"] = left.where(
        frame["state"].isin([State.OPEN_AT_RISK.value, State.OPEN_IN_TIME.value])
    )
    frame["hours_overdue"] = frame["hours_overdue"].astype(float)
    cats = categories()
    labels = dict(zip(cats["code"], cats["label_fr" if _lang() == "fr" else "label_en"], strict=True))
    frame["category_label"] = frame["category"].map(labels).fillna(frame["category"])
    frame["quarter_name"] = frame["quarter"].map(names)
    with engine().connect() as conn:
        texts = request_details.request_texts(conn, [int(i) for i in frame["id"]])
        agent_of = assignments.assignees(conn, [int(i) for i in frame["id"]])
    frame["assignee"] = frame["id"].map(lambda i: agent_of.get(int(i)))
    frame["address"] = frame["id"].map(lambda i: texts[i].address if i in texts else None)
    frame["description"] = frame["id"].map(lambda i: texts[i].description if i in texts else None)
    frame["status"] = frame["id"].map(lambda i: texts[i].status if i in texts else None)
    names = service_names()
    frame["service_name"] = frame["service"].map(lambda s: names.get(s, s) if isinstance(s, str) else None)
    frame = frame[COLUMNS]
    texts_columns = ("source_id", "category", "category_label", "quarter", "quarter_name", "address")
    for col in (*texts_columns, "service", "service_name", "assignee", "status", "description"):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)  # None, never NaN
    return frame, page


def _keep() -> dict[str, Any]:
    """The worklist's query string, to come back to the same list after an action (its own keys
    only: nothing from a crafted link reaches url_for's ``_scheme`` or ``_external``)."""
    return view_query("risk_hours", "show", "q", "sort", "order", "page", "scope", "assigned")


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
        _("Open requests"),
        STATE_COLOURS,
        {k: str(v) for k, v in STATE_LABELS.items()},
        request_fields(),
    ).add_to(m)
    Legend(_("Requests"), [(STATE_COLOURS[s], str(STATE_LABELS[s])) for s in WORKLIST_STATES]).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return embed(m)


class ResolveForm(FlaskForm):
    resolved_at = DateTimeLocalField(
        _l("Resolved at"), format=[DATETIME_LOCAL, "%Y-%m-%dT%H:%M"], validators=[DataRequired()]
    )
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=edits.MAX_TEXT)])


class ReassignForm(FlaskForm):
    service = StringField(_l("Service"), validators=[DataRequired(), Length(max=edits.MAX_SHORT_TEXT)])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=edits.MAX_TEXT)])


class StatusForm(FlaskForm):
    """A step of the life cycle: the new status, a note (public: the requester and Open311 see
    it; internal otherwise), and what some steps need (a resolution time, a reason, an id)."""

    status = SelectField(
        _l("New status"), choices=[(s.value, s.value) for s in LIFECYCLE], validators=[DataRequired()]
    )
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=edits.MAX_TEXT)])
    public = BooleanField(_l("Public note (the requester sees it)"))
    resolved_at = DateTimeLocalField(
        _l("Resolved at"), format=[DATETIME_LOCAL, "%Y-%m-%dT%H:%M"], validators=[Optional()]
    )
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=edits.MAX_SHORT_TEXT)])
    duplicate_of = IntegerField(_l("Duplicate of (request id)"), validators=[Optional(), NumberRange(min=1)])


@bp.get("/worklist")
@roles_required(*ROLES)
def worklist() -> Any:
    view = worklist_view()
    if view is None:
        return render_template("public/empty.html")
    risk = risk_hours()
    asked = view_params(WorklistParams).page
    shown, listed = worklist_frame(view, risk, offset=(asked - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    total = listed.total
    pages = max(ceil(total / PAGE_SIZE), 1)
    page = min(asked, pages)
    if page != asked:  # past the last page: show the last one
        shown, listed = worklist_frame(view, risk, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    keep = _keep()
    feed_args = {k: v for k, v in keep.items() if k != "page"}
    lang = _lang()
    cats = categories()
    now_local = pd.Timestamp.now(tz=territory_tz())
    rows = shown.to_dict("records")
    for r in rows:
        # the resolve form's default: now, to the second, and never before the report (the
        # report's second rounded up: a form's time has no fraction of a second)
        reported = pd.Timestamp(r["reported_at"]).tz_convert(territory_tz()).ceil("s")
        r["resolve_default"] = max(now_local.floor("s"), reported).strftime(DATETIME_LOCAL)
        r["resolve_min"] = reported.strftime(DATETIME_LOCAL)
        r["actions"] = actions(r["status"] or "")
        r["status_label"] = status_label(r["status"])
        r["overdue_text"] = overdue_text(r["hours_overdue"])
        r["left_text"] = overdue_text(r["hours_left"])
    start, end = _period(view)
    choices = service_choices()  # the bulk form's list and each row's reassignment list
    return render_template(
        "services/worklist.html",
        view=view,
        risk=risk,
        rows=rows,
        total=total,
        overdue=listed.overdue,
        at_risk=listed.at_risk,
        in_time=listed.in_time,
        undated=listed.undated,
        show=view_params(WorklistParams).show,
        params=view_params(WorklistParams),
        sort_link=sort_link,
        page=page,
        pages=pages,
        keep=keep,
        feed_args=feed_args,
        map=worklist_map(feed_args, view, listed.bounds),
        norms=deadline_norms(),
        norm_label=lambda n: norm_label(n, lang),
        services=choices,
        service_options=_service_options(choices),
        my_services=[(c, service_name(c)) for c in my_services()],
        agents=agent_choices(),
        categories=sorted(
            zip(cats["code"], cats["label_fr" if lang == "fr" else "label_en"], strict=True),
            key=lambda c: c[1].casefold(),
        ),
        quarters=quarters(level=None).to_dict("records"),
        zones=zones().to_dict("records"),
        state_labels=STATE_LABELS,
        now_local=now_local.strftime(DATETIME_LOCAL),
        period_from=request.args.get("from", "") if start is not None else "",
        period_to=request.args.get("to", "") if end is not None else "",
    )


def _service_options(choices: list[tuple[str, str]]) -> Any:
    """The reassignment list's ``<option>`` elements with one service selected, rendered once per
    service rather than once per row: 200 rows of the whole services list were half the
    worklist's rendering (0.3 s at a million requests). Escaped by Markup's format."""
    made: dict[str | None, Markup] = {}

    def options(selected: str | None) -> Markup:
        if selected not in made:
            made[selected] = Markup("").join(
                Markup('<option value="{}"{}>{}</option>').format(
                    code, Markup(" selected") if code == selected else "", name
                )
                for code, name in choices
            )
        return made[selected]

    return options


def sort_link(column: str) -> str:
    """The worklist sorted by ``column``: ascending, or the other way when it is sorted so already."""
    params = view_params(WorklistParams)
    order = "desc" if params.sort == column and params.order == "asc" else "asc"
    args = {k: v for k, v in _keep().items() if k not in ("sort", "order", "page")}
    return url_for("services.worklist", **args, sort=column, order=order)


def service_choices() -> list[tuple[str, str]]:
    """(code, display name) of the referential's services and of those stored requests name."""
    names = service_names()
    with engine().connect() as conn:
        defined = [svc.code for svc in referential_services(conn)]
    codes = dict.fromkeys(defined + services())
    return sorted(((c, names.get(c, c)) for c in codes), key=lambda p: p[1].casefold())


def agent_choices() -> list[tuple[str, str]]:
    """(username, "username (services)") of the agents a request may be assigned to."""
    with engine().connect() as conn:
        found = assignments.agents(conn)
    return [
        (name, f"{name} ({', '.join(service_name(c) for c in codes)})" if codes else name)
        for name, codes in found
    ]


def overdue_text(hours: Any) -> str:
    """Hours overdue as days and hours ("3 d 5 h"; "5 h" under a day)."""
    if hours is None or hours != hours:
        return ""
    whole = int(hours)
    days, rest = divmod(whole, 24)
    return (
        _("%(d)s d %(h)s h", d=f"{days:,}".replace(",", "\u202f"), h=rest) if days else _("%(h)s h", h=rest)
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
        flash(_("Request %(id)s was not changed: %(reason)s", id=sid, reason=refusal_text(exc)), "error")
    else:
        flash(_("Request %(id)s marked resolved.", id=sid), "success")
        notify_resolved([intervention_id])
    return _back()


@bp.post("/worklist/<int:intervention_id>/status")
@roles_required(*ROLES)
def change_status(intervention_id: int) -> Any:
    """One step of the life cycle (acknowledge, start, resolve, close, reject, duplicate, cancel)."""
    sid = _source_id(intervention_id)
    form = StatusForm()
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return _back()
    when = None
    if form.resolved_at.data is not None:
        local = pd.Timestamp(form.resolved_at.data)
        when = local.tz_localize(territory_tz(), ambiguous=True, nonexistent="shift_forward")
    try:
        with write(engine()) as conn:
            edits.transition(
                conn,
                intervention_id,
                form.status.data,
                current_user.username,
                form.note.data,
                public=bool(form.public.data),
                when=when,
                reason=form.reason.data,
                duplicate_of=form.duplicate_of.data,
            )
    except (ValueError, LookupError) as exc:
        reason = refusal_text(exc) if isinstance(exc, ValueError) else str(exc).strip("'")
        flash(_("Request %(id)s was not changed: %(reason)s", id=sid, reason=reason), "error")
    else:
        flash(
            _("Request %(id)s is now %(status)s.", id=sid, status=status_label(form.status.data)), "success"
        )
        if form.status.data == "resolved":
            notify_resolved([intervention_id])
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
            assignments.unassign(conn, intervention_id)  # the new service's agents take it
    except ValueError as exc:
        flash(_("Request %(id)s was not changed: %(reason)s", id=sid, reason=refusal_text(exc)), "error")
    else:
        flash(
            _(
                "Request %(id)s handed to %(service)s.",
                id=sid,
                service=service_name(form.service.data.strip()),
            ),
            "success",
        )
    return _back()


BULK_STATUSES = ("acknowledged", "in_progress", "resolved")
BULK_ACTIONS = (*BULK_STATUSES, "assign", "reassign")


@bp.post("/worklist/bulk")
@roles_required(*ROLES)
def bulk() -> Any:
    """One step for several requests at once (acknowledge, start or resolve now, assign to an
    agent, reassign to another service), with one note. Each request changes on its own: those
    refused are named, the others go on."""
    form = FlaskForm()
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return _back()
    status = request.form.get("status", "")
    if status not in BULK_ACTIONS:
        flash(_("Choose what to do with the requests ticked."), "error")
        return _back()
    ids = []
    for value in request.form.getlist("ids")[:PAGE_SIZE]:
        if value.isdigit() and len(value) <= 18:
            ids.append(int(value))
    if not ids:
        flash(_("Tick the requests to change first."), "error")
        return _back()
    note = request.form.get("note") or None
    public = request.form.get("public") == "y"
    assignee = (request.form.get("assignee") or "").strip()[: edits.MAX_SHORT_TEXT]
    service = (request.form.get("service") or "").strip()[: edits.MAX_SHORT_TEXT]
    if status == "assign" and not assignee:
        flash(_("Choose the agent to assign the requests to."), "error")
        return _back()
    if status == "reassign" and not service:
        flash(_("Choose the service to hand the requests to."), "error")
        return _back()
    done: list[str] = []
    changed: list[int] = []
    refused: list[str] = []
    for intervention_id in dict.fromkeys(ids):
        with engine().connect() as conn:
            sid = request_details.source_id(conn, intervention_id)
        if sid is None:
            continue
        try:
            with write(engine()) as conn:
                if status == "assign":
                    assignments.assign(conn, intervention_id, assignee, current_user.username, note)
                elif status == "reassign":
                    edits.reassign(conn, intervention_id, service, note, current_user.username)
                    assignments.unassign(conn, intervention_id)  # the new service's agents take it
                else:
                    edits.transition(
                        conn, intervention_id, status, current_user.username, note, public=public
                    )
        except (ValueError, LookupError) as exc:
            reason = refusal_text(exc) if isinstance(exc, ValueError) else str(exc).strip("'")
            refused.append(f"{sid} ({reason})")
        else:
            done.append(sid)
            changed.append(intervention_id)
    if status == "resolved":
        notify_resolved(changed)
    if done:
        if status == "assign":
            text = _(
                "%(n)s requests assigned to %(agent)s: %(ids)s.",
                n=len(done),
                agent=assignee,
                ids=", ".join(done),
            )
        elif status == "reassign":
            text = _(
                "%(n)s requests handed to %(service)s: %(ids)s.",
                n=len(done),
                service=service_name(service),
                ids=", ".join(done),
            )
        else:
            text = _(
                "%(n)s requests are now %(status)s: %(ids)s.",
                n=len(done),
                status=status_label(status),
                ids=", ".join(done),
            )
        flash(text, "success")
    if refused:
        flash(_("Not changed: %(list)s.", list="; ".join(refused)), "error")
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
        "service_name": _("Service"),
        "assignee": _("Agent"),
        "status": _("Status"),
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
    out["status"] = out["status"].map(status_label)
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
                "service_name": r["service_name"],
                "assignee": r["assignee"],
                "status": r["status"],
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
