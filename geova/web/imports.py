"""Imports from the web app (administrators): upload, dry-run preview, background import, log.

1. ``/admin/imports``: upload a layer (GeoJSON, GeoPackage, zipped Shapefile), a request file or an
   activity file, with a shipped mapping or one pasted in the form;
2. the upload request only saves the file (in its own folder of the instance: a random name, the
   file's name is never a path), checks its format and its mapping, and creates a job in phase
   ``preview``: a background process (geova.jobs, which says why not a task queue) runs the preview
   (geova.preview, the CLI's ``--dry-run``) and stores it as JSON, so that no request parses a file,
   however large; the job's page polls ``/admin/imports/jobs/ID.json`` (static/js/geova-imports.js;
   without JavaScript the page refreshes itself) and renders the preview as tables once ready;
3. "Import": the same job queued for its import, run by a new process; its page shows the progress
   and offers the rejects file when done;
4. ``/admin/imports/log``: the jobs and the import journal (CLI imports too).
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired  # type: ignore[import-untyped]
from werkzeug.utils import secure_filename
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from geova.config import instance_path
from geova.io.errors import ImportFailure
from geova.io.uploads import LAYER_FORMATS, SUFFIX, TABLE_FORMATS, UploadRefused, check_format
from geova.jobs import alive, launch, plain_message, preview_path, sweep_uploads, uploads_folder
from geova.preview import Preview, check_before_reading
from geova.store import import_jobs
from geova.store.db import write
from geova.web import ROOT, engine
from geova.web.access import key_user
from geova.web.auth import roles_required
from geova.web.params import MAX_ROW_ID

bp = Blueprint("imports", __name__, url_prefix="/admin/imports")

MAPPING_FOLDERS = (ROOT / "data" / "mappings", ROOT / "data" / "examples")
TOKEN = re.compile(r"^[0-9a-f]{32}$")
KINDS = ("interventions", "activities", "quarters", "zones")
LAYER_FIELDS = ("code_field", "name_field", "parent_field", "zone_kind", "kind_field", "crs", "layer_name")
MAPPING_MAX = 200_000  # characters of a pasted mapping
LOG_ROWS = 100


def upload_limit() -> int:
    """Bytes an upload may have (GEOVA_UPLOAD_MAX_MB)."""
    return int(current_app.config["GEOVA_UPLOAD_MAX_MB"]) * 1_000_000


@bp.before_request
def _people_only() -> None:
    """Imports are a person's act, from a session: an API key is refused, whatever its role."""
    if key_user() is not None:
        abort(403, _("API keys cannot import files; log in as an administrator."))


@bp.record_once
def _cap_request_bodies(state: Any) -> None:
    """Werkzeug refuses (413) a body well past the upload limit before parsing it; bodies between
    the limit and the cap get this page's own message."""
    limit = int(state.app.config.get("GEOVA_UPLOAD_MAX_MB", 200)) * 1_000_000
    state.app.config.setdefault("MAX_CONTENT_LENGTH", limit + 1_000_000)


def shipped_mappings() -> dict[str, Path]:
    """The mapping files shipped with geova, by the name the form shows."""
    found = {}
    for folder in MAPPING_FOLDERS:
        for path in sorted(folder.glob("*.toml")):
            found[f"{folder.name}/{path.name}"] = path
    return found


def kind_labels() -> dict[str, str]:
    return {
        "interventions": _("Requests (CSV, GeoJSON, GeoPackage) with a mapping"),
        "activities": _("Activities: passages, events (CSV, GeoJSON, GeoPackage) with a mapping"),
        "quarters": _("Quarters layer (GeoJSON, GeoPackage, zipped Shapefile)"),
        "zones": _("Zones layer (GeoJSON, GeoPackage, zipped Shapefile)"),
    }


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {
        "phase_labels": {
            "preview": _("waiting to read the file"),
            "previewing": _("reading the file (dry run)"),
            "previewed": _("previewed, not imported"),
            "queued": _("waiting to start"),
            "running": _("running"),
            "storing": _("storing rows"),
            "done": _("done"),
            "failed": _("failed"),
            "skipped": _("unchanged, skipped"),
        }
    }


class UploadForm(FlaskForm):
    kind = SelectField(_l("What the file holds"), choices=[])
    file = FileField(_l("File"), validators=[FileRequired()])
    mapping = SelectField(_l("Shipped mapping"), choices=[], validate_choice=False)
    mapping_text = TextAreaField(
        _l("Or paste a mapping (TOML; it wins over the shipped one)"),
        validators=[Optional(), Length(max=MAPPING_MAX)],
    )
    code_field = StringField(_l("Code field"), validators=[Optional(), Length(max=128)])
    name_field = StringField(_l("Name field"), validators=[Optional(), Length(max=128)])
    parent_field = StringField(_l("Parent field (quarters)"), validators=[Optional(), Length(max=128)])
    zone_kind = StringField(_l("Kind of every zone (zones)"), validators=[Optional(), Length(max=64)])
    kind_field = StringField(
        _l("Field holding each zone's kind (zones)"), validators=[Optional(), Length(max=128)]
    )
    crs = StringField(
        _l("CRS when the file has none (e.g. EPSG:2154)"), validators=[Optional(), Length(max=64)]
    )
    layer_name = StringField(_l("Layer name in geova"), validators=[Optional(), Length(max=64)])


class RunForm(FlaskForm):
    token = StringField(validators=[DataRequired(), Regexp(TOKEN.pattern)])
    max_rejects = IntegerField(_l("Rejected rows allowed"), validators=[Optional(), NumberRange(min=0)])


def _upload_form() -> UploadForm:
    form = UploadForm()
    form.kind.choices = list(kind_labels().items())
    form.mapping.choices = [("", _("(none)"))] + [(name, name) for name in shipped_mappings()]
    return form


def _refuse(form: UploadForm, message: str, status: int = 400) -> Any:
    flash(message, "error")
    return render_template("imports/upload.html", form=form, limit_mb=upload_limit() // 1_000_000), status


@bp.get("/")
@roles_required("admin")
def upload() -> Any:
    return render_template("imports/upload.html", form=_upload_form(), limit_mb=upload_limit() // 1_000_000)


def _folder(token: str) -> Path:
    return uploads_folder() / token


def _save_upload(form: UploadForm, folder: Path) -> dict[str, Any]:
    """The upload and its mapping written into ``folder``: what the preview and the import read.
    Raises UploadRefused with the reason a data officer can act on."""
    kind = form.kind.data
    given = form.file.data
    original = (given.filename or "").strip() or "upload"
    stem = Path(secure_filename(original)).stem[:60] or "upload"
    raw = folder / "upload.bin"
    given.save(raw)
    if raw.stat().st_size > upload_limit():
        raise UploadRefused(_("the file is larger than %(mb)s MB", mb=upload_limit() // 1_000_000))
    try:
        found = check_format(raw, LAYER_FORMATS if kind in ("quarters", "zones") else TABLE_FORMATS)
    except UploadRefused as exc:
        raise UploadRefused(_("%(file)s is %(reason)s", file=original, reason=str(exc))) from exc
    data = folder / f"{stem}{SUFFIX[found]}"
    raw.replace(data)
    meta: dict[str, Any] = {"kind": kind, "file_name": original[:255], "path": str(data), "mapping": None}
    if kind in ("interventions", "activities"):
        text = (form.mapping_text.data or "").strip()
        if text:
            mapping = folder / "mapping.toml"
            mapping.write_text(text + "\n", encoding="utf-8")
            meta["mapping_label"] = _("the pasted mapping")
        elif form.mapping.data in shipped_mappings():
            mapping = shipped_mappings()[form.mapping.data]
            meta["mapping_label"] = form.mapping.data
        else:
            raise UploadRefused(
                _("choose a shipped mapping or paste one: a %(kind)s file needs one", kind=kind)
            )
        meta["mapping"] = str(mapping)
    else:
        options = {k: (getattr(form, k).data or "").strip() or None for k in LAYER_FIELDS}
        options["kind"] = options.pop("zone_kind")
        options["layer_name"] = options["layer_name"] or stem
        meta["options"] = {k: v for k, v in options.items() if v is not None}
    return meta


def _check_options(meta: dict[str, Any]) -> None:
    """The mapping (or the layer's options) checked before the job starts: cheap, and a mistake
    there is shown at once on the form, as the CLI's dry run would say it. ImportFailure if wrong."""
    options = meta.get("options") or {}
    check_before_reading(
        meta["kind"],
        Path(meta["path"]),
        Path(meta["mapping"]) if meta.get("mapping") else None,
        layer_name=options.get("layer_name"),
        zone_kind=options.get("kind"),
        parent_name=options.get("parent_name", "{code}"),
    )


def _plain(message: str, meta: dict[str, Any]) -> str:
    """An import error with the instance's paths replaced by the names the user knows."""
    return plain_message(
        message,
        path=meta["path"],
        file_name=meta["file_name"],
        mapping=meta.get("mapping"),
        mapping_label=meta.get("mapping_label"),
    )


def _job_settings() -> dict[str, str]:
    """What the job's process needs of this app's settings (geova.jobs.launch)."""
    return {
        "GEOVA_DATABASE_URL": current_app.config["GEOVA_DATABASE_URL"],
        "GEOVA_REFERENTIAL": str(current_app.config["GEOVA_REFERENTIAL"]),
        "GEOVA_BUSY_TIMEOUT": str(current_app.config["GEOVA_BUSY_TIMEOUT"]),
    }


def _start(job_id: int) -> None:
    """The job's process started, its pid written unless the process wrote it first."""
    pid = launch(job_id, _job_settings())
    with write(engine()) as conn:
        job = import_jobs.get_job(conn, job_id)
        if job is not None and job.pid is None:
            import_jobs.update_job(conn, job_id, pid=pid)


@bp.post("/preview")
@roles_required("admin")
def preview() -> Any:
    form = _upload_form()
    if request.content_length is not None and request.content_length > upload_limit():
        return _refuse(
            form,
            _("The file is larger than %(mb)s MB: nothing was stored.", mb=upload_limit() // 1_000_000),
            413,
        )
    if not form.validate_on_submit():
        for name, errors in form.errors.items():
            label = getattr(form, name).label.text if hasattr(form, name) else name
            for error in errors:
                flash(f"{label}: {error}", "error")
        return render_template("imports/upload.html", form=form, limit_mb=upload_limit() // 1_000_000), 400
    sweep_uploads()
    token = secrets.token_hex(16)
    folder = _folder(token)
    folder.mkdir(parents=True)
    meta: dict[str, Any] = {"path": str(folder / "upload.bin"), "file_name": form.file.data.filename or ""}
    try:
        meta = _save_upload(form, folder)
        _check_options(meta)
    except UploadRefused as exc:
        shutil.rmtree(folder, ignore_errors=True)
        return _refuse(form, _("Not imported: %(reason)s. Nothing was stored.", reason=str(exc)))
    except ImportFailure as exc:
        shutil.rmtree(folder, ignore_errors=True)
        reason = _plain(str(exc), meta)
        return _refuse(form, _("Not imported: %(reason)s. Nothing was stored.", reason=reason))
    # the file is read by the job's process, never here: a request's cost does not grow with the file
    options = dict(meta.get("options") or {})
    if meta.get("mapping_label"):
        options["mapping_label"] = meta["mapping_label"]
    with write(engine()) as conn:
        job_id = import_jobs.create_job(
            conn,
            kind=meta["kind"],
            origin="web",
            file_name=meta["file_name"],
            path=meta["path"],
            mapping=meta["mapping"],
            options=options,
            created_by=current_user.username,
            phase="preview",
        )
    meta["job"] = job_id
    (folder / "upload.json").write_text(json.dumps(meta), encoding="utf-8")
    _start(job_id)
    return redirect(url_for("imports.job", job_id=job_id))


@bp.post("/run")
@roles_required("admin")
def run() -> Any:
    form = RunForm()
    if not form.validate_on_submit():
        abort(400, _("This preview is no longer valid: upload the file again."))
    folder = _folder(form.token.data)
    try:
        meta = json.loads((folder / "upload.json").read_text(encoding="utf-8"))
        job_id = int(meta["job"])
    except (OSError, ValueError, KeyError, TypeError):
        abort(400, _("This preview is no longer valid: upload the file again."))
    options = {}
    if meta["kind"] in ("interventions", "activities"):
        options["max_rejects"] = form.max_rejects.data or 0
    with write(engine()) as conn:
        queued = import_jobs.queue_previewed(conn, job_id, **options)  # one import per preview
    if not queued:
        abort(400, _("This preview is no longer valid: upload the file again."))
    (folder / "upload.json").unlink(missing_ok=True)
    _start(job_id)
    return redirect(url_for("imports.job", job_id=job_id))


def _job_or_404(job_id: int) -> import_jobs.Job:
    """The job; one whose process ended without saying so (killed, out of memory) is marked failed,
    so that its page stops waiting."""
    if not 1 <= job_id <= MAX_ROW_ID:  # no job has it (and PostgreSQL could not compare it)
        abort(404)
    with engine().connect() as conn:
        job = import_jobs.get_job(conn, job_id)
    if job is None:
        abort(404)
    if not job.settled and job.pid is not None and not alive(job.pid):
        error = _("the import process ended without finishing (its log: instance/jobs/%(id)s.log)", id=job.id)
        with write(engine()) as conn:
            import_jobs.fail_unfinished(conn, job_id, error)
            job = import_jobs.get_job(conn, job_id)
        assert job is not None
    return job


def _rejects_file(job: import_jobs.Job) -> Path | None:
    """The job's rejects file if it has rows, and only if it lies in the instance folder."""
    if not job.rejects_path:
        return None
    path = Path(job.rejects_path).resolve()
    if not path.is_relative_to(instance_path()) or not path.is_file():
        return None
    with path.open(encoding="utf-8-sig") as fh:
        return path if sum(1 for _ in fh) > 1 else None


def job_state(job: import_jobs.Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "phase": job.phase,
        "finished": job.finished,
        "ready": job.settled,  # the page has something new to show: the preview, or the outcome
        "rows_done": job.rows_done,
        "rows_total": job.rows_total,
        "percent": job.percent,
        "counts": job.counts,
        "error": job.error,
        "rejects": url_for("imports.rejects", job_id=job.id) if _rejects_file(job) else None,
    }


def _stored_preview(job: import_jobs.Job) -> Preview | None:
    try:
        return Preview.from_dict(json.loads(preview_path(job.id).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


@bp.get("/jobs/<int:job_id>")
@roles_required("admin")
def job(job_id: int) -> Any:
    j = _job_or_404(job_id)
    if j.phase == import_jobs.PREVIEWED:
        p = _stored_preview(j)
        token = Path(j.path).parent.name
        waiting = TOKEN.match(token) and (_folder(token) / "upload.json").is_file()  # not swept away
        if p is not None and waiting:
            meta = {"file_name": j.file_name, "mapping_label": j.options.get("mapping_label")}
            run = RunForm(formdata=None, token=token, max_rejects=p.rejected)
            return render_template("imports/preview.html", p=p, meta=meta, run=run, failure=p.failure)
    return render_template("imports/job.html", job=j, state=job_state(j))


@bp.get("/jobs/<int:job_id>.json")
@roles_required("admin")
def job_json(job_id: int) -> Any:
    return job_state(_job_or_404(job_id))


@bp.get("/jobs/<int:job_id>/rejects.csv")
@roles_required("admin")
def rejects(job_id: int) -> Any:
    path = _rejects_file(_job_or_404(job_id))
    if path is None:
        abort(404)
    return send_file(
        path, mimetype="text/csv", as_attachment=True, download_name=f"import-{job_id}-rejects.csv"
    )


@bp.get("/log")
@roles_required("admin")
def log() -> Any:
    with engine().connect() as conn:
        jobs = import_jobs.recent_jobs(conn, LOG_ROWS)
        runs = import_jobs.recent_imports(conn, LOG_ROWS)
    return render_template("imports/log.html", jobs=jobs, runs=runs)
