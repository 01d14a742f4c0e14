"""Elected officials: quarters compared, trends, and the audit grid of all quarters.

``/compare`` shows every quarter side by side for the view's norm and period, with the trend
against the previous period of the same length, two charts (inline SVG, see geova.web.charts) and
the audit grid of the chosen year; ``/compare/print`` lays the same content out for an A4
landscape page. Both read the figures from geova.evaluation, like every other audience.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import pandas as pd
from flask import Blueprint, g, render_template, url_for
from flask_babel import format_date, format_percent, get_locale
from flask_babel import gettext as _
from pydantic import Field

from geova.core.audit import Answer
from geova.core.surveys import ANY
from geova.store import catalogue, surveys
from geova.store.audit import current_grid
from geova.web import engine
from geova.web.auth import roles_required
from geova.web.charts import Bar, Series, rate_bars, rate_lines, series_style
from geova.web.format import num, pct, territory_tz
from geova.web.params import FIRST_DAY, LAST_DAY, Code, Codes, ViewParams
from geova.web.public import store_loaded
from geova.web.queries import (
    View,
    current_view,
    deadline_norms,
    evaluate_view,
    norm_label,
    quarters,
    rate_colour,
    view_params,
)

bp = Blueprint("officials", __name__)

OUTSIDE = "(none)"
FIGURES = ("requests", "on_time_rate", "late", "open_overdue", "median_hours", "p90_hours")
# sortable columns: key -> sorted ascending on a first click (names), else descending
COLUMNS = (
    "name",
    "requests",
    "on_time_rate",
    "late",
    "open_overdue",
    "median_hours",
    "p90_hours",
    "rate_change",
    "requests_change",
)
MOST_SERIES = 8  # quarters drawn on the trend chart besides the city


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _clean(value: Any) -> Any:
    """numpy scalars as Python numbers, NaN as None (templates and sorting want plain values)."""
    if _missing(value):
        return None
    return value.item() if hasattr(value, "item") else value


# --- periods ---------------------------------------------------------------------------------------


def previous_period(view: View) -> View:
    """The period of the same length just before the view's: the same number of calendar months
    when the view runs from a first of the month to a first of the month, else the same number of
    days."""
    tz = view.start.tz
    start, end = view.start.tz_localize(None), view.end.tz_localize(None)
    whole_months = start.day == 1 and end.day == 1 and start == start.normalize() and end == end.normalize()
    if whole_months:
        months = (end.year - start.year) * 12 + end.month - start.month
        prev_start = start - pd.DateOffset(months=months)
    else:
        prev_start = start - (end - start)
    return replace(view, start=prev_start.tz_localize(tz), end=start.tz_localize(tz))


# --- the comparison table --------------------------------------------------------------------------


def _by_quarter(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    if frame.empty:
        return {}
    return {str(r["quarter"]): {k: _clean(r[k]) for k in FIGURES} for r in frame.to_dict("records")}


def _figures(row: dict[str, Any] | None) -> dict[str, Any]:
    row = row or {}
    out = {k: row.get(k) for k in FIGURES}
    for k in ("requests", "late", "open_overdue"):
        out[k] = int(out[k] or 0)
    return out


def _trend(now: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    rate, prev_rate = now["on_time_rate"], before["on_time_rate"]
    change = None if rate is None or prev_rate is None else (rate - prev_rate) * 100
    prev_requests = before["requests"]
    return {
        "prev_requests": prev_requests,
        "prev_rate": prev_rate,
        "rate_change": change,  # in percentage points
        "requests_change": now["requests"] - prev_requests,
        "requests_change_pct": (now["requests"] - prev_requests) / prev_requests if prev_requests else None,
    }


def comparison(view: View) -> dict[str, Any]:
    """Every quarter's figures for the view, and the trend against the previous period."""
    prev_view = previous_period(view)
    result = evaluate_view(view)
    before = evaluate_view(prev_view)
    now_q = _by_quarter(result.group(["norm", "quarter"]))
    prev_q = _by_quarter(before.group(["norm", "quarter"]))
    rows = []
    for q in quarters().itertuples():
        figures = _figures(now_q.get(q.code))
        rows.append(
            {"code": q.code, "name": q.name, **figures, **_trend(figures, _figures(prev_q.get(q.code)))}
        )
    city_now = _figures(
        {k: _clean(result.aggregates.iloc[0][k]) for k in FIGURES} if len(result.aggregates) else None
    )
    city_prev = _figures(
        {k: _clean(before.aggregates.iloc[0][k]) for k in FIGURES} if len(before.aggregates) else None
    )
    city_now.update(_trend(city_now, city_prev))
    if not city_prev["requests"]:  # nothing to compare with: no change rather than "+all"
        for row in [*rows, city_now]:
            row["requests_change"] = row["requests_change_pct"] = None
    return {
        "result": result,
        "previous": prev_view,
        "rows": rows,
        "city": city_now,
        "outside": int((now_q.get(OUTSIDE) or {}).get("requests") or 0),
    }


def sort_rows(rows: list[dict[str, Any]], key: str, descending: bool) -> list[dict[str, Any]]:
    """Rows ordered by ``key``; rows without a value last whatever the direction, ties by name."""
    by_name = sorted(rows, key=lambda r: str(r["name"]).casefold())
    if key == "name":
        return list(reversed(by_name)) if descending else by_name
    present = [r for r in by_name if not _missing(r.get(key))]
    absent = [r for r in by_name if _missing(r.get(key))]
    return sorted(present, key=lambda r: r[key], reverse=descending) + absent


# --- charts --------------------------------------------------------------------------------------


def _whole_pct(value: float) -> str:
    return format_percent(value, format="#,##0 %")


def _hours(value: Any) -> str:
    return "—" if _missing(value) else f"{num(value, 1)} h"


def bar_chart(rows: list[dict[str, Any]], city: dict[str, Any]) -> Any:
    bars = [
        Bar(
            r["name"],
            r["on_time_rate"],
            _(
                "%(quarter)s: %(rate)s on time (%(n)s requests)",
                quarter=r["name"],
                rate=pct(r["on_time_rate"]),
                n=num(r["requests"]),
            ),
        )
        for r in rows
    ]
    rated = [r for r in rows if r["on_time_rate"] is not None]
    if rated:
        best = max(rated, key=lambda r: r["on_time_rate"])
        worst = min(rated, key=lambda r: r["on_time_rate"])
        desc = _(
            "On-time rate of %(n)s quarters, from %(worst)s (%(worst_rate)s) to %(best)s (%(best_rate)s); "
            "city: %(city)s. The same figures are in the table.",
            n=len(rated),
            worst=worst["name"],
            worst_rate=pct(worst["on_time_rate"]),
            best=best["name"],
            best_rate=pct(best["on_time_rate"]),
            city=pct(city["on_time_rate"]),
        )
    else:
        desc = _("No request judged in this period.")
    return rate_bars(
        bars,
        chart_id="chart-quarters",
        title=_("On-time rate per quarter"),
        desc=desc,
        axis_label=_("Requests handled on time"),
        tick_label=_whole_pct,
        value_label=pct,
        reference=(city["on_time_rate"], _("City: %(rate)s", rate=pct(city["on_time_rate"])))
        if city["on_time_rate"] is not None
        else None,
    )


def _months(view: View) -> list[str]:
    first = view.start.tz_localize(None)
    last = view.last_day.tz_localize(None)
    return [str(p) for p in pd.period_range(first, last, freq="M")]


def month_label(month: str, fmt: str = "MMM yyyy") -> str:
    return format_date(pd.Period(month, freq="M").start_time.date(), fmt)


def _monthly(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    if frame.empty:
        return {}
    return {str(r["month"]): {k: _clean(r[k]) for k in FIGURES} for r in frame.to_dict("records")}


def trend(view: View, result: Any, selected: list[str], names: dict[str, str]) -> dict[str, Any]:
    """The monthly on-time rate of the city and of the selected quarters: the chart and its table."""
    months = _months(view)
    # "Jul" on the axis, with the year under the first month and under each January
    axis = [
        month_label(m, "MMM") + (f"\n{m[:4]}" if i == 0 or m.endswith("-01") else "")
        for i, m in enumerate(months)
    ]
    labels = [month_label(m, "MMM yyyy") for m in months]
    city = _monthly(result.group(["norm", "month"]))
    by_quarter = result.group(["norm", "quarter", "month"])
    lines: list[tuple[str, dict[str, dict[str, Any]]]] = [(_("City"), city)]
    for code in selected:
        part = by_quarter[by_quarter["quarter"] == code] if len(by_quarter) else by_quarter
        lines.append((names.get(code, code), _monthly(part)))
    series = []
    for i, (label, data) in enumerate(lines):
        colour, dash = series_style(i - 1) if i else ("#1d2733", "")
        series.append(
            Series(
                label,
                {m: (data.get(m) or {}).get("on_time_rate") for m in months},
                {
                    m: _(
                        "%(series)s, %(month)s: %(rate)s on time (%(n)s requests)",
                        series=label,
                        month=month_label(m, "MMMM yyyy"),
                        rate=pct((data.get(m) or {}).get("on_time_rate")),
                        n=num((data.get(m) or {}).get("requests") or 0),
                    )
                    for m in months
                },
                colour=colour,
                dash=dash,
                emphasis=not i,
            )
        )
    desc = _(
        "Monthly on-time rate from %(first)s to %(last)s for %(series)s; the table below gives the figures.",
        first=month_label(months[0], "MMMM yyyy") if months else "",
        last=month_label(months[-1], "MMMM yyyy") if months else "",
        series=", ".join(label for label, _data in lines),
    )
    chart = rate_lines(
        months,
        axis,
        series,
        chart_id="chart-trend",
        title=_("On-time rate per month"),
        desc=desc,
        axis_label=_("On time"),
        tick_label=_whole_pct,
    )
    table = [
        {
            "label": label,
            "cells": [{"on_time_rate": None, "requests": 0, **(data.get(m) or {})} for m in months],
        }
        for label, data in lines
    ]
    return {"chart": chart, "months": months, "labels": labels, "table": table}


# --- the audit grid ------------------------------------------------------------------------------


def _answer_label(answer: str | None) -> str:
    """An audit answer in the page's language; the four labels translated once per request (the
    grid's 520 cells translated them each, a fifth of the comparison page at a million requests)."""
    labels: dict[str, str] | None = g.get("geova_answer_labels")
    if labels is None:
        labels = g.geova_answer_labels = {
            Answer.OUI.value: _("yes"),
            Answer.PARTIELLEMENT.value: _("partly"),
            Answer.NON.value: _("no"),
            "": _("not answered"),
        }
    return labels.get(answer or "", labels[""])


ANSWER_MARKS = {Answer.OUI.value: "✓", Answer.PARTIELLEMENT.value: "~", Answer.NON.value: "✗"}


def _text(value: Any) -> str:
    return "" if _missing(value) else str(value)


def audit_grid(asked: int | None, lang: str) -> dict[str, Any]:
    """The audit grid of every quarter for one year: rows quarters, columns the standard tasks
    grouped by field of action; each cell the latest answer to "is it respected?"."""
    with engine().connect() as conn:
        years = catalogue.audit_years(conn)
        year = asked if asked in years else (years[0] if years else None)
        grid = current_grid(conn, year=year) if year is not None else pd.DataFrame()
        field_rows = catalogue.fields_of_action(conn)
        task_rows = catalogue.tasks(conn)
    fields = []
    for code, label_fr, label_en in field_rows:
        tasks = [
            {"code": t.code, "label": t.label(lang), "number": f"{len(fields) + 1}.{i + 1}"}
            for i, t in enumerate(t for t in task_rows if t.field_code == code)
        ]
        if tasks:
            fields.append({"code": code, "label": label_fr if lang == "fr" else label_en, "tasks": tasks})
    tasks = [task for fl in fields for task in fl["tasks"]]
    answers = {(r["quarter"], r["task"]): r for r in grid.to_dict("records")} if len(grid) else {}
    qs = quarters()
    known = set(qs["code"])
    extra = sorted({q for q, _task in answers} - known)
    rows, notes = [], []
    for code, name in [*zip(qs["code"], qs["name"], strict=True), *((q, q) for q in extra)]:
        cells = []
        for task in tasks:
            entry = answers.get((code, task["code"]))
            respected = _text(entry["respected"]) if entry else ""
            commitment = _text(entry["commitment"]) if entry else ""
            comment = _text(entry["comment"]) if entry else ""
            tip = [f"{name} · {task['number']} {task['label']}"]
            if entry:
                tip += [
                    _("Respected: %(answer)s", answer=_answer_label(respected)),
                    _("Commitment: %(answer)s", answer=_answer_label(commitment)),
                ]
            else:
                tip.append(_("not answered"))
            if comment:
                tip.append(comment)
                notes.append({"quarter": name, "number": task["number"], "comment": comment})
            cells.append(
                {
                    "task": task["code"],
                    "respected": respected or "none",
                    "mark": ANSWER_MARKS.get(respected, ""),
                    "answer": _answer_label(respected),
                    "title": "\n".join(tip),
                }
            )
        rows.append({"code": code, "name": name, "cells": cells})
    return {"year": year, "years": years, "fields": fields, "tasks": tasks, "rows": rows, "notes": notes}


# --- pages ---------------------------------------------------------------------------------------


class ComparisonParams(ViewParams):
    """The comparison's query string: the view, quarters on the trend chart, sorting, audit year."""

    quarters: Codes = ()
    sort: Code | None = None
    dir: Literal["asc", "desc"] | None = None
    year: Annotated[int, Field(ge=FIRST_DAY.year, le=LAST_DAY.year)] | None = None


def _selected(names: dict[str, str]) -> list[str]:
    """The quarters asked for the trend chart: ?quarters=a,b (or repeated), known codes only."""
    asked = view_params(ComparisonParams).quarters
    out: list[str] = []
    for code in asked:
        if code in names and code not in out:
            out.append(code)
    return out[:MOST_SERIES]


def survey_column(view: View) -> dict[str, Any] | None:
    """The field survey beside the request figures (issue 12): the latest campaign overlapping the
    view's period, its share of transects below the acceptable grade per quarter and for the city
    (any element). None when no campaign covers the period."""
    with engine().connect() as conn:
        found = surveys.latest_results(conn, view.start.date(), view.last_day.date())
    if found is None:
        return None
    campaign, rows = found
    shares = {
        (r.key if r.level == "quarter" else CITY_KEY): {"share": r.share, "transects": r.transects}
        for r in rows
        if r.element == ANY and r.level in ("quarter", "city")
    }
    return {"code": campaign.code, "name": campaign.name, "example": campaign.example, "shares": shares}


CITY_KEY = ""  # the city's row in survey_column's shares


def _context() -> dict[str, Any] | None:
    if not store_loaded() or not deadline_norms():
        return None
    view = current_view()
    if view.quarter:  # every quarter, side by side
        view = replace(view, quarter=None)
    lang = str(get_locale() or "fr")
    names = quarters().set_index("code")["name"].to_dict()
    selected = _selected(names)
    params = view_params(ComparisonParams)
    sort = params.sort if params.sort in COLUMNS else "name"
    direction = params.dir or ("asc" if sort == "name" else "desc")
    data = comparison(view)
    audit = audit_grid(params.year, lang)

    page: dict[str, str] = {}
    if selected:
        page["quarters"] = ",".join(selected)
    if audit["year"] is not None and params.year:
        page["year"] = str(audit["year"])
    if params.sort:
        page["sort"], page["dir"] = sort, direction

    def link(endpoint: str = "officials.compare", **changes: Any) -> str:
        args = {**view.args(), **page, **changes}
        return url_for(endpoint, **{k: v for k, v in args.items() if v not in (None, "")})

    def sort_link(column: str) -> str:
        if column == sort:
            new_dir = "desc" if direction == "asc" else "asc"
        else:
            new_dir = "asc" if column == "name" else "desc"
        return link(sort=column, dir=new_dir)

    def toggle_link(code: str) -> str:
        chosen = [c for c in selected if c != code] if code in selected else [*selected, code]
        return link(quarters=",".join(chosen[:MOST_SERIES]))

    hidden = {k: v for k, v in {**view.args(), **page}.items() if k not in ("norm", "from", "to")}
    rows = sort_rows(data["rows"], sort, direction == "desc")
    return {
        "view": view,
        "previous": data["previous"],
        "rows": rows,
        "city": data["city"],
        "outside": data["outside"],
        "sort": sort,
        "direction": direction,
        "sort_link": sort_link,
        "toggle_link": toggle_link,
        "link": link,
        "selected": selected,
        "quarter_names": names,
        "bar_chart": bar_chart(data["rows"], data["city"]),
        "trend": trend(view, data["result"], selected, names),
        "audit": audit,
        "survey": survey_column(view),
        "hidden": hidden,
        "keep": lambda *keys: {k: v for k, v in {**view.args(), **page}.items() if k not in keys},
        "norms": deadline_norms(),
        "norm_label": lambda n: norm_label(n, lang),
        "rate_colour": rate_colour,
        "hours": _hours,
        "today": pd.Timestamp(datetime.now(UTC)).tz_convert(territory_tz()),
    }


@bp.get("/compare")
@roles_required("official")
def compare() -> Any:
    context = _context()
    if context is None:
        return render_template("public/empty.html")
    return render_template("officials/compare.html", printing=False, **context)


@bp.get("/compare/print")
@roles_required("official")
def compare_print() -> Any:
    context = _context()
    if context is None:
        return render_template("public/empty.html")
    return render_template("officials/print.html", printing=True, **context)
