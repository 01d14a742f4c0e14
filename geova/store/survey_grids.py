"""The referential's survey grids and survey norms in the store (upserted by code, never deleted)."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from geova.core.surveys import DEFAULT_GRID, Grid, SurveyNorm, grid_from_dict, survey_norm_from_dict
from geova.store.schema import SurveyGrid, SurveyNormRow

# ---- referential ---------------------------------------------------------------------------------


def store_survey_referential(conn: Connection, grids: list[Grid], norms: list[SurveyNorm]) -> int:
    """Upsert grids and survey norms by code; returns how many were new."""
    new = 0
    rows: list[tuple[type[SurveyGrid] | type[SurveyNormRow], str, dict]] = [
        (SurveyGrid, g.code, g.as_dict()) for g in grids
    ]
    rows += [(SurveyNormRow, n.code, n.as_dict()) for n in norms]
    for model, code, definition in rows:
        table = model.__table__
        if conn.execute(select(table.c.code).where(table.c.code == code)).first():
            conn.execute(update(model).where(table.c.code == code).values(definition=definition))
        else:
            conn.execute(insert(model).values(code=code, definition=definition))
            new += 1
    return new


def grids(conn: Connection) -> dict[str, Grid]:
    """The stored grids by code; England's Code of Practice grid ('cop') when none is stored."""
    t = SurveyGrid.__table__
    found = {r.code: grid_from_dict(r.definition) for r in conn.execute(select(t.c.code, t.c.definition))}
    return found or {DEFAULT_GRID.code: DEFAULT_GRID}


def survey_norms(conn: Connection, grid: str | None = None) -> list[SurveyNorm]:
    t = SurveyNormRow.__table__
    norms = [
        survey_norm_from_dict(r.definition) for r in conn.execute(select(t.c.definition).order_by(t.c.code))
    ]
    return [n for n in norms if grid is None or n.grid == grid]
