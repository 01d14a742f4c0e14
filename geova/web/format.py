"""Dates, numbers and percentages as each locale writes them, in the territory's time zone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from flask import Flask, g
from flask_babel import format_date, format_datetime, format_decimal, format_percent, get_locale
from jinja2 import Undefined

from geova.config import DEFAULT_TIMEZONE


def territory_tz() -> str:
    """The territory's time zone, read once per request."""
    if "geova_tz" not in g:
        from geova.evaluation import territory_of
        from geova.web import engine

        try:
            g.geova_tz = territory_of(engine()).timezone
        except Exception:  # an empty store has no settings table yet
            g.geova_tz = DEFAULT_TIMEZONE
    return g.geova_tz


def _missing(value: Any) -> bool:
    """No value to show: None, NaT, NA, NaN, or a template variable that is not there."""
    if value is None or value is pd.NaT or value is pd.NA or isinstance(value, Undefined):
        return True
    return isinstance(value, float | np.floating) and value != value


def dt(value: Any, fmt: str = "short") -> str:
    if _missing(value):
        return ""
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    local: datetime = ts.tz_convert(territory_tz()).to_pydatetime().replace(tzinfo=None)
    return format_datetime(local, fmt, rebase=False)


def day(value: Any, fmt: str = "medium") -> str:
    """A calendar date (periods are local dates already: no time-zone shift)."""
    if _missing(value):
        return ""
    return format_date(pd.Timestamp(value).date(), fmt)


def pct(value: Any) -> str:
    return "—" if _missing(value) else format_percent(value, format="#,##0.0 %")


def num(value: Any, digits: int = 0) -> str:
    if _missing(value):
        return "—"
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern)


def register_filters(app: Flask) -> None:
    app.add_template_filter(dt, "dt")
    app.add_template_filter(pct, "pct")
    app.add_template_filter(day, "day")
    app.add_template_filter(num, "num")

    @app.context_processor
    def _globals() -> dict[str, Any]:
        from geova.web.auth import ROLE_LABELS, has_role

        return {"lang": str(get_locale() or "fr"), "has_role": has_role, "role_labels": ROLE_LABELS}
