"""Economic figures of the priority commercial zones: a ``;`` CSV as French Excel writes it.

Fixed column names (the header's order does not matter; UTF-8 with or without BOM, or
Windows-1252)::

    zone;period;vacancy_rate;businesses;footfall
    ZPC-01;2015-06;8,5;142;12 400
    ZPC-01;01/07/2015;8,1;;

``period`` is a month: ``2015-06``, ``06/2015`` or a day-first date (``15/06/2015``,
``2015-06-15``), stored as the month's first day. ``vacancy_rate`` is the share of shop premises
that are vacant, in % (0-100); ``businesses`` the number of businesses open; ``footfall`` the
passers-by counted. Numbers may have a decimal comma and spaces between thousands; an empty cell
is no figure. A bad cell stops the import, naming the file, line and column: nothing is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from geova.io.errors import ImportFailure
from geova.io.measures import parse_month, parse_number, read_rows

INDICATORS = ("vacancy_rate", "businesses", "footfall")
COLUMNS = ("zone", "period", *INDICATORS)
DAY_FIRST = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
ISO_DAY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


@dataclass(frozen=True)
class EconomyRow:
    line: int
    zone: str
    period: date  # the first day of the month
    indicator: str
    value: float


def parse_period(text: str) -> date | None:
    """The first day of the month ``text`` names: 2015-06, 06/2015, 15/06/2015 or 2015-06-15."""
    text = text.strip()
    for pattern, (d, m, y) in ((DAY_FIRST, (1, 2, 3)), (ISO_DAY, (3, 2, 1))):
        found = pattern.match(text)
        if found:
            try:
                day = date(int(found.group(y)), int(found.group(m)), int(found.group(d)))
            except ValueError:
                return None
            return day.replace(day=1) if 1970 <= day.year <= 2100 else None
    return parse_month(text)


def _check(indicator: str, value: float) -> str | None:
    if indicator == "vacancy_rate" and not 0 <= value <= 100:
        return "a vacancy rate is a percentage between 0 and 100"
    if value < 0:
        return "must not be negative"
    return None


def read_economy(path: Path) -> list[EconomyRow]:
    """The figures of the file, one per non-empty indicator cell (ImportFailure at the first bad
    cell, naming its line and column)."""
    header, rows = read_rows(path)
    name = str(path)
    missing = [c for c in ("zone", "period") if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    if missing or unknown or not any(i in header for i in INDICATORS):
        raise ImportFailure(
            name,
            f"the columns must be zone;period and any of {';'.join(INDICATORS)}; "
            f"missing: {', '.join(missing) or '-'}; unknown: {', '.join(unknown) or '-'}",
        )
    present = [i for i in INDICATORS if i in header]
    out: list[EconomyRow] = []
    seen: dict[tuple[str, date, str], int] = {}
    for line, cells in rows:
        zone = cells["zone"]
        if not zone:
            raise ImportFailure(name, "missing zone code", f"line {line}", "zone")
        period = parse_period(cells["period"])
        if period is None:
            raise ImportFailure(
                name,
                f"not a month: {cells['period']!r} (write 2015-06, 06/2015 or 15/06/2015)",
                f"line {line}",
                "period",
            )
        for indicator in present:
            text = cells[indicator]
            if not text:
                continue
            value = parse_number(text)
            if value is None:
                raise ImportFailure(name, f"not a number: {text!r}", f"line {line}", indicator)
            problem = _check(indicator, value)
            if problem:
                raise ImportFailure(name, f"{text!r}: {problem}", f"line {line}", indicator)
            key = (zone, period, indicator)
            if key in seen:
                raise ImportFailure(
                    name,
                    f"{indicator} of {zone} for {period:%Y-%m} given twice (line {seen[key]} already)",
                    f"line {line}",
                    indicator,
                )
            seen[key] = line
            out.append(EconomyRow(line, zone, period, indicator, value))
    return out
