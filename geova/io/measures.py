"""Measure files: the figures services report each month (staff FTE, money, passages, fines...).

A ``;``-separated CSV (a ``,`` one works too), UTF-8 or Windows-1252, one row per month and quarter
(and optionally service), one column per measure, described by a small TOML mapping like the
request and activity files::

    [source]
    name = "proprete-2015"

    [columns]
    quarter = "quartier"     # the quarter's code
    month = "mois"           # 2015-06, 06/2015, 2015-06-01 or 01/06/2015
    service = "service"      # optional

    [measures]               # column -> measure code of the referential
    "ETP" = "fte"
    "Coût (€)" = "cost"

Numbers may have a decimal comma and spaces between thousands; an empty cell is no figure. A bad
cell stops the import, naming its line and column: nothing is stored.

Quarter attributes (``population``, ``street_km``) come from a CSV with a ``quarter`` column and
one column per attribute.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from geova.core.indicators import ATTRIBUTES
from geova.io.errors import ImportFailure
from geova.io.mapping import validate_mapping


class MeasureSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)


class MeasureColumns(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quarter: str
    month: str
    service: str | None = None


class MeasureMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: MeasureSource
    columns: MeasureColumns
    measures: dict[str, str] = Field(min_length=1)


def load_measure_mapping(path: Path) -> MeasureMapping:
    return validate_mapping(MeasureMapping, path)


@dataclass(frozen=True)
class MeasureRow:
    line: int
    quarter: str
    month: date
    service: str
    measure: str
    value: float


def read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and the (line, cells) of a CSV, UTF-8 (with or without BOM) else Windows-1252."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportFailure(str(path), f"cannot be read: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ImportFailure(str(path), "the file is empty") from None
    rows = []
    for n, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        rows.append((n, {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header)}))
    return header, rows


MONTH_FORMS = (
    (re.compile(r"^(\d{4})-(\d{1,2})(?:-01)?$"), (1, 2)),
    (re.compile(r"^(\d{1,2})/(\d{4})$"), (2, 1)),
    (re.compile(r"^0?1/(\d{1,2})/(\d{4})$"), (2, 1)),
)


def parse_month(text: str) -> date | None:
    """The first day of the month ``text`` names (2015-06, 06/2015, 2015-06-01, 01/06/2015)."""
    for pattern, (y, m) in MONTH_FORMS:
        found = pattern.match(text.strip())
        if found:
            year, month = int(found.group(y)), int(found.group(m))
            if 1970 <= year <= 2100 and 1 <= month <= 12:
                return date(year, month, 1)
    return None


def parse_number(text: str) -> float | None:
    """A number with a decimal point or comma and optional thousands spaces; None if not one."""
    cleaned = text.strip().replace("\u202f", "").replace("\xa0", "").replace(" ", "")
    if cleaned.count(",") == 1 and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def read_measures(path: Path, mapping: MeasureMapping) -> list[MeasureRow]:
    header, rows = read_rows(path)
    cols = mapping.columns
    needed = [cols.quarter, cols.month, *([cols.service] if cols.service else []), *mapping.measures]
    missing = [c for c in needed if c not in header]
    if missing:
        raise ImportFailure(
            str(path),
            f"columns named in the mapping are absent: {', '.join(missing)}; "
            f"the file has: {', '.join(header)}",
        )
    out: list[MeasureRow] = []
    seen: dict[tuple[str, date, str, str], int] = {}
    for line, cells in rows:
        quarter = cells[cols.quarter]
        if not quarter:
            raise ImportFailure(str(path), "missing quarter code", f"line {line}", cols.quarter)
        month = parse_month(cells[cols.month])
        if month is None:
            raise ImportFailure(
                str(path),
                f"not a month: {cells[cols.month]!r} (write 2015-06 or 06/2015)",
                f"line {line}",
                cols.month,
            )
        service = cells[cols.service] if cols.service else ""
        for column, measure in mapping.measures.items():
            text = cells[column]
            if not text:
                continue
            value = parse_number(text)
            if value is None:
                raise ImportFailure(str(path), f"not a number: {text!r}", f"line {line}", column)
            key = (measure, month, quarter, service)
            if key in seen:
                raise ImportFailure(
                    str(path),
                    f"{measure} of {quarter} for {month:%Y-%m} given twice (line {seen[key]} already)",
                    f"line {line}",
                    column,
                )
            seen[key] = line
            out.append(MeasureRow(line, quarter, month, service, measure, value))
    return out


def read_attributes(path: Path) -> list[tuple[int, str, str, float | None]]:
    """(line, quarter, attribute, value) of a quarter attributes CSV: a ``quarter`` column and any
    of ``population`` and ``street_km``; an empty cell leaves the attribute as it is."""
    header, rows = read_rows(path)
    if "quarter" not in header:
        raise ImportFailure(str(path), f"no 'quarter' column; the file has: {', '.join(header)}")
    present = [a for a in ATTRIBUTES if a in header]
    unknown = [h for h in header if h != "quarter" and h not in ATTRIBUTES]
    if unknown or not present:
        raise ImportFailure(
            str(path),
            f"columns must be quarter and any of {', '.join(ATTRIBUTES)}; "
            f"unknown: {', '.join(unknown) or '-'}",
        )
    out: list[tuple[int, str, str, float | None]] = []
    for line, cells in rows:
        quarter = cells["quarter"]
        if not quarter:
            raise ImportFailure(str(path), "missing quarter code", f"line {line}", "quarter")
        for name in present:
            if not cells[name]:
                continue
            value = parse_number(cells[name])
            if value is None or value < 0:
                raise ImportFailure(
                    str(path), f"not a positive number: {cells[name]!r}", f"line {line}", name
                )
            out.append((line, quarter, name, value))
    return out
