"""Economic effect of quality (``/economy``, officials): per priority commercial zone, the
economic figures imported with `geova economy import` month by month, next to the requests of the
zone and their on-time rate under the headline norm (geova.economy), with a small chart of the
vacancy rate against the on-time rate."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_babel import get_locale

from geova.economy import economy_table
from geova.store.referential import load_norms
from geova.store.status import settings
from geova.web import engine
from geova.web.auth import roles_required
from geova.web.report_graphics import LINE_COLOUR, VACANCY_COLOUR, economy_chart

bp = Blueprint("economy", __name__)


@bp.get("/economy")
@roles_required("official")
def page() -> Any:
    eng = engine()
    norm_code, zones = economy_table(eng)
    with eng.connect() as conn:
        example = settings(conn).get("example_economy") == "yes"
        norms = {n.code: n for n in load_norms(conn, codes=[norm_code])} if norm_code else {}
    lang = str(get_locale() or "fr")
    norm = norms.get(norm_code or "")
    norm_label = (norm.label_fr if lang == "fr" else norm.label_en) if norm else None
    charts = {
        z.code: economy_chart(
            [m["month"] for m in z.months],
            [m["vacancy_rate"] for m in z.months],
            [m["on_time_rate"] for m in z.months],
        )
        for z in zones
        if z.months
    }
    return render_template(
        "economy/page.html",
        zones=zones,
        charts=charts,
        norm_label=norm_label,
        example=example,
        colours={"vacancy": VACANCY_COLOUR, "rate": LINE_COLOUR},
    )
