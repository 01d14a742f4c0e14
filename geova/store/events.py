"""One way to write a request's history: every event (a report, a status change, a note, an
assignment, an erased contact) is a row of ``intervention_event`` with the same fields, so the
request page, the API history, Open311's notes and FixMyStreet's updates read them alike."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from geova.store.schema import InterventionEvent

EV = InterventionEvent.__table__


def record_event(
    conn: Connection,
    intervention_id: int,
    kind: str,
    at: datetime,
    username: str | None,
    note: str | None,
    detail: dict[str, Any],
) -> None:
    """Add one event to the request's history (``detail["public"]`` says whether its note is public)."""
    conn.execute(
        insert(EV).values(
            intervention_id=intervention_id, kind=kind, at=at, username=username, note=note, detail=detail
        )
    )
