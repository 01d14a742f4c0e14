"""The requester of a request (name, e-mail, phone, language), kept apart from the request.

Only this module and geova.store.outbox read the ``requester`` table; none of the request reads
(pages, feeds, Open311, OGC, exports, reports) joins it, so a contact cannot reach them. The web app
shows it to the service and admin roles only. Erasure (on request, or after the retention period:
``purge``) blanks the contact, keeps when it was erased, blanks the addresses and bodies of the
request's mails and cancels those not yet sent, and leaves an internal event on the request.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from geova.core.lifecycle import is_open
from geova.core.requesters import Contact
from geova.store.events import record_event
from geova.store.schema import Intervention, InterventionEvent, MailOutbox, Requester, Setting

R = Requester.__table__
IV = Intervention.__table__
EV = InterventionEvent.__table__
MO = MailOutbox.__table__
ERASED_KIND = "contact_erased"  # the internal event an erasure leaves (no note: nothing personal)
RETENTION_SETTING = "requester_retention_days"
DEFAULT_RETENTION_DAYS = 365
ERASED_ERROR = "contact erased"


def add_requester(conn: Connection, intervention_id: int, contact: Contact | None) -> bool:
    """Keep the contact of a new request (in the caller's transaction); nothing when it is empty."""
    if contact is None or contact.empty:
        return False
    conn.execute(
        insert(R).values(
            intervention_id=intervention_id,
            name=contact.name,
            email=contact.email,
            phone=contact.phone,
            lang=contact.lang,
            created_at=datetime.now(UTC),
            erased_at=None,
        )
    )
    return True


def requester_of(conn: Connection, intervention_id: int) -> dict[str, Any] | None:
    """The contact of a request (name, email, phone, lang, created_at, erased_at), or None."""
    row = conn.execute(
        select(R.c.name, R.c.email, R.c.phone, R.c.lang, R.c.created_at, R.c.erased_at).where(
            R.c.intervention_id == intervention_id
        )
    ).first()
    return None if row is None else dict(row._mapping)


def erase(conn: Connection, intervention_id: int, username: str | None, why: str = "request") -> bool:
    """Blank the contact of a request (and what its mails hold of it); False when there was none
    left to erase. ``why``: ``request`` (someone asked) or ``retention`` (the purge)."""
    now = datetime.now(UTC)
    done = conn.execute(
        update(R)
        .where(R.c.intervention_id == intervention_id, R.c.erased_at.is_(None))
        .values(name=None, email=None, phone=None, erased_at=now)
    ).rowcount
    if not done:
        return False
    mails = MO.c.intervention_id == intervention_id
    conn.execute(
        update(MO).where(mails, MO.c.state == "pending").values(state="failed", last_error=ERASED_ERROR)
    )
    conn.execute(update(MO).where(mails).values(to_addr="", body=""))
    record_event(conn, intervention_id, ERASED_KIND, now, username, None, {"public": False, "why": why})
    return True


def retention_days(conn: Connection, default: int = DEFAULT_RETENTION_DAYS) -> int:
    """The territory's ``requester_retention_days`` setting when set, else ``default`` (the
    GEOVA_REQUESTER_RETENTION_DAYS setting)."""
    value = conn.execute(select(Setting.value).where(Setting.key == RETENTION_SETTING)).scalar()
    try:
        days = int(str(value).strip()) if value is not None else default
    except ValueError:
        raise ValueError(f"the setting {RETENTION_SETTING} is not a number of days: '{value}'") from None
    if days < 0:
        raise ValueError(f"the setting {RETENTION_SETTING} cannot be negative ({days})")
    return days


def purge(conn: Connection, before: datetime, username: str | None = None) -> list[int]:
    """Erase the contacts of the requests ended (resolved, closed, rejected, duplicate, cancelled)
    whose last change is before ``before``; returns their ids."""
    return [i for i in purgeable(conn, before) if erase(conn, i, username, why="retention")]


def purgeable(conn: Connection, before: datetime) -> list[int]:
    """The requests whose contact ``purge`` would erase."""
    last_change = (
        select(EV.c.intervention_id, func.max(EV.c.at).label("at")).group_by(EV.c.intervention_id).subquery()
    )
    rows = conn.execute(
        select(R.c.intervention_id, IV.c.status, IV.c.resolved_at, last_change.c.at)
        .join(IV, IV.c.id == R.c.intervention_id)
        .outerjoin(last_change, last_change.c.intervention_id == R.c.intervention_id)
        .where(R.c.erased_at.is_(None))
    ).all()
    due = []
    for row in rows:
        ended = [t for t in (row.resolved_at, row.at) if t is not None]
        if not is_open(row.status) and ended and _utc(max(ended)) < before:
            due.append(int(row.intervention_id))
    return due


def _utc(value: datetime) -> datetime:
    """Instants read back from SQLite's event table may be naive UTC (max() returns text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
