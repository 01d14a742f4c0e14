"""The monthly committee: the report of a period for the city or a quarter, its publication, and
the activity / impact / resource indicators.

Officials (``/reports``, ``/indicators``) see the report of any month, half year or year as
geova.reports computes it, download it as PDF (WeasyPrint, A4), and publish it; the public site
(``/published``) lists the published reports, each frozen as it was published (figures and
renderings stored by geova.store.reports), with every corrected version kept.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Annotated, Any

import pandas as pd
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import force_locale, format_date, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from pydantic import AfterValidator, Field
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from wtforms import DecimalField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from geova.indicators import CITY, indicator_table
from geova.reports import ReportError, ReportPeriod, build_report, parse_period
from geova.store import catalogue
from geova.store.areas import area_shapes
from geova.store.db import write
from geova.store.measures import MeasureEntry, UnknownName, measure_defs, record_measures
from geova.store.referential import services as service_defs
from geova.store.reports import PublishRefused, get, listing, publish, versions
from geova.store.status import settings
from geova.web import engine
from geova.web.auth import roles_required
from geova.web.errors import ParamError
from geova.web.format import num, pct
from geova.web.params import MAX_ROW_ID, Code, Params, parse
from geova.web.queries import rate_legend
from geova.web.report_graphics import BAR_COLOUR, LINE_COLOUR, quarter_bars, report_map, trend_chart

bp = Blueprint("reports", __name__)
published_bp = Blueprint("published", __name__)

LANGS = ("fr", "en")
BODY_START, BODY_END = "<!--report-body-->", "<!--/report-body-->"
HATCHED_BELOW = 0.95  # the worst zones are hatched on the map when under the best class


def _period_text(value: str) -> str:
    try:
        return parse_period(value).code
    except ReportError as exc:
        raise ValueError(str(exc)) from None


PeriodCode = Annotated[str, Field(min_length=4, max_length=16), AfterValidator(_period_text)]


class ReportParams(Params):
    period: PeriodCode | None = None
    quarter: Code | None = None
    service: Code | None = None  # the indicators of one service's work


# --- rendering -------------------------------------------------------------------------------------


def period_label(period: ReportPeriod, lang: str) -> str:
    """ "June 2015", "first half of 2015", "2015", in the language of ``lang``."""
    with force_locale(lang):
        if period.kind == "month":
            return str(format_date(period.start.date(), "MMMM yyyy"))
        if period.kind == "half":
            return (
                _("first half of %(year)s", year=period.year)
                if period.first_month == 1
                else _("second half of %(year)s", year=period.year)
            )
        return str(period.year)


def report_title(figures: dict[str, Any], lang: str) -> str:
    period = parse_period(figures["period"]["code"])
    with force_locale(lang):
        where = figures["scope"]["name"] or figures["territory"] or _("the city")
        what = (
            _("Monthly report")
            if period.kind == "month"
            else _("Six-month report")
            if period.kind == "half"
            else _("Yearly report")
        )
        return f"{what} — {where} — {period_label(period, lang)}"


def _shapes(eng: Engine) -> tuple[list[tuple[str, str, bytes]], list[tuple[str, str, bytes]]]:
    with eng.connect() as conn:
        quarters = [(c, n, w) for c, n, level, w in area_shapes(conn, "quarter") if level == 0]
        zones = [(c, n, w) for c, n, _kind, w in area_shapes(conn, "zone")]
    return quarters, zones


def _month_label(month: str, fmt: str = "MMM yyyy") -> str:
    return str(format_date(pd.Period(month, freq="M").start_time.date(), fmt))


def report_graphics(figures: dict[str, Any], eng: Engine | None = None) -> dict[str, str | None]:
    """The report's map and charts as SVG; they hold no translated word, so one drawing serves
    both languages of a publication."""
    eng = eng or engine()
    quarters, zones = _shapes(eng)
    focus = figures["scope"]["quarter"]
    return {
        "map": report_map(
            quarters,
            zones,
            {q["code"]: q["on_time_rate"] for q in figures["quarters"]},
            focus,
            {z["code"] for z in figures["worst_zones"] if z["on_time_rate"] < HATCHED_BELOW},
        ),
        "trend": trend_chart(
            [t["month"] for t in figures["trend"]],
            [t["on_time_rate"] for t in figures["trend"]],
            [t["requests"] for t in figures["trend"]],
        ),
        "bars": None
        if focus
        else quarter_bars(
            [q["name"] for q in figures["quarters"]], [q["on_time_rate"] for q in figures["quarters"]]
        ),
    }


def render_report(
    figures: dict[str, Any],
    lang: str,
    eng: Engine | None = None,
    graphics: dict[str, str | None] | None = None,
) -> str:
    """The report as one self-contained HTML document in ``lang`` (map and charts inlined as
    SVG), ready to print or to hand to WeasyPrint."""
    period = parse_period(figures["period"]["code"])
    graphics = graphics or report_graphics(figures, eng)
    with force_locale(lang):
        headline = next((n for n in figures["norms"] if n["code"] == figures["headline"]), None)
        label = (headline or {}).get("label_fr" if lang == "fr" else "label_en", "")
        tasks = {t["code"]: t for t in figures["audit"]["tasks"]}
        return render_template(
            "reports/document.html",
            f=figures,
            lang=lang,
            title=report_title(figures, lang),
            period=period,
            period_label=period_label(period, lang),
            previous_label=_period_range(figures["period"]["previous"], period, lang),
            year_label=_period_range(figures["period"]["year_before"], period, lang),
            graphics=graphics,
            legend=[(c, str(t)) for c, t in rate_legend()],
            colours={"bar": BAR_COLOUR, "line": LINE_COLOUR},
            headline_label=label,
            tasks=tasks,
            label=lambda row: row.get("label_fr" if lang == "fr" else "label_en") or row.get("code"),
            pct=pct,
            num=num,
            hours=_hours,
            month_label=_month_label,
            change=_change,
            body_start=BODY_START,
            body_end=BODY_END,
            answer=_answer,
            step_label=_step_label,
            kind_label=_kind_label,
            as_of=pd.Timestamp(figures["as_of"]),
        )


def _period_range(bounds: list[str], period: ReportPeriod, lang: str) -> str:
    start = pd.Timestamp(bounds[0])
    shifted = ReportPeriod(period.code, period.kind, start.year, start.month, period.months)
    if period.kind == "half" and start.month not in (1, 7):
        return f"{start.date()} – {pd.Timestamp(bounds[1]).date()}"
    return period_label(shifted, lang)


def _hours(value: float | None) -> str:
    """Hours with one decimal ("22.1 h"); a median just below zero (resolutions flagged before
    their report) shows as 0.0, not -0.0."""
    return "—" if value is None else f"{num(round(value, 1) + 0.0, 1)} h"


def _change(now: float | None, before: float | None) -> str:
    """The change of a rate in percentage points, signed ("+2.5 pts")."""
    if now is None or before is None:
        return "—"
    points = (now - before) * 100
    return _("%(sign)s%(points)s pts", sign="+" if points >= 0 else "−", points=num(abs(points), 1))


def _answer(value: str | None) -> str:
    return {"OUI": _("yes"), "NON": _("no"), "PARTIELLEMENT": _("partly")}.get(value or "", _("not answered"))


def _step_label(step: str) -> str:
    return {
        "contact_15d": _("Contact at 15 days"),
        "contact_1m": _("Contact at 1 month"),
        "validation_2m": _("Validation at 2 months"),
    }.get(step, step)


def _kind_label(kind: str) -> str:
    return {"activity": _("Activity"), "impact": _("Impact"), "resource": _("Resources")}.get(kind, kind)


def report_body(document: str) -> str:
    """The part of a rendered report between its body markers (for pages of the site)."""
    found = re.search(re.escape(BODY_START) + r"(.*)" + re.escape(BODY_END), document, re.S)
    return found.group(1) if found else ""


def to_pdf(document: str) -> bytes:
    """The HTML report as a PDF on A4 (WeasyPrint; the document's CSS sets the page)."""
    from weasyprint import HTML  # imported when used: it loads Pango

    # WeasyPrint logs a warning per SVG style attribute it reads itself and per id two charts share
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    pdf: bytes = HTML(string=document).write_pdf()
    return pdf


# --- officials' pages ----------------------------------------------------------------------------


class PublishForm(FlaskForm):
    reason = TextAreaField(_l("Reason for a corrected version"), validators=[Optional(), Length(max=2000)])


def _lang() -> str:
    return str(get_locale() or "fr")


def _asked() -> tuple[ReportPeriod | None, str | None]:
    params = parse(ReportParams)
    if params.quarter is not None:
        with engine().connect() as conn:
            if catalogue.quarter(conn, params.quarter) is None:
                raise ParamError("quarter", f"unknown quarter '{params.quarter}'")
    return (parse_period(params.period) if params.period else None), params.quarter


def _default_period() -> str:
    with engine().connect() as conn:
        latest = catalogue.latest_report(conn)
    when = pd.Timestamp(latest) if latest is not None else pd.Timestamp.now()
    return f"{when.year:04d}-{when.month:02d}"


@bp.get("/reports")
@roles_required("official")
def reports_page() -> Any:
    period, quarter = _asked()
    with engine().connect() as conn:
        quarters = catalogue.quarters(conn, 0)
        done = listing(conn)
    context: dict[str, Any] = {
        "quarters": quarters.to_dict("records"),
        "asked_period": period.code if period else _default_period(),
        "asked_quarter": quarter,
        "published": done,
        "form": PublishForm(),
        "document": None,
    }
    if period is not None:
        try:
            figures = build_report(engine(), period, quarter)
        except ReportError as exc:
            raise ParamError("period", str(exc)) from None
        context["document"] = report_body(render_report(figures, _lang()))
        with engine().connect() as conn:
            context["versions"] = versions(conn, quarter or "", period.code)
    return render_template("reports/officials.html", **context)


@bp.get("/reports/pdf")
@roles_required("official")
def report_pdf() -> Any:
    period, quarter = _asked()
    if period is None:
        raise ParamError("period", "a period is required (2015-06, 2015-H1 or 2015)")
    try:
        figures = build_report(engine(), period, quarter)
    except ReportError as exc:
        raise ParamError("period", str(exc)) from None
    pdf = to_pdf(render_report(figures, _lang()))
    name = f"geova-{quarter or 'city'}-{period.code}-{_lang()}.pdf"
    return pdf_response(pdf, name)


def publish_report(
    eng: Engine, period: ReportPeriod, quarter: str | None, by: str | None, reason: str | None
) -> Any:
    """Compute, render in both languages and store a report, frozen (see geova.store.reports)."""
    figures = build_report(eng, period, quarter)
    graphics = report_graphics(figures, eng)
    html = (render_report(figures, "fr", eng, graphics), render_report(figures, "en", eng, graphics))
    titles = (report_title(figures, "fr"), report_title(figures, "en"))
    try:
        with write(eng) as conn:
            return publish(
                conn,
                scope=quarter or "",
                period=period.code,
                titles=titles,
                figures=figures,
                html=html,
                by=by,
                reason=reason,
            )
    except IntegrityError:  # the same version published by someone else at the same moment
        raise PublishRefused(
            "this report was published by someone else at the same moment: read it, then publish "
            "a corrected version if it needs one"
        ) from None


@bp.post("/reports/publish")
@roles_required("official")
def publish_page() -> Any:
    period, quarter = _asked()
    form = PublishForm()
    if period is None or not form.validate_on_submit():
        flash(_("The report could not be published: the form was incomplete."), "error")
        return redirect(url_for("reports.reports_page"))
    try:
        done = publish_report(engine(), period, quarter, current_user.username, form.reason.data)
    except PublishRefused as exc:
        if exc.latest is not None:
            flash(
                _(
                    "Version %(n)s of this report is already published: a corrected version needs a reason.",
                    n=exc.latest,
                ),
                "error",
            )
        else:
            flash(_("This report was published by someone else at the same moment: read it first."), "error")
        return redirect(url_for("reports.reports_page", period=period.code, quarter=quarter))
    except ReportError as exc:
        flash(str(exc), "error")
        return redirect(url_for("reports.reports_page", period=period.code, quarter=quarter))
    flash(_("Report published (version %(n)s).", n=done.version), "success")
    return redirect(url_for("published.report", report_id=done.id))


# --- indicators ----------------------------------------------------------------------------------


class MeasureForm(FlaskForm):
    measure = SelectField(_l("Measure"), validators=[DataRequired()])
    quarter = SelectField(_l("Quarter"), validators=[DataRequired()])
    month = StringField(_l("Month (2015-06)"), validators=[DataRequired(), Length(max=7)])
    service = StringField(_l("Service (optional)"), validators=[Optional(), Length(max=128)])
    value = DecimalField(_l("Value"), validators=[DataRequired()])


def _measure_form(lang: str) -> MeasureForm:
    form = MeasureForm()
    with engine().connect() as conn:
        form.measure.choices = [
            (m.code, m.label_fr if lang == "fr" else m.label_en) for m in measure_defs(conn)
        ]
        form.quarter.choices = [(q.code, q.name) for q in catalogue.quarters(conn, 0).itertuples()]
    return form


@bp.get("/indicators")
@roles_required("official")
def indicators_page() -> Any:
    period, quarter = _asked()
    period = period or parse_period(_default_period())
    lang = _lang()
    tz = _tz()
    start, end = period.start.tz_localize(tz), period.end.tz_localize(tz)
    service = parse(ReportParams).service
    with engine().connect() as conn:
        quarters = catalogue.quarters(conn, 0)
        example = settings(conn).get("example_measures") == "yes"
        services = {d.code: d.label_fr if lang == "fr" else d.label_en for d in service_defs(conn)}
    if service is not None and service not in services:
        raise ParamError("service", f"unknown service '{service}'")
    table = indicator_table(engine(), start, end, service)
    scopes = [(CITY, _("City"))] + [(q.code, q.name) for q in quarters.itertuples()]
    if quarter:
        scopes = [s for s in scopes if s[0] == quarter]
    return render_template(
        "reports/indicators.html",
        period=period,
        period_label=period_label(period, lang),
        table=table,
        scopes=scopes,
        quarters=quarters.to_dict("records"),
        asked_quarter=quarter,
        services=services,
        asked_service=service,
        example=example,
        form=_measure_form(lang),
        kind_label=_kind_label,
        label=lambda d: d.label_fr if lang == "fr" else d.label_en,
    )


def _tz() -> str:
    from geova.web.format import territory_tz

    return territory_tz()


@bp.post("/indicators/measures")
@roles_required("official")
def record_measure() -> Any:
    form = _measure_form(_lang())
    back = request.form.get("period") or _default_period()
    if not form.validate_on_submit():
        for name, errors in form.errors.items():
            for error in errors:
                flash(f"{getattr(form, name).label.text}: {error}", "error")
        return redirect(url_for("reports.indicators_page", period=back))
    found = re.fullmatch(r"(\d{4})-(\d{2})", form.month.data.strip())
    if not found or not 1 <= int(found.group(2)) <= 12:
        flash(_("Month: write it as 2015-06."), "error")
        return redirect(url_for("reports.indicators_page", period=back))
    entry = MeasureEntry(
        form.measure.data,
        date(int(found.group(1)), int(found.group(2)), 1),
        form.quarter.data,
        float(form.value.data),
        (form.service.data or "").strip(),
    )
    try:
        with write(engine()) as conn:
            record_measures(conn, [entry], source="web", by=current_user.username)
    except UnknownName as exc:
        flash(str(exc), "error")
    else:
        flash(_("Figure recorded."), "success")
    return redirect(url_for("reports.indicators_page", period=back))


# --- the public site -----------------------------------------------------------------------------


@published_bp.get("/published")
def index() -> Any:
    with engine().connect() as conn:
        done = listing(conn)
    return render_template("reports/published_list.html", reports=done, lang=_lang())


def _published(report_id: int) -> tuple[Any, dict[str, Any], str, str]:
    if not 1 <= report_id <= MAX_ROW_ID:  # no stored row has it (and the database could not hold it)
        abort(404)
    with engine().connect() as conn:
        found = get(conn, report_id)
    if found is None:
        abort(404)
    return found


@published_bp.get("/published/<int:report_id>")
def report(report_id: int) -> Any:
    meta, _figures, html_fr, html_en = _published(report_id)
    lang = _lang()
    with engine().connect() as conn:
        others = versions(conn, meta.scope, meta.period)
    return render_template(
        "reports/published.html",
        meta=meta,
        body=report_body(html_fr if lang == "fr" else html_en),
        others=others,
        lang=lang,
    )


@published_bp.get("/published/<int:report_id>.pdf")
def report_pdf_published(report_id: int) -> Any:
    meta, _figures, html_fr, html_en = _published(report_id)
    lang = request.args.get("lang") if request.args.get("lang") in LANGS else _lang()
    pdf = to_pdf(html_fr if lang == "fr" else html_en)
    name = f"geova-{meta.scope or 'city'}-{meta.period}-v{meta.version}-{lang}.pdf"
    return pdf_response(pdf, name)


def pdf_response(pdf: bytes, name: str) -> Response:
    """The PDF, shown in the browser, saved under ``name`` (a quarter code may hold any character:
    only letters, digits, dots and dashes reach the header)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    disposition = f'inline; filename="{safe}"'
    return Response(pdf, mimetype="application/pdf", headers={"Content-Disposition": disposition})
