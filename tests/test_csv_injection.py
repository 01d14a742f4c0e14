"""No CSV geova writes can run a formula in a spreadsheet (OWASP's "CSV injection" rule).

Every file is read back with Python's csv module, as a spreadsheet would split it: each hostile
text cell must start with a single quote (Excel and LibreOffice then show it as text), while
numbers (negative ones included) and dates stay exactly as they were.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select, update

from geova.cli import cli
from geova.core.audit import Answer, AuditEntry
from geova.importing import import_interventions
from geova.io.audit_csv import audit_csv_text
from geova.io.exports import safe_cell, to_excel_csv
from geova.store import audit, edits
from geova.store.schema import Intervention
from tests.boston import load_quarters
from tests.test_web_correspondent import DORCHESTER, LAT, LON, NORM, login

IV = Intervention.__table__
# what a hostile user types into a description, an address, a service or an audit comment
FORMULAS = ['=HYPERLINK("http://evil","x")', "=1+1", "@SUM(1)", "+1+1", "-2+3"]
# a leading tab or carriage return hides a formula behind blank space (the store trims text, files don't)
HIDDEN = ["\t=1+1", "\r=1+1"]


def quoted(value: str) -> str:
    return "'" + value


def read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), delimiter=";"))


@pytest.fixture
def app(boston_app: Any) -> Any:
    return boston_app


def report_hostile_requests(engine: Engine) -> dict[str, str]:
    """One open Dorchester request per formula, reported in June 2015 (so long overdue today),
    with the formula as description, address and service; returns source id -> formula."""
    made = {}
    with engine.begin() as conn:
        for i, formula in enumerate(FORMULAS):
            when = datetime(2015, 6, 1 + i, 9, 0, tzinfo=UTC)
            new = edits.report_intervention(conn, "friche", formula, formula, LON, LAT, "corr", when)
            # a service the referential does not name (an import keeps its source's as given; a
            # reassignment in geova only takes the referential's): shown as stored
            conn.execute(update(IV).where(IV.c.id == new).values(service=formula))
            made[new] = formula
        ids = conn.execute(select(IV.c.id, IV.c.source_id).where(IV.c.id.in_(made))).all()
    return {row.source_id: made[row.id] for row in ids}


# -- the one rule --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", FORMULAS + HIDDEN)
def test_a_text_cell_starting_a_formula_gets_a_quote(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize(
    "value", ["-2.5", "-71,077800", "+3", "12", "Mattress on the lot", "a=b", "", 7, -2.5, None]
)
def test_numbers_plain_text_and_non_text_pass_unchanged(value):
    assert safe_cell(value) == value


def test_excel_csv_quotes_hostile_text_and_keeps_numbers_numbers():
    frame = pd.DataFrame(
        {
            "description": FORMULAS + HIDDEN,
            "hours": [-2.5, 3.25, -0.5, 10.0, 0.0, 1.5, -7.0],
            "count": [-1, 2, 3, 4, 5, 6, 7],
            "longitude": ["-71,077800"] * 7,
        }
    )
    rows = read(to_excel_csv(frame, "Europe/Paris"))
    assert rows[0] == ["description", "hours", "count", "longitude"]
    assert [r[0] for r in rows[1:]] == [quoted(v) for v in FORMULAS + HIDDEN]
    # French Excel numbers, unquoted: decimal comma, minus sign first
    assert [r[1] for r in rows[1:]] == ["-2,5", "3,25", "-0,5", "10,0", "0,0", "1,5", "-7,0"]
    assert [r[2] for r in rows[1:]] == ["-1", "2", "3", "4", "5", "6", "7"]
    assert {r[3] for r in rows[1:]} == {"-71,077800"}


# -- the files people download or the CLI writes -------------------------------------------------


def test_worklist_csv_neutralises_descriptions_addresses_and_services(app, engine):
    hostile = report_hostile_requests(engine)
    client = login(app, "agent")
    response = client.get(f"/worklist.csv?norm={NORM}&quarter={DORCHESTER}")
    assert response.status_code == 200
    header, *body = read(response.data.decode("utf-8"))
    by_id = {r[header.index("Request")]: dict(zip(header, r, strict=True)) for r in body}
    assert set(hostile) <= set(by_id)
    for source_id, formula in hostile.items():
        row = by_id[source_id]
        assert (row["Description"], row["Address"], row["Service"]) == (quoted(formula),) * 3
        # numbers stay numbers: a negative longitude, hours overdue with a decimal comma
        assert row["Longitude"] == "-71,077800" and row["Latitude"] == "42,281600"
        assert float(row["Hours overdue"].replace(",", ".")) > 24 * 365
    # and nothing else in the file starts a formula
    assert not [c for r in body for c in r if c and (c[0] in "=+@\t\r" or (c[0] == "-" and "+" in c))]


def test_interventions_export_neutralises_descriptions_and_addresses(app, engine):
    hostile = report_hostile_requests(engine)
    client = login(app, "agent")
    response = client.get("/exports/interventions.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))
    by_id = {r["source_id"]: r for r in rows}
    for source_id, formula in hostile.items():
        row = by_id[source_id]
        assert (row["description"], row["address"]) == (quoted(formula), quoted(formula))
        assert row["longitude"] == "-71,077800" and row["latitude"] == "42,281600"
        assert row["quarter"] == DORCHESTER and row["id"].isdigit()


def test_audit_export_neutralises_free_text(engine, tmp_path):
    texts = dict(zip(["comment", "services", "responsible", "obstacles", "remedies"], FORMULAS, strict=True))
    load_quarters(engine)
    with engine.begin() as conn:
        audit.record(
            conn, [AuditEntry(DORCHESTER, 2015, "proprete.friches", Answer.OUI, Answer.NON, **texts)]
        )
    out = tmp_path / "grid.csv"
    url = engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(cli, ["--db", url, "audit", "export", "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    header, *body = read(out.read_text(encoding="utf-8"))
    row = dict(zip(header, body[0], strict=True))
    assert (row["quartier"], row["annee"], row["tache"]) == (DORCHESTER, "2015", "proprete.friches")
    assert [row[h] for h in ("commentaire", "services", "responsable", "freins", "leviers")] == [
        quoted(f) for f in FORMULAS
    ]
    # straight from a grid, leading tabs and carriage returns included
    grid = pd.DataFrame([{"quarter": "6", "year": 2015, "task": "t", "comment": v} for v in HIDDEN])
    assert [r[5] for r in read(audit_csv_text(grid, "en"))[1:]] == [quoted(v) for v in HIDDEN]


MAPPING = """
[source]
name = "hostile"
timezone = "America/New_York"
date_format = "%Y-%m-%d %H:%M"
category = "friche"

[columns]
source_id = "id"
reported_at = "reported"
latitude = "lat"
longitude = "lon"
description = "description"
"""


def test_rejects_file_neutralises_the_values_it_quotes(engine, tmp_path):
    mapping = tmp_path / "hostile.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    lines = [
        ["id", "reported", "lat", "lon", "description"],
        ["1", "2015-06-01 09:00", "42.2816", "-71.0778", "ok"],
    ]
    for i, formula in enumerate(FORMULAS + HIDDEN, start=2):  # each one where a date should be
        lines.append([str(i), formula, "42.2816", "-71.0778", "ok"])
    source = tmp_path / "hostile.csv"
    with source.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(lines)
    rejects = tmp_path / "hostile.rejects.csv"
    report = import_interventions(engine, source, mapping, rejects_path=rejects)
    assert report.rejected == len(FORMULAS + HIDDEN)
    header, *body = read(rejects.read_text(encoding="utf-8-sig"))
    assert header[1:] == ["field", "value", "reason"]
    # the reader trims blank space around cells, so a hidden formula is quoted once uncovered
    assert [r[2] for r in body] == [quoted(v.strip()) for v in FORMULAS + HIDDEN]
    assert [r[0] for r in body] == [str(n) for n in range(3, 3 + len(FORMULAS + HIDDEN))]  # line numbers
