"""Public pages (no login): the city overview, the published monthly results, the guide."""

from __future__ import annotations

from typing import Any

import folium
import pandas as pd
from flask import Blueprint, current_app, render_template, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from geova.core import validity
from geova.store.migrate import current_revision
from geova.web import engine
from geova.web.maps import GeovaMap, Legend, RemotePolygons, embed
from geova.web.page_cache import cached
from geova.web.queries import (
    categories,
    current_view,
    deadline_norms,
    evaluate_view,
    follows_clock,
    norm_label,
    quarters,
    rate_colour,
    rate_legend,
)
from geova.web.statuses import service_name

bp = Blueprint("public", __name__)
MINUTE = 60_000_000  # microseconds


def city_map(view_args: dict[str, str], height: str = "100%") -> dict[str, str]:
    cfg = current_app.config
    m = GeovaMap(
        cfg["GEOVA_TILES_URL"], cfg["GEOVA_TILES_ATTRIBUTION"], location=[0, 0], zoom_start=12, height=height
    )
    RemotePolygons(
        url_for("geo.quarters_geojson", **view_args),
        _("Quarters (on-time rate)"),
        fit=True,
        fill_opacity=0.65,
    ).add_to(m)
    RemotePolygons(
        url_for("geo.zones_geojson"),
        _("Priority zones"),
        stroke="#6a1b9a",
        fill="#6a1b9a",
        fill_opacity=0.08,
        weight=2,
        dash="4 3",
    ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    Legend(_("Requests handled on time"), rate_legend()).add_to(m)
    return embed(m)


def store_loaded() -> bool:
    try:
        return current_revision(engine()) is not None and not quarters().empty
    except Exception:
        return False


@bp.get("/")
@cached
def index() -> Any:
    if not store_loaded() or not deadline_norms():
        return render_template("public/empty.html")
    view = current_view()
    result = evaluate_view(view)
    lang = str(get_locale() or "fr")
    headline = result.aggregates.iloc[0].to_dict() if len(result.aggregates) else {}
    by_quarter = result.group(["norm", "quarter"])
    table = quarters().merge(
        by_quarter[["quarter", "requests", "on_time_rate", "open_overdue", "backlog", "median_hours"]]
        if len(by_quarter)
        else pd.DataFrame(
            columns=["quarter", "requests", "on_time_rate", "open_overdue", "backlog", "median_hours"]
        ),
        left_on="code",
        right_on="quarter",
        how="left",
    )
    table["colour"] = table["on_time_rate"].map(rate_colour)
    outside = by_quarter[by_quarter["quarter"] == "(none)"] if len(by_quarter) else by_quarter
    return render_template(
        "public/index.html",
        view=view,
        headline=headline,
        table=table.to_dict("records"),
        outside=int(outside["requests"].sum()) if len(outside) else 0,
        map=city_map(view.args()),
        norms=deadline_norms(),
        norm_label=lambda n: norm_label(n, lang),
    )


@bp.get("/results")
@cached
def results() -> Any:
    """The monthly results per quarter, as the OVA's "publication des résultats" asks."""
    if not store_loaded() or not deadline_norms():
        return render_template("public/empty.html")
    view = current_view()
    if follows_clock(view):  # the page prints the minute it judges at
        judged = int(view.as_of.value // 1000)
        validity.stable(judged, judged, (judged // MINUTE + 1) * MINUTE)
    lang = str(get_locale() or "fr")
    result = evaluate_view(view)
    monthly = result.group(["norm", "quarter", "month"])
    city = result.group(["norm", "month"])
    # every month of the period has its column, even a month without a request
    first, last = view.start.tz_localize(None), view.last_day.tz_localize(None)
    months = [str(p) for p in pd.period_range(first, last, freq="M")]
    names = quarters().set_index("code")["name"].to_dict()
    # every quarter has its row, even without a request; requests outside every quarter come last
    grid: dict[str, dict[str, Any]] = {code: {} for code in names}
    for row in monthly.itertuples():
        grid.setdefault(row.quarter, {})[row.month] = row
    rows = sorted(grid.items(), key=lambda kv: names.get(kv[0], "~" + kv[0]).casefold())
    by_quarter = result.group(["norm", "quarter"])
    return render_template(
        "public/results.html",
        view=view,
        months=months,
        rows=rows,
        names=names,
        city={r.month: r for r in city.itertuples()},
        totals={r.quarter: r for r in by_quarter.itertuples()},
        overall=next(result.aggregates.itertuples(), None),
        norms=deadline_norms(),
        norm_label=lambda n: norm_label(n, lang),
        rate_colour=rate_colour,
        legend=rate_legend(),
        guide=_guide(result, lang),
    )


def _guide(result: Any, lang: str) -> list[dict[str, Any]]:
    """Who to call for what: each category, the norms that apply, and the services that handle it
    (the three that handled the most of the requests the view's norm judged)."""
    cats = categories()
    services = result.requests_by(["category", "service"]).dropna(subset=["service"])
    channels_used = result.requests_by(["category", "channel"]).dropna(subset=["channel"])
    out = []
    norms = deadline_norms()
    for c in cats.itertuples():
        applying = [n for n in norms if c.code in n.categories]
        handled = [service_name(s) for s in services.loc[services["category"] == c.code, "service"].head(3)]
        channels = channels_used.loc[channels_used["category"] == c.code, "channel"].head(3).tolist()
        if not applying and not handled:
            continue
        out.append(
            {
                "category": c.label_fr if lang == "fr" else c.label_en,
                "norms": [norm_label(n, lang) for n in applying],
                "services": handled,
                "channels": channels,
            }
        )
    return out


@bp.get("/guide")
def guide() -> Any:
    return results()


@bp.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
