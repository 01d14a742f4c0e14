"""Field cleanliness surveys and exploratory walks.

- Surveyors (the correspondent and service roles; admin passes everything) grade a campaign's
  transects on a mobile page (``/surveys/<code>/grade``). The page keeps each entry in the browser
  (localStorage, static/js/survey.js) until the server has acknowledged it, and sends it as JSON
  with the CSRF token in a header; the entry's id is made by the browser, so a re-sent entry is
  recognised and never stored twice.
- Officials (and the surveyors) read the results: the share of transects below the acceptable
  grade per quarter, zone and zone kind with its 95 % Wilson interval, the survey norms, a map.
- Exploratory walks with residents: observations as points with a category and a note; one click
  turns an observation into an intervention request (the correspondent form's store function).
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm, csrf
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from wtforms import FloatField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from geova.core.surveys import ANY, MET, NOT_ENOUGH, NOT_MET
from geova.store import catalogue
from geova.store import surveys as store
from geova.store.db import write
from geova.web import engine
from geova.web.access import REPORTERS
from geova.web.auth import has_role, roles_required
from geova.web.correspondent import report_categories
from geova.web.params import MAX_ROW_ID

bp = Blueprint("surveys", __name__)
SURVEYORS = REPORTERS  # who grades transects and records walks
READERS = (*REPORTERS, "official")  # who reads the results
MAX_PHOTO = 2 * 1024 * 1024  # bytes, once decoded
MAX_BODY = 3 * 1024 * 1024  # one entry: a base64 photo of 2 MB and the grades
PHOTO_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
PHOTO_FOLDER = "survey_photos"
VERDICTS = {MET: _l("met"), NOT_MET: _l("not met"), NOT_ENOUGH: _l("not enough transects")}
LEVELS = {"city": _l("City"), "quarter": _l("Quarter"), "zone": _l("Zone"), "zone_kind": _l("Zone kind")}


def _lang() -> str:
    return str(get_locale() or "fr")


def _label(item: Any) -> str:
    return str(item.label_fr if _lang() == "fr" else item.label_en)


def _names() -> dict[str, dict[str, str]]:
    """The names of quarters and zones by code, for lists and tooltips."""
    with engine().connect() as conn:
        q, z = catalogue.quarters(conn, None), catalogue.zones(conn)
    return {
        "quarter": dict(zip(q["code"], q["name"], strict=True)),
        "zone": dict(zip(z["code"], z["name"], strict=True)),
    }


def _named(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = _names()
    for r in rows:
        r["quarter_name"] = names["quarter"].get(r["quarter"], r["quarter"])
        r["zone_name"] = names["zone"].get(r["zone"], r["zone"]) if r["zone"] else None
    return rows


def _campaign_or_404(code: str) -> store.Campaign:
    with engine().connect() as conn:
        found = store.campaign(conn, code)
    if found is None:
        abort(404)
    return found


@bp.get("/surveys")
@roles_required(*READERS)
def index() -> Any:
    with engine().connect() as conn:
        rows = store.campaigns(conn)
        grids = store.grids(conn)
    return render_template(
        "surveys/index.html",
        campaigns=rows,
        grids={k: _label(g) for k, g in grids.items()},
        can_survey=has_role(*SURVEYORS),
    )


# ---- the surveyor's page -------------------------------------------------------------------------


@bp.get("/surveys/<code>/grade")
@roles_required(*SURVEYORS)
def grade(code: str) -> Any:
    c = _campaign_or_404(code)
    with engine().connect() as conn:
        grid = store.grids(conn).get(c.grid)
        rows = store.transects(conn, code)
    if grid is None:
        abort(404)
    rows = _named(rows)
    data = {
        "campaign": c.code,
        "post": url_for(".entries", code=c.code),
        "token": url_for(".token"),
        "tiles": current_app.config.get("GEOVA_TILES_URL"),
        "attribution": current_app.config.get("GEOVA_TILES_ATTRIBUTION"),
        "grades": list(grid.grades),
        "acceptable": grid.acceptable,
        "elements": [{"code": e.code, "label": _label(e)} for e in grid.elements],
        "transects": rows,
        "text": {
            "pending": _("%(n)s entries waiting to be sent", n="{n}"),
            "sent": _("All entries sent"),
            "offline": _("Offline: entries are kept on this device and sent when the network returns."),
            "saved": _("Saved on this device"),
            "graded": _("graded"),
            "refused": _("Refused by the server: %(reason)s", reason="{reason}"),
            "photo_too_big": _("The photo is larger than 2 MB."),
            "login": _("Log in again to send the entries kept on this device."),
        },
    }
    return render_template("surveys/grade.html", campaign=c, grid=grid, data=data, rows=rows, label=_label)


@bp.get("/surveys/token")
@roles_required(*SURVEYORS)
def token() -> Any:
    """A fresh CSRF token for the surveyor's page, whose own may have expired during a long survey."""
    return jsonify({"csrf_token": csrf.generate_csrf()})


class PhotoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(max_length=32)
    data: str = Field(max_length=(MAX_PHOTO * 4) // 3 + 8)  # base64


class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entry_id: str = Field(min_length=36, max_length=36)
    position: int = Field(ge=1, le=10**6)
    grades: dict[str, str] = Field(min_length=1, max_length=20)
    note: str | None = Field(None, max_length=store.MAX_NOTE)
    graded_at: datetime
    photo: PhotoIn | None = None


def _problem(message: str, status: int = 400) -> Any:
    return jsonify({"error": message}), status


def _photo_bytes(photo: PhotoIn) -> tuple[bytes, str]:
    """The photo's bytes and extension: a JPEG, PNG or WebP of at most 2 MB, checked by its
    first bytes, not by the type the client claims."""
    if photo.type not in PHOTO_TYPES:
        raise ValueError(f"photo: type '{photo.type}' is not one of {', '.join(PHOTO_TYPES)}")
    try:
        raw = base64.b64decode(photo.data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("photo: not base64") from exc
    if len(raw) > MAX_PHOTO:
        raise ValueError("photo: larger than 2 MB")
    magic = {
        "image/jpeg": raw[:3] == b"\xff\xd8\xff",
        "image/png": raw[:8] == b"\x89PNG\r\n\x1a\n",
        "image/webp": raw[:4] == b"RIFF" and raw[8:12] == b"WEBP",
    }
    if not magic[photo.type]:
        raise ValueError(f"photo: the file is not a {photo.type} image")
    return raw, PHOTO_TYPES[photo.type]


def photo_folder() -> Path:
    return Path(current_app.instance_path) / PHOTO_FOLDER


@bp.post("/surveys/<code>/entries")
@roles_required(*SURVEYORS)
def entries(code: str) -> Any:
    """One graded transect as JSON: 201 when stored, 200 when this entry id was already stored."""
    if request.mimetype != "application/json":
        return _problem("send a JSON object with Content-Type: application/json")
    if (request.content_length or 0) > MAX_BODY:
        return _problem("the entry is larger than 3 MB", 413)
    request.max_content_length = MAX_BODY  # a body without a length is cut there too
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _problem("the body must be a JSON object")
    try:
        entry = EntryIn.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return _problem(f"{where}: {first['msg']}")
    if entry.graded_at.tzinfo is None:
        return _problem("graded_at: a time with its offset")
    name = None
    try:
        raw_photo = _photo_bytes(entry.photo) if entry.photo else None
        if raw_photo is not None:
            # the name is made here from the checked entry id, never from anything the client names
            if not store.ENTRY_ID.match(entry.entry_id):
                raise ValueError("entry_id: a UUID made by the browser")
            name = f"{entry.entry_id.lower()}.{raw_photo[1]}"
        with write(engine()) as conn:
            if store.campaign(conn, code) is None:
                return _problem(f"no survey campaign '{code}'", 404)
            stored = store.record_entry(
                conn,
                code,
                entry.entry_id,
                entry.position,
                entry.grades,
                entry.note,
                current_user.username,
                entry.graded_at,
                photo=name,
            )
            if stored and raw_photo is not None and name is not None:
                folder = photo_folder()
                folder.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(raw_photo[0])
    except ValueError as exc:
        return _problem(str(exc))
    return jsonify({"entry_id": entry.entry_id.lower(), "stored": stored}), 201 if stored else 200


@bp.get("/surveys/photos/<entry_id>")
@roles_required(*READERS)
def photo(entry_id: str) -> Any:
    if not store.ENTRY_ID.match(entry_id):
        abort(404)
    for ext in PHOTO_TYPES.values():
        path = photo_folder() / f"{entry_id.lower()}.{ext}"
        if path.is_file():
            return send_file(path, mimetype=f"image/{'jpeg' if ext == 'jpg' else ext}")
    abort(404)


# ---- results -------------------------------------------------------------------------------------


@bp.get("/surveys/<code>/results")
@roles_required(*READERS)
def results(code: str) -> Any:
    c = _campaign_or_404(code)
    with engine().connect() as conn:
        grid = store.grids(conn)[c.grid]
        rows = store.campaign_results(conn, code)
        norms = store.campaign_norms(conn, code)
        points = store.transects(conn, code)
    points = _named(points)
    names = _names()
    elements = {ANY: _("any element")} | {e.code: _label(e) for e in grid.elements}
    table: dict[tuple[str, str], dict[str, Any]] = {}  # one row per place, one cell per element
    for r in rows:
        table.setdefault((r.level, r.key), {"level": r.level, "key": r.key, "cells": {}})["cells"][
            r.element
        ] = r
    for p in points:
        p["below"] = None if p["grades"] is None else any(grid.below(g) for g in p["grades"].values())
    data = {
        "tiles": current_app.config.get("GEOVA_TILES_URL"),
        "attribution": current_app.config.get("GEOVA_TILES_ATTRIBUTION"),
        "transects": points,
        "text": {
            "below": _("below %(grade)s", grade=grid.acceptable),
            "ok": _("acceptable"),
            "none": _("not graded"),
        },
    }
    return render_template(
        "surveys/results.html",
        campaign=c,
        grid=grid,
        rows=list(table.values()),
        norms=norms,
        elements=elements,
        levels=LEVELS,
        verdicts=VERDICTS,
        data=data,
        label=_label,
        names=names,
    )


# ---- exploratory walks ---------------------------------------------------------------------------


class ObservationForm(FlaskForm):
    walk = StringField(_l("Walk"), validators=[DataRequired(), Length(max=128)])
    category = SelectField(_l("Category"), validators=[DataRequired()])
    latitude = FloatField(_l("Latitude"), validators=[InputRequired(), NumberRange(-90, 90)])
    longitude = FloatField(_l("Longitude"), validators=[InputRequired(), NumberRange(-180, 180)])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=store.MAX_NOTE)])


def _observation_form() -> ObservationForm:
    form = ObservationForm()
    form.category.choices = [("", _("Choose a category")), *report_categories(_lang())]
    return form


def _render_walks(form: ObservationForm, status: int = 200) -> Any:
    walk = request.args.get("walk") or None
    with engine().connect() as conn:
        rows = store.observations(conn, walk)
    labels = dict(report_categories(_lang()))
    return render_template("surveys/walks.html", form=form, rows=rows, labels=labels, walk=walk), status


@bp.get("/walks")
@roles_required(*SURVEYORS)
def walks() -> Any:
    form = _observation_form()
    if request.args.get("walk") and not form.walk.data:
        form.walk.data = request.args["walk"]  # the next observation of the same walk
    return _render_walks(form)


@bp.post("/walks")
@roles_required(*SURVEYORS)
def add_observation() -> Any:
    form = _observation_form()
    if not form.validate_on_submit():
        for field, errors in form.errors.items():
            label = getattr(form, field).label.text if hasattr(form, field) else field
            for error in errors:
                flash(f"{label}: {error}", "error")
        return _render_walks(form, 400)
    try:
        with write(engine()) as conn:
            store.add_observation(
                conn,
                form.walk.data or "",
                float(form.longitude.data or 0),
                float(form.latitude.data or 0),
                form.category.data or "",
                form.note.data,
                current_user.username,
                datetime.now(UTC),
            )
    except ValueError as exc:
        flash(_("The observation was not recorded: %(reason)s", reason=str(exc)), "error")
        return _render_walks(form, 400)
    flash(_("Observation recorded."), "success")
    return redirect(url_for(".walks", walk=form.walk.data))


@bp.post("/walks/<int:observation_id>/request")
@roles_required(*SURVEYORS)
def to_request(observation_id: int) -> Any:
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    if not 1 <= observation_id <= MAX_ROW_ID:  # no observation has it
        abort(404)
    try:
        with write(engine()) as conn:
            new_id = store.observation_to_request(
                conn, observation_id, current_user.username, datetime.now(UTC)
            )
    except LookupError:
        abort(404)
    except ValueError as exc:  # e.g. a point outside the territory's quarters
        flash(_("The request was not recorded: %(reason)s", reason=str(exc)), "error")
        return redirect(url_for(".walks"))
    flash(_("Request %(id)s recorded from the observation.", id=new_id), "success")
    return redirect(url_for(".walks"))
