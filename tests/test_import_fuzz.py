"""Random files and random cell values fed to the intervention CSV import, on both backends.

Whatever the bytes, the import either stores what it read (every row counted once as inserted,
updated, unchanged or rejected, every stored date inside the bounds) or refuses with the project's
own ``ImportFailure`` and leaves the store exactly as it was. Any other exception fails the test.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from geova.importing import InterventionReport
from geova.io import limits
from geova.io.errors import ImportFailure
from tests.test_import_interventions import HEADER, ROWS, paris_mapping, run, snapshot, write_csv

FUZZ = settings(
    max_examples=40,
    deadline=None,  # an import opens transactions on a real database
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Values that have broken, or could break, some layer: pandas' date bounds, float parsing, text
# widths, encodings, quoting, separators.
EDGE_VALUES = [
    "",
    " ",
    "01/07/9999 10:00",
    "01/07/1677 10:00",
    "9999-12-31T23:59:59+14:00",
    "0001-01-01",
    "1970-01-01T00:00:00Z",
    "2100-12-31 23:59",
    "31/02/2015 10:00",
    "99999999999999999999",
    "nan",
    "inf",
    "-1e400",
    "1e308",
    "48,85",
    "Tag",
    "Dépôt",
    "Ouvert",
    "Fermé",
    "x" * 200,
    "l'Église",
    '"',
    "a\nb",
    "\r",
    ";",
    "\ufeff",
    "\u2028",
    "\x85",
    "=1+1",
    "😀",
]

cells = st.one_of(st.sampled_from(EDGE_VALUES), st.text(max_size=30))
rows = st.lists(st.lists(cells, min_size=len(HEADER), max_size=len(HEADER)), min_size=1, max_size=6)


def check_outcome(engine: Engine, before: tuple, path: Path, mapping: Path) -> None:
    """Import the file; a refusal must leave the store unchanged, a success must account for it."""
    try:
        report: InterventionReport = run(engine, path, mapping)
    except ImportFailure as exc:
        assert str(path) in str(exc) or str(mapping) in str(exc)
        assert snapshot(engine) == before
        return
    assert report.inserted + report.updated + report.unchanged + report.rejected == report.read
    counts, stored, _flags = snapshot(engine)
    assert counts["intervention"] == before[0]["intervention"] + report.inserted
    assert counts["import_run"] == before[0]["import_run"] + 1
    for record in stored.values():
        for name in ("reported_at", "resolved_at", "due_at"):
            value: datetime | None = record[name]
            assert value is None or limits.EARLIEST_DATE <= value < limits.LATEST_DATE, (name, value)


def test_random_cell_values(engine, tmp_path):
    mapping = paris_mapping(tmp_path)
    run(engine, write_csv(tmp_path / "earlier.csv", ROWS), mapping)  # some rows to overwrite

    @FUZZ
    @given(rows=rows, encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
    def one(rows: list[list[str]], encoding: str) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\r\n").writerows([HEADER, *rows])
        path = tmp_path / "fuzz.csv"
        path.write_bytes(buf.getvalue().encode(encoding, errors="replace"))
        check_outcome(engine, snapshot(engine), path, mapping)

    one()


def test_random_bytes(engine, tmp_path):
    mapping = paris_mapping(tmp_path)
    run(engine, write_csv(tmp_path / "earlier.csv", ROWS), mapping)
    header = ",".join(HEADER).encode() + b"\r\n"
    good_line = b"P9,Tag,01/07/2015 10:00,,Ouvert,ok,48.85,2.35\r\n"

    @FUZZ
    @given(
        body=st.binary(max_size=300),
        with_header=st.booleans(),
        good_lines=st.integers(min_value=0, max_value=2),
    )
    def one(body: bytes, with_header: bool, good_lines: int) -> None:
        path = tmp_path / "fuzz.csv"
        path.write_bytes((header if with_header else b"") + good_line * good_lines + body)
        check_outcome(engine, snapshot(engine), path, mapping)

    one()
