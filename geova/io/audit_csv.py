"""The audit grid as a CSV file, the way officials keep it in Excel.

Headers may be French or English; answers OUI / NON / PARTIELLEMENT (or yes / no / partially).
A bad row stops the import with its line and field: a grid is small and every answer matters, so
nothing is half-imported.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from geova.core.audit import AuditEntry, split_answer
from geova.io.errors import ImportFailure
from geova.io.exports import safe_cell
from geova.io.tables import read_csv

# canonical field -> (French header, English header)
HEADERS = {
    "quarter": ("quartier", "quarter"),
    "year": ("annee", "year"),
    "task": ("tache", "task"),
    "commitment": ("engagement", "commitment"),
    "respected": ("respect", "respected"),
    "comment": ("commentaire", "comment"),
    "services": ("services", "services"),
    "responsible": ("responsable", "responsible"),
    "resource_persons": ("personnes_ressources", "resource_persons"),
    "obstacles": ("freins", "obstacles"),
    "remedies": ("leviers", "remedies"),
}
ALIASES = {h.casefold(): k for k, pair in HEADERS.items() for h in pair} | {"année": "year", "tâche": "task"}
REQUIRED = ("quarter", "year", "task")


def read_audit_csv(path: Path) -> list[AuditEntry]:
    table = read_csv(path)
    columns = {c: ALIASES.get(c.strip().casefold()) for c in table.cells.columns}
    missing = [f for f in REQUIRED if f not in columns.values()]
    if missing:
        raise ImportFailure(
            str(path),
            f"missing columns: {', '.join(missing)} (expected e.g. "
            + ";".join(p[0] for p in HEADERS.values())
            + ")",
        )
    cells = table.cells.rename(columns={c: k for c, k in columns.items() if k})
    header = {k: c for c, k in columns.items() if k}  # errors name the column as the file does
    entries = []
    for line, (_, row) in zip(table.rows, cells.iterrows(), strict=True):
        get = {k: str(row[k]).strip() if k in row else "" for k in HEADERS}
        where = f"line {line}"
        for f in REQUIRED:
            if not get[f]:
                raise ImportFailure(str(path), "empty", row=where, field=header[f])
        try:
            year = int(get["year"])
        except ValueError as exc:
            raise ImportFailure(
                str(path), f"'{get['year']}' is not a year", row=where, field=header["year"]
            ) from exc
        answers = {}
        remarks = []
        for f in ("commitment", "respected"):
            try:
                answers[f], remark = split_answer(get[f])
            except ValueError as exc:
                raise ImportFailure(str(path), str(exc), row=where, field=header.get(f, f)) from exc
            if remark:
                remarks.append(remark)
        texts = {
            f: (get[f] if f in header else None)
            for f in ("comment", "services", "responsible", "resource_persons", "obstacles", "remedies")
        }
        if remarks:  # "NON (marché en cours)": the remark goes with the comment
            texts["comment"] = "; ".join([*remarks, *([texts["comment"]] if texts["comment"] else [])])
        entries.append(
            AuditEntry(
                quarter=get["quarter"],
                year=year,
                task=get["task"],
                **answers,
                **texts,
                line=line,
            )
        )
    return entries


def audit_csv_text(grid: pd.DataFrame, lang: str = "fr") -> str:
    """The grid for French Excel: ``;`` separated, UTF-8 with BOM, text cells safe from formulas."""
    index = 0 if lang == "fr" else 1
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    fields = list(HEADERS)
    extra = [c for c in ("quarter_name", "task_label") if c in grid.columns]
    w.writerow([HEADERS[f][index] for f in fields] + extra)
    for _, row in grid.iterrows():
        cells = [("" if pd.isna(row.get(f)) else row.get(f)) for f in fields] + [row[c] for c in extra]
        w.writerow([safe_cell(c) for c in cells])  # comments and names are free text: no formulas
    return "\ufeff" + buf.getvalue()
