"""Writing tables for people: French Excel CSV, JSON, and plain-text tables for the terminal.

French Excel opens a CSV correctly only with ``;`` between fields, a decimal comma, day-first dates
and a UTF-8 BOM; that is the CSV geova writes, the web's exports and the command line's alike. Times
keep their seconds: cut to the minute, a request due 08:30:00 and resolved 08:30:40 would read as
resolved on time although it is late. JSON keeps ISO 8601 instants with their offset, and days
(periods) as ISO dates.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

DATE_FR = "%d/%m/%Y %H:%M:%S"
DAY_FR = "%d/%m/%Y"

# OWASP's "CSV injection" rule: a spreadsheet runs a cell starting with one of these as a formula
# (=HYPERLINK(...) phones home, a tab or carriage return hides the formula behind blank space).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# ...but a plain signed number (-2.5, -71,058 with the decimal comma) is no formula: it stays a number
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")


def safe_cell(value: Any) -> Any:
    """``value`` as a spreadsheet may show it without running it: text starting with ``= + - @``,
    a tab or a carriage return gets a leading single quote (OWASP), so Excel and LibreOffice show
    it as text. Numbers, dates and empty cells pass unchanged. Every CSV geova writes goes through
    this one function (exports, the worklist, the audit grid, rejects files)."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell (and column name) passed through :func:`safe_cell`;
    numeric columns are left as they are, so they stay numbers."""
    out = frame.rename(columns=lambda c: safe_cell(c) if isinstance(c, str) else c)
    for col in out.columns:
        if out[col].dtype.kind == "O" or isinstance(out[col].dtype, pd.StringDtype | pd.CategoricalDtype):
            out[col] = out[col].astype(object).map(safe_cell)
    return out


def localise(frame: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Every time-zone-aware column shown in the territory's time zone."""
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.tz_convert(tz)
    return out


def _all_days(column: pd.Series) -> bool:
    """True for a column of calendar days (``datetime.date``, not instants), blanks allowed."""
    values = column.dropna()
    return len(values) > 0 and all(type(v) is date for v in values)


def to_excel_csv(frame: pd.DataFrame, tz: str, bom: bool = True) -> str:
    out = localise(frame, tz)
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.strftime(DATE_FR).fillna("")
        elif out[col].dtype.kind == "O" and _all_days(out[col]):  # a period's first and last day
            out[col] = out[col].map(lambda d: "" if d is None else d.strftime(DAY_FR))
    # four decimals at most, never scientific notation: Excel must read 13765,25 hours as a number
    for col in out.columns:
        if out[col].dtype.kind == "f":
            out[col] = out[col].round(4)
    text = safe_frame(out).to_csv(sep=";", decimal=",", index=False, lineterminator="\r\n")
    return ("\ufeff" if bom else "") + text


def _json_value(v: Any) -> Any:
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp | date):  # a period's first day is a date (datetime is one too)
        return v.isoformat()
    if isinstance(v, float | np.floating):
        return None if np.isnan(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def to_json_records(frame: pd.DataFrame, tz: str) -> list[dict[str, Any]]:
    out = localise(frame, tz)
    return [{k: _json_value(v) for k, v in row.items()} for row in out.to_dict(orient="records")]


def to_json(frame: pd.DataFrame, tz: str) -> str:
    return json.dumps(to_json_records(frame, tz), ensure_ascii=False, indent=1)


def to_text_table(frame: pd.DataFrame, tz: str) -> str:
    out = localise(frame, tz)
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.strftime("%Y-%m-%d %H:%M").fillna("")
        elif col.endswith("rate"):
            out[col] = out[col].map(lambda v: "" if pd.isna(v) else f"{v:.1%}")
        elif out[col].dtype.kind == "f":
            out[col] = out[col].map(lambda v: "" if pd.isna(v) else f"{v:,.1f}")
    return out.to_string(index=False)
