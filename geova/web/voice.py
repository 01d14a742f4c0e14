"""Residents' and businesses' voice: a short perception questionnaire on a public page.

Reached by a link or a QR code (``/v/<code>``, ``/v/<code>/qr.svg``), answered without an account.
One answer per person and questionnaire: the browser gets a token signed with the app's secret
key, one per questionnaire, in a cookie; the store keeps the token's hash, once per questionnaire.
Clearing the cookie gives a new token, so each client address is also limited (``limits``, the
library under Flask-Limiter, in the storage the login limits use, ``GEOVA_RATELIMIT_STORAGE_URI``):
at most :data:`PER_CAMPAIGN` stored answers per address and questionnaire, :data:`PER_ADDRESS`
per address across all questionnaires. Only stored answers count; a refused one answers 429.

Officials read the results per quarter and zone (count, mean, distribution of each 1–5 score)
beside the measured figures of the same place and period: the share of surveyed transects below
the acceptable grade and the requests' on-time rate under the headline norm.
"""

from __future__ import annotations

import hashlib
import io
import secrets
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import segno
from flask import Blueprint, Response, abort, current_app, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeSerializer
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from wtforms import RadioField, SelectField, TextAreaField
from wtforms.validators import Length, Optional

from geova.core.surveys import ANY
from geova.evaluation import evaluate, territory_of
from geova.io.exports import to_excel_csv
from geova.store import surveys as survey_store
from geova.store import voice as store
from geova.store.records import RecordFilter
from geova.store.referential import headline_norm
from geova.web import engine
from geova.web.auth import roles_required
from geova.web.queries import quarters as all_quarters

bp = Blueprint("voice", __name__)
READERS = ("correspondent", "service", "official")
PER_CAMPAIGN = "3/day"  # stored answers per client address and questionnaire
PER_ADDRESS = "20/hour"  # stored answers per client address, all questionnaires
COOKIE_DAYS = 400
SCORES = [(str(s), str(s)) for s in range(1, 6)]
EXTENSION = "geova_voice_limits"


class Limits:
    def __init__(self, storage_uri: str):
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self.items = {"campaign": parse(PER_CAMPAIGN), "address": parse(PER_ADDRESS)}

    def _keys(self, code: str, address: str) -> dict[str, tuple[str, ...]]:
        return {"campaign": ("voice", code, address), "address": ("voice", address)}

    def allowed(self, code: str, address: str) -> bool:
        return all(self.limiter.test(self.items[k], *key) for k, key in self._keys(code, address).items())

    def hit(self, code: str, address: str) -> None:
        for k, key in self._keys(code, address).items():
            self.limiter.hit(self.items[k], *key)


def voice_limits() -> Limits:
    found = current_app.extensions.get(EXTENSION)
    if found is None:
        made = Limits(current_app.config["GEOVA_SETTINGS"].ratelimit_storage_uri)
        found = current_app.extensions.setdefault(EXTENSION, made)
    return found


def _lang() -> str:
    return str(get_locale() or "fr")


class VoiceForm(FlaskForm):
    cleanliness = RadioField(
        _l("How satisfied are you with the cleanliness here?"), choices=SCORES, validators=[Optional()]
    )
    safety = RadioField(
        _l("How satisfied are you with safety here?"), choices=SCORES, validators=[Optional()]
    )
    quarter = SelectField(_l("Your quarter"), validators=[Optional()], validate_choice=False)
    comment = TextAreaField(
        _l("A comment (optional)"), validators=[Optional(), Length(max=store.MAX_COMMENT)]
    )


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="geova-voice")


def _cookie(code: str) -> str:
    return f"geova_voice_{hashlib.sha256(code.encode()).hexdigest()[:12]}"


def _token(code: str) -> str | None:
    raw = request.cookies.get(_cookie(code))
    if not raw:
        return None
    try:
        value = _serializer().loads(raw)
    except BadSignature:
        return None
    if not isinstance(value, dict) or value.get("c") != code or not isinstance(value.get("t"), str):
        return None
    return str(value["t"])


def _respondent(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _with_cookie(response: Response, code: str, token: str) -> Response:
    response.set_cookie(
        _cookie(code),
        _serializer().dumps({"c": code, "t": token}),
        max_age=COOKIE_DAYS * 86400,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure,
        path=url_for(".answer", code=code),
    )
    return response


def _campaign_or_404(code: str) -> store.VoiceCampaignRow:
    with engine().connect() as conn:
        found = store.voice_campaign(conn, code)
    if found is None:
        abort(404)
    return found


def _form(c: store.VoiceCampaignRow) -> VoiceForm:
    form = VoiceForm()
    form.quarter.choices = [("", _("Choose your quarter"))] + [
        (str(r.code), str(r.name)) for r in all_quarters().itertuples()
    ]
    return form


def _page(c: store.VoiceCampaignRow, form: VoiceForm | None, state: str, status: int, token: str) -> Response:
    html = render_template("voice/answer.html", campaign=c, form=form, state=state)
    return _with_cookie(Response(html, status=status, mimetype="text/html"), c.code, token)


@bp.route("/v/<code>", methods=["GET", "POST"])
def answer(code: str) -> Any:
    c = _campaign_or_404(code)
    token = _token(code) or secrets.token_urlsafe(24)
    today = datetime.now(UTC).date()
    if not c.open_on(today):
        return _page(c, None, "closed", 200 if request.method == "GET" else 409, token)
    with engine().connect() as conn:
        answered = store.has_answered(conn, c.id, _respondent(token))
    if answered:
        return _page(c, None, "answered", 200 if request.method == "GET" else 409, token)
    form = _form(c)
    if request.method == "GET":
        return _page(c, form, "open", 200, token)
    if not form.validate_on_submit():
        return _page(c, form, "invalid", 400, token)
    limits = voice_limits()
    address = request.remote_addr or "unknown"
    if not limits.allowed(code, address):
        return _page(c, None, "limited", 429, token)
    score = {
        name: int(getattr(form, name).data) if getattr(form, name).data else None
        for name in ("cleanliness", "safety")
    }
    if score["cleanliness"] is None and score["safety"] is None:
        form.cleanliness.errors = [_("Answer at least one question.")]
        return _page(c, form, "invalid", 400, token)
    from geova.store.db import write

    try:
        with write(engine()) as conn:
            stored = store.record_answer(
                conn,
                code,
                _respondent(token),
                score["cleanliness"],
                score["safety"],
                form.comment.data,
                datetime.now(UTC),
                quarter=form.quarter.data or None,
            )
    except ValueError as exc:
        form.comment.errors = [str(exc)]
        return _page(c, form, "invalid", 400, token)
    if not stored:
        return _page(c, None, "answered", 409, token)
    limits.hit(code, address)
    return _page(c, None, "thanks", 200, token)


@bp.get("/v/<code>/qr.svg")
def qr(code: str) -> Any:
    _campaign_or_404(code)
    url = url_for(".answer", code=code, _external=True)
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=4, border=2, xmldecl=False, title=url)
    return Response(
        out.getvalue(), mimetype="image/svg+xml", headers={"Cache-Control": "public, max-age=3600"}
    )


# ---- officials -----------------------------------------------------------------------------------


@bp.get("/voice")
@roles_required(*READERS)
def index() -> Any:
    with engine().connect() as conn:
        rows = store.voice_campaigns(conn)
    return render_template("voice/index.html", campaigns=rows)


def _measured(c: store.VoiceCampaignRow) -> tuple[dict[tuple[str, str], dict[str, Any]], str | None]:
    """Per (level, key): the survey share below the acceptable grade (the latest survey campaign
    overlapping the questionnaire's period) and the on-time rate of the requests reported in the
    period under the headline norm."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    with engine().connect() as conn:
        found = survey_store.latest_results(conn, c.starts, c.ends)
        norm = headline_norm(conn)
    survey_code = None
    if found is not None:
        survey_code = found[0].code
        for r in found[1]:
            if r.element == ANY and r.level in ("quarter", "zone"):
                out.setdefault((r.level, r.key), {})["survey"] = r
    if norm is not None:
        tz = territory_of(engine()).timezone  # the questionnaire's days are the territory's
        start = pd.Timestamp(c.starts).tz_localize(tz)
        end = (pd.Timestamp(c.ends) + pd.Timedelta(days=1)).tz_localize(tz)
        result = evaluate(
            engine(), norm_codes=[norm.code], where=RecordFilter(reported_from=start, reported_to=end)
        )
        for level in ("quarter", "zone"):
            frame = result.group(["norm", level])
            for row in frame.to_dict("records"):
                rate = row.get("on_time_rate")
                if row.get(level) is not None and rate == rate:  # NaN: nothing judged
                    out.setdefault((level, str(row[level])), {})["on_time"] = rate
    return out, survey_code


@bp.get("/voice/<code>/results")
@roles_required(*READERS)
def results(code: str) -> Any:
    c = _campaign_or_404(code)
    with engine().connect() as conn:
        perceived = store.perception(conn, code)
        rows = store.answers(conn, code)
    measured, survey_code = _measured(c)
    table = []
    for level in ("quarter", "zone"):
        keys = sorted({p.key for p in perceived[level]})
        for key in keys:
            items = {p.question: p for p in perceived[level] if p.key == key}
            table.append({"level": level, "key": key, **items, **measured.get((level, key), {})})
    comments = [r for r in rows if r["comment"]]
    return render_template(
        "voice/results.html", campaign=c, table=table, comments=comments, survey_code=survey_code
    )


@bp.get("/voice/<code>/answers.csv")
@roles_required(*READERS)
def answers_csv(code: str) -> Any:
    c = _campaign_or_404(code)
    with engine().connect() as conn:
        rows = store.answers(conn, code)
    frame = pd.DataFrame(
        rows, columns=["quarter_code", "zone_code", "cleanliness", "safety", "comment", "answered_at"]
    )
    frame["answered_at"] = pd.to_datetime(frame["answered_at"], utc=True)
    text = to_excel_csv(frame, "UTC")  # comments neutralised (a leading = + - @ cannot run in a sheet)
    return Response(
        text.encode("utf-8"),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="geova-voice-{c.code}.csv"',
            "Content-Type": "text/csv; charset=utf-8",
        },
    )
