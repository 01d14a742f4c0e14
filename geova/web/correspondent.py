"""Neighbourhood correspondents: a quarter's map, requests, scorecard and audit grid; reporting.

Anyone logged in may look at a quarter; reporting a request needs the correspondent or service
role (admin passes everything). The page is fully described by its query string (norm, period,
category, state), so it can be bookmarked or sent by mail.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import folium
import pandas as pd
import shapely
from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField  # type: ignore[import-untyped]
from sqlalchemy.exc import DBAPIError
from wtforms import BooleanField, FloatField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from geova.core import requesters as contacts
from geova.core.evaluate import DEFAULT_RISK_HOURS, State
from geova.core.norms import NormKind, scope_attributes
from geova.core.periodic import Units, evaluate_periodic, summarise
from geova.evaluation import Evaluation, ensure_current, evaluate
from geova.io.photos import Photo, PhotoRefused, clean_photo
from geova.store import catalogue, edits, request_details, verdict_reads
from geova.store import records as store_records
from geova.store.areas import parent_codes
from geova.store.audit import current_grid
from geova.store.db import write
from geova.store.records import RecordFilter
from geova.store.referential import load_norms
from geova.web import engine
from geova.web.access import REPORTERS, RequestAccess, request_access
from geova.web.auth import has_role, roles_required
from geova.web.format import dt
from geova.web.maps import GeovaMap, Legend, LocationPicker, RemotePoints, RemotePolygons, embed
from geova.web.photos import (
    FORM_MARGIN,
    PHOTO_ACCEPT,
    discard_photo,
    photo_limit,
    photo_refusal_text,
    save_photo,
)
from geova.web.queries import (
    STATE_COLOURS,
    STATE_LABELS,
    View,
    categories,
    current_view,
    deadline_norms,
    evaluate_view,
    norm_label,
    rate_colour,
)
from geova.web.queries import (
    quarters as all_quarters,
)
from geova.web.statuses import refusal_text, service_name, status_label

bp = Blueprint("correspondent", __name__)
RECENT = 50
OPEN_STATES = ",".join(s.value for s in (State.OPEN_OVERDUE, State.OPEN_AT_RISK, State.OPEN_IN_TIME))


def _lang() -> str:
    return str(get_locale() or "fr")


def _empty() -> Any:
    return render_template("public/empty.html")


def _view() -> View | None:
    """The view of the query string, or None when the store has no quarter or no deadline norm."""
    try:
        if all_quarters().empty:
            return None
        return current_view()
    except LookupError:
        return None
    except DBAPIError:  # a store not migrated yet has no tables
        return None


# -- the list of quarters ----------------------------------------------------------------------


@bp.get("/quarters")
@login_required
def quarters() -> Any:
    view = _view()
    if view is None:
        return _empty()
    view = replace(view, quarter=None)
    grouped = evaluate_view(view).group(["norm", "quarter"])
    columns = ["quarter", "requests", "on_time_rate", "open_overdue", "backlog"]
    table = all_quarters().merge(
        grouped[columns] if len(grouped) else pd.DataFrame(columns=columns),
        left_on="code",
        right_on="quarter",
        how="left",
    )
    table["colour"] = table["on_time_rate"].map(rate_colour)
    own = current_user.account.quarter_code if current_user.role == "correspondent" else None
    table["own"] = table["code"] == own
    table = table.sort_values(["own", "name"], ascending=[False, True], kind="stable")
    return render_template(
        "correspondent/quarters.html",
        view=view,
        table=table.to_dict("records"),
        norms=deadline_norms(),
        norm_label=lambda n: norm_label(n, _lang()),
        hidden=_hidden(view),
    )


VIEW_KEYS = ("norm", "from", "to", "category", "service", "quarter", "zone", "state", "as_of")


def view_query(*extra: str) -> dict[str, str]:
    """The page's own query-string values, to send the user back to the same view. Only the keys
    a view reads: anything else (``code``, or url_for's ``_scheme``/``_external``) must not reach
    url_for from a crafted link."""
    return {k: v for k, v in request.args.items() if k in VIEW_KEYS or k in extra}


def _hidden(view: View) -> dict[str, str]:
    """Query-string values the filter form does not show but must keep."""
    return {k: v for k, v in request.args.items() if k == "as_of"}


# -- one quarter -------------------------------------------------------------------------------


class DecimalPointFloatField(FloatField):
    """A float that may be typed with a decimal comma (42,28), as French users write it."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata([str(v).replace(",", ".").strip() for v in valuelist])


def contact_check(form: FlaskForm, field: Any) -> None:
    """The same check as /api/v1 and Open311 (geova.core.requesters), as the field's own error."""
    check = contacts.check_email if field.name == "requester_email" else contacts.check_phone
    try:
        check(field.data)
    except contacts.ContactRefused as exc:
        raise ValidationError(str(exc).split(": ", 1)[1]) from None


class ReportForm(FlaskForm):
    category = SelectField(_l("Category"), validators=[DataRequired()])
    description = TextAreaField(
        _l("What is the problem?"), validators=[DataRequired(), Length(max=edits.MAX_TEXT)]
    )
    address = StringField(_l("Address"), validators=[Optional(), Length(max=edits.MAX_SHORT_TEXT)])
    latitude = DecimalPointFloatField(_l("Latitude"), validators=[InputRequired(), NumberRange(-90, 90)])
    longitude = DecimalPointFloatField(_l("Longitude"), validators=[InputRequired(), NumberRange(-180, 180)])
    # The requester (a resident the correspondent reports for, or themself): optional, kept apart
    # from the request (geova.store.requesters), for the follow-up and resolution e-mails.
    requester_name = StringField(
        _l("Requester's name"), validators=[Optional(), Length(max=contacts.MAX_NAME)]
    )
    requester_email = StringField(
        _l("Requester's e-mail"), validators=[Optional(), Length(max=contacts.MAX_EMAIL), contact_check]
    )
    requester_phone = StringField(
        _l("Requester's phone"), validators=[Optional(), Length(max=contacts.MAX_PHONE), contact_check]
    )
    requester_lang = SelectField(
        _l("Language of the e-mails"), choices=[("fr", "Français"), ("en", "English")], default="fr"
    )

    def requester(self) -> contacts.Contact:
        return contacts.contact(
            self.requester_name.data,
            self.requester_email.data,
            self.requester_phone.data,
            self.requester_lang.data,
        )

    insulting = BooleanField(_l("Insulting (a slur, a threat, a hateful tag)"))
    severity = SelectField(_l("Severity"), validators=[Optional()], validate_choice=False)
    photo = FileField(_l("Photo (optional)"))
    cleaned_photo: Photo | None = None  # the photo checked and re-encoded by validate_photo

    def validate_photo(self, field: FileField) -> None:
        """A JPEG, PNG or WebP checked from its content, within GEOVA_PHOTO_MAX_MB, kept re-encoded
        without its metadata (geova.io.photos); nothing chosen is fine."""
        upload = field.data
        if not upload:
            return
        limit = photo_limit()
        try:
            self.cleaned_photo = clean_photo(upload.stream.read(limit + 1), limit)
        except PhotoRefused as exc:
            raise ValidationError(photo_refusal_text(exc, limit)) from exc

    def validate_severity(self, field: SelectField) -> None:
        """Only a severity the norms of the chosen category know (what its deadline depends on)."""
        if not field.data:
            return
        known = severities_of(self.category.data or "")
        if field.data not in known:
            allowed = ", ".join(known) or _("none")
            raise ValidationError(
                _(
                    "'%(value)s' is not a severity of this category (possible: %(allowed)s)",
                    value=field.data,
                    allowed=allowed,
                )
            )


def severities_of(category: str) -> list[str]:
    """The severity classes the active deadline norms' scopes name for ``category``."""
    entry = scope_attributes(deadline_norms()).get(category)
    return sorted(entry.severities) if entry else []


def severity_choices() -> list[tuple[str, str]]:
    """Every severity some category's norms know, after an empty choice (none given)."""
    known = set().union(*(a.severities for a in scope_attributes(deadline_norms()).values()))
    return [("", _("Not given")), *((s, s) for s in sorted(known))]


def new_report_form(**defaults: Any) -> ReportForm:
    form = ReportForm(**defaults)
    form.category.choices = [("", _("Choose a category")), *report_categories(_lang())]
    form.severity.choices = severity_choices()
    return form


def report_categories(lang: str) -> list[tuple[str, str]]:
    """Categories a request can be reported in: those a deadline norm covers, and those already
    used by stored requests; by label."""
    used = set().union(*(n.categories for n in deadline_norms())) if deadline_norms() else set()
    with engine().connect() as conn:
        used |= catalogue.categories_in_use(conn)
    cats = categories()
    cats = cats[cats["code"].isin(used)]
    labels = cats["label_fr" if lang == "fr" else "label_en"]
    return sorted(zip(cats["code"], labels, strict=True), key=lambda c: c[1].casefold())


def _quarter_or_404(code: str) -> catalogue.QuarterRow:
    with engine().connect() as conn:
        row = catalogue.quarter(conn, code)
    if row is None:
        abort(404)
    return row


def requests_visible(code: str, access: RequestAccess) -> bool:
    """Whether the caller may read this quarter's requests one by one (the access rule: a
    correspondent sees their own quarter, and its sub-quarters, in detail; others in aggregate)."""
    if not access.allowed:
        return False
    if access.quarters is None or code in access.quarters:
        return True
    with engine().connect() as conn:
        return parent_codes(conn).get(code) in access.quarters


@bp.get("/quarters/<code>/outline.geojson")
@login_required
def outline(code: str) -> Any:
    """The quarter's own polygon, for its map (fitted to it)."""
    with engine().connect() as conn:
        row = catalogue.quarter_outline(conn, code)
    if row is None:
        abort(404)
    found, name, wkb = row
    geom = shapely.simplify(shapely.from_wkb(wkb), 0.00005, preserve_topology=True)
    feature = {
        "type": "Feature",
        "geometry": shapely.geometry.mapping(shapely.set_precision(geom, 1e-5)),
        "properties": {"code": found, "name": name, "label": name},
    }
    return jsonify({"type": "FeatureCollection", "features": [feature]})


def quarter_map(code: str, name: str, view: View, can_report: bool, with_requests: bool) -> dict[str, str]:
    """The quarter's outline and the priority zones; its requests only when the caller may read
    them one by one (the feed itself also applies the access rule)."""
    cfg = current_app.config
    m = GeovaMap(
        cfg["GEOVA_TILES_URL"], cfg["GEOVA_TILES_ATTRIBUTION"], location=[0, 0], zoom_start=13, height="100%"
    )
    RemotePolygons(url_for(".outline", code=code), name, fit=True, fill_opacity=0.04, weight=3).add_to(m)
    RemotePolygons(
        url_for("geo.zones_geojson"),
        _("Priority zones"),
        stroke="#6a1b9a",
        fill="#6a1b9a",
        fill_opacity=0.08,
        weight=2,
        dash="4 3",
    ).add_to(m)
    if with_requests:
        args = view.args()
        detail = url_for("geo.intervention_detail", intervention_id=0, **args)
        RemotePoints(
            url_for("geo.interventions_geojson", **{**args, "quarter": code}),
            detail.replace("/0.json", "/{id}.json", 1),
            _("Requests"),
            STATE_COLOURS,
            {k: str(v) for k, v in STATE_LABELS.items()},
            request_fields(),
        ).add_to(m)
        Legend(_("Requests"), [(STATE_COLOURS[s], str(STATE_LABELS[s])) for s in STATE_COLOURS]).add_to(m)
    if can_report:
        LocationPicker("latitude", "longitude").add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return embed(m)


def request_fields() -> list[tuple[str, str]]:
    """The detail feed's fields a popup shows, with their labels."""
    return [
        ("source_id", _("Request")),
        ("category", _("Category")),
        ("reported", _("Reported")),
        ("due", _("Due")),
        ("resolved", _("Resolved")),
        ("address", _("Address")),
        ("description", _("Description")),
        ("service", _("Service")),
        ("state", _("State")),
    ]


def recent_requests(
    view: View, code: str, access: RequestAccess, result: Evaluation | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """(how many requests the page's filters select, the most recent of them with their state),
    among those the caller may read one by one (``access``); address and description only when
    the rule lets the caller read them.

    ``result``: the scorecard's evaluation of every active norm over the quarter and period, when
    the page has it; the view's category filter is then applied here rather than read again."""
    if not access.allowed:
        return 0, []
    quartered = replace(view, quarter=code)
    categories = tuple(
        sorted(view.norm.categories & {view.category} if view.category else view.norm.categories)
    )
    wheres = [quartered.where(categories=categories)]
    if access.quarters is not None:
        wheres.append(RecordFilter(quarters=tuple(access.quarters)))
    ensure_current(engine())
    with engine().connect() as conn:
        total, frame = verdict_reads.recent(
            conn, view.as_of, view.norm.code, wheres, view.states, DEFAULT_RISK_HOURS, RECENT
        )
    if not total:
        return 0, []
    with engine().connect() as conn:
        texts = request_details.request_texts(conn, [int(i) for i in frame["id"]])
    labels = _category_labels()
    rows = []
    for r in frame.itertuples():
        extra = texts.get(r.id)
        rows.append(
            {
                "id": r.id,
                "source_id": r.source_id,
                "category": labels.get(r.category, r.category),
                "reported_at": r.reported_at,
                "due_at": r.due_at,
                "resolved_at": r.resolved_at,
                "state": r.state,
                "address": extra.address if extra and access.personal else None,
                "description": extra.description if extra and access.personal else None,
                "service": service_name(extra.service) if extra else None,
                "status": status_label(extra.status) if extra else None,
            }
        )
    return total, rows


def _category_labels() -> dict[str, str]:
    cats = categories()
    return dict(zip(cats["code"], cats["label_fr" if _lang() == "fr" else "label_en"], strict=True))


def scorecard(view: View, code: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Evaluation]:
    """Every active norm for this quarter and the view's period (whatever the other filters):
    deadline norms as rates and times, periodic norms as periods met or missed."""
    lang = _lang()
    norms = deadline_norms()
    result = evaluate(
        engine(),
        as_of=view.as_of,
        norm_codes=[n.code for n in norms],
        by=["norm"],
        where=RecordFilter(quarters=(code,), reported_from=view.start, reported_to=view.end),
    )
    agg = result.aggregates.set_index("norm") if len(result.aggregates) else pd.DataFrame()
    deadline = []
    for n in norms:
        row = agg.loc[n.code].to_dict() if n.code in agg.index else {}
        deadline.append(
            {
                "code": n.code,
                "label": norm_label(n, lang),
                "current": n.code == view.norm.code,
                "requests": row.get("requests", 0),
                "on_time_rate": row.get("on_time_rate"),
                "on_time": row.get("on_time", 0),
                "late": row.get("late", 0),
                "open_overdue": row.get("open_overdue", 0),
                "backlog": row.get("backlog", 0),
                "excluded": row.get("excluded", 0),
                "median_hours": row.get("median_hours"),
                "p90_hours": row.get("p90_hours"),
            }
        )
    return deadline, periodic_scorecard(view, code, result.territory.timezone), result


def periodic_scorecard(view: View, code: str, tz: str) -> list[dict[str, Any]]:
    """Frequency, count and share norms measured on this quarter, its sub-quarters and the priority
    zones overlapping it: how many periods met or missed the target. Only these units are
    evaluated (the whole territory would take seconds). Nothing when the store holds no activity
    and no share at all: a city that records no rounds or meetings has not missed them all."""
    with engine().connect() as conn:
        norms = [n for n in load_norms(conn, active_only=True) if n.kind is not NormKind.DEADLINE]
        if not norms:
            return []
        entries, entry_zones = store_records.load_activities(conn)
        shares = store_records.load_shares(conn)
        if entries.empty and shares.empty:
            return []
        units = store_records.load_units(conn)
    q = units.quarters
    mine_q = q[(q["code"] == code) | (q["parent"] == code)]
    mine_z = units.zones[units.zones["code"].isin(_zones_in(code))]
    local = Units(quarters=mine_q.reset_index(drop=True), zones=mine_z.reset_index(drop=True))
    frames = [
        evaluate_periodic(
            n,
            entries,
            entry_zones,
            local,
            view.start.tz_localize(None),
            view.last_day.tz_localize(None),
            view.as_of,
            tz,
            shares,
        )
        for n in norms
    ]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return []
    labels = {n.code: norm_label(n, _lang()) for n in norms}
    return [
        {**r, "label": labels.get(r["norm"], r["norm"])}
        for r in summarise(pd.concat(frames)).to_dict("records")
    ]


def _zones_in(code: str) -> list[str]:
    """Codes of the priority zones that overlap the quarter."""
    with engine().connect() as conn:
        return catalogue.zones_in_quarter(conn, code)


def audit_grid(code: str) -> tuple[int | None, list[dict[str, Any]]]:
    """The quarter's latest audit year: each task's answers, in the referential's order."""
    lang = _lang()
    with engine().connect() as conn:
        grid = current_grid(conn, quarter=code)
        tasks = catalogue.tasks(conn)
    if grid.empty:
        return None, []
    year = int(grid["year"].max())
    answers = {r["task"]: r for r in grid[grid["year"] == year].to_dict("records")}
    rows = []
    for task in tasks:
        if task.code not in answers:
            continue
        a = answers.pop(task.code)
        rows.append({**a, "task_label": task.label(lang)})
    rows.extend({**a, "task_label": a["task"]} for a in answers.values())  # tasks since removed
    return year, rows


def _render_quarter(code: str, form: ReportForm | None = None, status: int = 200) -> Any:
    quarter = _quarter_or_404(code)
    view = _view()
    if view is None:
        return _empty()
    view = replace(view, quarter=None)
    can_report = has_role(*REPORTERS)
    lang = _lang()
    choices = report_categories(lang)
    if can_report and form is None:
        form = new_report_form(category=view.category or "")
    deadline, periodic, evaluated = scorecard(view, code)
    access = request_access()
    detailed = requests_visible(code, access)
    total, recent = recent_requests(view, code, access, evaluated) if detailed else (0, [])
    year, grid = audit_grid(code)
    keep = view_query()
    html = render_template(
        "correspondent/quarter.html",
        quarter=quarter,
        view=view,
        map=quarter_map(code, quarter.name, view, can_report, detailed),
        requests_visible=detailed,
        norms=deadline_norms(),
        norm_label=lambda n: norm_label(n, lang),
        categories=dict(choices),
        states=[(s, str(STATE_LABELS[s])) for s in STATE_COLOURS],
        open_states=OPEN_STATES,
        state_value=",".join(view.states),
        state_labels=STATE_LABELS,
        total=total,
        recent=recent,
        deadline=deadline,
        periodic=periodic,
        audit_year=year,
        audit=grid,
        form=form if can_report else None,
        report_url=url_for(".report", code=code, **keep),
        hidden=_hidden(view),
        photo_max_mb=current_app.config["GEOVA_PHOTO_MAX_MB"],
        photo_types=PHOTO_ACCEPT,
    )
    return html, status


@bp.get("/quarters/<code>")
@login_required
def quarter(code: str) -> Any:
    return _render_quarter(code)


def _bound_report_body() -> Any:
    """The report form's body is bounded by the photo limit (GEOVA_PHOTO_MAX_MB) before anything
    reads it: the CSRF check parses the form before the view runs, and the app-wide
    MAX_CONTENT_LENGTH is the imports' far larger one. A body announced too large is answered at
    once, with the form's own message, and never read."""
    if request.endpoint != "correspondent.report":
        return None
    limit = photo_limit()
    request.max_content_length = limit + FORM_MARGIN  # also bounds a body without Content-Length
    if request.content_length is None or request.content_length <= limit + FORM_MARGIN:
        return None
    if not has_role(*REPORTERS):
        abort(413)
    flash(f"{_('Photo (optional)')}: {photo_refusal_text(PhotoRefused('too_big'), limit)}", "error")
    return _render_quarter(str((request.view_args or {}).get("code", "")), None, 413)


@bp.record_once
def _first_of_all(state: Any) -> None:
    state.app.before_request_funcs.setdefault(None, []).insert(0, _bound_report_body)


@bp.post("/quarters/<code>/report")
@roles_required(*REPORTERS)
def report(code: str) -> Any:
    quarter = _quarter_or_404(code)
    form = new_report_form()
    back = view_query()
    if not form.validate_on_submit():
        for field, errors in form.errors.items():
            label = getattr(form, field).label.text if hasattr(form, field) else field
            for error in errors:
                flash(f"{label}: {error}", "error")
        return _render_quarter(code, form, 400)
    kept = save_photo(form.cleaned_photo) if form.cleaned_photo is not None else None
    try:
        with write(engine()) as conn:
            new_id = edits.report_intervention(
                conn,
                form.category.data or "",
                form.description.data,
                form.address.data,
                form.longitude.data,
                form.latitude.data,
                current_user.username,
                datetime.now(UTC),
                insulting=bool(form.insulting.data),
                severity=form.severity.data or None,
                photo=kept,
                requester=form.requester(),
            )
            placed = request_details.placement(conn, new_id)
            routed = request_details.request_row(conn, new_id)
    except ValueError as exc:
        discard_photo(kept)
        flash(_("The request was not recorded: %(reason)s", reason=refusal_text(exc)), "error")
        return _render_quarter(code, form, 400)
    except BaseException:
        discard_photo(kept)  # nothing stored: no orphan file either
        raise
    assert placed is not None  # written in the same transaction
    flash(_("Request %(id)s recorded. Thank you.", id=placed.source_id), "success")
    if routed is not None and routed.service:
        due = routed.due_at
        flash(
            _("Sent to %(service)s, due %(due)s.", service=service_name(routed.service), due=dt(due))
            if due is not None
            else _("Sent to %(service)s.", service=service_name(routed.service)),
            "info",
        )
    if code not in (placed.quarter, placed.subquarter):
        where = placed.quarter_name or _("no quarter of the territory")
        flash(
            _(
                "The location is outside %(quarter)s: the request belongs to %(where)s.",
                quarter=quarter.name,
                where=where,
            ),
            "warning",
        )
    return redirect(url_for(".quarter", code=code, **back))
